//! One [`Changeset`] applied inside the writer's open transaction: every
//! guard in order, then every write in order, stopping at the first that
//! fails; the caller rolls the changeset back (savepoint or transaction).
//! Statements come from the catalogue ([`crate::sql`]); nothing here knows
//! a table by name.
//!
//! Outcomes follow the memory reference exactly: the first failing
//! condition in [`Changeset::conditions`] order is reported, a unique
//! violation is mapped back to its constraint (and to the changeset's
//! [`Guard::Free`] over it when there is one), a foreign key violation is
//! [`StoreError::Missing`].
//!
//! Foreign keys are declared deferred (a changeset may insert a row before
//! the row it refers to, as on PostgreSQL) and checked when the changeset's
//! writes are done: a reference left dangling is [`StoreError::Missing`]
//! for that changeset alone, whatever else its group holds.
//!
//! One fusion saves a statement without changing any outcome: when the
//! last guard checks the row that the first write updates, the update runs
//! as `UPDATE ... WHERE <key> AND <column> = <expected>`, and no change
//! means the guard failed. Nothing runs between that guard and that write
//! in the plain order, so the state each sees is the same.

use std::sync::OnceLock;

use agora_core::changeset::Write;
use agora_core::query::Query;
use agora_core::schema::{Key, Table, Value};
use agora_core::*;
use rusqlite::{Connection, ErrorCode};

use crate::codec::{bind_all, db_err, read_columns};
use crate::intent;
use crate::plan::{assert_indexed, counters};
use crate::select::fetch_on;
use crate::sql::{ShapeCache, column_list, equal_params, ident, table_sql};

/// Why a write failed, before it is mapped to a [`StoreError`].
pub(crate) enum WriteError {
    /// A driver error; constraint violations are mapped by [`map_write_error`].
    Db(rusqlite::Error),
    /// Already decided.
    Store(StoreError),
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        WriteError::Db(e)
    }
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

/// What a write came to: `Ok(true)` made, `Ok(false)` its own condition
/// did not hold.
pub(crate) type WriteResult = Result<bool, WriteError>;

/// Guard and fused-update statements by (table, checked columns).
fn shapes() -> &'static ShapeCache<(&'static str, Vec<usize>, bool)> {
    static CACHE: OnceLock<ShapeCache<(&'static str, Vec<usize>, bool)>> = OnceLock::new();
    CACHE.get_or_init(|| ShapeCache::new(256))
}

/// Checks every guard, then makes every write; see the module docs.
pub(crate) fn apply_changeset(conn: &Connection, cs: &Changeset) -> StoreResult<()> {
    let fused = fused_guard(cs);
    for (index, guard) in cs.guards.iter().enumerate() {
        let held = if fused == Some(index) {
            fused_update(conn, guard, &cs.writes[0]).map_err(|e| map_write_error(conn, e, cs, &cs.writes[0]))?
        } else {
            guard_holds(conn, guard)?
        };
        if !held {
            return Err(StoreError::GuardFailed(cs.failure(index)));
        }
    }
    let skip = usize::from(fused.is_some());
    for (j, w) in cs.writes.iter().enumerate().skip(skip) {
        match write(conn, w) {
            Ok(true) => {}
            Ok(false) => return Err(StoreError::GuardFailed(cs.write_failure(j))),
            Err(e) => return Err(map_write_error(conn, e, cs, w)),
        }
    }
    if dangling_references(conn) {
        return Err(StoreError::Missing("a row the changeset writes refers to a row that does not exist".into()));
    }
    Ok(())
}

/// Whether the open transaction holds foreign key violations not yet
/// resolved. Changesets that leave one are rolled back, so any counted
/// now were made by the changeset being applied.
fn dangling_references(conn: &Connection) -> bool {
    let (mut current, mut highwater) = (0, 0);
    // SAFETY: `handle` is this live connection's own pointer, used on the
    // thread that owns the connection for one status read that keeps
    // nothing; the out-pointers are valid locals.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_db_status(
            conn.handle(),
            rusqlite::ffi::SQLITE_DBSTATUS_DEFERRED_FKS,
            &mut current,
            &mut highwater,
            0,
        )
    };
    rc != rusqlite::ffi::SQLITE_OK || current != 0
}

