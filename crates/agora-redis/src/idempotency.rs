//! The idempotency fast path: one key per (scope, key) holding either an
//! in-flight marker (set with `SET NX`-like semantics and a lease) or the
//! completed response. The primary store's idempotency record, written in
//! the order's own changeset, stays authoritative: this only answers
//! retries quickly and stops two instances working on the same key at once.

use std::sync::LazyLock;
use std::time::Duration;

use agora_core::{IdempotencyCache, IdempotencyRecord, InFlight, StoreError};
use async_trait::async_trait;
use redis::Script;
use serde::{Deserialize, Serialize};

use crate::client::{RedisClient, millis};

/// The value stored under an idempotency key.
#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Entry {
    InFlight,
    Completed { fingerprint: String, status: u16, body: String },
}

/// KEYS[1]; ARGV = marker, lease ms. Returns the existing value, or nil
/// after setting the marker.
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false",
    )
});

/// Deletes the key only while it holds the marker (never a completed response).
static ABANDON: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0",
    )
});

/// [`IdempotencyCache`] on Redis. Keys: `{prefix}idem:{len(scope)}:{scope}:{key}`
/// (the length keeps `(a:b, c)` and `(a, b:c)` apart).
#[derive(Clone, Debug)]
pub struct RedisIdempotencyCache {
    client: RedisClient,
    marker: String,
}

impl RedisIdempotencyCache {
    /// The fast path on `client`.
    pub fn new(client: RedisClient) -> Self {
        let marker = serde_json::to_string(&Entry::InFlight).unwrap_or_else(|_| "{\"state\":\"in_flight\"}".into());
        Self { client, marker }
    }

    fn key(&self, scope: &str, key: &str) -> String {
        self.client.key(&format!("idem:{}:{scope}:{key}", scope.len()))
    }
}

#[async_trait]
impl IdempotencyCache for RedisIdempotencyCache {
    async fn begin(&self, scope: &str, key: &str, lease: Duration) -> Result<InFlight, StoreError> {
        let k = self.key(scope, key);
        let mut conn = self.client.conn();
        let marker = self.marker.clone();
        let existing: Option<String> = self
            .client
            .run("idempotency begin", async move {
                BEGIN.key(k).arg(marker).arg(millis(lease)).invoke_async(&mut conn).await
            })
            .await?;
        let Some(raw) = existing else { return Ok(InFlight::Acquired) };
        match serde_json::from_str::<Entry>(&raw) {
            Ok(Entry::InFlight) => Ok(InFlight::Busy),
            Ok(Entry::Completed { fingerprint, status, body }) => Ok(InFlight::Completed { fingerprint, status, body }),
            Err(e) => {
                self.client.count_error();
                Err(StoreError::Unavailable(format!("redis idempotency entry does not decode: {e}")))
            }
        }
    }

    async fn complete(
        &self,
        scope: &str,
        key: &str,
        record: &IdempotencyRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let k = self.key(scope, key);
        let mut conn = self.client.conn();
        if ttl.is_zero() {
            let _: i64 = self
                .client
                .run("idempotency clear", async move { redis::cmd("DEL").arg(k).query_async(&mut conn).await })
                .await?;
            return Ok(());
        }
        let entry = Entry::Completed {
            fingerprint: record.fingerprint.clone(),
            status: record.response_status,
            body: record.response_body.clone(),
        };
        let value = serde_json::to_string(&entry).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Overwrites the marker: storing the response and clearing the marker is one SET.
        let _: () = self
            .client
            .run("idempotency complete", async move {
                redis::cmd("SET").arg(k).arg(value).arg("PX").arg(millis(ttl)).query_async(&mut conn).await
            })
            .await?;
        Ok(())
    }

    async fn abandon(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        let k = self.key(scope, key);
        let mut conn = self.client.conn();
        let marker = self.marker.clone();
        let _: i64 = self
            .client
            .run("idempotency abandon", async move { ABANDON.key(k).arg(marker).invoke_async(&mut conn).await })
            .await?;
        Ok(())
    }
}
