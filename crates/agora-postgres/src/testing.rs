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

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::{PgConfig, redact_url};

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
            rt.block_on(async move {
                let Ok(options) = PgConnectOptions::from_str(&admin_url) else { return };
                match options.connect().await {
                    Ok(mut conn) => {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                            eprintln!("warning: could not drop test database {name}: {e}");
                        }
                        let _ = conn.close().await;
                    }
                    Err(e) => eprintln!("warning: could not drop test database {name}: {e}"),
                }
            });
        });
        let _ = worker.join();
    }
}

/// Creates a uniquely named, empty database on the test server and returns
/// its config (pool of 8) and the guard that drops it.
///
/// # Panics
/// When the server named by `AGORA_TEST_POSTGRES_URL` cannot be reached or
/// refuses to create the database.
pub async fn throwaway_database() -> (PgConfig, DropGuard) {
    let admin_url = server_url();
    let mut conn = admin_connection(&admin_url).await;
    let name = format!("agora_test_{}", uuid::Uuid::new_v4().simple());
    let sql = format!("CREATE DATABASE \"{name}\"");
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
        panic!("cannot create a test database on {} (set {ENV_VAR}): {e}", redact_url(&admin_url));
    }
    let _ = conn.close().await;
    let mut config = PgConfig::new(with_database(&admin_url, &name));
    config.max_connections = 8;
    config.acquire_timeout = Duration::from_secs(30);
    (config, DropGuard { admin_url, name })
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

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        let c = PgConfig::new("postgres://u:hunter2@h/db");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
