//! [`LockManager`] on Redis leases: `SET name token NX PX ttl`; only the
//! holder's token can extend or release (checked inside a Lua script, so
//! check and act are one step); a dead holder's lock simply expires.
//!
//! These locks save duplicated work between instances; correctness never
//! depends on them (the store's guards keep data right).

use std::sync::LazyLock;
use std::time::Duration;

use agora_core::{Lease, LockManager, StoreError};
use async_trait::async_trait;
use redis::Script;

use crate::client::{RedisClient, millis, random_token};

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
