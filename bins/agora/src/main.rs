//! `agora`: the operator CLI. Every command takes `--database-url`
//! (default: the configured `database_url`, from `AGORA_DATABASE_URL` or
//! `agora.toml`); `agora <command> --help` documents each one.

mod commands;
mod seed;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use agora_core::{Actor, StoreId};
use agora_cutover::Progress;
use agora_runtime::Config;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// agora's operator CLI: migrations, demo data, export/import, backup/restore,
/// moving a deployment between stores (copy, verify), key rotation, admin keys.
///
/// Store URLs: `memory:`, `sqlite://PATH` or `postgres://USER[:PASS]@HOST[:PORT]/DB`.
#[derive(Parser, Debug)]
#[command(name = "agora", version, propagate_version = true)]
struct Cli {
    /// The store to work on (default: the configured `database_url`:
    /// `AGORA_DATABASE_URL`, then `agora.toml`, then `sqlite://agora.db`).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply or inspect schema migrations.
    #[command(subcommand)]
    Migrate(Migrate),
    /// Write demo data: a store with an admin key, a warehouse, a catalog with
    /// stock, and two customers; prints every credential once.
    Seed {
        /// Required: write the demo data set.
        #[arg(long)]
        demo: bool,
    },
    /// Write every row of the store to FILE in the canonical export format
    /// (versioned JSON Lines, see docs/operations.md).
    Export {
        /// The file to write (`-` for standard output).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Read a canonical export FILE into the store, which must be empty.
    Import {
        /// The export file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Rows per changeset.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Back the store up to FILE with its native backup: SQLite's online
    /// backup API (a consistent copy while writers keep going), `pg_dump
    /// --format=custom` for PostgreSQL (a memory store: use `export`).
    Backup {
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Restore a backup FILE into the store. SQLite: the database file is
    /// replaced (stop every process using it first). PostgreSQL:
    /// `pg_restore --single-transaction` into the URL's database, which must
    /// be new and empty (`createdb` it first); nothing is written on error.
    Restore {
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Backfill one store from another, batch-wise; resumable: run it again
    /// and it writes only what is still missing or different.
    Copy {
        /// The source store.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The target store (migrated to the current schema first).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Rows per page read from each store and written at once (each
        /// row its own changeset).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Repeat until a pass writes nothing, at most this many passes.
        #[arg(long, default_value_t = 1)]
        passes: u32,
        /// Keep sessions and idempotency records the source no longer has.
        #[arg(long)]
        no_deletes: bool,
    },
    /// Compare two stores: per-table counts and checksums, the order of every
    /// list read, the replay of every stored idempotent response. Exits 1 when
    /// anything differs.
    Verify {
        /// One store.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The other store.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Secrets at rest.
    #[command(subcommand)]
    Keys(Keys),
    /// Store admin keys.
    #[command(subcommand, name = "admin-key")]
    AdminKey(AdminKey),
}

#[derive(Subcommand, Debug)]
enum Migrate {
    /// Apply every pending migration.
    Up,
    /// Show applied and pending migrations; exits 1 when the schema is not current.
    Status,
}

#[derive(Subcommand, Debug)]
enum Keys {
    /// Re-encrypt every store secret under the newest key of the configured
    /// keyring (`secret_keys`; prepend a new `version:key` first).
    Rotate,
}

#[derive(Subcommand, Debug)]
enum AdminKey {
    /// Create an admin key for one store; the key is printed once and only its hash is stored.
    Create {
        /// The store's id.
        #[arg(long, value_name = "ID")]
        store: uuid::Uuid,
        /// The key stops working this many seconds from now (default: never).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<i64>,
    },
    /// Revoke an admin key of a store; it fails from the next request on.
    Revoke {
        /// The store's id.
        #[arg(long, value_name = "ID")]
        store: uuid::Uuid,
        /// The key's id (as `create` printed it).
        #[arg(long, value_name = "ID")]
        key: uuid::Uuid,
    },
}

/// Draws a progress bar on stderr (hidden when stderr is not a terminal).
struct Bar(ProgressBar);

impl Bar {
    fn new(what: &str) -> Self {
        let pb = ProgressBar::new(0);
        pb.set_style(
            ProgressStyle::with_template("{prefix} {msg:24} [{bar:30}] {pos}/{len} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(what.to_owned());
        Self(pb)
    }
}

impl Progress for Bar {
    fn table(&self, table: &'static str, rows: u64) {
        self.0.set_message(table);
        self.0.inc_length(rows);
    }
    fn rows(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Backups, exports and databases this tool writes are owner-only.
    agora_runtime::process::owner_only_files();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGORA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::load().context("loading configuration")?;
    if let Some(url) = &cli.database_url {
        config.database_url = url.clone();
    }
    Ok(config)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = config(&cli)?;
    let url = config.database_url.clone();
    let started = Instant::now();
    match cli.command {
        Command::Migrate(Migrate::Up) => commands::migrate_up(&config, &url).await?,
        Command::Migrate(Migrate::Status) => return commands::migrate_status(&config, &url).await,
        Command::Seed { demo } => {
            if !demo {
                bail!("nothing to do: pass --demo to write the demo data set");
            }
            seed::demo(config).await?;
        }
        Command::Export { to } => commands::export(&config, &url, &to).await?,
        Command::Import { from, batch } => commands::import(&config, &url, &from, batch).await?,
        Command::Backup { to } => commands::backup(&config, &url, &to).await?,
        Command::Restore { from } => commands::restore(&config, &url, &from).await?,
        Command::Copy { from, to, batch, passes, no_deletes } => {
            commands::copy(&config, &from, &to, batch, passes, !no_deletes).await?;
        }
        Command::Verify { from, to, json } => return commands::verify(&config, &from, &to, json).await,
        Command::Keys(Keys::Rotate) => {
            let rt = agora_runtime::Runtime::build(config).await?;
            let version = rt.agora.keyring().current_version();
            let n = rt.agora.rotate_store_secrets().await?;
            println!("re-sealed {n} store secrets under key version {version} in {:.1?}", started.elapsed());
            rt.close().await;
        }
        Command::AdminKey(AdminKey::Create { store, expires_in }) => {
            let rt = agora_runtime::Runtime::build(config).await?;
            let req = agora_core::views::NewAdminKey { expires_in_seconds: expires_in };
            let created = rt.agora.create_admin_key(&operator(), StoreId(store), req).await?;
            println!("admin key for store {store} (shown once, only its hash is stored):");
            println!("{}", created.key);
            eprintln!("id {} masked {}", created.id, created.masked);
            rt.close().await;
        }
        Command::AdminKey(AdminKey::Revoke { store, key }) => {
            let rt = agora_runtime::Runtime::build(config).await?;
            rt.agora.revoke_admin_key(&operator(), StoreId(store), agora_core::AdminKeyId(key), None).await?;
            println!("admin key {key} of store {store} revoked");
            rt.close().await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The CLI acts as the deployment's super admin: whoever can run it can read the configuration anyway.
fn operator() -> Actor {
    Actor::SuperAdmin { masked: "cli".into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid_and_every_command_has_help() {
        Cli::command().debug_assert();
        let mut cmd = Cli::command();
        for sub in cmd.get_subcommands_mut() {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
            for s in sub.get_subcommands() {
                assert!(s.get_about().is_some(), "{} {} has no help", sub.get_name(), s.get_name());
            }
        }
    }
}
