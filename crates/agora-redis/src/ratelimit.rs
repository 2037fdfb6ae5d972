//! Sliding-window rate limits on Redis (one sorted set per key, scored by
//! the server's clock, so every instance counts together), a limiter that
//! falls back to an in-process one when Redis fails, and a per-client
//! request budget for the HTTP layer.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use agora_core::local::LocalRateLimiter;
use agora_core::{Clock, RateDecision, RateLimiter, StoreError, SystemClock};
use async_trait::async_trait;
use redis::Script;

use crate::client::{RedisClient, millis, random_token};
use crate::fallback::Fallback;

/// KEYS[1] = the sorted set; ARGV = limit, window in ms, record (1/0), a
/// unique member suffix. Scores are the server's time in microseconds.
/// Returns {1, 0} when allowed, {0, wait_us} when limited.
///
/// The same semantics as core's `LocalRateLimiter`: a hit is recorded even
/// when it is refused (the log keeps the newest `limit` hits), so a client
/// that keeps hammering keeps itself limited.
static WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local window = window_ms * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.0f', now - window))
local n = redis.call('ZCARD', key)
if ARGV[3] == '1' then
  redis.call('ZADD', key, string.format('%.0f', now), string.format('%.0f', now) .. '-' .. ARGV[4])
  redis.call('PEXPIRE', key, window_ms)
  if n < limit then return {1, 0} end
  redis.call('ZREMRANGEBYRANK', key, 0, n - limit)
elseif n < limit then
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] == nil then return {0, window} end
return {0, tonumber(oldest[2]) + window - now}",
    )
});

/// Sliding-window limiter shared by every instance on the same Redis.
/// Keys: `{prefix}rl:{key}`, a sorted set of hit times that expires one
/// window after the last hit.
#[derive(Clone, Debug)]
pub struct RedisRateLimiter {
    client: RedisClient,
}

impl RedisRateLimiter {
    /// A limiter on `client`.
    pub fn new(client: RedisClient) -> Self {
        Self { client }
    }

    async fn call(&self, key: &str, limit: u32, window: Duration, record: bool) -> Result<RateDecision, StoreError> {
        let key = self.client.key(&format!("rl:{key}"));
        let mut conn = self.client.conn();
        let (allowed, wait_us): (i64, i64) = self
            .client
            .run("rate limit", async move {
                WINDOW
                    .key(key)
                    .arg(limit)
                    .arg(millis(window))
                    .arg(if record { "1" } else { "0" })
                    .arg(random_token())
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if allowed == 1 {
            return Ok(RateDecision::Allowed);
        }
        // Round up: a client told to come back after N seconds must then succeed.
        let secs = (wait_us.max(0) as u64).div_ceil(1_000_000).max(1);
        Ok(RateDecision::Limited { retry_after: secs })
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn peek(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, StoreError> {
        self.call(key, limit, window, false).await
    }

    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, StoreError> {
        self.call(key, limit, window, true).await
    }

    async fn refund(&self, key: &str) -> Result<(), StoreError> {
        // The newest hit is the highest score.
        let key = self.client.key(&format!("rl:{key}"));
        let mut conn = self.client.conn();
        self.client
            .run("rate limit refund", async move {
                redis::cmd("ZPOPMAX").arg(key).query_async::<redis::Value>(&mut conn).await.map(drop)
            })
            .await
    }
}

/// A limiter that asks `primary` (Redis) and, when it fails, `fallback`
/// (in-process): with Redis down each instance limits on its own instead of
/// refusing or waving everyone through. The primary's errors are counted by
/// its client.
pub type FallbackRateLimiter = Fallback<dyn RateLimiter>;

impl FallbackRateLimiter {
    /// Redis on `client`, falling back to core's in-process limiter on the system clock.
    pub fn redis_or_local(client: RedisClient) -> Self {
        Self::new(Arc::new(RedisRateLimiter::new(client)), Arc::new(LocalRateLimiter::new(Arc::new(SystemClock))))
    }
}

#[async_trait]
impl RateLimiter for FallbackRateLimiter {
    async fn peek(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, StoreError> {
        match self.primary.peek(key, limit, window).await {
            Ok(d) => Ok(d),
            Err(_) => self.fallback.peek(key, limit, window).await,
        }
    }

    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, StoreError> {
        match self.primary.hit(key, limit, window).await {
            Ok(d) => Ok(d),
            Err(_) => self.fallback.hit(key, limit, window).await,
        }
    }

    async fn refund(&self, key: &str) -> Result<(), StoreError> {
        match self.primary.refund(key).await {
            Ok(()) => Ok(()),
            Err(_) => self.fallback.refund(key).await,
        }
    }
}

/// A per-client request budget: at most `limit` requests per `window` for
/// each client id (an API key's id, a session's user, or the peer address).
/// The HTTP layer calls [`RequestBudget::check`] per request and answers 429
/// with `Retry-After` when it says [`RateDecision::Limited`].
#[derive(Clone)]
pub struct RequestBudget {
    limiter: Arc<dyn RateLimiter>,
    limit: u32,
    window: Duration,
}

impl RequestBudget {
    /// `limit` requests per `window` per client, counted by `limiter`.
    pub fn new(limiter: Arc<dyn RateLimiter>, limit: u32, window: Duration) -> Self {
        Self { limiter, limit, window }
    }

    /// Counted in Redis (shared by all instances), in process when Redis fails.
    pub fn redis(client: RedisClient, limit: u32, window: Duration) -> Self {
        Self::new(Arc::new(FallbackRateLimiter::redis_or_local(client)), limit, window)
    }

    /// Counted in this process only (no Redis configured).
    pub fn local(clock: Arc<dyn Clock>, limit: u32, window: Duration) -> Self {
        Self::new(Arc::new(LocalRateLimiter::new(clock)), limit, window)
    }

    /// Counts one request of `client` and says whether it is within budget.
    /// Never fails: if every limiter fails the request is allowed (a limiter
    /// outage must not become an API outage).
    pub async fn check(&self, client: &str) -> RateDecision {
        self.limiter.hit(&format!("budget:{client}"), self.limit, self.window).await.unwrap_or(RateDecision::Allowed)
    }
}

// Without the limiter, which has no `Debug`.
impl std::fmt::Debug for RequestBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBudget").field("limit", &self.limit).field("window", &self.window).finish()
    }
}
