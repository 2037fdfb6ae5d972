//! The `postgres:` kind of store for the runtime's registry: open by URL,
//! migrate, back up with `pg_dump`, restore with `pg_restore`, job locks on
//! advisory locks, and the monthly partitions job.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agora_core::backend::{MaintenanceJob, MigrationStatus, OpenMode, StoreHandle, StoreKind};
use agora_core::{LockManager, Store, StoreError};
use async_trait::async_trait;

use crate::config::{redact_url, split_password};
use crate::{PgConfig, PgLocks, PgStore, StoreResult};

/// Months of partitions the maintenance job keeps ahead.
pub const PARTITION_MONTHS_AHEAD: u32 = 3;

/// The `postgres://` / `postgresql://` kind of store. Its options
/// (pool size, grouping, timeout) apply to every URL that does not set
/// them itself (see [`PgConfig::from_url`]).
#[derive(Clone, Debug, Default)]
pub struct PgKind {
    defaults: PgConfig,
}

impl PgKind {
    /// A kind whose stores use `defaults` (its `url` is ignored).
    pub fn new(defaults: PgConfig) -> Self {
        Self { defaults }
    }
}

#[async_trait]
impl StoreKind for PgKind {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["postgres", "postgresql"]
    }

    async fn open(&self, url: &str, mode: OpenMode) -> StoreResult<Arc<dyn StoreHandle>> {
        let config = PgConfig::from_url(url, &self.defaults)?;
        let store = PgStore::connect_without_migrating(config.clone()).await?;
        if mode == OpenMode::Migrate {
            store.migrate().await?;
        } else if mode == OpenMode::RequireCurrent {
            let status = store.migration_status().await?;
            if !status.is_current() {
                return Err(StoreError::Schema(format!(
                    "the schema of {} is not current ({status:?}); migrate it first",
                    redact_url(&config.url)
                )));
            }
        }
        Ok(Arc::new(PgHandle { store, config }))
    }

    async fn restore(&self, backup: &Path, url: &str) -> StoreResult<()> {
        if !backup.is_file() {
            return Err(StoreError::Unavailable(format!("restore: {} is not a file", backup.display())));
        }
        let config = PgConfig::from_url(url, &self.defaults)?;
        let file = backup.to_string_lossy();
        let args = ["--no-owner", "--exit-on-error", "--single-transaction", "--dbname", &config.url, &file];
        run_tool("pg_restore", &args).await?;
        // A backup of a newer schema restores fine and must still be refused.
        let store = PgStore::connect_without_migrating(PgConfig { max_connections: 1, ..config }).await?;
        let status = store.migration_status().await;
        store.close().await;
        match status? {
            s if !s.unknown.is_empty() => Err(StoreError::Schema(format!(
                "the restored backup holds migrations {:?}, which this build does not know",
                s.unknown
            ))),
            _ => Ok(()),
        }
    }
}

/// An open PostgreSQL store.
struct PgHandle {
    store: PgStore,
    config: PgConfig,
}

#[async_trait]
impl StoreHandle for PgHandle {
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    async fn migrate(&self) -> StoreResult<MigrationStatus> {
        self.store.migrate().await?;
        self.store.migration_status().await
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        self.store.migration_status().await
    }

    /// `pg_dump --format=custom --no-owner`: a consistent snapshot taken
    /// while the store keeps running.
    async fn backup_to(&self, dest: &Path) -> StoreResult<()> {
        let file = dest.to_string_lossy();
        let args = ["--format=custom", "--no-owner", "--file", &file, "--dbname", &self.config.url];
        run_tool("pg_dump", &args).await
    }

    fn locks(&self) -> Option<Arc<dyn LockManager>> {
        Some(Arc::new(PgLocks::new(self.store.pool().clone())))
    }

    fn maintenance(&self) -> Vec<Arc<dyn MaintenanceJob>> {
        vec![Arc::new(PartitionJob { store: self.store.clone() })]
    }

    async fn close(&self) {
        self.store.close().await;
    }
}

/// Creates the coming months' partitions of the append-only tables.
struct PartitionJob {
    store: PgStore,
}

#[async_trait]
impl MaintenanceJob for PartitionJob {
    fn name(&self) -> &'static str {
        "partitions"
    }

    fn every(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn run(&self) -> StoreResult<u64> {
        self.store.create_partitions(PARTITION_MONTHS_AHEAD).await.map(u64::from)
    }
}

/// Runs a PostgreSQL client tool. The URL's password goes in `PGPASSWORD`,
/// never on the command line (where `ps` shows it); what the tool says on
/// failure is part of the error, with passwords redacted.
async fn run_tool(tool: &str, args: &[&str]) -> StoreResult<()> {
    let mut cmd = tokio::process::Command::new(tool);
    for a in args {
        if a.starts_with("postgres://") || a.starts_with("postgresql://") {
            let (clean, password) = split_password(a);
            if let Some(p) = password {
                cmd.env("PGPASSWORD", p);
            }
            cmd.arg(clean);
        } else {
            cmd.arg(a);
        }
    }
    let out = cmd.output().await.map_err(|e| {
        StoreError::Unavailable(format!("cannot run {tool} (is the PostgreSQL client installed?): {e}"))
    })?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    let said: Vec<String> = said.lines().rev().take(5).map(redact_url).collect();
    Err(StoreError::Unavailable(format!(
        "{tool} failed with {}: {}",
        out.status,
        said.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )))
}
