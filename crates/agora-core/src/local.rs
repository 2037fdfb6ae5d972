//! In-process implementations of the small ports, for a single process
//! (and for tests): a sliding-window rate limiter on the injected clock,
//! lease locks, and a blob store in memory.
//!
//! The rate limiter is hand-written rather than `governor` because login
//! limiting needs to *peek* without counting and to count only failures,
//! and because it must follow the injected [`Clock`] so tests need no sleep.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use time::OffsetDateTime;

use crate::clock::{Clock, Entropy};
use crate::error::StoreError;
use crate::ports::{BlobObject, BlobStore, Lease, LockManager, RateDecision, RateLimiter};

/// Bounded key count, so a flood of distinct keys cannot grow memory forever.
const MAX_KEYS: usize = 100_000;

/// A sliding-window log per key, in process memory.
pub struct LocalRateLimiter {
    clock: Arc<dyn Clock>,
    hits: Mutex<HashMap<String, VecDeque<OffsetDateTime>>>,
}

impl LocalRateLimiter {
    /// A limiter reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, hits: Mutex::new(HashMap::new()) }
    }

    fn decide(log: &VecDeque<OffsetDateTime>, now: OffsetDateTime, limit: u32, window: Duration) -> RateDecision {
        if (log.len() as u32) < limit {
            return RateDecision::Allowed;
        }
        let oldest = log.front().copied().unwrap_or(now);
        let free_at = oldest + window;
        let wait = (free_at - now).whole_seconds().max(1) as u64;
        RateDecision::Limited { retry_after: wait }
    }

    fn prune(log: &mut VecDeque<OffsetDateTime>, now: OffsetDateTime, window: Duration) {
        while log.front().is_some_and(|t| *t + window <= now) {
            log.pop_front();
        }
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn peek(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, StoreError> {
        let now = self.clock.now();
        let mut hits = self.hits.lock();
        let Some(log) = hits.get_mut(key) else { return Ok(RateDecision::Allowed) };
        Self::prune(log, now, window);
        Ok(Self::decide(log, now, limit, window))
    }

    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, StoreError> {
        let now = self.clock.now();
        let mut hits = self.hits.lock();
        if hits.len() >= MAX_KEYS && !hits.contains_key(key) {
            hits.retain(|_, log| log.back().is_some_and(|t| *t + window > now));
        }
        let log = hits.entry(key.to_owned()).or_default();
        Self::prune(log, now, window);
        log.push_back(now);
        if (log.len() as u32) > limit {
            log.pop_front();
            return Ok(Self::decide(log, now, limit, window).max_wait());
        }
        Ok(RateDecision::Allowed)
    }

    async fn refund(&self, key: &str) -> Result<(), StoreError> {
        if let Some(log) = self.hits.lock().get_mut(key) {
            log.pop_back();
        }
        Ok(())
    }
}

impl RateDecision {
    fn max_wait(self) -> RateDecision {
        match self {
            RateDecision::Allowed => RateDecision::Limited { retry_after: 1 },
            limited => limited,
        }
    }
}

/// Lease locks in process memory, expiring by wall time.
pub struct LocalLocks {
    entropy: Arc<dyn Entropy>,
    held: Mutex<BTreeMap<String, (String, std::time::Instant)>>,
}

impl LocalLocks {
    /// A lock table drawing tokens from `entropy`.
    pub fn new(entropy: Arc<dyn Entropy>) -> Self {
        Self { entropy, held: Mutex::new(BTreeMap::new()) }
    }
}

#[async_trait]
impl LockManager for LocalLocks {
    async fn try_acquire(&self, name: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let now = std::time::Instant::now();
        let mut held = self.held.lock();
        if let Some((_, until)) = held.get(name)
            && *until > now
        {
            return Ok(None);
        }
        let mut raw = [0u8; 16];
        self.entropy.fill(&mut raw);
        let token = hex::encode(raw);
        held.insert(name.to_owned(), (token.clone(), now + ttl));
        Ok(Some(Lease { name: name.to_owned(), token }))
    }

    async fn extend(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let now = std::time::Instant::now();
        let mut held = self.held.lock();
        match held.get_mut(&lease.name) {
            Some((token, until)) if *token == lease.token && *until > now => {
                *until = now + ttl;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        let mut held = self.held.lock();
        match held.get(&lease.name) {
            Some((token, _)) if *token == lease.token => {
                held.remove(&lease.name);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

use crate::ports::UploadStream;

/// Blobs in process memory (tests, demos, the memory store).
#[derive(Default)]
pub struct MemoryBlobs {
    objects: Mutex<BTreeMap<String, bytes::Bytes>>,
}

impl MemoryBlobs {
    /// The keys stored, in order.
    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().keys().cloned().collect()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.objects.lock().insert(key.to_owned(), bytes.into());
        Ok(())
    }

    async fn put_stream(&self, key: &str, mut body: UploadStream<'_>) -> Result<u64, StoreError> {
        use futures::StreamExt;
        // Collected apart and inserted whole, so a failed stream leaves nothing.
        let mut all = bytes::BytesMut::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk.map_err(|e| StoreError::Unavailable(format!("upload: {e}")))?);
        }
        let n = all.len() as u64;
        self.objects.lock().insert(key.to_owned(), all.freeze());
        Ok(n)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.objects.lock().get(key).map(|b| b.to_vec()))
    }

    async fn open(&self, key: &str) -> Result<Option<BlobObject>, StoreError> {
        let Some(bytes) = self.objects.lock().get(key).cloned() else { return Ok(None) };
        let size = bytes.len() as u64;
        Ok(Some(BlobObject { size, body: Box::pin(futures::stream::once(async move { Ok(bytes) })) }))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.objects.lock().remove(key);
        Ok(())
    }
}
