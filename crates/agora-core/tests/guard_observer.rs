//! The guard observer sees every guard that failed inside an apply.

use std::sync::{Arc, Mutex};

use agora_core::secrets::hash_token;
use agora_core::views::NewStore;
use agora_core::{Agora, AgoraConfig};

#[tokio::test]
async fn failed_guards_are_reported_by_kind() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = seen.clone();
    let agora = Agora::builder(Arc::new(agora_memory::MemoryStore::new()))
        .config(AgoraConfig {
            super_admin_key_hash: Some(hash_token("super-key-for-this-test")),
            ..AgoraConfig::default()
        })
        .guard_observer(Arc::new(move |g| sink.lock().unwrap().push(g.kind())))
        .build();
    let admin = agora.authenticate_admin("super-key-for-this-test").await.unwrap();
    let req = NewStore { name: "One".into(), domain: "one.example.com".into(), access_token: None };
    agora.create_store(&admin, req.clone()).await.unwrap();
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(agora.create_store(&admin, req).await.unwrap_err().code(), "conflict");
    assert_eq!(*seen.lock().unwrap(), ["store_domain_key"]);
}
