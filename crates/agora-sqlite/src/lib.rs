//! # agora-sqlite
//!
//! agora's embedded default store: one SQLite file (bundled SQLite through
//! rusqlite), durable and fast.
//!
//! * **WAL** journal, `foreign_keys=ON`, a busy timeout, and
//!   `synchronous=FULL` by default (an acknowledged changeset survives power
//!   loss); `NORMAL` is selectable with `?synchronous=normal`.
//! * **Derived from the catalogue**: every statement, binder and row mapper
//!   comes from the catalogue's [`agora_core::Table`] descriptions (one
//!   mapping of column types to SQLite values, statements generated once
//!   per table or query shape and prepared through the statement cache), so
//!   a new entity needs its migration here and nothing else.
//! * **One writer thread** owns the only write connection. [`Store::apply`]
//!   sends the changeset over a channel and awaits a oneshot reply. The
//!   writer drains whatever is queued and applies the batch in one
//!   `BEGIN IMMEDIATE` transaction, optimistically without savepoints and,
//!   when a changeset of the group fails, again with one `SAVEPOINT` per
//!   changeset, so a failure rolls back only its own changeset; then one
//!   `COMMIT` (one fsync) acknowledges the whole group.
//! * **A small pool of read connections** serves [`Store::fetch`] on
//!   blocking threads; [`Store::order_context`] is one hop and one read
//!   transaction; [`Store::search_products`] is one FTS5 statement over a
//!   full-text table that triggers keep in step with `product_search`. In debug builds a filtered read or a guard that scans a
//!   table panics, unless the query is marked [`Query::unindexed`] (ad-hoc
//!   queries no index is meant to serve).
//! * **Versioned migrations** from `migrations/sqlite/*.sql` are embedded in
//!   the binary and applied on open; a newer schema is refused.
//! * **Online backup** with SQLite's backup API, and restore into a closed path.
//! * [`SqliteKind`] opens it by URL (`sqlite://path.db?synchronous=normal`)
//!   for a [`agora_core::StoreRegistry`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), agora_core::StoreError> {
//! use agora_sqlite::{SqliteConfig, SqliteStore};
//! let store = SqliteStore::open(SqliteConfig::from_url("sqlite://agora.db?synchronous=normal")?).await?;
//! store.backup_to(std::path::Path::new("agora-backup.db")).await?;
//! # Ok(()) }
//! ```

mod apply;
mod codec;
mod config;
mod files;
mod intent;
mod kind;
mod plan;
mod pool;
mod read;
mod schema;
mod search;
mod select;
mod sql;
mod writer;

use std::path::Path;
use std::sync::Arc;

use agora_core::ports::{OrderContext, OrderContextQuery, ProductSearchQuery};
use agora_core::query::Query;
use agora_core::{
    Changeset, MigrationStatus, OpenMode, Record, SearchHit, SearchTerms, Store, StoreError, StoreResult,
};
use async_trait::async_trait;
use rusqlite::Connection;

pub use config::{SqliteConfig, Synchronous};
pub use kind::SqliteKind;
pub use writer::WriterStats;

use crate::codec::db_err;
use crate::pool::ReadPool;
use crate::writer::Writer;

