//! Embedded, versioned migrations (tracked in `PRAGMA user_version`), and
//! backup / restore with SQLite's online backup API.

use std::path::{Path, PathBuf};

use agora_core::{MigrationStatus, StoreError};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::codec::db_err;

/// The migrations, in order; version N is `MIGRATIONS[N - 1]`.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../../migrations/sqlite/0001_init.sql")),
    ("0002_catalogue", include_str!("../../../migrations/sqlite/0002_catalogue.sql")),
    ("0003_store_operations", include_str!("../../../migrations/sqlite/0003_store_operations.sql")),
    ("0004_kpis", include_str!("../../../migrations/sqlite/0004_kpis.sql")),
    ("0005_purchasing", include_str!("../../../migrations/sqlite/0005_purchasing.sql")),
    ("0006_support", include_str!("../../../migrations/sqlite/0006_support.sql")),
    ("0007_insights", include_str!("../../../migrations/sqlite/0007_insights.sql")),
    ("0008_security_events", include_str!("../../../migrations/sqlite/0008_security_events.sql")),
    // A version is a position in this list (`user_version` counts the
    // migrations run); the numbers in file names only name the files.
    ("0009_refunds", include_str!("../../../migrations/sqlite/0009_refunds.sql")),
    ("0010_webhooks", include_str!("../../../migrations/sqlite/0010_webhooks.sql")),
    ("0011_search", include_str!("../../../migrations/sqlite/0011_search.sql")),
    ("0012_files", include_str!("../../../migrations/sqlite/0012_files.sql")),
];

/// The schema version this build knows.
pub(crate) fn latest() -> u32 {
    MIGRATIONS.len() as u32
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map(|v| v.clamp(0, i64::from(u32::MAX)) as u32)
}

/// The status of a database whose `user_version` is `applied`: every
/// version up to it is applied (migrations run in order); a version above
/// this build's is the one unknown version it can name.
fn status_of(applied: u32) -> MigrationStatus {
    let latest = latest();
    MigrationStatus {
        applied: i64::from(applied),
        latest: i64::from(latest),
        pending: (applied + 1..=latest).map(i64::from).collect(),
        unknown: if applied > latest { vec![i64::from(applied)] } else { Vec::new() },
    }
}

pub(crate) fn status(conn: &Connection) -> rusqlite::Result<MigrationStatus> {
    Ok(status_of(user_version(conn)?))
}

fn too_new(applied: u32) -> StoreError {
    StoreError::Schema(format!(
        "database schema version {applied} is newer than this build knows ({}); upgrade agora or open another file",
        latest()
    ))
}

/// Applies every pending migration, each in its own `BEGIN IMMEDIATE`
/// transaction together with its `user_version` bump. Foreign keys are off
/// meanwhile (a migration may rebuild a table others refer to, which SQLite
/// only allows that way, and only outside a transaction) and checked before
/// each commit.
pub(crate) fn migrate(conn: &mut Connection) -> Result<MigrationStatus, StoreError> {
    let applied = user_version(conn).map_err(db_err)?;
    if applied > latest() {
        return Err(too_new(applied));
    }
    if applied < latest() {
        conn.pragma_update(None, "foreign_keys", "OFF").map_err(db_err)?;
        let outcome = apply_pending(conn, applied);
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db_err)?;
        outcome?;
    }
    status(conn).map_err(db_err)
}

fn apply_pending(conn: &mut Connection, applied: u32) -> Result<(), StoreError> {
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let version = i as u32 + 1;
        let run = |conn: &mut Connection| -> rusqlite::Result<Option<String>> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Another process may have migrated while we waited for the lock.
            if user_version(&tx)? >= version {
                return Ok(None);
            }
            tx.execute_batch(sql)?;
            let dangling: Option<String> = tx.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).optional()?;
            if dangling.is_some() {
                return Ok(dangling);
            }
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()?;
            Ok(None)
        };
        match run(conn) {
            Ok(None) => {}
            Ok(Some(table)) => {
                return Err(StoreError::Schema(format!(
                    "migration {name} leaves rows of {table} referring to nothing"
                )));
            }
            Err(e) => return Err(StoreError::Schema(format!("migration {name} failed: {e}"))),
        }
    }
    Ok(())
}

