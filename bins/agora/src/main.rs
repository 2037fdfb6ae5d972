//! `agora`: the operator CLI. Every command takes `--database-url`
//! (default: the configured `database_url`, from `AGORA_DATABASE_URL` or
//! `agora.toml`); `agora <command> --help` documents each one.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use agora_core::views::*;
use agora_core::{Actor, StoreId};
use agora_cutover::{CopyOptions, Progress};
use agora_runtime::{Backend, Config, open_backend};
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
    /// Back the store up to FILE: SQLite's online backup API (a consistent
    /// copy while writers keep going), or `pg_dump --format=custom` for PostgreSQL.
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
        /// Rows per changeset.
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

fn redact(url: &str) -> String {
    agora_redis::redact_url(url)
}

#[tokio::main]
async fn main() -> ExitCode {
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

async fn open(url: &str, migrate: bool, config: &Config) -> anyhow::Result<Backend> {
    open_backend(url, migrate, config.pg_max_connections).await
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = config(&cli)?;
    let url = config.database_url.clone();
    let started = Instant::now();
    match cli.command {
        Command::Migrate(Migrate::Up) => {
            let backend = open(&url, true, &config).await?;
            backend.schema_current().await.map_err(|e| anyhow::anyhow!(e))?;
            println!("migrated {} ({}): schema is current", redact(&url), backend.store().backend());
        }
        Command::Migrate(Migrate::Status) => {
            let backend = open(&url, false, &config).await?;
            let current = match &backend {
                Backend::Memory(_) => {
                    println!("memory store: no schema");
                    true
                }
                Backend::Sqlite(s) => {
                    let st = s.migration_status().await?;
                    println!(
                        "sqlite {}: schema version {} of {} ({} pending)",
                        redact(&url),
                        st.applied,
                        st.known,
                        st.pending()
                    );
                    st.is_current()
                }
                Backend::Postgres(p) => {
                    let st = p.migration_status().await?;
                    println!(
                        "postgres {}: applied {:?}, known {:?}, pending {:?}, unknown {:?}, modified {:?}, dirty {:?}",
                        redact(&url),
                        st.applied,
                        st.known,
                        st.pending,
                        st.unknown,
                        st.modified,
                        st.dirty
                    );
                    st.is_current()
                }
            };
            if !current {
                println!("schema is NOT current: run `agora migrate up`");
                return Ok(ExitCode::from(1));
            }
        }
        Command::Seed { demo } => {
            if !demo {
                bail!("nothing to do: pass --demo to write the demo data set");
            }
            seed_demo(config).await?;
        }
        Command::Export { to } => {
            let backend = open(&url, false, &config).await?;
            let store = backend.store();
            let bar = Bar::new("export");
            let summary = if to.as_os_str() == "-" {
                let mut out = std::io::stdout().lock();
                agora_cutover::export_to(store.as_ref(), &mut out, &bar).await?
            } else {
                let mut out = BufWriter::new(File::create(&to).with_context(|| format!("creating {}", to.display()))?);
                agora_cutover::export_to(store.as_ref(), &mut out, &bar).await?
            };
            drop(bar);
            eprintln!(
                "exported {} rows in {} tables from {} to {} in {:.1?}",
                summary.rows,
                summary.counts.iter().filter(|(_, n)| *n > 0).count(),
                redact(&url),
                to.display(),
                started.elapsed()
            );
        }
        Command::Import { from, batch } => {
            let backend = open(&url, true, &config).await?;
            let store = backend.store();
            let mut input = BufReader::new(File::open(&from).with_context(|| format!("opening {}", from.display()))?);
            let bar = Bar::new("import");
            let summary = agora_cutover::import_from(&mut input, store.as_ref(), batch, &bar).await?;
            drop(bar);
            println!(
                "imported {} rows from {} into {} in {:.1?}",
                summary.rows,
                from.display(),
                redact(&url),
                started.elapsed()
            );
        }
        Command::Backup { to } => backup(&url, &to, &config).await?,
        Command::Restore { from } => restore(&url, &from)?,
        Command::Copy { from, to, batch, passes, no_deletes } => {
            let source = open(&from, false, &config).await.context("the source store")?;
            let target = open(&to, true, &config).await.context("the target store")?;
            let opts = CopyOptions { batch_rows: batch, deletes: !no_deletes };
            let mut last = None;
            for pass in 1..=passes.max(1) {
                let bar = Bar::new(&format!("copy pass {pass}"));
                let report = agora_cutover::copy(source.store().as_ref(), target.store().as_ref(), &opts, &bar).await?;
                drop(bar);
                eprintln!("pass {pass}: {}", report.summary());
                let done = report.converged();
                last = Some(report);
                if done {
                    break;
                }
            }
            let report = last.unwrap_or_default();
            println!(
                "copied {} -> {}: {} in {:.1?}{}",
                redact(&from),
                redact(&to),
                report.summary(),
                started.elapsed(),
                if report.converged() { "; converged" } else { "; run again to converge" }
            );
        }
        Command::Verify { from, to, json } => {
            let a = open(&from, false, &config).await.context("the first store")?;
            let b = open(&to, false, &config).await.context("the second store")?;
            let bar = Bar::new("verify");
            let report = agora_cutover::verify(a.store().as_ref(), b.store().as_ref(), &bar).await?;
            drop(bar);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{:<24} {:>10} {:>10}  {:<16} {:<16}", "table", "rows a", "rows b", "sha256 a", "sha256 b");
                for t in &report.tables {
                    println!(
                        "{:<24} {:>10} {:>10}  {:<16} {:<16} {}",
                        t.table,
                        t.rows_a,
                        t.rows_b,
                        &t.checksum_a[..16],
                        &t.checksum_b[..16],
                        if t.matches() { "ok" } else { "DIFFERS" }
                    );
                }
                for d in &report.differences {
                    println!("difference: {d}");
                }
                println!(
                    "verify {} vs {}: {} in {:.1?}",
                    redact(&from),
                    redact(&to),
                    report.summary(),
                    started.elapsed()
                );
            }
            if !report.is_clean() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Keys(Keys::Rotate) => {
            let rt = agora_runtime::Runtime::build(config).await?;
            let version = rt.agora.keyring().current_version();
            let n = rt.agora.rotate_store_secrets().await?;
            println!("re-sealed {n} store secrets under key version {version} in {:.1?}", started.elapsed());
        }
        Command::AdminKey(AdminKey::Create { store }) => {
            let rt = agora_runtime::Runtime::build(config).await?;
            let created = rt.agora.create_admin_key(&operator(), StoreId(store)).await?;
            println!("admin key for store {store} (shown once, only its hash is stored):");
            println!("{}", created.key);
            eprintln!("id {} masked {}", created.id, created.masked);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The CLI acts as the deployment's super admin: whoever can run it can read the configuration anyway.
fn operator() -> Actor {
    Actor::SuperAdmin { masked: "cli".into() }
}

fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let cfg = agora_sqlite::SqliteConfig::from_url(url).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg.path)
}

async fn backup(url: &str, to: &Path, config: &Config) -> anyhow::Result<()> {
    let started = Instant::now();
    if url.starts_with("sqlite:") {
        let backend = open(url, false, config).await?;
        let Backend::Sqlite(s) = backend else { bail!("not a SQLite store") };
        let spinner = ProgressBar::new_spinner();
        spinner.set_message("backing up");
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        s.backup_to(to).await?;
        spinner.finish_and_clear();
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        run_tool("pg_dump", &["--format=custom", "--no-owner", "--file", &to.to_string_lossy(), "--dbname", url])?;
    } else {
        bail!("backup: a memory store cannot be backed up; use `agora export`");
    }
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    println!("backed up {} to {} ({bytes} bytes) in {:.1?}", redact(url), to.display(), started.elapsed());
    Ok(())
}

fn restore(url: &str, from: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    if !from.exists() {
        bail!("restore: {} does not exist", from.display());
    }
    if url.starts_with("sqlite:") {
        let dest = sqlite_path(url)?;
        agora_sqlite::SqliteStore::restore(from, &dest)?;
        println!("restored {} into {} in {:.1?}", from.display(), dest.display(), started.elapsed());
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        run_tool(
            "pg_restore",
            &["--no-owner", "--exit-on-error", "--single-transaction", "--dbname", url, &from.to_string_lossy()],
        )?;
        println!("restored {} into {} in {:.1?}", from.display(), redact(url), started.elapsed());
    } else {
        bail!("restore: a memory store cannot be restored; use `agora import`");
    }
    Ok(())
}

/// Runs a PostgreSQL client tool; the URL's password is handed over in
/// `PGPASSWORD` rather than on the command line.
fn run_tool(tool: &str, args: &[&str]) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new(tool);
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
    let status = cmd.status().with_context(|| format!("running {tool} (is the PostgreSQL client installed?)"))?;
    if !status.success() {
        bail!("{tool} failed with {status}");
    }
    Ok(())
}

/// `postgres://user:pass@host/db` -> (`postgres://user@host/db`, `pass`).
fn split_password(url: &str) -> (String, Option<String>) {
    let Some(i) = url.find("://") else { return (url.to_owned(), None) };
    let (scheme, rest) = url.split_at(i + 3);
    let Some(at) = rest.find('@') else { return (url.to_owned(), None) };
    let (userinfo, host) = rest.split_at(at);
    match userinfo.split_once(':') {
        Some((user, pass)) => (format!("{scheme}{user}{host}"), Some(pass.to_owned())),
        None => (url.to_owned(), None),
    }
}

async fn seed_demo(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let url = config.database_url.clone();
    let rt = agora_runtime::Runtime::build(config).await?;
    for (name, value) in &rt.generated {
        println!("generated {name} (saved in the data dir; shown once): {value}");
    }
    let agora = &rt.agora;
    let op = operator();
    let store = agora
        .create_store(&op, NewStore { name: "Demo Shop".into(), domain: "demo.agora.test".into(), access_token: None })
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo store ({e}); is this store seeded already?"))?;
    let store_id = StoreId(store.id);
    let key = agora.create_admin_key(&op, store_id).await?;
    let wh = agora.create_warehouse(&op, store_id, NewWarehouse { name: "Main warehouse".into() }).await?;
    let catalog = [("DEMO-TEE", "T-shirt", 1999, 100), ("DEMO-MUG", "Mug", 1250, 50), ("DEMO-CAP", "Cap", 1500, 25)];
    for (sku, title, price, stock) in catalog {
        let p = agora
            .create_product(
                &op,
                store_id,
                NewProduct {
                    title: title.into(),
                    currency: "EUR".into(),
                    status: None,
                    variants: vec![NewVariant { sku: sku.into(), name: "default".into(), price_minor: price }],
                },
            )
            .await?;
        agora
            .set_inventory(
                &op,
                store_id,
                SetInventory { variant_id: p.variants[0].id, warehouse_id: wh.id, on_hand: stock },
            )
            .await?;
    }
    let mut users = Vec::new();
    for (name, email) in [("Ada Demo", "ada@demo.agora.test"), ("Bob Demo", "bob@demo.agora.test")] {
        let password = format!("demo-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        agora
            .register_user(NewUser { name: name.into(), email: email.into(), password: password.clone(), phone: None })
            .await?;
        let session = agora.login(Login { email: email.into(), password: password.clone() }).await?;
        let actor = agora.authenticate_customer(&session.token).await?;
        agora
            .add_address(
                &actor,
                NewAddress {
                    line1: "1 Demo Street".into(),
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country: "DE".into(),
                },
            )
            .await?;
        users.push((email, password));
    }
    println!("demo store: {} ({}) id {}", store.name, store.domain, store.id);
    println!("store admin key (shown once): {}", key.key);
    for (email, password) in &users {
        println!("customer: {email} password {password}");
    }
    println!(
        "seeded {}: 1 store, 1 warehouse, {} products with stock, {} customers in {:.1?}",
        redact(&url),
        catalog.len(),
        users.len(),
        started.elapsed()
    );
    Ok(())
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

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://u:secret@h:5432/db"),
            ("postgres://u@h:5432/db".to_owned(), Some("secret".to_owned()))
        );
        assert_eq!(split_password("postgres://u@h/db"), ("postgres://u@h/db".to_owned(), None));
    }
}
