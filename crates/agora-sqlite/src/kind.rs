//! The `sqlite:` kind of store for a [`agora_core::StoreRegistry`].

use std::path::Path;
use std::sync::Arc;

use agora_core::{MigrationStatus, OpenMode, Store, StoreError, StoreHandle, StoreKind, StoreResult, WriteStats};
use async_trait::async_trait;

use crate::{SqliteConfig, SqliteStore};

/// Opens `sqlite://path.db[?synchronous=normal&read_connections=N&busy_timeout_ms=N]`.
/// Options the URL does not set come from the kind's defaults (the
/// runtime's `[sqlite]` section).
#[derive(Clone, Debug, Default)]
pub struct SqliteKind {
    defaults: SqliteConfig,
}

impl SqliteKind {
    /// A kind whose stores use `defaults` for what their URL does not set
    /// (its path is ignored: the URL names the file).
    pub fn new(defaults: SqliteConfig) -> Self {
        Self { defaults }
    }
}

/// A SQLite store is its own handle: migrations, backups and shutdown are
/// methods of the store.
#[async_trait]
impl StoreHandle for SqliteStore {
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.clone())
    }

    async fn migrate(&self) -> StoreResult<MigrationStatus> {
        SqliteStore::migrate(self).await
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        SqliteStore::migration_status(self).await
    }

    async fn backup_to(&self, dest: &Path) -> StoreResult<()> {
        SqliteStore::backup_to(self, dest).await
    }

    fn write_stats(&self) -> Option<WriteStats> {
        Some(self.writer_stats())
    }

    async fn close(&self) {
        self.shutdown().await;
    }
}

#[async_trait]
impl StoreKind for SqliteKind {
    async fn open(&self, url: &str, mode: OpenMode) -> StoreResult<Arc<dyn StoreHandle>> {
        let config = SqliteConfig::from_url_with(url, &self.defaults)?;
        Ok(Arc::new(SqliteStore::open_with(config, mode).await?))
    }

    async fn restore(&self, backup: &Path, url: &str) -> StoreResult<()> {
        let dest = SqliteConfig::from_url_with(url, &self.defaults)?.path;
        let backup = backup.to_path_buf();
        tokio::task::spawn_blocking(move || SqliteStore::restore(&backup, &dest))
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite restore task failed: {e}")))?
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["sqlite"]
    }
}
