//! The cache forwards every port call it does not answer itself, and
//! answers `order_context` with the wrapped store's own one-call read.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_redis::CachedStore;
use agora_testkit::probe::assert_forwards_every_call;
use common::TestRedis;

const TTL: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_cache_forwards_every_call() {
    let t = TestRedis::new().await;
    let client = t.client.clone();
    assert_forwards_every_call(|inner| Arc::new(CachedStore::new(inner, client, TTL))).await;
    assert_eq!(t.client.errors(), 0);
}

#[tokio::test]
async fn the_cache_forwards_every_call_with_redis_down() {
    let client = common::unreachable_client();
    assert_forwards_every_call(|inner| Arc::new(CachedStore::new(inner, client, TTL))).await;
}
