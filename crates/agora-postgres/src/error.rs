//! Driver errors as the port's errors: which ones are worth a retry, and
//! what a constraint violation means for a changeset (the catalogue's
//! unique names are the PostgreSQL constraint names, so a unique violation
//! maps back to the `Guard::Free` that covers it).

use agora_core::{Changeset, StoreError};

/// Why one attempt at a changeset failed.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// Final: report it.
    Store(StoreError),
    /// Nothing was committed; the whole transaction may run again.
    Retry(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// A driver error as the port's error; never leaks sqlx types.
pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(describe(&e))
}

/// The error's text, with the SQLSTATE for database errors.
pub(crate) fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => {
            format!("database error {}: {}", db.code().as_deref().unwrap_or("?"), db.message())
        }
        other => other.to_string(),
    }
}

/// True when the error means the connection is gone (nothing more can run on it).
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            // 08: connection exception; 57P01..03: admin shutdown, crash shutdown, cannot connect now.
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        _ => false,
    }
}

/// An error of acquiring a connection: a retry when the pool or the
/// connection is the problem.
pub(crate) fn acquire_failure(e: sqlx::Error) -> Failure {
    if is_connection_error(&e) || matches!(e, sqlx::Error::PoolTimedOut) {
        Failure::Retry(describe(&e))
    } else {
        Failure::Store(unavailable(e))
    }
}

/// Classifies an error of a statement of `cs` sent before COMMIT.
pub(crate) fn classify(e: sqlx::Error, cs: &Changeset) -> Failure {
    if is_connection_error(&e) {
        return Failure::Retry(describe(&e));
    }
    let sqlx::Error::Database(db) = &e else { return Failure::Store(unavailable(e)) };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let what = || db.constraint().map_or_else(|| db.message().to_owned(), str::to_owned);
    match code.as_str() {
        // Serialization failure, deadlock: nothing of the transaction stays.
        "40001" | "40P01" => Failure::Retry(db.message().to_owned()),
        "23505" => {
            let name = what();
            // A free check of the changeset held when it was checked; a write
            // of the changeset (or a concurrent one) took the value since.
            match cs.guards.iter().position(|g| g.is_free(&name)) {
                Some(index) => Failure::Store(StoreError::GuardFailed(cs.failure(index))),
                None => Failure::Store(StoreError::Duplicate(name)),
            }
        }
        // The stock CHECKs (never negative, never more reserved than on
        // hand) and foreign keys: the memory model reports a missing row.
        "23514" => Failure::Store(StoreError::Missing(format!("check violated ({})", what()))),
        "23503" => Failure::Store(StoreError::Missing(format!("referenced row ({})", what()))),
        _ => Failure::Store(unavailable(e)),
    }
}

/// Classifies an error of COMMIT: a lost connection leaves the outcome unknown.
pub(crate) fn classify_commit(e: sqlx::Error, cs: &Changeset) -> Failure {
    if matches!(e, sqlx::Error::Database(_)) && !is_connection_error(&e) {
        // A deferred foreign key checked at COMMIT, or a serialization failure.
        return classify(e, cs);
    }
    Failure::Store(StoreError::Unavailable(format!("{OUTCOME_UNKNOWN}: {}", describe(&e))))
}

/// What a caller hears when COMMIT was sent but its answer was lost.
pub(crate) const OUTCOME_UNKNOWN: &str =
    "connection lost during COMMIT; the changeset may or may not have been applied";

/// A migration error as the port's error.
pub(crate) fn migrate_error(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    match e {
        M::VersionMissing(v) => StoreError::Schema(format!(
            "the database has migration {v}, which this build does not know; it was migrated by a newer agora"
        )),
        M::VersionMismatch(v) => StoreError::Schema(format!("migration {v} was modified after it was applied")),
        M::Dirty(v) => StoreError::Schema(format!("migration {v} is partially applied")),
        M::Execute(e) => unavailable(e),
        M::ExecuteMigration(e, v) => StoreError::Schema(format!("migration {v} failed: {}", unavailable(e))),
        other => StoreError::Schema(other.to_string()),
    }
}