/// Refuses a database that is not exactly at [`latest`].
pub(crate) fn require_current(conn: &Connection) -> Result<MigrationStatus, StoreError> {
    let applied = user_version(conn).map_err(db_err)?;
    if applied > latest() {
        return Err(too_new(applied));
    }
    let st = status_of(applied);
    if !st.pending.is_empty() {
        return Err(StoreError::Schema(format!(
            "database schema version {} is older than this build's {}: {} migration(s) pending; open with migrations enabled",
            st.applied,
            st.latest,
            st.pending.len()
        )));
    }
    Ok(st)
}

/// Copies the database behind `src` to `dest` in one backup step (a
/// consistent snapshot), via a temporary file renamed into place.
pub(crate) fn backup(src: &Connection, dest: &Path) -> Result<(), StoreError> {
    let io = |what: &str, e: &dyn std::fmt::Display| StoreError::Unavailable(format!("backup {what}: {e}"));
    let tmp = sibling(dest, ".agora-backup-tmp");
    let _ = std::fs::remove_file(&tmp);
    let result = (|| -> Result<(), StoreError> {
        // The copy holds what the database holds: owner-only as well.
        crate::files::prepare_database_file(&tmp)?;
        let mut dst = Connection::open(&tmp).map_err(|e| io("open destination", &e))?;
        {
            let bk = Backup::new(src, &mut dst).map_err(|e| io("start", &e))?;
            // -1: every page in one step, under one read transaction, so the
            // copy is a consistent snapshot even while the writer commits.
            loop {
                match bk.step(-1).map_err(|e| io("step", &e))? {
                    StepResult::Done => break,
                    StepResult::More | StepResult::Busy | StepResult::Locked => {
                        std::thread::sleep(std::time::Duration::from_millis(10))
                    }
                    _ => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        }
        // A backup is a single self-contained file: rollback journal mode.
        dst.pragma_update(None, "journal_mode", "DELETE").map_err(|e| io("journal mode", &e))?;
        dst.close().map_err(|(_, e)| io("close", &e))?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| io("fsync", &e))?;
        std::fs::rename(&tmp, dest).map_err(|e| io("rename", &e))?;
        sync_dir(dest);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Restores the backup file at `backup` into the (closed) database `dest`.
pub(crate) fn restore(backup: &Path, dest: &Path) -> Result<(), StoreError> {
    if !backup.is_file() {
        return Err(StoreError::Unavailable(format!("backup file {} does not exist", backup.display())));
    }
    let src = Connection::open_with_flags(backup, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| StoreError::Unavailable(format!("cannot open backup {}: {e}", backup.display())))?;
    let check: String = src
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| StoreError::Schema(format!("backup {} is not a database: {e}", backup.display())))?;
    if check != "ok" {
        return Err(StoreError::Schema(format!("backup {} is damaged: {check}", backup.display())));
    }
    let applied = user_version(&src).map_err(db_err)?;
    if applied > latest() {
        return Err(too_new(applied));
    }
    crate::files::prepare_database_file(dest)?;
    let mut dst =
        Connection::open(dest).map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", dest.display())))?;
    // Fails with SQLITE_BUSY instead of clobbering a database still in use.
    dst.busy_timeout(std::time::Duration::from_secs(1)).map_err(db_err)?;
    dst.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(db_err)?;
    dst.pragma_update(None, "synchronous", "FULL").map_err(db_err)?;
    {
        let bk = Backup::new(&src, &mut dst).map_err(db_err)?;
        match bk.step(-1).map_err(db_err)? {
            StepResult::Done => {}
            other => {
                return Err(StoreError::Unavailable(format!(
                    "restore into {} did not complete ({other:?}); is the database open elsewhere?",
                    dest.display()
                )));
            }
        }
    }
    dst.pragma_update(None, "locking_mode", "NORMAL").map_err(db_err)?;
    let mode: String = dst.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(db_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!("restored database stayed in {mode} mode")));
    }
    dst.close().map_err(|(_, e)| db_err(e))?;
    Ok(())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// fsyncs the directory holding `path` so a rename is durable (best effort).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if let Ok(f) = std::fs::File::open(dir) {
            let _ = f.sync_all();
        }
    }
}
