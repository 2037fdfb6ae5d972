//! # agora-runtime
//!
//! Everything between configuration and a running service: loading the
//! configuration, choosing the store from `AGORA_DATABASE_URL` at run time,
//! switching on the Redis parts, resolving secrets, the blob store for
//! exports and the job scheduler that `agora-api` (in-process) and
//! `agora-worker` share.

pub mod blobs;
pub mod config;
pub mod jobs;
mod probes;
pub mod process;
pub mod secrets;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use agora_core::reads::Reads;
use agora_core::secrets::{Argon2Cost, Argon2Passwords};
use agora_core::{
    Agora, AgoraConfig, AgoraError, Changeset, DeploymentSetting, Entropy, OpenMode, OsEntropy, PasswordHasher, Record,
    Store, StoreError, StoreHandle, StoreRegistry, SystemClock,
};
use anyhow::Context;
use async_trait::async_trait;

pub use config::{Config, ConfigError, LogFormat, StorageMode};
pub use jobs::Scheduler;

/// The kinds of store this build knows, by URL scheme: the one place a
/// new store is registered. The `[sqlite]` and `[postgres]` sections give
/// the defaults a URL does not override.
pub fn registry(config: &Config) -> StoreRegistry {
    StoreRegistry::new()
        .register(Arc::new(agora_memory::MemoryKind))
        .register(Arc::new(agora_sqlite::SqliteKind::new(config.sqlite.clone())))
        .register(Arc::new(agora_postgres::PgKind::new(config.postgres.clone())))
}

/// Opens the store named by `url` with this build's registry and checks its
/// schema is current (a pending migration is applied first when `migrate`).
///
/// # Errors
/// An unknown scheme, an unreachable store, a schema newer than this build
/// or (with `migrate` off) one that is not current.
pub async fn open_store(config: &Config, url: &str, migrate: bool) -> anyhow::Result<Arc<dyn StoreHandle>> {
    let mode = if migrate { OpenMode::Migrate } else { OpenMode::RequireCurrent };
    let handle = registry(config).open(url, mode).await.map_err(|e| anyhow::anyhow!("opening {}: {e}", redact(url)))?;
    let status = handle.migration_status().await.map_err(|e| anyhow::anyhow!("{}: {e}", redact(url)))?;
    if !status.is_current() {
        anyhow::bail!("{}: schema not current: {status:?}", redact(url));
    }
    Ok(handle)
}

/// A URL with its password hidden, for logs and errors.
pub fn redact(url: &str) -> String {
    agora_redis::redact_url(url)
}

/// Argon2id at production cost on tokio's blocking pool, so hashing never
/// stalls the request threads, at most `max_concurrent` at once: each one
/// holds about 19 MiB for tens of milliseconds, and logins are reachable
/// without authentication, so unbounded they let anyone grow the process
/// by gigabytes and starve every other request. A hash or check that
/// cannot start within `max_wait` is [`AgoraError::Unavailable`] (503 with
/// `Retry-After`), never a wrong password.
pub struct BlockingPasswords {
    inner: Arc<Argon2Passwords>,
    permits: Arc<tokio::sync::Semaphore>,
    max_wait: Duration,
}

impl BlockingPasswords {
    /// Hashing at `cost`, `max_concurrent` at once (at least 1), waiting at
    /// most `max_wait` for a turn.
    pub fn new(cost: Argon2Cost, max_concurrent: usize, max_wait: Duration) -> Self {
        Self {
            inner: Arc::new(Argon2Passwords::new(cost)),
            permits: Arc::new(tokio::sync::Semaphore::new(max_concurrent.max(1))),
            max_wait,
        }
    }

    /// Turns free right now (for metrics and tests).
    pub fn free_turns(&self) -> usize {
        self.permits.available_permits()
    }

