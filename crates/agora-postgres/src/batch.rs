//! Write path (b), grouped: a run of consecutive changesets of a group,
//! each without explicit guards and writing only inserts (of tables
//! without list columns), stock reservations and idempotent responses,
//! goes as ONE statement:
//!
//! ```sql
//! WITH s AS (UPDATE inventory ... FROM UNNEST($1, $2, $3, $4) ... WHERE on_hand - reserved >= t.qty RETURNING 1),
//!      k AS (INSERT INTO idempotency_key ... FROM UNNEST(...) ON CONFLICT ... DO UPDATE ... WHERE expired RETURNING 1),
//!      i0 AS (INSERT INTO customer_order ... SELECT ... FROM UNNEST(...)),
//!      i1 AS (INSERT INTO order_item ...), ...
//! SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM k)
//! ```
//!
//! Nothing here knows a use case: the run follows from the writes. Any use
//! case whose changesets are inserts, reservations and an idempotent
//! response is batched.
//!
//! Reservations of one stock row across the run are coalesced into one
//! conditional UPDATE of their sum. Applied one by one, every reservation
//! holds exactly when the sum fits (reservations only grow `reserved`), so
//! the outcome is the same, and a hot row's lock is taken once per group
//! instead of once per order. When anything does not hold (a row short of
//! the sum, a live idempotency record, any constraint), the caller rolls
//! the statement back to its savepoint and applies the run one by one on
//! the direct path, which reports each changeset's own condition.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use agora_core::changeset::StockChange;
use agora_core::schema::{ColumnType, Table, Value};
use agora_core::*;
use sqlx::postgres::PgArguments;
use sqlx::{AssertSqlSafe, PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreResult;
use crate::direct::idempotency_conflict;
use crate::sql::{ColumnArray, ShapeCache, element_type, ident, stored, table_sql};

/// A run's bind data is kept under this many bytes. A larger message goes
/// out in several TLS records, and with Nagle's algorithm on (sqlx does not
/// set `TCP_NODELAY`) the last record then waits for the server's delayed
/// ACK: 40 ms per statement on Linux, measured.
pub(crate) const BATCH_BYTES: usize = 12 * 1024;

/// Distinct statement shapes kept.
const MAX_SHAPES: usize = 256;

/// Roughly how many bytes `cs` adds to a run's parameters, when it may be
/// part of a run at all: no explicit guards, and only inserts of tables
/// without list columns, reservations of a positive quantity and
/// idempotent responses.
pub(crate) fn weight(cs: &Changeset) -> Option<usize> {
    if !cs.guards.is_empty() || cs.writes.is_empty() {
        return None;
    }
    let mut bytes = 0;
    let mut values = Vec::new();
    for w in &cs.writes {
        values.clear();
        match w {
            Write::Insert(r) if !table_sql(r.table()).ok()?.has_lists => r.encode(&mut values),
            // Its `now` travels beside the record.
            Write::PutIdempotency { record, .. } => {
                bytes += 12;
                Entity::encode(record, &mut values);
            }
            Write::Stock { change: StockChange::Reserve(n), .. } if *n > 0 => bytes += 4 * 24,
            _ => return None,
        }
        bytes += values.iter().map(value_bytes).sum::<usize>();
    }
    Some(bytes)
}

/// The encoded size of one array element (length word included).
fn value_bytes(v: &Value<'_>) -> usize {
    4 + match v {
        Value::Null => 0,
        Value::Uuid(_) => 16,
        Value::Text(t) => t.len(),
        Value::Int(_) | Value::Float(_) | Value::Timestamp(_) => 8,
        Value::Bool(_) => 1,
        Value::Json(j) => 1 + json_bytes(j),
        Value::Bytes(b) => b.len(),
        Value::UuidArray(a) => 24 + 20 * a.len(),
        Value::TextArray(a) => 24 + a.iter().map(|s| 4 + s.len()).sum::<usize>(),
    }
}

/// Roughly the length of `j` serialised, without serialising it.
fn json_bytes(j: &serde_json::Value) -> usize {
    match j {
        serde_json::Value::Null | serde_json::Value::Bool(_) => 5,
        serde_json::Value::Number(_) => 12,
        serde_json::Value::String(s) => s.len() + 2,
        serde_json::Value::Array(a) => 2 + a.iter().map(|v| json_bytes(v) + 1).sum::<usize>(),
        serde_json::Value::Object(o) => 2 + o.iter().map(|(k, v)| k.len() + 4 + json_bytes(v)).sum::<usize>(),
    }
}

/// How many changesets from the start of `group` form one run: each may be
/// batched (`weight` is `Some`), together they stay within [`BATCH_BYTES`],
/// and no two write the same idempotency key (the second would conflict
/// with the first inside the statement; it starts the next run instead).
pub(crate) fn run_len<'a>(group: impl IntoIterator<Item = (&'a Changeset, Option<usize>)>) -> usize {
    let mut bytes = 0;
    let mut keys: HashSet<(&str, &str)> = HashSet::new();
    let mut n = 0;
    for (cs, weight) in group {
        let Some(w) = weight else { break };
        bytes += w;
        if bytes > BATCH_BYTES {
            break;
        }
        let fresh = cs.writes.iter().all(|w| match w {
            Write::PutIdempotency { record, .. } => keys.insert((&record.scope, &record.key)),
            _ => true,
        });
        if !fresh {
            break;
        }
        n += 1;
    }
    n
}

