//! Lease locks against a real redis-server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_core::{Lease, LockManager};
use agora_redis::RedisLocks;
use common::TestRedis;

#[tokio::test]
async fn mutual_exclusion_across_two_clients() {
    let (t, a, b) = TestRedis::two(RedisLocks::new).await;
    let ttl = Duration::from_secs(30);

    let lease = a.try_acquire("batch", ttl).await.unwrap().expect("a takes the free lock");
    assert_eq!(lease.name, "batch");
    assert!(b.try_acquire("batch", ttl).await.unwrap().is_none(), "b must not get a held lock");
    assert!(a.try_acquire("batch", ttl).await.unwrap().is_none(), "not re-entrant either");
    // Another name is independent.
    let other = b.try_acquire("other", ttl).await.unwrap().expect("other lock is free");

    assert!(a.release(&lease).await.unwrap());
    let lease_b = b.try_acquire("batch", ttl).await.unwrap().expect("b gets it once released");
    assert_ne!(lease_b.token, lease.token, "each holder has its own token");
    assert!(!a.release(&lease).await.unwrap(), "a's old lease no longer releases");
    assert!(b.release(&lease_b).await.unwrap());
    assert!(b.release(&other).await.unwrap());
    assert!(t.keys().await.is_empty(), "released locks leave no keys: {:?}", t.keys().await);
}

#[tokio::test]
async fn exactly_one_of_many_concurrent_acquirers_wins() {
    let t = TestRedis::new().await;
    let clients = [t.client.clone(), t.another().await];
    let mut tasks = Vec::new();
    for i in 0..40 {
        let locks = Arc::new(RedisLocks::new(clients[i % 2].clone()));
        tasks.push(tokio::spawn(async move { locks.try_acquire("race", Duration::from_secs(30)).await.unwrap() }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await.unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

#[tokio::test]
async fn lock_expires_after_its_holder_vanishes() {
    let t = TestRedis::new().await;
    let b = RedisLocks::new(t.another().await);
    {
        // The holder takes the lock and dies without releasing it.
        let holder = RedisLocks::new(t.another().await);
        holder.try_acquire("job", Duration::from_millis(300)).await.unwrap().expect("free");
    }
    assert!(b.try_acquire("job", Duration::from_secs(5)).await.unwrap().is_none(), "still held within its ttl");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let lease = b.try_acquire("job", Duration::from_secs(5)).await.unwrap().expect("expired, so free");
    assert!(b.release(&lease).await.unwrap());
}

#[tokio::test]
async fn extend_keeps_the_lock_only_for_its_holder() {
    let (_t, a, b) = TestRedis::two(RedisLocks::new).await;
    let lease = a.try_acquire("long", Duration::from_millis(300)).await.unwrap().expect("free");
    assert!(a.extend(&lease, Duration::from_secs(5)).await.unwrap());
    let stranger = Lease { name: "long".into(), token: "not-the-token".into() };
    assert!(!b.extend(&stranger, Duration::from_millis(1)).await.unwrap(), "a stranger cannot extend");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(b.try_acquire("long", Duration::from_secs(5)).await.unwrap().is_none(), "extended past the first ttl");
    assert!(a.release(&lease).await.unwrap());
    // A lost lease cannot be extended back to life.
    assert!(!a.extend(&lease, Duration::from_secs(5)).await.unwrap());
}

#[tokio::test]
async fn a_stranger_cannot_release() {
    let (_t, a, b) = TestRedis::two(RedisLocks::new).await;
    let lease = a.try_acquire("mine", Duration::from_secs(30)).await.unwrap().expect("free");
    let stranger = Lease { name: "mine".into(), token: "guessed".into() };
    assert!(!b.release(&stranger).await.unwrap());
    // Even a real token of another lock does not work on this one.
    let other = b.try_acquire("theirs", Duration::from_secs(30)).await.unwrap().expect("free");
    assert!(!b.release(&Lease { name: "mine".into(), token: other.token.clone() }).await.unwrap());
    assert!(b.try_acquire("mine", Duration::from_secs(30)).await.unwrap().is_none(), "still held by a");
    assert!(a.release(&lease).await.unwrap());
    assert!(b.release(&other).await.unwrap());
}

#[tokio::test]
async fn locks_fail_cleanly_when_redis_is_unreachable() {
    let client = common::unreachable_client();
    let locks = RedisLocks::new(client.clone());
    let err = locks.try_acquire("x", Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(err, agora_core::StoreError::Unavailable(_)), "{err:?}");
    assert!(client.errors() >= 1);
}

#[tokio::test]
async fn fallback_locks_work_on_either_side() {
    use agora_redis::FallbackLocks;
    // Redis down: in-process locks still exclude within this instance.
    let down = FallbackLocks::redis_or_local(common::unreachable_client());
    let lease = down.try_acquire("job", Duration::from_secs(30)).await.unwrap().expect("local lock");
    assert!(down.try_acquire("job", Duration::from_secs(30)).await.unwrap().is_none());
    assert!(down.extend(&lease, Duration::from_secs(30)).await.unwrap());
    assert!(down.release(&lease).await.unwrap());
    assert!(down.try_acquire("job", Duration::from_secs(30)).await.unwrap().is_some());

    // Redis up: the lock is shared with other instances.
    let t = TestRedis::new().await;
    let a = FallbackLocks::redis_or_local(t.client.clone());
    let b = RedisLocks::new(t.another().await);
    let lease = a.try_acquire("job", Duration::from_secs(30)).await.unwrap().expect("free");
    assert!(b.try_acquire("job", Duration::from_secs(30)).await.unwrap().is_none());
    assert!(a.extend(&lease, Duration::from_secs(30)).await.unwrap());
    assert!(a.release(&lease).await.unwrap());
    assert!(b.try_acquire("job", Duration::from_secs(30)).await.unwrap().is_some());
}