    /// Runs `work` on the blocking pool once a turn is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2Passwords) -> T + Send + 'static,
    ) -> Result<T, AgoraError> {
        let busy = || AgoraError::Unavailable("password hashing is saturated".into());
        let permit = match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => {
                metrics::counter!("agora_password_hash_saturated_total").increment(1);
                return Err(busy());
            }
        };
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&inner)
        })
        .await
        .map_err(|e| AgoraError::Internal(e.to_string()))
    }
}

#[async_trait]
impl PasswordHasher for BlockingPasswords {
    async fn hash(&self, password: &str, salt: [u8; 16]) -> Result<String, AgoraError> {
        let pw = password.to_owned();
        self.run(move |a| a.hash_sync(&pw, salt)).await?
    }

    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AgoraError> {
        let (pw, h) = (password.to_owned(), hash.to_owned());
        self.run(move |a| a.verify_sync(&pw, &h)).await
    }
}

/// A running deployment's parts.
pub struct Runtime {
    /// The configuration it was built from.
    pub config: Config,
    /// The domain service.
    pub agora: Agora,
    /// The primary store (wrapped by the cutover stores and the Redis cache
    /// when configured).
    pub store: Arc<dyn Store>,
    /// The primary store's handle: migrations, backups, locks, maintenance.
    pub handle: Arc<dyn StoreHandle>,
    /// The secondary store's handle during a cutover.
    pub secondary: Option<Arc<dyn StoreHandle>>,
    /// The Redis client, when configured.
    pub redis: Option<agora_redis::RedisClient>,
    /// Per-client request budget, when `http.rate_limit_per_minute` > 0.
    pub request_budget: Option<Arc<agora_redis::RequestBudget>>,
    /// Secrets generated by this start: print once.
    pub generated: Vec<(String, String)>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The name of the deployment setting that records where files go.
pub const OBJECT_STORE_SETTING: &str = "object_store_url";

/// Where this process keeps files: the same place as every other process
/// on its database. A process without `object_store_url` of its own uses
/// the location the database records, so an api and a worker started in
/// different directories (or on different machines sharing a volume) find
/// each other's files; the first start records its default
/// (`file://<data_dir>/blobs`, made absolute). A process configured with a
/// location records it, so the others follow; a change is logged, and the
/// files already written stay where they were until copied.
///
/// # Errors
/// The store failed.
pub async fn shared_object_store_url(config: &Config, store: &dyn Store) -> anyhow::Result<String> {
    let own = config.object_store();
    // A memory store is one process's own: nothing to share.
    if store.backend() == "memory" {
        return Ok(own);
    }
    let key = agora_core::schema::Key(vec![agora_core::schema::Value::Text(OBJECT_STORE_SETTING.into())]);
    let recorded = store.get::<DeploymentSetting, _>(key.clone()).await?;
    match (&config.object_store_url, &recorded) {
        (None, Some(r)) => {
            tracing::info!(object_store = %redact(&r.value), "files go where the database records");
            return Ok(r.value.clone());
        }
        (Some(url), Some(r)) if *url == r.value => return Ok(own),
        _ => {}
    }
    if own.starts_with("memory:") {
        tracing::warn!(
            "object_store_url is memory: files are this process's own; other processes on the database cannot read them"
        );
        return Ok(own);
    }
    if let Some(r) = &recorded {
        tracing::warn!(from = %redact(&r.value), to = %redact(&own),
            "object_store_url changes: every process on this database follows; files written before stay at the old location until copied");
    }
    let row = Record::DeploymentSetting(DeploymentSetting {
        name: OBJECT_STORE_SETTING.to_owned(),
        value: own.clone(),
        updated_at: time::OffsetDateTime::now_utc(),
    });
    let mut cs = Changeset::new();
    if recorded.is_some() {
        cs.update(row);
    } else {
        cs.insert(row);
    }
    match store.apply(cs).await {
        Ok(()) => Ok(own),
        // Another process recorded its default first: use that one.
        Err(StoreError::Duplicate(_)) if config.object_store_url.is_none() => {
            let r = store.get::<DeploymentSetting, _>(key).await?.context("object_store_url: recorded and gone")?;
            Ok(r.value)
        }
        Err(e) => Err(anyhow::anyhow!("recording object_store_url: {e}")),
    }
}

impl Runtime {
    /// Builds everything the configuration describes.
    ///
    /// # Errors
    /// A store that cannot be opened, a schema newer than this build,
    /// unreadable secrets.
    pub async fn build(config: Config) -> anyhow::Result<Runtime> {
        Self::build_with(config, Argon2Cost::PRODUCTION).await
    }

