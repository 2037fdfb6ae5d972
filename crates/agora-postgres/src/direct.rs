//! Write path (a), direct: one changeset inside the caller's transaction
//! (or savepoint), a statement per guard and per write, in the changeset's
//! order, so the first condition that fails is the first one reported, as
//! in the memory model.
//!
//! - `Guard::RowIs`: the listed columns of the row, by key, `FOR NO KEY
//!   UPDATE` (held to the end of the transaction; it does not conflict with
//!   the key-share locks foreign-key checks take), compared here.
//! - `Guard::Free`: `SELECT 1` by the constraint's columns. A concurrent
//!   insert that is not committed yet is invisible to it; the unique
//!   constraint then fails this changeset's own insert, and the violation
//!   is reported as the guard (see `error::classify`).
//! - Inserts, updates and deletes: the table's generated statement.
//! - Stock: one conditional statement per change, with the semantics of
//!   the memory model; the CHECKs of `inventory` refuse figures below zero
//!   or more reserved than on hand (reported as `Missing`).
//! - The idempotent response: an upsert that replaces only a record
//!   expired at `now` (its row count is the condition).
//! - Sequencing: under a transaction-scoped advisory lock per store (the
//!   `event_seq` row may not exist yet, so there is no row to lock).

use std::sync::LazyLock;

use agora_core::changeset::StockChange;
use agora_core::schema::{Key, Table, Value};
use agora_core::*;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{AssertSqlSafe, PgConnection, Row};
use time::OffsetDateTime;

use crate::StoreResult;
use crate::error::{Failure, classify};
use crate::sql::{self, ShapeCache, ident, key_where, read, table_sql};