/// Whether `g` holds in the current transaction.
fn guard_holds(conn: &Connection, g: &Guard) -> StoreResult<bool> {
    match g {
        Guard::RowIs { table, key, expect } => {
            let columns = columns_of(expect);
            let sql = shapes().get((table.name, columns.clone(), false), |(_, cols, _)| {
                format!(
                    "SELECT {} FROM {} WHERE {}",
                    column_list(table, cols.iter().copied()),
                    ident(table.name),
                    equal_params(table, &table.key, 1)
                )
            });
            let mut st = conn.prepare_cached(&sql).map_err(db_err)?;
            bind_all(&mut st, 1, key.values()).map_err(db_err)?;
            let before = counters(&st);
            let found = {
                let mut rows = st.raw_query();
                match rows.next().map_err(db_err)? {
                    Some(row) => Some(read_columns(row, table, &columns)?),
                    None => None,
                }
            };
            assert_indexed(conn, &st, before, &sql);
            Ok(found.is_some_and(|vals| vals.iter().zip(expect).all(|(v, (_, want))| v == want)))
        }
        Guard::Free { table, unique, values } => {
            let Some(u) = table.unique.iter().position(|x| x.name == *unique) else {
                return Err(StoreError::Schema(format!("{} has no unique constraint {unique}", table.name)));
            };
            Ok(holder(conn, table, u, values)?.is_none())
        }
    }
}

