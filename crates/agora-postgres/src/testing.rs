//! Throwaway databases for tests (this crate's and other crates').
//!
//! ```no_run
//! # async fn demo() {
//! let (config, _guard) = agora_postgres::testing::throwaway_database().await;
//! let store = agora_postgres::PgStore::connect(config).await.unwrap();
//! # let _ = store; }
//! ```
//!
//! The server is named by `AGORA_TEST_POSTGRES_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`); the user must be allowed to
//! create databases (and, for the role migration, roles). A missing server
//! is a test failure, never a skip.
//!
//! The databases use an ICU `en-US` collation (PostgreSQL 15 or newer;
//! older servers get the server's default): there `'B' < 'a'` is false, so
//! a read that sorts or compares text without `COLLATE "C"` disagrees with
//! the memory model and fails the conformance scenarios instead of passing
//! by the luck of a `C` server locale.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::{PgConfig, redact_url};

pub mod rows;

/// The environment variable naming the test server.
pub const ENV_VAR: &str = "AGORA_TEST_POSTGRES_URL";
/// The server used when [`ENV_VAR`] is unset.
pub const DEFAULT_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

/// The admin URL of the test server.
pub fn server_url() -> String {
    std::env::var(ENV_VAR).ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// `url` with its database (path) replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let after = &rest[authority_end..];
    let query = after.find('?').map(|i| &after[i..]).unwrap_or("");
    format!("{scheme}{authority}/{database}{query}")
}

async fn admin_connection(url: &str) -> PgConnection {
    let fail = |e: &dyn std::fmt::Display| -> ! {
        panic!(
            "cannot reach the PostgreSQL test server at {} ({e}); start PostgreSQL or set {ENV_VAR} \
             to a server where this user may CREATE DATABASE",
            redact_url(url)
        )
    };
    let options = PgConnectOptions::from_str(url).unwrap_or_else(|e| fail(&e));
    match tokio::time::timeout(Duration::from_secs(15), options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => fail(&e),
        Err(_) => fail(&"timed out after 15 s"),
    }
}

/// Drops database `name` of the server at `admin_url` (`WITH (FORCE)`),
/// warning on stderr when it cannot: cleanup must not fail a test or a run.
pub async fn drop_database(admin_url: &str, name: &str) {
    let Ok(options) = PgConnectOptions::from_str(admin_url) else { return };
    match options.connect().await {
        Ok(mut conn) => {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                eprintln!("warning: could not drop database {name}: {e}");
            }
            let _ = conn.close().await;
        }
        Err(e) => eprintln!("warning: could not drop database {name}: {e}"),
    }
}

/// Drops its database (`WITH (FORCE)`, closing any open connection) when dropped.
#[derive(Debug)]
pub struct DropGuard {
    admin_url: String,
    name: String,
}

impl DropGuard {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime (it usually does): do the async work
        // on a thread of its own.
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(drop_database(&admin_url, &name));
        });
        let _ = worker.join();
    }
}

/// A fingerprint of the embedded migrations and the current month (UTC),
/// naming the template database: a new schema or a new month (whose
/// partitions the template should have) builds a new template.
fn template_name() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for m in crate::MIGRATOR.iter() {
        feed(&m.version.to_le_bytes());
        feed(&m.checksum);
    }
    feed(LOCALE.as_bytes());
    let now = time::OffsetDateTime::now_utc();
    format!("agora_tmpl_{:04}{:02}_{h:016x}", now.year(), u8::from(now.month()))
}

async fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("cannot query the test server (set {ENV_VAR}): {e}"))
}

/// How test databases are created from `template0`: a collation that does
/// not sort by bytes.
const LOCALE: &str = "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'";

/// Creates `name` with the test collation, or the server's default where
/// ICU is not available.
async fn create_database(conn: &mut PgConnection, name: &str) {
    let sql = format!("CREATE DATABASE \"{name}\" {LOCALE}");
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await {
        eprintln!("note: test database {name} uses the server's default collation (no ICU: {e})");
        exec(conn, format!("CREATE DATABASE \"{name}\"")).await;
    }
}

async fn exec(conn: &mut PgConnection, sql: String) {
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(conn).await {
        panic!("test server refused `{sql}` (set {ENV_VAR} to a server where this user may create databases): {e}");
    }
}

/// Builds the migrated template once per schema and month, across processes:
/// built under a temporary name and renamed when complete, under an
/// advisory lock of the admin database.
async fn ensure_template(admin: &mut PgConnection, admin_url: &str) -> String {
    static READY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let name = template_name();
    if READY.get() == Some(&name) || database_exists(admin, &name).await {
        return name;
    }
    exec(admin, "SELECT pg_advisory_lock(hashtext('agora_test_template'))".into()).await;
    if !database_exists(admin, &name).await {
        let building = format!("{name}_b");
        exec(admin, format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)")).await;
        create_database(admin, &building).await;
        let mut conn = admin_connection(&with_database(admin_url, &building)).await;
        if let Err(e) = crate::MIGRATOR.run(&mut conn).await {
            panic!("migrating the test template database failed: {e}");
        }
        let _ = conn.close().await;
        exec(admin, format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\"")).await;
    }
    exec(admin, "SELECT pg_advisory_unlock(hashtext('agora_test_template'))".into()).await;
    let _ = READY.set(name.clone());
    name
}

async fn create(migrated: bool) -> (PgConfig, DropGuard) {
    let admin_url = server_url();
    let mut conn = admin_connection(&admin_url).await;
    let name = format!("agora_test_{}", uuid::Uuid::new_v4().simple());
    if migrated {
        let template = ensure_template(&mut conn, &admin_url).await;
        exec(&mut conn, format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"")).await;
    } else {
        create_database(&mut conn, &name).await;
    }
    let _ = conn.close().await;
    let mut config = PgConfig::new(with_database(&admin_url, &name));
    config.max_connections = 8;
    config.acquire_timeout = Duration::from_secs(30);
    (config, DropGuard { admin_url, name })
}

/// Creates a uniquely named database on the test server, already carrying
/// the current schema (copied from a migrated template database, so tests
/// skip the migration run; `PgStore::connect` finds nothing to do), and
/// returns its config (pool of 8) and the guard that drops it.
///
/// # Panics
/// When the server named by `AGORA_TEST_POSTGRES_URL` cannot be reached or
/// refuses to create the database.
pub async fn throwaway_database() -> (PgConfig, DropGuard) {
    create(true).await
}

/// Like [`throwaway_database`], but the database is empty (no schema).
///
/// # Panics
/// As [`throwaway_database`].
pub async fn empty_database() -> (PgConfig, DropGuard) {
    create(false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(with_database("postgres://root@h:5432/postgres", "x"), "postgres://root@h:5432/x");
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=require", "x"), "postgres://u:p@h/x?sslmode=require");
        assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
        assert_eq!(with_database("postgres://h?application_name=a", "x"), "postgres://h/x?application_name=a");
    }
}
