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
pub mod secrets;

use std::sync::Arc;
use std::time::Duration;

use agora_core::secrets::{Argon2Cost, Argon2Passwords};
use agora_core::{Agora, AgoraConfig, AgoraError, Entropy, OsEntropy, PasswordHasher, Store, SystemClock};
use anyhow::Context;
use async_trait::async_trait;

pub use config::{Config, ConfigError, LogFormat, StorageMode};

/// The primary store, by backend, for the operations only some have.
#[derive(Clone)]
pub enum Backend {
    /// In memory.
    Memory(agora_memory::MemoryStore),
    /// SQLite.
    Sqlite(agora_sqlite::SqliteStore),
    /// PostgreSQL.
    Postgres(agora_postgres::PgStore),
}

impl Backend {
    /// The store as the domain sees it.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Memory(s) => Arc::new(s.clone()),
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Whether the schema is current (always for memory).
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub async fn schema_current(&self) -> Result<(), String> {
        match self {
            Backend::Memory(_) => Ok(()),
            Backend::Sqlite(s) => {
                let st = s.migration_status().await.map_err(|e| e.to_string())?;
                if st.is_current() { Ok(()) } else { Err(format!("sqlite schema not current: {st:?}")) }
            }
            Backend::Postgres(s) => {
                let st = s.migration_status().await.map_err(|e| e.to_string())?;
                if st.is_current() { Ok(()) } else { Err(format!("postgres schema not current: {st:?}")) }
            }
        }
    }
}