/// The key of the row of `table` holding `values` in unique constraint `u`.
fn holder(conn: &Connection, table: &Table, u: usize, values: &[Value<'_>]) -> StoreResult<Option<Key>> {
    let sql = &table_sql(table)?.holder[u];
    let mut st = conn.prepare_cached(sql).map_err(db_err)?;
    bind_all(&mut st, 1, values).map_err(db_err)?;
    let before = counters(&st);
    let key = {
        let mut rows = st.raw_query();
        match rows.next().map_err(db_err)? {
            Some(row) => Some(Key(read_columns(row, table, &table.key)?)),
            None => None,
        }
    };
    assert_indexed(conn, &st, before, sql);
    Ok(key)
}

fn columns_of(expect: &[(usize, Value<'static>)]) -> Vec<usize> {
    expect.iter().map(|(c, _)| *c).collect()
}

/// Whether SQL `=` on `column` compares `v` exactly as [`Value`]'s `==`
/// compares it with the column's decoded value: a value of the column's
/// own kind, stored as is (not NULL, JSON, a float or a timestamp, whose
/// stored forms compare differently or lose precision).
fn compares_alike(table: &Table, column: usize, v: &Value<'_>) -> bool {
    use agora_core::schema::ColumnType as T;
    matches!(
        (table.columns[column].ty, v),
        (T::Uuid, Value::Uuid(_))
            | (T::Text, Value::Text(_))
            | (T::Bool, Value::Bool(_))
            | (T::Int | T::Int32 | T::Money, Value::Int(_))
    )
}

/// The index of the guard to fuse with the first write, if any: the last
/// guard, a row check of exactly the row the first write updates.
fn fused_guard(cs: &Changeset) -> Option<usize> {
    let last = cs.guards.len().checked_sub(1)?;
    let Guard::RowIs { table, key, expect } = &cs.guards[last] else { return None };
    let Some(Write::Update(r)) = cs.writes.first() else { return None };
    let same_row = r.table().name == table.name && r.key() == *key;
    let alike = expect.iter().all(|(c, v)| compares_alike(table, *c, v));
    (same_row && !expect.is_empty() && alike).then_some(last)
}

/// The first write's update, made only if the fused guard holds; whether it did.
fn fused_update(conn: &Connection, g: &Guard, w: &Write) -> WriteResult {
    let (Guard::RowIs { table, expect, .. }, Some(r)) = (g, w.record()) else {
        return Err(StoreError::Unavailable("sqlite: fused a guard with a write that is not an update".into()).into());
    };
    let update = &table_sql(table)?.update;
    let n = table.columns.len();
    let sql = shapes().get((table.name, columns_of(expect), true), |(_, cols, _)| {
        format!("{update} AND {}", equal_params(table, cols, n + 1))
    });
    let mut values = Vec::with_capacity(n);
    r.encode(&mut values);
    let mut st = conn.prepare_cached(&sql)?;
    let next = bind_all(&mut st, 1, &values)?;
    bind_all(&mut st, next, expect.iter().map(|(_, v)| v))?;
    Ok(st.raw_execute()? == 1)
}

/// Makes one write.
fn write(conn: &Connection, w: &Write) -> WriteResult {
    match w {
        Write::Insert(r) => {
            insert(conn, r)?;
            Ok(true)
        }
        Write::Update(r) => {
            let table = r.table();
            let mut values = Vec::with_capacity(table.columns.len());
            r.encode(&mut values);
            let mut st = conn.prepare_cached(&table_sql(table)?.update)?;
            bind_all(&mut st, 1, &values)?;
            if st.raw_execute()? == 0 {
                return Err(missing(table, &r.key()).into());
            }
            Ok(true)
        }
        Write::Delete { table, key } => {
            let mut st = conn.prepare_cached(&table_sql(table)?.delete)?;
            bind_all(&mut st, 1, key.values())?;
            st.raw_execute()?;
            Ok(true)
        }
        Write::Stock { variant_id, warehouse_id, at, change } => {
            intent::stock(conn, *variant_id, *warehouse_id, *at, change)
        }
        Write::PutIdempotency { record, now } => intent::put_idempotency(conn, record, *now),
        Write::SequenceEvents { store_id, after, events } => intent::sequence_events(conn, *store_id, *after, events),
    }
}

/// Inserts a row.
pub(crate) fn insert(conn: &Connection, r: &Record) -> Result<(), WriteError> {
    let mut values = Vec::with_capacity(r.table().columns.len());
    r.encode(&mut values);
    let mut st = conn.prepare_cached(&table_sql(r.table())?.insert)?;
    bind_all(&mut st, 1, &values)?;
    st.raw_execute()?;
    Ok(())
}

/// The error for a row of `table` at `key` that does not exist.
pub(crate) fn missing(table: &Table, key: &Key) -> StoreError {
    StoreError::Missing(format!("{} {key}", table.name))
}

/// Maps a write failure: a unique violation becomes the failure of the
/// changeset's [`Guard::Free`] over the same constraint when there is one,
/// else [`StoreError::Duplicate`] naming the constraint; a foreign key
/// violation is [`StoreError::Missing`].
pub(crate) fn map_write_error(conn: &Connection, e: WriteError, cs: &Changeset, w: &Write) -> StoreError {
    let e = match e {
        WriteError::Store(e) => return e,
        WriteError::Db(e) => e,
    };
    let (code, msg) = match &e {
        rusqlite::Error::SqliteFailure(code, msg) if code.code == ErrorCode::ConstraintViolation => {
            (code.extended_code, msg.clone().unwrap_or_default())
        }
        _ => return db_err(e),
    };
    match code {
        rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            StoreError::Missing(format!("a row {} refers to does not exist", w.row().0.name))
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            let name = match first_held_constraint(conn, w) {
                Ok(Some(name)) => name,
                Ok(None) => violated_constraint(&msg, w).unwrap_or_else(|| format!("sqlite: {msg}")),
                Err(e) => return e,
            };
            match cs.guards.iter().position(|g| g.is_free(&name)) {
                Some(index) => StoreError::GuardFailed(cs.failure(index)),
                None => StoreError::Duplicate(name),
            }
        }
        _ => StoreError::Schema(format!("sqlite: {msg}")),
    }
}

/// The constraint the memory reference names when `w` (an insert or an
/// update) cannot write its row: the primary key first for an insert, then
/// each unique constraint in declared order whose values another row holds
/// (a NULL never conflicts). SQLite names whichever index it checked first,
/// so its message only serves the other writes.
fn first_held_constraint(conn: &Connection, w: &Write) -> StoreResult<Option<String>> {
    let (r, inserting) = match w {
        Write::Insert(r) => (r, true),
        Write::Update(r) => (r, false),
        _ => return Ok(None),
    };
    let (table, key) = (r.table(), r.key());
    if inserting && !fetch_on(conn, &Query::by_key(table, &key))?.is_empty() {
        return Ok(Some(format!("{}_pkey {key}", table.name)));
    }
    let mut values = Vec::with_capacity(table.columns.len());
    r.encode(&mut values);
    for (u, def) in table.unique.iter().enumerate() {
        let held: Vec<Value<'_>> = def.columns.iter().map(|&c| values[c].borrowed()).collect();
        if held.iter().any(Value::is_null) {
            continue;
        }
        if holder(conn, table, u, &held)?.is_some_and(|k| k != key) {
            return Ok(Some(def.name.to_owned()));
        }
    }
    Ok(None)
}

/// The catalogue's name for the constraint of SQLite's message
/// `UNIQUE constraint failed: t.a, t.b` (`{table}_pkey` plus the key for a
/// primary key, as the memory store says it).
fn violated_constraint(msg: &str, w: &Write) -> Option<String> {
    let list = msg.strip_prefix("UNIQUE constraint failed: ")?;
    let mut table: Option<&'static Table> = None;
    let mut columns = Vec::new();
    for item in list.split(", ") {
        let (t, c) = item.split_once('.')?;
        let t = *table.get_or_insert(table_named(t)?);
        columns.push(t.column(c)?);
    }
    let table = table?;
    let name = table.unique_on(&columns)?;
    if name == "pkey" {
        let (wt, key) = w.row();
        let key = if wt.name == table.name { format!(" {key}") } else { String::new() };
        return Some(format!("{}_pkey{key}", table.name));
    }
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_core::model::{AppUser, Session};

    fn user() -> AppUser {
        AppUser {
            id: UserId(uuid::Uuid::from_u128(1)),
            name: "n".into(),
            email: "e".into(),
            phone: None,
            password_hash: "p".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn unique_messages_name_the_catalogue_constraint() {
        let w = Write::Insert(Record::User(user()));
        assert_eq!(
            violated_constraint("UNIQUE constraint failed: app_user.email", &w).as_deref(),
            Some("app_user_email_key")
        );
        assert_eq!(
            violated_constraint("UNIQUE constraint failed: help.helper_user_id, help.task_id", &w).as_deref(),
            Some("help_task_helper_key")
        );
        let pkey = violated_constraint("UNIQUE constraint failed: app_user.id", &w).unwrap();
        assert_eq!(pkey, format!("app_user_pkey {}", user().key()));
        let other = Write::Delete { table: Session::table(), key: Key::from(SessionId(uuid::Uuid::nil())) };
        assert_eq!(
            violated_constraint("UNIQUE constraint failed: app_user.id", &other).as_deref(),
            Some("app_user_pkey")
        );
        assert_eq!(violated_constraint("UNIQUE constraint failed: help.status", &w), None);
        assert_eq!(violated_constraint("UNIQUE constraint failed: nope.id", &w), None);
        assert_eq!(violated_constraint("CHECK constraint failed: x", &w), None);
    }

    #[test]
    fn only_the_last_guard_on_the_first_updated_row_is_fused() {
        let u = user();
        let guard = |email: &str| Guard::row_is::<AppUser>(u.id, &[("email", email.into())]);
        let mut cs = Changeset::new();
        cs.guard(guard("e")).update(Record::User(u.clone()));
        assert_eq!(fused_guard(&cs), Some(0));
        cs.guard(Guard::row_is::<AppUser>(UserId(uuid::Uuid::nil()), &[("email", "e".into())]));
        assert_eq!(fused_guard(&cs), None, "another row");
        let mut cs = Changeset::new();
        cs.guard(guard("e")).insert(Record::User(u.clone())).update(Record::User(u.clone()));
        assert_eq!(fused_guard(&cs), None, "not the first write");
        let mut cs = Changeset::new();
        cs.guard(Guard::row_is::<AppUser>(u.id, &[("phone", Value::Null)])).update(Record::User(u.clone()));
        assert_eq!(fused_guard(&cs), None, "NULL compares differently in SQL");
        let mut cs = Changeset::new();
        cs.guard(Guard::row_is::<AppUser>(u.id, &[("email", Value::Int(1))])).update(Record::User(u.clone()));
        assert_eq!(fused_guard(&cs), None, "a value of another kind never equals the decoded one");
        let mut cs = Changeset::new();
        cs.guard(Guard::row_is::<AppUser>(u.id, &[("created_at", u.created_at.into())])).update(Record::User(u));
        assert_eq!(fused_guard(&cs), None, "timestamps are stored in micros");
    }
}