static ROW_CHECKS: LazyLock<ShapeCache<(&'static str, Vec<usize>)>> = LazyLock::new(|| ShapeCache::new(256));
static FREE_CHECKS: LazyLock<ShapeCache<(&'static str, &'static str)>> = LazyLock::new(|| ShapeCache::new(256));

/// Binds `values` as the columns `cols` of `table`.
fn bind(args: &mut PgArguments, table: &Table, cols: &[usize], values: &[Value<'_>]) -> StoreResult<()> {
    if cols.len() != values.len() {
        return Err(StoreError::Schema(format!(
            "{} values for {} columns of {}",
            values.len(),
            cols.len(),
            table.name
        )));
    }
    for (&c, v) in cols.iter().zip(values) {
        sql::push(args, table.columns[c].ty, v)?;
    }
    Ok(())
}

fn key_args(table: &Table, key: &Key) -> StoreResult<PgArguments> {
    let mut args = PgArguments::default();
    bind(&mut args, table, &table.key, key.values())?;
    Ok(args)
}

/// A row's values (in column order) as arguments.
fn row_args(table: &Table, values: &[Value<'_>]) -> StoreResult<PgArguments> {
    let mut args = PgArguments::default();
    for (c, v) in table.columns.iter().zip(values) {
        sql::push(&mut args, c.ty, v)?;
    }
    Ok(args)
}

fn record_args(record: &Record) -> StoreResult<PgArguments> {
    let mut values = Vec::with_capacity(record.table().columns.len());
    record.encode(&mut values);
    row_args(record.table(), &values)
}

/// Runs a statement; the number of rows it touched.
async fn execute(conn: &mut PgConnection, cs: &Changeset, sql: &str, args: PgArguments) -> Result<u64, Failure> {
    let done = sqlx::query_with(AssertSqlSafe(sql), args).execute(conn).await;
    done.map(|r| r.rows_affected()).map_err(|e| classify(e, cs))
}

async fn fetch_optional(
    conn: &mut PgConnection,
    cs: &Changeset,
    sql: &str,
    args: PgArguments,
) -> Result<Option<PgRow>, Failure> {
    sqlx::query_with(AssertSqlSafe(sql), args).fetch_optional(conn).await.map_err(|e| classify(e, cs))
}

async fn row_is(
    conn: &mut PgConnection,
    cs: &Changeset,
    table: &'static Table,
    key: &Key,
    expect: &[(usize, Value<'static>)],
) -> Result<bool, Failure> {
    let cols: Vec<usize> = expect.iter().map(|(c, _)| *c).collect();
    let sql = ROW_CHECKS.get((table.name, cols), |(_, cols)| {
        let list: Vec<String> = cols
            .iter()
            .map(|&c| table.columns.get(c).map(|col| read(col.ty, &ident(col.name))))
            .collect::<Option<_>>()
            .ok_or_else(|| StoreError::Schema(format!("a row check of {} names a missing column", table.name)))?;
        let list = if list.is_empty() { "1".to_owned() } else { list.join(", ") };
        Ok(format!("SELECT {list} FROM {} WHERE {} FOR NO KEY UPDATE", ident(table.name), key_where(table, 1)))
    })?;
    let Some(row) = fetch_optional(conn, cs, &sql, key_args(table, key)?).await? else { return Ok(false) };
    for (i, (c, want)) in expect.iter().enumerate() {
        let got = sql::decode(&row, i, table.columns[*c].ty).map_err(|e| classify(e, cs))?;
        if got != *want {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn free(
    conn: &mut PgConnection,
    cs: &Changeset,
    table: &'static Table,
    unique: &'static str,
    values: &[Value<'static>],
) -> Result<bool, Failure> {
    let cols = &table
        .unique_named(unique)
        .ok_or_else(|| StoreError::Schema(format!("{} has no unique constraint {unique}", table.name)))?
        .columns;
    let sql = FREE_CHECKS.get((table.name, unique), |_| {
        let conditions: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, &c)| format!("{} = {}", ident(table.columns[c].name), sql::param(table.columns[c].ty, i + 1)))
            .collect();
        Ok(format!("SELECT 1 FROM {} WHERE {} LIMIT 1", ident(table.name), conditions.join(" AND ")))
    })?;
    let mut args = PgArguments::default();
    bind(&mut args, table, cols, values)?;
    Ok(fetch_optional(conn, cs, &sql, args).await?.is_none())
}

/// Applies `cs` on `conn`, inside a transaction or savepoint the caller
/// rolls back when this fails (a failed statement leaves it aborted).
pub(crate) async fn apply(conn: &mut PgConnection, cs: &Changeset) -> Result<(), Failure> {
    for (i, g) in cs.guards.iter().enumerate() {
        let held = match g {
            Guard::RowIs { table, key, expect } => row_is(conn, cs, table, key, expect).await?,
            Guard::Free { table, unique, values } => free(conn, cs, table, unique, values).await?,
        };
        if !held {
            return Err(Failure::Store(StoreError::GuardFailed(cs.failure(i))));
        }
    }
    for (j, w) in cs.writes.iter().enumerate() {
        if !write(conn, cs, w).await? {
            return Err(Failure::Store(StoreError::GuardFailed(cs.write_failure(j))));
        }
    }
    Ok(())
}

/// Makes one write. `Ok(false)`: the write's own condition did not hold.
async fn write(conn: &mut PgConnection, cs: &Changeset, w: &Write) -> Result<bool, Failure> {
    match w {
        Write::Insert(r) => {
            execute(conn, cs, &table_sql(r.table())?.insert, record_args(r)?).await?;
        }
        Write::Update(r) => {
            if execute(conn, cs, &table_sql(r.table())?.update, record_args(r)?).await? == 0 {
                return Err(missing(format!("{} {}", r.table().name, r.key())));
            }
        }
        Write::Delete { table, key } => {
            execute(conn, cs, &table_sql(table)?.delete, key_args(table, key)?).await?;
        }
        Write::Stock { variant_id, warehouse_id, at, change } => {
            return stock(conn, cs, StockRow { variant_id: *variant_id, warehouse_id: *warehouse_id, at: *at }, change)
                .await;
        }
        Write::PutIdempotency { record, now } => {
            let mut values = Vec::new();
            Entity::encode(record, &mut values);
            let mut args = row_args(IdempotencyRecord::table(), &values)?;
            sql::push(&mut args, agora_core::schema::ColumnType::Timestamp, &Value::Timestamp(*now))?;
            return Ok(execute(conn, cs, &PUT_IDEMPOTENCY, args).await? == 1);
        }
        Write::SequenceEvents { store_id, after, events } => {
            return sequence(conn, cs, *store_id, *after, events).await;
        }
    }
    Ok(true)
}

fn missing(what: String) -> Failure {
    Failure::Store(StoreError::Missing(what))
}

/// The idempotency record's insert, replacing only a record that expired
/// at or before `now` (the extra last parameter); built from the table.
pub(crate) static PUT_IDEMPOTENCY: LazyLock<String> = LazyLock::new(|| {
    let table = IdempotencyRecord::table();
    let insert = &table_sql(table).expect("the idempotency table is in the catalogue").insert;
    format!(
        "{insert} {} WHERE {}.{} <= ${}",
        idempotency_conflict(),
        ident(table.name),
        ident(table.columns[table.col("expires_at")].name),
        table.columns.len() + 1
    )
});

/// `ON CONFLICT (key) DO UPDATE SET` every other column of the idempotency
/// table from the new row (the caller adds the `WHERE`).
pub(crate) fn idempotency_conflict() -> String {
    let table = IdempotencyRecord::table();
    let key: Vec<String> = table.key.iter().map(|&k| ident(table.columns[k].name)).collect();
    let sets: Vec<String> = (0..table.columns.len())
        .filter(|c| !table.key.contains(c))
        .map(|c| format!("{0} = EXCLUDED.{0}", ident(table.columns[c].name)))
        .collect();
    format!("ON CONFLICT ({}) DO UPDATE SET {}", key.join(", "), sets.join(", "))
}

/// The stock row a change applies to.
#[derive(Clone, Copy)]
struct StockRow {
    variant_id: VariantId,
    warehouse_id: WarehouseId,
    at: OffsetDateTime,
}

const RESERVE: &str = "UPDATE inventory SET reserved = reserved + $3, updated_at = $4 \
    WHERE variant_id = $1 AND warehouse_id = $2 AND on_hand - reserved >= $3";
const ADJUST: &str = "UPDATE inventory SET on_hand = on_hand + $3, reserved = reserved + $4, updated_at = $5 \
    WHERE variant_id = $1 AND warehouse_id = $2";
const SET_ON_HAND: &str = "INSERT INTO inventory (variant_id, warehouse_id, store_id, on_hand, reserved, updated_at) \
    VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (variant_id, warehouse_id) \
    DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = EXCLUDED.updated_at \
    WHERE inventory.reserved <= EXCLUDED.on_hand";
const SET_RESERVED: &str = "UPDATE inventory SET reserved = $4, updated_at = $5 \
    WHERE variant_id = $1 AND warehouse_id = $2 AND reserved = $3";
const STOCK_EXISTS: &str = "SELECT 1 FROM inventory WHERE variant_id = $1 AND warehouse_id = $2";

/// One stock change, as `crates/agora-memory/src/apply.rs` `stock` defines it.
async fn stock(conn: &mut PgConnection, cs: &Changeset, row: StockRow, change: &StockChange) -> Result<bool, Failure> {
    use agora_core::schema::ColumnType::{Int, Timestamp, Uuid};
    let (sql, figures): (&str, &[i64]) = match change {
        StockChange::Reserve(n) => (RESERVE, &[*n]),
        StockChange::Release(n) => (ADJUST, &[0, -*n]),
        StockChange::Consume(n) => (ADJUST, &[-*n, -*n]),
        StockChange::Adjust { on_hand, reserved } => (ADJUST, &[*on_hand, *reserved]),
        StockChange::SetOnHand { on_hand, .. } => (SET_ON_HAND, std::slice::from_ref(on_hand)),
        StockChange::SetReserved { expected, reserved } => (SET_RESERVED, &[*expected, *reserved]),
    };
    let mut args = PgArguments::default();
    sql::push(&mut args, Uuid, &Value::Uuid(row.variant_id.0))?;
    sql::push(&mut args, Uuid, &Value::Uuid(row.warehouse_id.0))?;
    if let StockChange::SetOnHand { store_id, .. } = change {
        sql::push(&mut args, Uuid, &Value::Uuid(store_id.0))?;
    }
    for n in figures {
        sql::push(&mut args, Int, &Value::Int(*n))?;
    }
    sql::push(&mut args, Timestamp, &Value::Timestamp(row.at))?;
    if execute(conn, cs, sql, args).await? == 1 {
        return Ok(true);
    }
    let gone = || missing(format!("inventory ({}, {})", row.variant_id, row.warehouse_id));
    match change {
        // No row, or not enough available: the reservation's own condition.
        StockChange::Reserve(_) => Ok(false),
        // The upsert touches no row only when more is reserved than the new figure.
        StockChange::SetOnHand { .. } => Ok(false),
        // A row whose reserved figure moved, or no row at all.
        StockChange::SetReserved { .. } => {
            let mut args = PgArguments::default();
            sql::push(&mut args, Uuid, &Value::Uuid(row.variant_id.0))?;
            sql::push(&mut args, Uuid, &Value::Uuid(row.warehouse_id.0))?;
            match fetch_optional(conn, cs, STOCK_EXISTS, args).await? {
                Some(_) => Ok(false),
                None => Err(gone()),
            }
        }
        StockChange::Release(_) | StockChange::Consume(_) | StockChange::Adjust { .. } => Err(gone()),
    }
}

/// Numbers `events` after `after` in the store's feed, if its last seq is
/// still `after`.
async fn sequence(
    conn: &mut PgConnection,
    cs: &Changeset,
    store_id: StoreId,
    after: i64,
    events: &[EventId],
) -> Result<bool, Failure> {
    let mut args = PgArguments::default();
    sql::push(&mut args, agora_core::schema::ColumnType::Uuid, &Value::Uuid(store_id.0))?;
    // The row may not exist yet, so there is nothing to lock: the store's
    // sequencers serialise on an advisory lock held to the end of the
    // transaction; the read after it (a fresh statement) sees the latest commit.
    execute(
        conn,
        cs,
        "SELECT pg_advisory_xact_lock(hashtextextended('agora.event_seq:' || $1::text, 0))",
        args.clone(),
    )
    .await?;
    let row = fetch_optional(conn, cs, "SELECT last_seq FROM event_seq WHERE store_id = $1", args).await?;
    let last: i64 = match row {
        Some(r) => r.try_get(0).map_err(|e| classify(e, cs))?,
        None => 0,
    };
    if last != after {
        return Ok(false);
    }
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.0).collect();
    let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    let mut args = PgArguments::default();
    sql::push(&mut args, agora_core::schema::ColumnType::Uuid, &Value::Uuid(store_id.0))?;
    sql::push(&mut args, agora_core::schema::ColumnType::Int, &Value::Int(after))?;
    sql::push(&mut args, agora_core::schema::ColumnType::UuidArray, &Value::UuidArray(ids.into()))?;
    sql::push(&mut args, agora_core::schema::ColumnType::Int, &Value::Int(after + n))?;
    let row = fetch_optional(conn, cs, SEQUENCE, args).await?.ok_or_else(|| missing("activity_event".into()))?;
    let numbered: i64 = row.try_get(0).map_err(|e| classify(e, cs))?;
    if numbered != n {
        return Err(missing(format!("{} of {n} activity events", n - numbered)));
    }
    Ok(true)
}

/// Gives the events `$3` the seqs `$2 + 1, $2 + 2, ...` and records `$4` as
/// the store's last seq; answers how many events it numbered.
const SEQUENCE: &str = "WITH e AS (UPDATE activity_event a SET seq = $2 + t.n \
    FROM UNNEST($3::uuid[]) WITH ORDINALITY AS t(id, n) WHERE a.id = t.id RETURNING 1), \
    s AS (INSERT INTO event_seq (store_id, last_seq) VALUES ($1, $4) \
    ON CONFLICT (store_id) DO UPDATE SET last_seq = EXCLUDED.last_seq) \
    SELECT count(*) FROM e";
