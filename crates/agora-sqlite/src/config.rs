//! Configuration, URL parsing and connection setup.

use std::path::PathBuf;
use std::time::Duration;

use agora_core::StoreError;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::codec::db_err;

/// `PRAGMA synchronous` for the write connection (`full` or `normal` in
/// configuration files and URLs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync the WAL at every commit: an acknowledged changeset survives
    /// power loss. The default.
    #[default]
    #[serde(alias = "FULL")]
    Full,
    /// fsync only at checkpoints: an acknowledged changeset survives a
    /// process crash, but the last commits may be lost on power loss or an
    /// OS crash. Faster commits.
    #[serde(alias = "NORMAL")]
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Where and how to open the database.
///
/// The knobs deserialize from a configuration section (`[sqlite]`:
/// `synchronous`, `read_connections`, `busy_timeout_ms`; unknown keys are
/// refused); the path always comes from the store's URL. Nothing in it is
/// secret, so its `Debug` form is fine to log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteConfig {
    /// The database file. Its `-wal` and `-shm` companions live next to it.
    #[serde(skip)]
    pub path: PathBuf,
    /// Durability of commits, [`Synchronous::Full`] by default.
    pub synchronous: Synchronous,
    /// Read connections in the pool, 4 by default (at least 1 is used).
    pub read_connections: usize,
    /// How long a connection waits for a lock held by another process
    /// (`busy_timeout_ms`, 5000 by default).
    #[serde(rename = "busy_timeout_ms", with = "millis")]
    pub busy_timeout: Duration,
}

/// A [`Duration`] as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl Default for SqliteConfig {
    /// The defaults, with no path yet.
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            synchronous: Synchronous::Full,
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl SqliteConfig {
    /// Defaults for the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), ..Self::default() }
    }

    /// [`SqliteConfig::from_url_with`] the defaults.
    ///
    /// # Errors
    /// As [`SqliteConfig::from_url_with`].
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        Self::from_url_with(url, &Self::default())
    }

    /// Parses `sqlite://relative.db`, `sqlite:///abs/path.db` or
    /// `sqlite:path.db`, with optional query parameters
    /// `synchronous=full|normal`, `read_connections=N` and `busy_timeout_ms=N`;
    /// what the URL does not set comes from `defaults`.
    ///
    /// # Errors
    /// [`StoreError::Schema`] naming the problem for any other form
    /// (in-memory databases are not supported).
    pub fn from_url_with(url: &str, defaults: &SqliteConfig) -> Result<Self, StoreError> {
        let bad = |why: &str| StoreError::Schema(format!("invalid sqlite url {url:?}: {why}"));
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| bad("expected sqlite://path"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        if path == ":memory:" || path.starts_with(':') {
            return Err(bad("in-memory databases are not supported; give a file path"));
        }
        let mut cfg = Self { path: path.into(), ..defaults.clone() };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| bad("query parameters must be key=value"))?;
            match k {
                "synchronous" => {
                    cfg.synchronous = match v.to_ascii_lowercase().as_str() {
                        "full" => Synchronous::Full,
                        "normal" => Synchronous::Normal,
                        _ => return Err(bad("synchronous must be full or normal")),
                    }
                }
                "read_connections" => {
                    cfg.read_connections =
                        v.parse().ok().filter(|n| *n > 0).ok_or_else(|| bad("read_connections must be >= 1"))?;
                }
                "busy_timeout_ms" => {
                    cfg.busy_timeout =
                        Duration::from_millis(v.parse().map_err(|_| bad("busy_timeout_ms must be an integer"))?);
                }
                _ => return Err(bad(&format!("unknown parameter {k}"))),
            }
        }
        Ok(cfg)
    }
}

/// Settings shared by every connection.
fn common(conn: &Connection, cfg: &SqliteConfig) -> rusqlite::Result<()> {
    conn.busy_timeout(cfg.busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Generated statements: a few per table and per query shape.
    conn.set_prepared_statement_cache_capacity(256);
    // Plans must not depend on bound values: otherwise binding `LIMIT ?`
    // (or any value the planner looked at) expires the prepared statement
    // and every run prepares it again. It also makes the plan the one
    // `EXPLAIN QUERY PLAN` shows without values, which the scan check reads.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// The writer's connection: creates the file, switches it to WAL.
pub(crate) fn open_write_connection(cfg: &SqliteConfig) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&cfg.path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", cfg.path.display())))?;
    let setup = || -> rusqlite::Result<String> {
        common(&conn, cfg)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", cfg.synchronous.pragma())?;
        // After a checkpoint, truncate a WAL that grew past 64 MiB.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        // Keep the savepoint sub-journal of a careful group in memory: by
        // default it spills to a temporary file past 64 KiB, which a group
        // of a few orders reaches (a file created, written page by page and
        // deleted per group). A group holds at most a few MiB of pages.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(mode)
    };
    let mode = setup().map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!("{}: journal_mode stayed {mode}, WAL needed", cfg.path.display())));
    }
    Ok(conn)
}

/// A read connection: `query_only`, same busy timeout.
pub(crate) fn open_read_connection(cfg: &SqliteConfig) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&cfg.path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", cfg.path.display())))?;
    common(&conn, cfg).map_err(db_err)?;
    conn.pragma_update(None, "query_only", "ON").map_err(db_err)?;
    Ok(conn)
}
