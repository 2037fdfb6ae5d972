//! The idempotency fast path against a real redis-server, alone and through
//! agora's `place_order`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_core::{Actor, AgoraError, IdempotencyCache, IdempotencyRecord, InFlight, Reads};
use agora_memory::MemoryStore;
use agora_redis::RedisIdempotencyCache;
use common::{TestRedis, World};
use time::OffsetDateTime;

fn record(scope: &str, key: &str, body: &str) -> IdempotencyRecord {
    let now = OffsetDateTime::now_utc();
    IdempotencyRecord {
        scope: scope.into(),
        key: key.into(),
        fingerprint: "fp-1".into(),
        response_status: 201,
        response_body: body.into(),
        resource_id: None,
        created_at: now,
        expires_at: now + time::Duration::hours(1),
    }
}

/// An agora over a memory store with the idempotency cache on `t`.
async fn world_with_cache(t: &TestRedis) -> World {
    let cache = Arc::new(RedisIdempotencyCache::new(t.client.clone()));
    World::new(Arc::new(MemoryStore::new()), Some(cache), 10).await
}

#[tokio::test]
async fn marker_then_completed_response() {
    let (_t, a, b) = TestRedis::two(RedisIdempotencyCache::new).await;
    let lease = Duration::from_secs(30);

    assert_eq!(a.begin("orders:u1", "k1", lease).await.unwrap(), InFlight::Acquired);
    assert_eq!(b.begin("orders:u1", "k1", lease).await.unwrap(), InFlight::Busy, "other instance sees the marker");
    assert_eq!(b.begin("orders:u2", "k1", lease).await.unwrap(), InFlight::Acquired, "scopes are separate");

    a.complete("orders:u1", "k1", &record("orders:u1", "k1", "{\"id\":1}"), Duration::from_secs(60)).await.unwrap();
    let done = InFlight::Completed { fingerprint: "fp-1".into(), status: 201, body: "{\"id\":1}".into() };
    assert_eq!(b.begin("orders:u1", "k1", lease).await.unwrap(), done);
    // Abandon never removes a completed response.
    b.abandon("orders:u1", "k1").await.unwrap();
    assert_eq!(a.begin("orders:u1", "k1", lease).await.unwrap(), done);

    // Abandon clears a marker.
    b.abandon("orders:u2", "k1").await.unwrap();
    assert_eq!(a.begin("orders:u2", "k1", lease).await.unwrap(), InFlight::Acquired);
}

#[tokio::test]
async fn marker_lease_and_response_ttl_expire() {
    let t = TestRedis::new().await;
    let c = RedisIdempotencyCache::new(t.client.clone());
    assert_eq!(c.begin("s", "dead", Duration::from_millis(200)).await.unwrap(), InFlight::Acquired);
    c.complete("s", "short", &record("s", "short", "{}"), Duration::from_millis(200)).await.unwrap();
    assert_eq!(c.begin("s", "dead", Duration::from_secs(1)).await.unwrap(), InFlight::Busy);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(c.begin("s", "dead", Duration::from_secs(1)).await.unwrap(), InFlight::Acquired, "holder died");
    assert_eq!(c.begin("s", "short", Duration::from_secs(1)).await.unwrap(), InFlight::Acquired, "response expired");
}

#[tokio::test]
async fn scope_and_key_cannot_collide() {
    let t = TestRedis::new().await;
    let c = RedisIdempotencyCache::new(t.client.clone());
    let lease = Duration::from_secs(30);
    assert_eq!(c.begin("a:b", "c", lease).await.unwrap(), InFlight::Acquired);
    assert_eq!(c.begin("a", "b:c", lease).await.unwrap(), InFlight::Acquired);
}

#[tokio::test]
async fn a_retry_through_agora_replays_and_a_different_body_is_refused() {
    let t = TestRedis::new().await;
    let w = world_with_cache(&t).await;

    let first = w.agora.place_order(&w.customer, Some("key-1"), w.order_request(2)).await.unwrap();
    assert!(!first.replayed);
    let again = w.agora.place_order(&w.customer, Some("key-1"), w.order_request(2)).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.recorded, first.recorded);
    let err = w.agora.place_order(&w.customer, Some("key-1"), w.order_request(3)).await.unwrap_err();
    assert_eq!(err, AgoraError::IdempotencyKeyReused);
    assert_eq!(w.orders_of_store().await.len(), 1);
    // The completed response is in Redis.
    assert!(t.keys().await.iter().any(|k| k.contains(":idem:")), "{:?}", t.keys().await);
}