/// What the statement of a run depends on: whether it reserves stock,
/// whether it writes idempotent responses, and the tables it inserts into
/// in order of first appearance.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Shape {
    stock: bool,
    idempotency: bool,
    tables: Vec<&'static str>,
}

static SHAPES: LazyLock<ShapeCache<Shape>> = LazyLock::new(|| ShapeCache::new(MAX_SHAPES));

/// One stock row's coalesced reservation.
struct Hold {
    variant_id: Uuid,
    warehouse_id: Uuid,
    qty: i64,
    at: OffsetDateTime,
}

/// The run's writes, sorted out by kind.
struct Collected<'a> {
    holds: Vec<Hold>,
    puts: Vec<(&'a IdempotencyRecord, OffsetDateTime)>,
    /// Per table, in order of first appearance: the records it gets.
    inserts: Vec<(&'static Table, Vec<&'a Record>)>,
}

fn collect<'a>(run: &[&'a Changeset]) -> Collected<'a> {
    let mut c = Collected { holds: Vec::new(), puts: Vec::new(), inserts: Vec::new() };
    let mut hold_of: HashMap<(Uuid, Uuid), usize> = HashMap::new();
    for cs in run {
        for w in &cs.writes {
            match w {
                Write::Insert(r) => match c.inserts.iter_mut().find(|(t, _)| t.name == r.table().name) {
                    Some((_, rows)) => rows.push(r),
                    None => c.inserts.push((r.table(), vec![r])),
                },
                Write::PutIdempotency { record, now } => c.puts.push((record, *now)),
                Write::Stock { variant_id, warehouse_id, at, change: StockChange::Reserve(qty) } => {
                    match hold_of.get(&(variant_id.0, warehouse_id.0)) {
                        // Applied in order, the last reservation's time is the row's.
                        Some(&i) => {
                            c.holds[i].qty += qty;
                            c.holds[i].at = *at;
                        }
                        None => {
                            hold_of.insert((variant_id.0, warehouse_id.0), c.holds.len());
                            c.holds.push(Hold {
                                variant_id: variant_id.0,
                                warehouse_id: warehouse_id.0,
                                qty: *qty,
                                at: *at,
                            });
                        }
                    }
                }
                // `weight` let nothing else into a run.
                _ => {}
            }
        }
    }
    // One lock order for every group, whatever the arrival order.
    c.holds.sort_by_key(|h| (h.variant_id, h.warehouse_id));
    c
}

/// `INSERT INTO table (cols) SELECT exprs FROM UNNEST($first.., ...) AS u(c0, ...)`.
fn insert_from_arrays(table: &Table, first: usize) -> String {
    let cols: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
    let arrays: Vec<String> =
        table.columns.iter().enumerate().map(|(i, c)| format!("${}::{}[]", first + i, element_type(c.ty))).collect();
    let aliases: Vec<String> = (0..table.columns.len()).map(|i| format!("c{i}")).collect();
    let exprs: Vec<String> = table.columns.iter().enumerate().map(|(i, c)| stored(c.ty, &format!("u.c{i}"))).collect();
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM UNNEST({}) AS u({})",
        ident(table.name),
        cols.join(", "),
        exprs.join(", "),
        arrays.join(", "),
        aliases.join(", ")
    )
}

/// The idempotency upsert over arrays: `$first..` are its columns, then
/// the `now` of each record. A record is replaced only when it expired at
/// its own write's `now`, looked up by key from the same arrays.
fn put_from_arrays(first: usize) -> String {
    let table = IdempotencyRecord::table();
    let now = first + table.columns.len();
    let matches: Vec<String> = table
        .key
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let (col, ty) = (ident(table.columns[k].name), table.columns[k].ty);
            // Byte equality on both sides, whatever the columns' collations.
            let collate = if ty == ColumnType::Text { " COLLATE \"C\"" } else { "" };
            format!("n.k{i}{collate} = EXCLUDED.{col}{collate}")
        })
        .collect();
    let keys: Vec<String> =
        table.key.iter().map(|&k| format!("${}::{}[]", first + k, element_type(table.columns[k].ty))).collect();
    let names: Vec<String> = (0..table.key.len()).map(|i| format!("k{i}")).collect();
    format!(
        "{} {} WHERE {}.{} <= (SELECT n.now FROM UNNEST({}, ${now}::timestamptz[]) AS n({}, now) WHERE {}) RETURNING 1",
        insert_from_arrays(table, first),
        idempotency_conflict(),
        ident(table.name),
        ident(table.columns[table.col("expires_at")].name),
        keys.join(", "),
        names.join(", "),
        matches.join(" AND ")
    )
}

