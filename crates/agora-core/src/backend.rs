//! Kinds of store, chosen at run time by URL scheme (the object_store
//! `parse_url` idea): each storage crate implements [`StoreKind`] once, and
//! the runtime and CLI keep a [`StoreRegistry`] of them instead of matching
//! on backends. Adding a store is one crate plus one registration line.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::ports::{LockManager, Store, StoreResult};

/// Where a store's schema stands against the migrations this build knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The newest migration version applied to the store (0 when none).
    pub applied: i64,
    /// The newest migration version this build knows.
    pub latest: i64,
    /// Versions this build knows that are not applied yet.
    pub pending: Vec<i64>,
    /// Versions applied to the store that this build does not know (the
    /// store was migrated by a newer build): such a store is refused.
    pub unknown: Vec<i64>,
}

impl MigrationStatus {
    /// The status of a store that has no schema to migrate (memory).
    pub fn none() -> Self {
        Self { applied: 0, latest: 0, pending: Vec::new(), unknown: Vec::new() }
    }

    /// Exactly at this build's schema.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty()
    }
}

/// How a store has grouped writes into commits so far (group commit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Changesets applied (or refused).
    pub changesets: u64,
    /// Transactions committed for them; fewer than `changesets` when
    /// groups shared a commit.
    pub commits: u64,
}

/// How [`StoreKind::open`] treats the store's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Apply pending migrations (a schema newer than this build is refused).
    Migrate,
    /// Refuse a store whose schema is not exactly this build's.
    RequireCurrent,
    /// Open whatever is there, to look at it (`agora migrate status`).
    Inspect,
}

/// A job a kind of store needs run now and then (PostgreSQL: create the
/// coming months' partitions). The worker runs it under a lease.
#[async_trait]
pub trait MaintenanceJob: Send + Sync {
    /// Its name in logs, metrics and the job list (`partitions`).
    fn name(&self) -> &'static str;
    /// How often it runs.
    fn every(&self) -> std::time::Duration;
    /// Runs once; returns how many things it changed.
    ///
    /// # Errors
    /// The store's error; the worker logs it and retries next time.
    async fn run(&self) -> StoreResult<u64>;
}

/// An open store and what only its kind can do.
#[async_trait]
pub trait StoreHandle: Send + Sync {
    /// The store as the domain sees it.
    fn store(&self) -> Arc<dyn Store>;

    /// Applies pending migrations and answers the status after.
    ///
    /// # Errors
    /// [`StoreError::Schema`] when the store was migrated by a newer build.
    async fn migrate(&self) -> StoreResult<MigrationStatus>;

    /// Where the schema stands.
    ///
    /// # Errors
    /// When the store cannot be read.
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;

    /// A native, consistent backup into the file `dest` (SQLite's online
    /// backup, `pg_dump`); [`StoreError::Unavailable`] naming the
    /// alternative (`agora export`) for a kind that has none.
    ///
    /// # Errors
    /// I/O or tool failures.
    async fn backup_to(&self, dest: &Path) -> StoreResult<()>;

    /// Named locks shared by every process on this store, when the kind
    /// has them (PostgreSQL advisory locks); the runtime falls back to
    /// Redis or in-process locks.
    fn locks(&self) -> Option<Arc<dyn LockManager>> {
        None
    }

    /// How writes were grouped into commits, when the kind groups them.
    fn write_stats(&self) -> Option<WriteStats> {
        None
    }

    /// Jobs this kind of store needs the worker to run.
    fn maintenance(&self) -> Vec<Arc<dyn MaintenanceJob>> {
        Vec::new()
    }

    /// Finishes pending writes and closes connections.
    async fn close(&self);
}

/// A kind of store, registered under its URL schemes.
#[async_trait]
pub trait StoreKind: Send + Sync {
    /// A short name: `memory`, `sqlite`, `postgres`.
    fn name(&self) -> &'static str;

    /// The URL schemes it answers to, without `:` (`sqlite`; `postgres` and
    /// `postgresql`).
    fn schemes(&self) -> &'static [&'static str];

    /// Opens the store at `url`; `mode` says what to do about its schema
    /// (see [`OpenMode`]).
    ///
    /// # Errors
    /// A malformed URL ([`StoreError::Schema`] naming what is wrong), an
    /// unreachable store ([`StoreError::Unavailable`]), a schema the mode
    /// refuses ([`StoreError::Schema`]).
    async fn open(&self, url: &str, mode: OpenMode) -> StoreResult<Arc<dyn StoreHandle>>;

    /// Restores the native backup `backup` into the store at `url`, which
    /// nothing may have open.
    ///
    /// # Errors
    /// A damaged or too new backup, I/O or tool failures; a kind without
    /// native backups says which command to use instead.
    async fn restore(&self, backup: &Path, url: &str) -> StoreResult<()>;
}

/// The kinds of store a binary knows, by URL scheme.
#[derive(Clone, Default)]
pub struct StoreRegistry {
    kinds: Vec<Arc<dyn StoreKind>>,
}

impl std::fmt::Debug for StoreRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.iter().map(|k| k.name())).finish()
    }
}

impl StoreRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind of store.
    pub fn register(mut self, kind: Arc<dyn StoreKind>) -> Self {
        self.kinds.push(kind);
        self
    }

    /// The kind whose scheme starts `url` (`scheme:` or `scheme://`).
    ///
    /// # Errors
    /// [`StoreError::Schema`] listing the known schemes.
    pub fn kind_for(&self, url: &str) -> StoreResult<&Arc<dyn StoreKind>> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
        self.kinds.iter().find(|k| k.schemes().contains(&scheme)).ok_or_else(|| {
            let known: Vec<String> =
                self.kinds.iter().flat_map(|k| k.schemes().iter().map(|s| format!("{s}:"))).collect();
            StoreError::Schema(format!("unknown store URL scheme {scheme:?}; known: {}", known.join(", ")))
        })
    }

    /// Opens the store named by `url`.
    ///
    /// # Errors
    /// As [`StoreRegistry::kind_for`] and [`StoreKind::open`].
    pub async fn open(&self, url: &str, mode: OpenMode) -> StoreResult<Arc<dyn StoreHandle>> {
        self.kind_for(url)?.open(url, mode).await
    }

    /// Restores a native backup into the store named by `url`.
    ///
    /// # Errors
    /// As [`StoreRegistry::kind_for`] and [`StoreKind::restore`].
    pub async fn restore(&self, backup: &Path, url: &str) -> StoreResult<()> {
        self.kind_for(url)?.restore(backup, url).await
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Unavailable(format!("i/o: {e}"))
    }
}