/// The SQLite store. Cheap to clone: every clone shares one writer thread
/// and one read pool; the last clone dropped shuts both down (queued
/// changesets are applied first).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: SqliteConfig,
    writer: Writer,
    readers: ReadPool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.config.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `config.path` treating its schema as `mode`
    /// says (see [`OpenMode`]); the three openers below name each mode.
    ///
    /// # Errors
    /// As the opener of `mode`.
    pub async fn open_with(config: SqliteConfig, mode: OpenMode) -> Result<SqliteStore, StoreError> {
        tokio::task::spawn_blocking(move || Self::open_blocking(config, mode))
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite open task failed: {e}")))?
    }

    /// Opens (creating if needed) the database at `config.path`, applies
    /// pending migrations, starts the writer thread and the read pool.
    ///
    /// # Errors
    /// [`StoreError::Schema`] when the file's schema is newer than this
    /// build; [`StoreError::Unavailable`] when the file cannot be opened.
    pub async fn open(config: SqliteConfig) -> Result<SqliteStore, StoreError> {
        Self::open_with(config, OpenMode::Migrate).await
    }

    /// Like [`SqliteStore::open`] but applies no migration: a database that
    /// is not exactly at this build's schema version (including a new, empty
    /// file) is refused with [`StoreError::Schema`].
    ///
    /// # Errors
    /// As [`SqliteStore::open`], plus `Schema` when migrations are pending.
    pub async fn open_without_migrating(config: SqliteConfig) -> Result<SqliteStore, StoreError> {
        Self::open_with(config, OpenMode::RequireCurrent).await
    }

    /// Opens the database whatever its schema, migrating nothing and
    /// refusing nothing: to look at it (`agora migrate status`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened.
    pub async fn open_as_is(config: SqliteConfig) -> Result<SqliteStore, StoreError> {
        Self::open_with(config, OpenMode::Inspect).await
    }

    fn open_blocking(config: SqliteConfig, mode: OpenMode) -> Result<SqliteStore, StoreError> {
        files::prepare_database_file(&config.path)?;
        let mut conn = config::open_write_connection(&config)?;
        match mode {
            OpenMode::Migrate => {
                schema::migrate(&mut conn)?;
            }
            OpenMode::RequireCurrent => {
                schema::require_current(&conn)?;
            }
            OpenMode::Inspect => {}
        }
        let readers = ReadPool::open(&config)?;
        let writer = Writer::start(conn)?;
        Ok(SqliteStore { inner: Arc::new(Inner { config, writer, readers }) })
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    /// Which schema version the file has and which this build knows.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be read.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        self.read(schema::status).await
    }

    /// Applies the migrations this build knows that the file lacks (on a
    /// connection of its own, waiting for the writer's lock like any other
    /// process would) and answers the status after.
    ///
    /// # Errors
    /// [`StoreError::Schema`] when the file's schema is newer than this
    /// build or a migration fails.
    pub async fn migrate(&self) -> Result<MigrationStatus, StoreError> {
        let config = self.inner.config.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = config::open_write_connection(&config)?;
            schema::migrate(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("sqlite migrate task failed: {e}")))?
    }

    /// Copies a consistent snapshot of the live database to `dest` with
    /// SQLite's online backup API, while writers keep going. The copy is
    /// written next to `dest` and renamed into place, so `dest` is either
    /// the old file or a complete backup.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] on any I/O or SQLite failure.
    pub async fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        let dest = dest.to_path_buf();
        self.read_store(move |c| schema::backup(c, &dest)).await
    }

    /// Restores the backup file `backup` into the database at `dest`,
    /// replacing its content. No store may have `dest` open. The backup is
    /// checked first (`PRAGMA quick_check`, schema not newer than this
    /// build); the restored file is left in WAL mode.
    ///
    /// # Errors
    /// [`StoreError::Schema`] when the backup is damaged or too new;
    /// [`StoreError::Unavailable`] on I/O failure.
    pub fn restore(backup: &Path, dest: &Path) -> Result<(), StoreError> {
        schema::restore(backup, dest)
    }

    /// Counters of the writer thread (changesets answered, commits made).
    pub fn writer_stats(&self) -> WriterStats {
        self.inner.writer.stats()
    }

    /// Runs `PRAGMA integrity_check`; `Ok(())` when it says `ok`.
    ///
    /// # Errors
    /// [`StoreError::Schema`] with the reported problems.
    pub async fn integrity_check(&self) -> Result<(), StoreError> {
        let lines = self
            .read(|c| {
                let mut st = c.prepare("PRAGMA integrity_check")?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .await?;
        if lines == ["ok"] { Ok(()) } else { Err(StoreError::Schema(format!("integrity_check: {}", lines.join("; ")))) }
    }

    /// Waits for queued changesets, stops the writer thread and closes every
    /// connection (checkpointing the WAL). Other clones keep working until
    /// they are dropped; this only shuts down when it is the last one.
    pub async fn close(self) {
        if let Ok(inner) = Arc::try_unwrap(self.inner) {
            let _ = tokio::task::spawn_blocking(move || drop(inner)).await;
        }
    }

    /// Shuts down now, whatever clones remain: queued changesets are applied,
    /// then the writer thread stops and idle connections close; later calls
    /// on any clone fail with [`StoreError::Unavailable`].
    pub(crate) async fn shutdown(&self) {
        let inner = Arc::clone(&self.inner);
        let _ = tokio::task::spawn_blocking(move || inner.shutdown()).await;
    }

    /// Runs `f` on a pooled read connection on a blocking thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.inner.readers.run(move |c| f(c).map_err(db_err)).await
    }

    /// Like [`SqliteStore::read`] for closures that already speak [`StoreError`].
    async fn read_store<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.readers.run(f).await
    }
}