    /// As [`Runtime::build`] with a given password cost (tests use the cheapest).
    ///
    /// # Errors
    /// As [`Runtime::build`].
    pub async fn build_with(config: Config, cost: Argon2Cost) -> anyhow::Result<Runtime> {
        let entropy: Arc<dyn Entropy> = Arc::new(OsEntropy::default());
        let clock = Arc::new(SystemClock);
        let secrets = secrets::resolve(&config, entropy.as_ref())?;
        let handle = open_store(&config, &config.database_url, config.migrate).await?;
        let mut store = handle.store();
        // Cutover: dual writes / shadow reads to the secondary store.
        let mut secondary = None;
        if config.cutover.mode != StorageMode::Single {
            let url =
                config.cutover.secondary_database_url.as_deref().context("cutover.mode needs a secondary store")?;
            let other = open_store(&config, url, config.migrate).await.context("secondary store")?;
            store = match config.cutover.mode {
                StorageMode::DualWrite => Arc::new(agora_cutover::DualWriteStore::new(store, other.store())),
                _ => Arc::new(agora_cutover::ShadowReadStore::new(store, other.store())),
            };
            tracing::info!(mode = ?config.cutover.mode, secondary = %redact(url), "cutover storage mode");
            secondary = Some(other);
        }
        let blobs = blobs::open(&shared_object_store_url(&config, store.as_ref()).await?)?;
        let redis = match &config.redis_url {
            Some(url) => {
                let redis_config =
                    agora_redis::RedisConfig::new(url.clone()).with_prefix(config.redis.key_prefix.clone());
                let client = agora_redis::RedisClient::connect_lazy(redis_config)
                    .map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
                if let Err(e) = client.ping().await {
                    tracing::warn!(error = %e, "redis is not reachable yet; running on the primary store until it is");
                }
                let ttl = Duration::from_secs(config.redis.cache_ttl_secs.max(1));
                store = Arc::new(agora_redis::CachedStore::new(store, client.clone(), ttl));
                Some(client)
            }
            None => None,
        };
        let mut builder = Agora::builder(store.clone())
            .clock(clock.clone())
            .entropy(entropy.clone())
            .keyring(secrets.keyring.clone())
            .passwords(Arc::new(BlockingPasswords::new(
                cost,
                config.domain.max_concurrent_password_hashes as usize,
                Duration::from_millis(config.domain.password_hash_wait_ms),
            )))
            .blobs(blobs.clone())
            .probe(Arc::new(probes::ObjectStoreProbe(blobs)))
            .webhook_sender(Arc::new(webhooks::HttpWebhookSender::new(config.webhook_allow_private)?))
            .guard_observer(Arc::new(|condition| {
                metrics::counter!("agora_guard_conflicts_total", "kind" => condition.kind()).increment(1);
            }))
            .config(config.domain.apply(AgoraConfig {
                max_upload_bytes: config.max_upload_bytes,
                super_admin_key_hash: Some(secrets.admin_key_hash.clone()),
                webhook_secret: secrets.webhook_secret.clone(),
                ..AgoraConfig::default()
            }));
        if let Some(locks) = handle.locks() {
            builder = builder.locks(locks);
        }
        let window = Duration::from_secs(60);
        let per_minute = config.http.rate_limit_per_minute;
        let mut request_budget = None;
        if let Some(client) = &redis {
            builder = builder
                .probe(Arc::new(probes::RedisProbe(client.clone())))
                .rate_limiter(Arc::new(agora_redis::FallbackRateLimiter::redis_or_local(client.clone())))
                .locks(Arc::new(agora_redis::FallbackLocks::redis_or_local(client.clone())))
                .idempotency_cache(Arc::new(agora_redis::RedisIdempotencyCache::new(client.clone())));
            if per_minute > 0 {
                request_budget = Some(Arc::new(agora_redis::RequestBudget::redis(client.clone(), per_minute, window)));
            }
        } else if per_minute > 0 {
            request_budget = Some(Arc::new(agora_redis::RequestBudget::local(clock.clone(), per_minute, window)));
        }
        let agora = builder.build();
        catch_up_search_index(&agora).await?;
        Ok(Runtime { config, agora, store, handle, secondary, redis, request_budget, generated: secrets.generated })
    }

