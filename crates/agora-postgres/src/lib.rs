//! # agora-postgres
//!
//! agora's production store on PostgreSQL (sqlx): [`PgStore`] implements
//! [`agora_core::Store`], [`PgLocks`] implements [`agora_core::LockManager`]
//! on advisory locks, and [`testing`] gives every test its own throwaway
//! database.
//!
//! - The schema lives in `migrations/postgres`, embedded with
//!   `sqlx::migrate!`; [`PgStore::connect`] applies it and refuses a database
//!   that has migrations this build does not know.
//! - Each changeset is one transaction. Guards are `SELECT ... FOR NO KEY
//!   UPDATE` checks or conditional UPDATEs with row-count checks, absence
//!   guards are backed by unique constraints (a violation is reported as the
//!   guard that covers it), and the hot order path fuses "stock available"
//!   with its reservation into one conditional UPDATE.
//! - Money is NUMERIC(12,2) in the database and i64 minor units in core,
//!   converted exactly in SQL.
//!
//! See `docs/operations.md (PostgreSQL section)` for operations (roles, RLS, partitions, backups).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use agora_core::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

mod apply;
mod batch;
mod fused;
mod group;
mod locks;
mod reads;
mod rows;
mod schema;
pub mod testing;

pub use group::GroupStats;
pub use locks::PgLocks;

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// The embedded migrations of `migrations/postgres`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// Default [`PgConfig::max_group`].
pub const DEFAULT_MAX_GROUP: usize = 64;

/// How to reach the database.
#[derive(Clone)]
pub struct PgConfig {
    /// A `postgres://user:password@host:port/database?sslmode=...` URL.
    pub url: String,
    /// Pool size (default 16).
    pub max_connections: u32,
    /// How long a caller waits for a pooled connection before `Unavailable` (default 5 s).
    pub acquire_timeout: Duration,
    /// Group commit: at most this many changesets share one transaction
    /// (default 64; 1 turns group commit off: one transaction per changeset).
    /// The committer keeps up to 4 connections of its own besides the pool.
    pub max_group: usize,
}

impl PgConfig {
    /// A config with the default pool size and acquire timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            max_group: DEFAULT_MAX_GROUP,
        }
    }
}

/// The URL with its password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &url[scheme_end + 3 + at..]),
        None => url.to_owned(),
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("max_group", &self.max_group)
            .finish()
    }
}

/// Where the database's schema stands against this build's migrations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions this build embeds, ascending.
    pub known: Vec<i64>,
    /// Versions recorded as applied in the database, ascending.
    pub applied: Vec<i64>,
    /// Known versions not applied yet.
    pub pending: Vec<i64>,
    /// Applied versions this build does not know (a newer build migrated the database).
    pub unknown: Vec<i64>,
    /// Applied versions whose checksum differs from the embedded file.
    pub modified: Vec<i64>,
    /// A version that failed half-way, if any.
    pub dirty: Option<i64>,
}

impl MigrationStatus {
    /// True when every known migration is applied, unchanged, and nothing unknown is.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty() && self.modified.is_empty() && self.dirty.is_none()
    }
}

/// The PostgreSQL store. Cheap to clone (the pool and the committer are shared).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Group commit (see `group`); `None` when off.
    committer: Option<Arc<group::Committer>>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").field("pool_size", &self.pool.size()).finish()
    }
}

/// A driver error as the port's error; never leaks sqlx types.
pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            StoreError::Unavailable(format!("database error {}: {}", db.code().as_deref().unwrap_or("?"), db.message()))
        }
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// True when the error means the connection is gone (nothing more can run on it).
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            // 08: connection exception; 57P01..03: admin shutdown, crash shutdown, cannot connect now.
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        _ => false,
    }
}

fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    match e {
        M::VersionMissing(v) => StoreError::Schema(format!(
            "the database has migration {v}, which this build does not know; it was migrated by a newer agora"
        )),
        M::VersionMismatch(v) => StoreError::Schema(format!("migration {v} was modified after it was applied")),
        M::Dirty(v) => StoreError::Schema(format!("migration {v} is partially applied")),
        M::Execute(e) => unavailable(e),
        M::ExecuteMigration(e, v) => StoreError::Schema(format!("migration {v} failed: {}", unavailable(e))),
        other => StoreError::Schema(other.to_string()),
    }
}

