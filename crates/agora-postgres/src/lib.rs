//! # agora-postgres
//!
//! agora's production store on PostgreSQL (sqlx): [`PgStore`] implements
//! [`agora_core::Store`], [`PgKind`] registers it for `postgres://` URLs,
//! [`PgLocks`] implements [`agora_core::LockManager`] on advisory locks,
//! and [`testing`] gives every test its own throwaway database.
//!
//! The adapter knows no table by name: every statement, binder and row
//! mapper is derived from the catalogue's [`agora_core::schema::Table`]
//! descriptions (`sql`), with dialect hooks only where PostgreSQL differs
//! (money as `NUMERIC(12,2)`, lists as arrays, text ordered `COLLATE "C"`).
//!
//! - Reads: a core [`agora_core::Query`] becomes one `SELECT`, cached per
//!   query shape (`reads`).
//! - Writes take one of two paths. Direct (`direct`): guards, then writes,
//!   one statement each, in order. Grouped (`batch`): a run of changesets
//!   made only of inserts, stock reservations and idempotent responses is
//!   one statement, reservations of one stock row coalesced; if it does not
//!   hold, the run goes the direct way. Group commit (`group`) puts every
//!   changeset that arrives while the previous group runs into one
//!   transaction, a savepoint each (`apply`).
//! - The schema lives in `migrations/postgres`, embedded with
//!   `sqlx::migrate!`; a test holds it equal to the catalogue.
//!
//! See docs/operations.md (PostgreSQL section) for roles, RLS, partitions
//! and backups.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use agora_core::backend::MigrationStatus;
use agora_core::query::Query;
use agora_core::*;
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Postgres};

mod apply;
mod batch;
mod config;
mod direct;
mod error;
mod group;
mod kind;
mod locks;
mod reads;
mod search;
mod sql;
pub mod testing;
#[cfg(test)]
mod write_paths;

pub use config::{DEFAULT_MAX_GROUP, PgConfig, redact_url};
pub use group::GroupStats;
pub use kind::{PARTITION_MONTHS_AHEAD, PgKind};
pub use locks::PgLocks;

use error::{migrate_error, unavailable};

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// The embedded migrations of `migrations/postgres`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

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

    /// Compares the database's applied migrations with the embedded ones. A
    /// migration that failed half-way counts as pending; one whose checksum
    /// differs from the embedded file counts as unknown (this build does not
    /// know the schema it made).
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
        let applied: Vec<(i64, &Vec<u8>)> = rows.iter().filter(|(_, ok, _)| *ok).map(|(v, _, c)| (*v, c)).collect();
        let pending = known.iter().map(|(v, _)| *v).filter(|v| !applied.iter().any(|(a, _)| a == v)).collect();
        let unknown = applied
            .iter()
            .filter(|(v, sum)| !known.iter().any(|(k, ks)| k == v && ks == *sum))
            .map(|(v, _)| *v)
            .collect();
        Ok(MigrationStatus {
            applied: applied.iter().map(|(v, _)| *v).max().unwrap_or(0),
            latest: known.iter().map(|(v, _)| *v).max().unwrap_or(0),
            pending,
            unknown,
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

    /// Drops the monthly partitions of `activity_event`, oldest first, whose
    /// every event is below its store's floor (SQL function
    /// `agora_drop_event_partition`, which checks that under a lock);
    /// stops at the first partition that must stay, since dropping a later
    /// one could open a gap in a feed. Returns how many events went.
    async fn drop_event_partitions(&self, floors: &[EventFloor]) -> Result<u64, StoreError> {
        let Some(latest) = floors.iter().map(|f| f.before).max() else { return Ok(0) };
        let parts: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid \
             WHERE h.inhparent = 'public.activity_event'::regclass AND c.relname ~ '^activity_event_p[0-9]{6}$' \
             ORDER BY c.relname",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let stores: Vec<uuid::Uuid> = floors.iter().map(|f| f.store_id.0).collect();
        let befores: Vec<time::OffsetDateTime> = floors.iter().map(|f| f.before).collect();
        let up_to: Vec<i64> = floors.iter().map(|f| f.up_to_seq).collect();
        let mut dropped = 0;
        for part in parts {
            // A month ending after every floor's time holds events to keep.
            if partition_month_end(&part).is_none_or(|end| end > latest) {
                break;
            }
            let n: Option<i64> = sqlx::query_scalar("SELECT agora_drop_event_partition($1, $2, $3, $4)")
                .bind(&part)
                .bind(&stores)
                .bind(&befores)
                .bind(&up_to)
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
            match n {
                // Dropped meanwhile by another worker.
                None => continue,
                Some(n) if n < 0 => break,
                Some(n) => dropped += u64::try_from(n).unwrap_or(0),
            }
        }
        Ok(dropped)
    }

    /// Finishes the changesets already taken by the committer and closes
    /// the connections; later changesets fail as `Unavailable`.
    pub async fn close(&self) {
        if let Some(c) = &self.committer {
            c.close().await;
        }
        self.pool.close().await;
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

/// The first instant after the month an `activity_event_pYYYYMM` partition
/// holds (UTC, as `agora_create_partitions` names them).
fn partition_month_end(name: &str) -> Option<time::OffsetDateTime> {
    let yyyymm = name.strip_prefix("activity_event_p")?;
    let (year, month) = (yyyymm.get(..4)?.parse::<i32>().ok()?, yyyymm.get(4..)?.parse::<u8>().ok()?);
    let (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let month = time::Month::try_from(month).ok()?;
    Some(time::Date::from_calendar_date(year, month, 1).ok()?.midnight().assume_utc())
}

#[async_trait]
impl Store for PgStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        self.apply_changeset(changeset).await
    }

    async fn fetch(&self, query: &Query) -> StoreResult<Vec<Record>> {
        self.fetch_rows(query).await
    }

    /// All reads on one connection, one after the other.
    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        self.order_context_on_one_connection(q).await
    }

    /// One full-text statement over `product_search.lexemes` (see the
    /// `search` module).
    async fn search_products(&self, q: &ProductSearchQuery<'_>) -> StoreResult<Vec<SearchHit>> {
        self.search_hits(q).await
    }

    /// Whole monthly partitions of `activity_event`.
    async fn purge_events_in_bulk(&self, floors: &[EventFloor]) -> StoreResult<u64> {
        self.drop_event_partitions(floors).await
    }

    async fn health(&self) -> StoreResult<()> {
        let status = self.migration_status().await?;
        if status.is_current() { Ok(()) } else { Err(StoreError::Schema(format!("schema not current: {status:?}"))) }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