/// Opens the store named by a URL: `memory:`, `sqlite://PATH[?synchronous=normal]`
/// or `postgres://...`. Migrations are applied when `migrate` is true; a
/// schema newer than this build is refused either way.
///
/// # Errors
/// An unknown scheme, or the store's own error.
pub async fn open_backend(url: &str, migrate: bool, pg_max_connections: u32) -> anyhow::Result<Backend> {
    if url == "memory:" || url == "memory://" {
        return Ok(Backend::Memory(agora_memory::MemoryStore::new()));
    }
    if url.starts_with("sqlite:") {
        let cfg = agora_sqlite::SqliteConfig::from_url(url).map_err(|e| anyhow::anyhow!("{e}"))?;
        // With migrate off, a pending migration is refused instead of applied.
        let store = if migrate {
            agora_sqlite::SqliteStore::open(cfg).await
        } else {
            agora_sqlite::SqliteStore::open_without_migrating(cfg).await
        }
        .map_err(|e| anyhow::anyhow!("opening sqlite: {e}"))?;
        return Ok(Backend::Sqlite(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let mut cfg = agora_postgres::PgConfig::new(url);
        cfg.max_connections = pg_max_connections;
        let store = if migrate {
            agora_postgres::PgStore::connect(cfg).await
        } else {
            agora_postgres::PgStore::connect_without_migrating(cfg).await
        }
        .map_err(|e| anyhow::anyhow!("opening postgres: {e}"))?;
        return Ok(Backend::Postgres(store));
    }
    anyhow::bail!(
        "database_url: unknown scheme in {:?}; use memory:, sqlite://PATH or postgres://...",
        agora_redis::redact_url(url)
    )
}

/// Argon2id at production cost on tokio's blocking pool, so hashing never
/// stalls the request threads.
pub struct BlockingPasswords {
    inner: Arc<Argon2Passwords>,
}

impl BlockingPasswords {
    /// Hashing at `cost`.
    pub fn new(cost: Argon2Cost) -> Self {
        Self { inner: Arc::new(Argon2Passwords::new(cost)) }
    }
}

#[async_trait]
impl PasswordHasher for BlockingPasswords {
    async fn hash(&self, password: &str, salt: [u8; 16]) -> Result<String, AgoraError> {
        let (inner, pw) = (self.inner.clone(), password.to_owned());
        tokio::task::spawn_blocking(move || inner.hash_sync(&pw, salt))
            .await
            .map_err(|e| AgoraError::Internal(e.to_string()))?
    }

    async fn verify(&self, password: &str, hash: &str) -> bool {
        let (inner, pw, h) = (self.inner.clone(), password.to_owned(), hash.to_owned());
        tokio::task::spawn_blocking(move || inner.verify_sync(&pw, &h)).await.unwrap_or(false)
    }
}

/// A running deployment's parts.
pub struct Runtime {
    /// The configuration it was built from.
    pub config: Config,
    /// The domain service.
    pub agora: Agora,
    /// The primary store (wrapped by the Redis cache when configured).
    pub store: Arc<dyn Store>,
    /// The primary store by backend.
    pub backend: Backend,
    /// The Redis client, when configured.
    pub redis: Option<agora_redis::RedisClient>,
    /// Per-client request budget, when `rate_limit_per_minute` > 0.
    pub request_budget: Option<Arc<agora_redis::RequestBudget>>,
    /// Secrets generated by this start: print once.
    pub generated: Vec<(String, String)>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.config).finish_non_exhaustive()
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
        let backend = open_backend(&config.database_url, config.migrate, config.pg_max_connections).await?;
        backend.schema_current().await.map_err(|e| anyhow::anyhow!(e))?;
        let mut store = backend.store();
        // Cutover: dual writes / shadow reads to the secondary store.
        if config.storage_mode != StorageMode::Single {
            let url = config.secondary_database_url.as_deref().context("storage_mode needs secondary_database_url")?;
            let secondary = open_backend(url, config.migrate, config.pg_max_connections).await?;
            secondary.schema_current().await.map_err(|e| anyhow::anyhow!("secondary store: {e}"))?;
            store = match config.storage_mode {
                StorageMode::DualWrite => Arc::new(agora_cutover::DualWriteStore::new(store, secondary.store())),
                _ => Arc::new(agora_cutover::ShadowReadStore::new(store, secondary.store())),
            };
            tracing::info!(mode = ?config.storage_mode, secondary = %agora_redis::redact_url(url), "cutover storage mode");
        }

        let blobs: Arc<dyn agora_core::BlobStore> = match config.blob_dir.as_deref() {
            Some("memory:") => Arc::new(blobs::ObjectBlobs::memory()),
            Some(dir) => Arc::new(blobs::ObjectBlobs::local(std::path::Path::new(dir))?),
            None => Arc::new(blobs::ObjectBlobs::local(&config.data_dir.join("exports"))?),
        };
        let redis = match &config.redis_url {
            Some(url) => {
                let client = agora_redis::RedisClient::connect_lazy(agora_redis::RedisConfig::new(url.clone()))
                    .map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
                if let Err(e) = client.ping().await {
                    tracing::warn!(error = %e, "redis is not reachable yet; running on the primary store until it is");
                }
                store = Arc::new(agora_redis::CachedStore::new(store, client.clone(), Duration::from_secs(300)));
                Some(client)
            }
            None => None,
        };
        let mut builder = Agora::builder(store.clone())
            .clock(clock.clone())
            .entropy(entropy.clone())
            .keyring(secrets.keyring.clone())
            .passwords(Arc::new(BlockingPasswords::new(cost)))
            .blobs(blobs)
            .guard_observer(Arc::new(|guard| {
                metrics::counter!("agora_guard_conflicts_total", "kind" => guard.kind()).increment(1);
            }))
            .config(AgoraConfig {
                super_admin_key_hash: Some(secrets.admin_key_hash.clone()),
                webhook_secret: secrets.webhook_secret.clone(),
                ..AgoraConfig::default()
            });
        if let Backend::Postgres(pg) = &backend {
            builder = builder.locks(Arc::new(agora_postgres::PgLocks::new(pg.pool().clone())));
        }
        let window = Duration::from_secs(60);
        let per_minute = config.rate_limit_per_minute;
        let mut request_budget = None;
        if let Some(client) = &redis {
            builder = builder
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
        Ok(Runtime { config, agora, store, backend, redis, request_budget, generated: secrets.generated })
    }

    /// Ready to serve: the store answers and its schema is current.
    ///
    /// # Errors
    /// A message saying what is not ready.
    pub async fn readiness(&self) -> Result<(), String> {
        self.agora.health().await.map_err(|e| e.to_string())?;
        self.backend.schema_current().await
    }

    /// Starts the job scheduler; it stops after its current tick once
    /// `shutdown` turns true.
    pub fn spawn_jobs(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let scheduler = jobs::Scheduler::new(self);
        tokio::spawn(async move { scheduler.run(shutdown).await })
    }
}

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
