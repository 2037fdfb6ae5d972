//! The database a run uses: memory, a SQLite file (a temp file when the URL
//! has no path), or a throwaway PostgreSQL database created on the server of
//! the given URL and dropped afterwards.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use sqlx::ConnectOptions;
use sqlx::Connection;

/// Server used by `--db postgres` (same variable as the tests).
pub const PG_ENV: &str = "AGORA_TEST_POSTGRES_URL";
/// Default server when the variable is unset.
pub const PG_DEFAULT: &str = "postgres://root@127.0.0.1:5432/postgres";

/// A prepared database.
pub enum Target {
    /// The in-memory adapter (no raw SQL counterpart).
    Memory,
    /// A SQLite file.
    Sqlite {
        /// URL for `open_backend`.
        url: String,
        /// The file.
        path: PathBuf,
        /// `FULL` or `NORMAL`.
        synchronous: &'static str,
        /// Keeps a temp directory alive.
        _tmp: Option<tempfile::TempDir>,
    },
    /// A PostgreSQL database made for this run.
    Postgres {
        /// URL of the new database.
        url: String,
        /// URL of the server's database used to create and drop it.
        admin_url: String,
        /// Its name.
        name: String,
    },
}

impl Target {
    /// Prepares the database named by `db`: `memory:`; `sqlite://PATH[?synchronous=full|normal]`
    /// (`sqlite://?synchronous=...` = a temp file); `postgres` (the server at
    /// `AGORA_TEST_POSTGRES_URL`) or `postgres://...` (a new database
    /// `agora_bench_<random>` is created on that server and dropped by [`Target::cleanup`]).
    pub async fn prepare(db: &str) -> anyhow::Result<Target> {
        if db == "memory:" || db == "memory" || db == "memory://" {
            return Ok(Target::Memory);
        }
        if let Some(rest) = db.strip_prefix("sqlite://").or_else(|| db.strip_prefix("sqlite:")) {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            let (tmp, path) = if path.is_empty() {
                let tmp = tempfile::tempdir().context("creating a temp dir")?;
                let p = tmp.path().join("bench.db");
                (Some(tmp), p)
            } else {
                (None, PathBuf::from(path))
            };
            let url = if query.is_empty() {
                format!("sqlite://{}", path.display())
            } else {
                format!("sqlite://{}?{query}", path.display())
            };
            let cfg = agora_sqlite::SqliteConfig::from_url(&url).map_err(|e| anyhow::anyhow!("{e}"))?;
            let synchronous = match cfg.synchronous {
                agora_sqlite::Synchronous::Full => "FULL",
                agora_sqlite::Synchronous::Normal => "NORMAL",
            };
            return Ok(Target::Sqlite { url, path: cfg.path, synchronous, _tmp: tmp });
        }
        if db == "postgres" || db.starts_with("postgres://") || db.starts_with("postgresql://") {
            let admin_url = if db == "postgres" {
                std::env::var(PG_ENV).ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| PG_DEFAULT.to_owned())
            } else {
                db.to_owned()
            };
            let name = format!("agora_bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            let mut conn = connect(&admin_url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .with_context(|| format!("CREATE DATABASE {name} on {}", agora_postgres::redact_url(&admin_url)))?;
            let _ = conn.close().await;
            let url = agora_postgres::testing::with_database(&admin_url, &name);
            return Ok(Target::Postgres { url, admin_url, name });
        }
        anyhow::bail!("--db: unknown URL {db:?}; use memory:, sqlite://PATH?synchronous=full|normal or postgres://...")
    }

    /// The URL for `agora_runtime::open_backend`.
    pub fn url(&self) -> &str {
        match self {
            Target::Memory => "memory:",
            Target::Sqlite { url, .. } | Target::Postgres { url, .. } => url,
        }
    }

    /// A short label for reports.
    pub fn label(&self) -> String {
        match self {
            Target::Memory => "memory".into(),
            Target::Sqlite { synchronous, .. } => format!("SQLite {synchronous}"),
            Target::Postgres { .. } => "PostgreSQL".into(),
        }
    }

    /// Drops a PostgreSQL database made for the run (temp files go with `self`).
    pub async fn cleanup(self) {
        if let Target::Postgres { admin_url, name, .. } = self {
            agora_postgres::testing::drop_database(&admin_url, &name).await;
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)
        .with_context(|| format!("bad PostgreSQL URL {}", agora_postgres::redact_url(url)))?;
    opts.connect().await.with_context(|| {
        format!("cannot reach PostgreSQL at {} (set {PG_ENV} or pass --db)", agora_postgres::redact_url(url))
    })
}