fn build(shape: &Shape) -> StoreResult<String> {
    let mut sql = String::with_capacity(2048);
    let mut n = 1;
    let mut parts = Vec::new();
    if shape.stock {
        parts.push(
            "s AS (UPDATE inventory i SET reserved = i.reserved + t.qty, updated_at = t.at \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::timestamptz[]) AS t(v, w, qty, at) \
             WHERE i.variant_id = t.v AND i.warehouse_id = t.w AND i.on_hand - i.reserved >= t.qty RETURNING 1)"
                .to_owned(),
        );
        n += 4;
    }
    if shape.idempotency {
        parts.push(format!("k AS ({})", put_from_arrays(n)));
        n += IdempotencyRecord::table().columns.len() + 1;
    }
    for (i, name) in shape.tables.iter().enumerate() {
        let table = agora_core::table_named(name)
            .ok_or_else(|| StoreError::Schema(format!("table {name} is not in the catalogue")))?;
        parts.push(format!("i{i} AS ({})", insert_from_arrays(table, n)));
        n += table.columns.len();
    }
    if !parts.is_empty() {
        let _ = write!(sql, "WITH {} ", parts.join(", "));
    }
    let count = |yes: bool, cte: &str| if yes { format!("(SELECT count(*) FROM {cte})") } else { "0::int8".into() };
    let _ = write!(sql, "SELECT {}, {}", count(shape.stock, "s"), count(shape.idempotency, "k"));
    Ok(sql)
}

fn bind_arrays<'a>(args: &mut PgArguments, table: &Table, rows: &[&'a [Value<'a>]]) -> StoreResult<()> {
    for (i, c) in table.columns.iter().enumerate() {
        let mut array = ColumnArray::new(c.ty, rows.len())?;
        for row in rows {
            array.push(&row[i])?;
        }
        array.bind(args)?;
    }
    Ok(())
}

/// Each row's values, encoded by `encode`.
fn encoded<'a, T: 'a>(
    rows: impl Iterator<Item = &'a T>,
    encode: impl Fn(&'a T, &mut Vec<Value<'a>>),
) -> Vec<Vec<Value<'a>>> {
    rows.map(|r| {
        let mut values = Vec::new();
        encode(r, &mut values);
        values
    })
    .collect()
}

/// Binds `values` as one array of type `ty`.
fn bind_column(args: &mut PgArguments, ty: ColumnType, values: &[Value<'_>]) -> StoreResult<()> {
    let mut array = ColumnArray::new(ty, values.len())?;
    for v in values {
        array.push(v)?;
    }
    array.bind(args)
}

fn arguments(c: &Collected<'_>) -> StoreResult<PgArguments> {
    let mut args = PgArguments::default();
    if !c.holds.is_empty() {
        let column = |f: fn(&Hold) -> Value<'static>| c.holds.iter().map(f).collect::<Vec<_>>();
        for (ty, values) in [
            (ColumnType::Uuid, column(|h| Value::Uuid(h.variant_id))),
            (ColumnType::Uuid, column(|h| Value::Uuid(h.warehouse_id))),
            (ColumnType::Int, column(|h| Value::Int(h.qty))),
            (ColumnType::Timestamp, column(|h| Value::Timestamp(h.at))),
        ] {
            bind_column(&mut args, ty, &values)?;
        }
    }
    if !c.puts.is_empty() {
        let rows = encoded(c.puts.iter().map(|(r, _)| *r), Entity::encode);
        let rows: Vec<&[Value<'_>]> = rows.iter().map(Vec::as_slice).collect();
        bind_arrays(&mut args, IdempotencyRecord::table(), &rows)?;
        let nows: Vec<Value<'static>> = c.puts.iter().map(|(_, now)| Value::Timestamp(*now)).collect();
        bind_column(&mut args, ColumnType::Timestamp, &nows)?;
    }
    for (table, records) in &c.inserts {
        let rows = encoded(records.iter().copied(), |r, out| r.encode(out));
        let rows: Vec<&[Value<'_>]> = rows.iter().map(Vec::as_slice).collect();
        bind_arrays(&mut args, table, &rows)?;
    }
    Ok(args)
}

/// Writes a run (see [`run_len`]) with one statement. `Ok(true)`: every
/// reservation and every idempotent response held. `Ok(false)` or `Err`:
/// something did not (or the run could not be encoded, which the direct
/// path then reports), and the statement may have written part of the run:
/// the caller rolls back to its savepoint and applies the run one by one.
pub(crate) async fn apply_run(conn: &mut PgConnection, run: &[&Changeset]) -> Result<bool, sqlx::Error> {
    let c = collect(run);
    let shape = Shape {
        stock: !c.holds.is_empty(),
        idempotency: !c.puts.is_empty(),
        tables: c.inserts.iter().map(|(t, _)| t.name).collect(),
    };
    let (Ok(sql), Ok(args)) = (SHAPES.get(shape, build), arguments(&c)) else { return Ok(false) };
    let row = sqlx::query_with(AssertSqlSafe(sql), args).fetch_one(conn).await?;
    let held: i64 = row.try_get(0)?;
    let stored: i64 = row.try_get(1)?;
    Ok(usize::try_from(held).ok() == Some(c.holds.len()) && usize::try_from(stored).ok() == Some(c.puts.len()))
}
