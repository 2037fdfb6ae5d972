//! The shared connection: one [`ConnectionManager`] (multiplexed, reconnects
//! by itself), the key prefix, and an error counter every part bumps when
//! Redis fails them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agora_core::StoreError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Each connection attempt gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Each command gives up after this long.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Upper bound of one operation (a command, or a reconnect plus the command).
/// Redis only saves work, so a slow Redis must not make requests slow.
const OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);
/// After a connection-level failure, operations fail at once for this long
/// (a circuit breaker), so a dead Redis costs requests nothing.
const COOLDOWN: Duration = Duration::from_millis(500);

/// Where Redis is and how agora's keys are named.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` when the redis
    /// crate has TLS enabled).
    pub url: String,
    /// Prepended to every key agora writes, `agora:` by default. Two
    /// deployments sharing one Redis must use different prefixes.
    pub key_prefix: String,
}

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "agora:";

impl RedisConfig {
    /// A config for `url` with the default prefix `agora:`.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), key_prefix: DEFAULT_KEY_PREFIX.to_owned() }
    }

    /// The same config with another key prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self::new("redis://127.0.0.1:6379")
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// The URL with any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    let userinfo = &authority[..at];
    let user = match userinfo.find(':') {
        Some(colon) => &userinfo[..colon],
        None => "",
    };
    // `redis://secret@host` carries a bare password in some clients; hide it too.
    let shown = if userinfo.contains(':') { format!("{user}:***") } else { "***".to_owned() };
    format!("{}{}@{}", &url[..scheme_end + 3], shown, &rest[at + 1..])
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    url: String,
    errors: AtomicU64,
    down_until: parking_lot::Mutex<Option<Instant>>,
}

/// A cheap-to-clone handle on one Redis: the connection manager, the key
/// prefix and the error counter shared by every part built on it.
#[derive(Clone)]
pub struct RedisClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisClient")
            .field("url", &self.inner.url)
            .field("prefix", &self.inner.prefix)
            .field("errors", &self.errors())
            .finish()
    }
}

impl RedisClient {
    /// Connects and checks the server answers `PING`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is bad or the server does not answer.
    pub async fn connect(config: RedisConfig) -> Result<Self, StoreError> {
        let client = Self::connect_lazy(config)?;
        client.ping().await?;
        Ok(client)
    }

    /// A client that connects on first use and never fails for a server that
    /// is down now (every operation then fails and counts an error, and the
    /// parts fall back). Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL cannot be parsed.
    pub fn connect_lazy(config: RedisConfig) -> Result<Self, StoreError> {
        let url = redact_url(&config.url);
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("redis url {url}: {:?}", e.kind())))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| StoreError::Unavailable(format!("redis {url}: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                prefix: config.key_prefix,
                url,
                errors: AtomicU64::new(0),
                down_until: parking_lot::Mutex::new(None),
            }),
        })
    }

    /// Ok when the server answers `PING` (`/readyz` may show it; agora does
    /// not need Redis to be ready).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let pong: String = self.run("PING", async move { redis::cmd("PING").query_async(&mut conn).await }).await?;
        if pong == "PONG" { Ok(()) } else { Err(StoreError::Unavailable(format!("redis answered {pong:?} to PING"))) }
    }

    /// How many Redis operations have failed on this client (and its clones)
    /// since it was made. Export it as a metric.
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// The key prefix, e.g. `agora:`.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// `rest` with the prefix in front.
    pub fn key(&self, rest: &str) -> String {
        let mut k = String::with_capacity(self.inner.prefix.len() + rest.len());
        k.push_str(&self.inner.prefix);
        k.push_str(rest);
        k
    }

    /// Deletes every key under this client's prefix (`SCAN MATCH` + `UNLINK`),
    /// returning how many were deleted. For tests and for an operator who
    /// wants a clean slate; agora stays correct with Redis emptied at any time.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn purge_prefix(&self) -> Result<u64, StoreError> {
        let pattern = format!("{}*", glob_escape(&self.inner.prefix));
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let mut conn = self.conn();
            let pattern = pattern.clone();
            let (next, keys): (u64, Vec<String>) = self
                .run("SCAN", async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                let mut conn = self.conn();
                let n: u64 = self
                    .run("UNLINK", async move { redis::cmd("UNLINK").arg(keys).query_async(&mut conn).await })
                    .await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// A handle on the connection (cheap clone of the manager).
    pub(crate) fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// Counts one failure that happened outside [`RedisClient::run`] (a
    /// value that did not decode, say).
    pub(crate) fn count_error(&self) {
        self.inner.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn trip(&self) {
        *self.inner.down_until.lock() = Some(Instant::now() + COOLDOWN);
    }

    /// Runs one Redis operation with the overall timeout; a failure counts an
    /// error and becomes [`StoreError::Unavailable`] (no driver type leaks).
    pub(crate) async fn run<T>(
        &self,
        what: &str,
        op: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        if let Some(until) = *self.inner.down_until.lock()
            && Instant::now() < until
        {
            self.count_error();
            return Err(StoreError::Unavailable(format!("redis {what}: skipped, redis failed just now")));
        }
        match tokio::time::timeout(OPERATION_TIMEOUT, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.count_error();
                if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
                    self.trip();
                }
                Err(StoreError::Unavailable(format!("redis {what}: {e}")))
            }
            Err(_) => {
                self.count_error();
                self.trip();
                Err(StoreError::Unavailable(format!("redis {what}: timed out after {OPERATION_TIMEOUT:?}")))
            }
        }
    }
}

/// Escapes the glob characters of `SCAN MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A random 128-bit token in hex (lock tokens, cache generations).
pub(crate) fn random_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Milliseconds of a duration for `PX`, at least 1 (Redis refuses 0).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        for (url, shown) in [
            ("redis://:hunter2@h:6379/0", "redis://:***@h:6379/0"),
            ("redis://ann:hunter2@h:6379", "redis://ann:***@h:6379"),
            ("rediss://hunter2@h", "rediss://***@h"),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let dbg = format!("{:?}", RedisConfig::new("redis://ann:hunter2@h:6379"));
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("agora:"), "{dbg}");
    }

    #[test]
    fn escapes_globs() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