#[tokio::test]
async fn flushed_redis_still_one_order() {
    let t = TestRedis::new().await;
    let w = world_with_cache(&t).await;

    let first = w.agora.place_order(&w.customer, Some("flush-key"), w.order_request(3)).await.unwrap();
    assert!(!t.keys().await.is_empty());
    // Redis loses everything (only this test's keys: the server is shared).
    assert!(t.client.purge_prefix().await.unwrap() >= 1);
    assert!(t.keys().await.is_empty());

    let retry = w.agora.place_order(&w.customer, Some("flush-key"), w.order_request(3)).await.unwrap();
    assert!(retry.replayed, "the primary store's record answers");
    assert_eq!(retry.order.id, first.order.id);
    assert_eq!(retry.recorded, first.recorded);
    let orders = w.orders_of_store().await;
    assert_eq!(orders.len(), 1, "still one order");
    let stock = w.store.list_inventory(&[agora_core::VariantId(w.variant)]).await.unwrap();
    assert_eq!(stock[0].reserved, 3, "stock reserved once");
}

#[tokio::test]
async fn a_key_in_flight_on_another_instance_is_a_conflict() {
    let t = TestRedis::new().await;
    let w = world_with_cache(&t).await;
    let Actor::Customer { user_id } = &w.customer else { panic!("customer") };

    // Another api instance is working on this key right now.
    let other = RedisIdempotencyCache::new(t.another().await);
    let scope = format!("orders:{user_id}");
    assert_eq!(other.begin(&scope, "busy-key", Duration::from_secs(30)).await.unwrap(), InFlight::Acquired);

    let err = w.agora.place_order(&w.customer, Some("busy-key"), w.order_request(1)).await.unwrap_err();
    assert!(matches!(err, AgoraError::Conflict { retry_after: Some(_), .. }), "{err:?}");
    assert!(w.orders_of_store().await.is_empty());

    other.abandon(&scope, "busy-key").await.unwrap();
    let placed = w.agora.place_order(&w.customer, Some("busy-key"), w.order_request(1)).await.unwrap();
    assert!(!placed.replayed);
}

#[tokio::test]
async fn concurrent_retries_on_two_instances_make_one_order() {
    let t = TestRedis::new().await;
    let store: Arc<dyn agora_core::Store> = Arc::new(MemoryStore::new());
    let w = World::new(store.clone(), None, 100).await;
    let instances = [
        common::agora(store.clone(), Some(Arc::new(RedisIdempotencyCache::new(t.client.clone())))),
        common::agora(store.clone(), Some(Arc::new(RedisIdempotencyCache::new(t.another().await)))),
    ];
    let mut tasks = Vec::new();
    for i in 0..16 {
        let agora = instances[i % 2].clone();
        let (actor, req) = (w.customer.clone(), w.order_request(1));
        tasks.push(tokio::spawn(async move { agora.place_order(&actor, Some("same"), req).await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(p) => {
                ids.insert(p.order.id);
            }
            Err(AgoraError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ids.len(), 1, "every success is the same order: {ids:?}");
    assert_eq!(w.orders_of_store().await.len(), 1);
}

#[tokio::test]
async fn redis_down_orders_still_work_once() {
    let client = common::unreachable_client();
    let cache = Arc::new(RedisIdempotencyCache::new(client.clone()));
    let w = World::new(Arc::new(MemoryStore::new()), Some(cache), 10).await;
    let first = w.agora.place_order(&w.customer, Some("down"), w.order_request(1)).await.unwrap();
    let retry = w.agora.place_order(&w.customer, Some("down"), w.order_request(1)).await.unwrap();
    assert!(!first.replayed);
    assert!(retry.replayed);
    assert_eq!(w.orders_of_store().await.len(), 1);
    assert!(client.errors() >= 1);
}
