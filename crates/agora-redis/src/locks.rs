//! [`LockManager`] on Redis leases: `SET name token NX PX ttl`; only the
//! holder's token can extend or release (checked inside a Lua script, so
//! check and act are one step); a dead holder's lock simply expires.
//!
//! These locks save duplicated work between instances; correctness never
//! depends on them (the store's guards keep data right).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use agora_core::{Lease, LockManager, StoreError};
use async_trait::async_trait;
use redis::Script;

use crate::client::{RedisClient, millis, random_token};
use crate::fallback::Fallback;

static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// Lease locks shared by every instance using the same Redis and prefix.
/// Keys: `{prefix}lock:{name}` holding the holder's random token.
#[derive(Clone, Debug)]
pub struct RedisLocks {
    client: RedisClient,
}

impl RedisLocks {
    /// Locks on `client`.
    pub fn new(client: RedisClient) -> Self {
        Self { client }
    }

    fn key(&self, name: &str) -> String {
        self.client.key(&format!("lock:{name}"))
    }
}

#[async_trait]
impl LockManager for RedisLocks {
    async fn try_acquire(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let token = random_token();
        let key = self.key(name);
        let mut conn = self.client.conn();
        let t = token.clone();
        let set: Option<String> = self
            .client
            .run("lock acquire", async move {
                redis::cmd("SET").arg(key).arg(t).arg("NX").arg("PX").arg(millis(ttl)).query_async(&mut conn).await
            })
            .await?;
        Ok(set.map(|_| Lease { name: name.to_owned(), token }))
    }

    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.key(&lease.name);
        let mut conn = self.client.conn();
        let n: i64 = self
            .client
            .run("lock extend", async move {
                EXTEND.key(key).arg(&lease.token).arg(millis(ttl)).invoke_async(&mut conn).await
            })
            .await?;
        Ok(n == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        let key = self.key(&lease.name);
        let mut conn = self.client.conn();
        let n: i64 = self
            .client
            .run("lock release", async move { RELEASE.key(key).arg(&lease.token).invoke_async(&mut conn).await })
            .await?;
        Ok(n == 1)
    }
}

/// Marks a lease that came from the fallback.
const LOCAL_MARK: &str = "local:";

/// Locks from `primary` (Redis) and, while it fails, from `fallback`
/// (core's in-process `LocalLocks`): with Redis down each instance still
/// keeps its own jobs from overlapping instead of skipping all work. Two
/// instances may then run the same batch at once, which the store's guards
/// make harmless. A lease remembers which side granted it.
pub type FallbackLocks = Fallback<dyn LockManager>;

impl FallbackLocks {
    /// Redis locks on `client`, falling back to in-process locks.
    pub fn redis_or_local(client: RedisClient) -> Self {
        Self::new(
            Arc::new(RedisLocks::new(client)),
            Arc::new(agora_core::local::LocalLocks::new(Arc::new(agora_core::OsEntropy::default()))),
        )
    }

    fn local(lease: &Lease) -> Option<Lease> {
        lease.token.strip_prefix(LOCAL_MARK).map(|t| Lease { name: lease.name.clone(), token: t.to_owned() })
    }
}

#[async_trait]
impl LockManager for FallbackLocks {
    async fn try_acquire(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        match self.primary.try_acquire(name, ttl).await {
            Ok(lease) => Ok(lease),
            Err(_) => Ok(self
                .fallback
                .try_acquire(name, ttl)
                .await?
                .map(|l| Lease { name: l.name, token: format!("{LOCAL_MARK}{}", l.token) })),
        }
    }

    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        match Self::local(lease) {
            Some(local) => self.fallback.extend(&local, ttl).await,
            None => self.primary.extend(lease, ttl).await,
        }
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        match Self::local(lease) {
            Some(local) => self.fallback.release(&local).await,
            None => self.primary.release(lease).await,
        }
    }
}