impl PgStore {
    /// Connects and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached;
    /// [`StoreError::Schema`] when the database holds migrations newer than
    /// this build knows, or a migration fails.
    pub async fn connect(config: PgConfig) -> Result<PgStore, StoreError> {
        let store = Self::connect_without_migrating(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without touching the schema (for `migrate status`, tools, or
    /// a read-only replica).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached or the URL is bad.
    pub async fn connect_without_migrating(config: PgConfig) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL {}: {e}", redact_url(&config.url))))?
            .application_name("agora")
            .statement_cache_capacity(512);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            // No ping before every acquire (one round trip each): a statement
            // that fails because its pooled connection was closed is retried
            // (reads once on a checked connection, transactions whole).
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to {}: {}", redact_url(&config.url), unavailable(e)))
            })?;
        Ok(Self::with_group_commit(pool, config.max_group))
    }

    /// Wraps an existing pool (no migration), with group commit of at most
    /// [`DEFAULT_MAX_GROUP`] changesets.
    pub fn from_pool(pool: PgPool) -> Self {
        Self::with_group_commit(pool, DEFAULT_MAX_GROUP)
    }

    /// Wraps an existing pool; `max_group` as [`PgConfig::max_group`]. The
    /// committer runs on a thread of its own with up to 4 connections of its
    /// own; if that thread cannot start, each changeset is its own
    /// transaction.
    pub fn with_group_commit(pool: PgPool, max_group: usize) -> Self {
        let committer = if max_group > 1 {
            // The committer's connections are its own: in the shared pool it
            // would queue behind every read of every waiting request.
            let options = (*pool.connect_options()).clone();
            let acquire_timeout = pool.options().get_acquire_timeout();
            let own = move || Self {
                pool: PgPoolOptions::new()
                    .max_connections(group::IN_FLIGHT as u32)
                    .acquire_timeout(acquire_timeout)
                    .test_before_acquire(false)
                    .connect_lazy_with(options),
                committer: None,
            };
            group::Committer::start(own, max_group).map(Arc::new)
        } else {
            None
        };
        Self { pool, committer }
    }

    /// How group commit has grouped changesets so far (zeros when it is off).
    pub fn group_stats(&self) -> GroupStats {
        self.committer.as_ref().map(|c| c.stats()).unwrap_or_default()
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    /// [`StoreError::Schema`] when the database is newer than this build or a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(migrate_error)
    }

    /// Compares the database's applied migrations with the embedded ones.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be read.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let known: Vec<(i64, Vec<u8>)> = MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect();
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        let rows: Vec<(i64, bool, Vec<u8>)> = if exists {
            sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?
        } else {
            Vec::new()
        };
        let dirty = rows.iter().find(|(_, ok, _)| !ok).map(|(v, _, _)| *v);
        let applied: Vec<i64> = rows.iter().filter(|(_, ok, _)| *ok).map(|(v, _, _)| *v).collect();
        let pending = known.iter().map(|(v, _)| *v).filter(|v| !applied.contains(v)).collect();
        let unknown = applied.iter().copied().filter(|v| !known.iter().any(|(k, _)| k == v)).collect();
        let modified = rows
            .iter()
            .filter(|(v, ok, sum)| *ok && known.iter().any(|(k, ks)| k == v && ks != sum))
            .map(|(v, _, _)| *v)
            .collect();
        Ok(MigrationStatus {
            known: known.into_iter().map(|(v, _)| v).collect(),
            applied,
            pending,
            unknown,
            modified,
            dirty,
        })
    }

    /// Creates the monthly partitions of `activity_event` and `payment_event`
    /// for the current month and the next `months_ahead` months (SQL
    /// function `agora_create_partitions`); returns how many it created.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the call fails.
    pub async fn create_partitions(&self, months_ahead: u32) -> Result<u32, StoreError> {
        let months =
            i32::try_from(months_ahead).map_err(|_| StoreError::Unavailable("months_ahead too large".into()))?;
        let created: i32 = sqlx::query_scalar("SELECT agora_create_partitions($1)")
            .bind(months)
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(u32::try_from(created).unwrap_or(0))
    }

    /// A pooled connection that answered a ping: used after a statement
    /// failed on a closed connection (the pool does not test connections
    /// before handing them out). Dead connections met on the way are dropped.
    pub(crate) async fn checked_connection(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let mut last = None;
        for _ in 0..=self.pool.options().get_max_connections() {
            let mut conn = self.pool.acquire().await?;
            match conn.ping().await {
                Ok(()) => return Ok(conn),
                Err(e) => {
                    // Detached, the dead connection is dropped instead of returning to the pool.
                    drop(conn.detach());
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(sqlx::Error::PoolTimedOut))
    }

    /// The connection pool (for tools and tests; writes go through `apply`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