impl Inner {
    fn shutdown(&self) {
        // Readers first, so the writer's connection is the last one: closing
        // it checkpoints the WAL into the main file and removes the WAL.
        self.readers.close();
        self.writer.shutdown();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        self.inner.writer.apply(changeset).await
    }

    /// The query on a pooled read connection; none when it can match no row.
    async fn fetch(&self, query: &Query) -> StoreResult<Vec<Record>> {
        if query.matches_nothing() {
            return Ok(Vec::new());
        }
        let q = query.clone();
        self.inner.readers.run(move |c| select::fetch_on(c, &q)).await
    }

    /// One blocking hop on one read connection instead of eight: every read
    /// inside one read transaction, so the answer is one consistent snapshot.
    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        let reads = read::OrderReads::new(q);
        self.inner.readers.run(move |c| read::order_context(c, reads)).await
    }

    /// One FTS5 statement over `product_search_fts` on a read connection
    /// (see the `search` module).
    async fn search_products(&self, q: &ProductSearchQuery<'_>) -> StoreResult<Vec<SearchHit>> {
        let (store_id, status, terms, after, limit) = (q.store_id, q.status, q.terms.clone(), q.after, q.limit);
        self.inner
            .readers
            .run(move |c| {
                let terms: SearchTerms = terms;
                search::search_on(c, &ProductSearchQuery { store_id, status, terms: &terms, after, limit })
            })
            .await
    }

    async fn purge_events_in_bulk(&self, _floors: &[agora_core::EventFloor]) -> StoreResult<u64> {
        // No bulk way: retention deletes the events row by row.
        Ok(0)
    }

    async fn health(&self) -> StoreResult<()> {
        let status = self.migration_status().await?;
        if status.is_current() {
            Ok(())
        } else {
            Err(StoreError::Schema(format!(
                "database schema version {} but this build expects {}",
                status.applied, status.latest
            )))
        }
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let c = SqliteConfig::from_url("sqlite://agora.db").unwrap();
        assert_eq!(c.path, Path::new("agora.db"));
        assert_eq!(c.synchronous, Synchronous::Full);
        let c = SqliteConfig::from_url("sqlite:///abs/path.db?synchronous=normal").unwrap();
        assert_eq!(c.path, Path::new("/abs/path.db"));
        assert_eq!(c.synchronous, Synchronous::Normal);
        let c =
            SqliteConfig::from_url("sqlite:data/x.db?synchronous=FULL&read_connections=2&busy_timeout_ms=250").unwrap();
        assert_eq!(c.path, Path::new("data/x.db"));
        assert_eq!(c.read_connections, 2);
        assert_eq!(c.busy_timeout, std::time::Duration::from_millis(250));
        assert!(SqliteConfig::from_url("postgres://x").is_err());
        assert!(SqliteConfig::from_url("sqlite://x.db?synchronous=off").is_err());
        assert!(SqliteConfig::from_url("sqlite://x.db?bogus=1").is_err());
        assert!(SqliteConfig::from_url("sqlite://").is_err());
        assert!(SqliteConfig::from_url("sqlite::memory:").is_err());
        let defaults =
            SqliteConfig { synchronous: Synchronous::Normal, read_connections: 9, ..SqliteConfig::default() };
        let c = SqliteConfig::from_url_with("sqlite:x.db?read_connections=2", &defaults).unwrap();
        assert_eq!((c.synchronous, c.read_connections), (Synchronous::Normal, 2));
    }

    #[test]
    fn config_sections_deserialize_and_refuse_unknown_keys() {
        let c: SqliteConfig = serde_json::from_str(r#"{"synchronous": "normal", "busy_timeout_ms": 250}"#).unwrap();
        assert_eq!(c.synchronous, Synchronous::Normal);
        assert_eq!(c.busy_timeout, std::time::Duration::from_millis(250));
        assert_eq!(c.read_connections, SqliteConfig::default().read_connections);
        assert!(serde_json::from_str::<SqliteConfig>(r#"{"path": "x.db"}"#).is_err());
        assert!(serde_json::from_str::<SqliteConfig>(r#"{"synchronous": "off"}"#).is_err());
        let back: SqliteConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
