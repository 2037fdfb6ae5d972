//! Connection checks through the runtime's probes: the database, a real
//! Redis (`AGORA_TEST_REDIS_URL`, default redis://127.0.0.1:6379; the test
//! fails with a clear message when it does not answer) and the object
//! store; a Redis that does not answer is a logged failed check, not an
//! error.

mod support;

use agora_core::views::{NewConnectionCheck, NewStore};
use agora_core::{Actor, StoreId};
use support::*;

fn redis_url() -> String {
    std::env::var("AGORA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn checks(redis: &str) -> Vec<(String, bool, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path(), "memory:");
    c.redis_url = Some(redis.to_owned());
    c.redis.key_prefix = format!("agoratest:{}:", uuid::Uuid::now_v7().simple());
    c.object_store_url = Some(format!("file://{}", dir.path().join("blobs").display()));
    let rt = runtime(c).await;
    let sa = Actor::SuperAdmin { masked: "test".into() };
    let st = rt
        .agora
        .create_store(&sa, NewStore { name: "P".into(), domain: "p.example".into(), access_token: None })
        .await
        .unwrap();
    let mut out = Vec::new();
    for target in ["database", "redis", "object_storage"] {
        let req = NewConnectionCheck { target: target.into(), endpoint_id: None };
        let r = rt.agora.run_connection_check(&sa, StoreId(st.id), req).await.unwrap();
        out.push((r.target, r.ok, r.detail));
    }
    out
}

#[tokio::test]
async fn the_configured_dependencies_answer_a_connection_check() {
    let url = redis_url();
    let client = agora_redis::RedisClient::connect(agora_redis::RedisConfig::new(url.clone()))
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} does not answer ({e}); start it or set AGORA_TEST_REDIS_URL"));
    client.ping().await.expect("PING");
    let got = checks(&url).await;
    for (target, ok, detail) in &got {
        assert!(ok, "{target}: {detail}");
    }
    assert_eq!(got[1].2, "PONG");
}

#[tokio::test]
async fn a_redis_that_does_not_answer_is_a_failed_check() {
    let got = checks("redis://127.0.0.1:1").await;
    assert!(got[0].1 && got[2].1, "{got:?}");
    assert!(!got[1].1, "{got:?}");
}
