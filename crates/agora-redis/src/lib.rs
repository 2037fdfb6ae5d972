//! # agora-redis
//!
//! agora's Redis parts. Redis is never the source of truth: every part here
//! only saves work or makes several api and worker instances act as one, and
//! agora stays correct with Redis emptied or down at any moment.
//!
//! - [`RedisClient`]: the shared connection (a self-reconnecting
//!   `ConnectionManager`), key prefix and error counter.
//! - [`RedisIdempotencyCache`]: the shared idempotency fast path.
//! - [`RedisLocks`], [`FallbackLocks`]: lease locks with random tokens.
//! - [`RedisRateLimiter`], [`FallbackRateLimiter`], [`RequestBudget`]: sliding-window limits.
//! - [`CachedStore`]: a read-through catalog cache in front of any store.
//! - [`EventRelay`]: the activity feed into one capped stream per store.
//!
//! See `docs/operations.md (Redis section)` for the key layout, memory bounds and behaviour
//! when Redis is down.

mod cache;
mod client;
mod fallback;
mod idempotency;
mod locks;
mod ratelimit;
mod relay;

pub use cache::CachedStore;
pub use client::{DEFAULT_KEY_PREFIX, RedisClient, RedisConfig, redact_url};
pub use fallback::Fallback;
pub use idempotency::RedisIdempotencyCache;
pub use locks::{FallbackLocks, RedisLocks};
pub use ratelimit::{FallbackRateLimiter, RedisRateLimiter, RequestBudget};
pub use relay::EventRelay;