    /// Ready to serve: the store answers and its schema is current.
    ///
    /// # Errors
    /// A message saying what is not ready.
    pub async fn readiness(&self) -> Result<(), String> {
        self.agora.health().await.map_err(|e| e.to_string())?;
        let status = self.handle.migration_status().await.map_err(|e| e.to_string())?;
        if status.is_current() { Ok(()) } else { Err(format!("schema not current: {status:?}")) }
    }

    /// Writes the admin keys' pending `last_used_at`, finishes pending
    /// writes and closes the stores' connections.
    pub async fn close(&self) {
        if let Err(e) = self.agora.flush_key_usage().await {
            tracing::warn!(error = %e, "could not write the admin keys' last use");
        }
        self.handle.close().await;
        if let Some(s) = &self.secondary {
            s.close().await;
        }
    }

    /// Writes the admin keys' `last_used_at` every
    /// [`KEY_USAGE_FLUSH_INTERVAL`] (authentication notes uses in memory,
    /// so a request never writes); stops once `shutdown` turns true
    /// ([`Runtime::close`] writes what is left).
    pub fn spawn_key_usage_flush(
        &self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let agora = self.agora.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(KEY_USAGE_FLUSH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                if let Err(e) = agora.flush_key_usage().await {
                    tracing::warn!(error = %e, "could not write the admin keys' last use; retrying next tick");
                }
            }
        })
    }

    /// Starts the job scheduler; it stops after its current tick once
    /// `shutdown` turns true.
    pub fn spawn_jobs(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let scheduler = jobs::Scheduler::new(self);
        tokio::spawn(async move { scheduler.run(shutdown).await })
    }
}

/// Search rows rewritten per commit by [`catch_up_search_index`].
const SEARCH_INDEX_BATCH: u32 = 500;

/// Fills the search rows that carry no words of the current rules (those the
/// search migration wrote for existing products, or rows of older rules)
/// before anything is served, so a search finds every product. One indexed
/// read when there is nothing to do; several processes starting at once
/// share the work (each row's rewrite is guarded).
///
/// # Errors
/// When the store fails.
async fn catch_up_search_index(agora: &Agora) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut rewritten = 0;
    loop {
        let n = agora.refresh_search_index(SEARCH_INDEX_BATCH).await.context("filling the search index")?;
        if n == 0 {
            break;
        }
        rewritten += n;
    }
    if rewritten > 0 {
        tracing::info!(rewritten, elapsed_ms = started.elapsed().as_millis() as u64, "search index caught up");
    }
    Ok(())
}

/// How often the api writes the admin keys' `last_used_at`.
pub const KEY_USAGE_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Loads the configuration and builds the runtime (for the binaries).
///
/// # Errors
/// As [`Config::load`] and [`Runtime::build`].
pub async fn from_env() -> anyhow::Result<Runtime> {
    let config = Config::load().context("loading configuration")?;
    Runtime::build(config).await
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C) with the signal's name; the
/// binaries use it to stop accepting work and finish what is in hand.
pub async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "SIGINT",
        () = term => "SIGTERM",
    }
}
