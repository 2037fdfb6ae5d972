//! Sliding-window rate limits against a real redis-server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_core::{RateDecision, RateLimiter, SystemClock};
use agora_redis::{FallbackRateLimiter, RedisRateLimiter, RequestBudget};
use common::TestRedis;

const WINDOW: Duration = Duration::from_secs(1);

#[tokio::test]
async fn peek_does_not_record() {
    let t = TestRedis::new().await;
    let rl = RedisRateLimiter::new(t.client.clone());
    for _ in 0..10 {
        assert_eq!(rl.peek("login:ann", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    }
    assert_eq!(rl.hit("login:ann", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    assert_eq!(rl.peek("login:ann", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    assert_eq!(rl.hit("login:ann", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
}

/// A refunded hit no longer counts (a login whose password was right);
/// refunding a key with no hits is fine.
#[tokio::test]
async fn a_refund_takes_back_the_newest_hit() {
    let t = TestRedis::new().await;
    let rl = RedisRateLimiter::new(t.client.clone());
    rl.refund("login:nobody").await.unwrap();
    assert_eq!(rl.hit("login:bob", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    assert_eq!(rl.hit("login:bob", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    assert!(matches!(rl.peek("login:bob", 2, WINDOW).await.unwrap(), RateDecision::Limited { .. }));
    rl.refund("login:bob").await.unwrap();
    assert_eq!(rl.peek("login:bob", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    assert_eq!(rl.hit("login:bob", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    assert!(matches!(rl.hit("login:bob", 2, WINDOW).await.unwrap(), RateDecision::Limited { .. }));
}

#[tokio::test]
async fn hits_over_the_limit_are_refused_with_retry_after_until_the_window_slides() {
    let (_t, a, b) = TestRedis::two(RedisRateLimiter::new).await;
    let window = Duration::from_secs(2);
    // Two instances count together.
    assert_eq!(a.hit("k", 3, window).await.unwrap(), RateDecision::Allowed);
    assert_eq!(b.hit("k", 3, window).await.unwrap(), RateDecision::Allowed);
    assert_eq!(a.hit("k", 3, window).await.unwrap(), RateDecision::Allowed);
    let RateDecision::Limited { retry_after } = b.hit("k", 3, window).await.unwrap() else {
        panic!("the fourth hit in the window must be limited")
    };
    assert!((1..=2).contains(&retry_after), "retry_after {retry_after}");
    let RateDecision::Limited { retry_after } = a.peek("k", 3, window).await.unwrap() else {
        panic!("peek must see the limit too")
    };
    assert!((1..=2).contains(&retry_after), "retry_after {retry_after}");
    // Another key is independent; a higher limit for the same key allows.
    assert_eq!(a.hit("other", 3, window).await.unwrap(), RateDecision::Allowed);
    assert_eq!(a.peek("k", 10, window).await.unwrap(), RateDecision::Allowed);

    tokio::time::sleep(window + Duration::from_millis(150)).await;
    assert_eq!(a.peek("k", 3, window).await.unwrap(), RateDecision::Allowed, "window slid");
    assert_eq!(a.hit("k", 3, window).await.unwrap(), RateDecision::Allowed);
}

#[tokio::test]
async fn limited_key_expires_from_redis() {
    let t = TestRedis::new().await;
    let rl = RedisRateLimiter::new(t.client.clone());
    rl.hit("gone", 1, Duration::from_millis(200)).await.unwrap();
    assert_eq!(t.keys().await.len(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(t.keys().await.is_empty(), "a quiet key must not stay in Redis");
}

#[tokio::test]
async fn zero_limit_always_refuses_with_the_window() {
    let t = TestRedis::new().await;
    let rl = RedisRateLimiter::new(t.client.clone());
    assert_eq!(rl.hit("z", 0, WINDOW).await.unwrap(), RateDecision::Limited { retry_after: 1 });
    assert_eq!(rl.peek("z", 0, WINDOW).await.unwrap(), RateDecision::Limited { retry_after: 1 });
}

#[tokio::test]
async fn fallback_limits_in_process_when_redis_is_down() {
    let client = common::unreachable_client();
    let rl = FallbackRateLimiter::redis_or_local(client.clone());
    assert_eq!(rl.hit("k", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    assert_eq!(rl.hit("k", 2, WINDOW).await.unwrap(), RateDecision::Allowed);
    assert!(matches!(rl.hit("k", 2, WINDOW).await.unwrap(), RateDecision::Limited { .. }));
    assert!(matches!(rl.peek("k", 2, WINDOW).await.unwrap(), RateDecision::Limited { .. }));
    assert!(client.errors() >= 4, "every failed Redis call is counted, got {}", client.errors());
}

#[tokio::test]
async fn request_budget_per_client() {
    let t = TestRedis::new().await;
    let budget = RequestBudget::redis(t.client.clone(), 2, Duration::from_secs(5));
    assert_eq!(budget.check("key-1").await, RateDecision::Allowed);
    assert_eq!(budget.check("key-1").await, RateDecision::Allowed);
    assert!(
        matches!(budget.check("key-1").await, RateDecision::Limited { retry_after } if (1..=5).contains(&retry_after))
    );
    assert_eq!(budget.check("key-2").await, RateDecision::Allowed, "budgets are per client");
    assert!(t.keys().await.iter().all(|k| k.starts_with(&format!("{}rl:budget:", t.prefix))));

    let local = RequestBudget::local(Arc::new(SystemClock), 1, Duration::from_secs(5));
    assert_eq!(local.check("c").await, RateDecision::Allowed);
    assert!(matches!(local.check("c").await, RateDecision::Limited { .. }));

    let down = RequestBudget::redis(common::unreachable_client(), 1, Duration::from_secs(5));
    assert_eq!(down.check("c").await, RateDecision::Allowed);
    assert!(matches!(down.check("c").await, RateDecision::Limited { .. }), "falls back to in-process counting");
}
