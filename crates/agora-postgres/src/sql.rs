//! The PostgreSQL dialect of the catalogue: every statement, binder and row
//! mapper comes from a table's [`Table`] description, with hooks only where
//! PostgreSQL differs from core's column types:
//!
//! - money is `NUMERIC(12,2)` in major units, converted exactly: bound as a
//!   bigint of minor units (`($n::bigint * 0.01)::numeric(12,2)`) and read
//!   back as one (`(col * 100)::bigint`);
//! - `Int32` columns are `int4` (bound as `int8`: PostgreSQL's assignment
//!   cast narrows, and comparisons across the two are indexable);
//! - lists are `uuid[]` / `text[]`, JSON is `jsonb`, timestamps `timestamptz`;
//! - text compares and sorts by bytes only when told `COLLATE "C"`
//!   (see [`ordered`]): equality needs no collation (it is byte equality for
//!   every deterministic collation), so lookups keep their indexes.
//!
//! Identifiers are quoted, so a column may be named like an SQL keyword.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, OnceLock, RwLock};

use agora_core::schema::{ColumnType, Table, Value};
use agora_core::{Record, StoreError};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreResult;

/// `name` as a quoted identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as a quoted string literal (standard-conforming strings: only
/// the quote needs doubling).
pub(crate) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The element type of a column as an SQL type name, for array casts.
pub(crate) fn element_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Uuid => "uuid",
        ColumnType::Text => "text",
        // Int32 and money travel as bigint (see the module docs).
        ColumnType::Int | ColumnType::Int32 | ColumnType::Money => "int8",
        ColumnType::Bool => "bool",
        ColumnType::Float => "float8",
        ColumnType::Timestamp => "timestamptz",
        ColumnType::Json => "jsonb",
        ColumnType::Bytes => "bytea",
        ColumnType::UuidArray => "uuid[]",
        ColumnType::TextArray => "text[]",
    }
}

/// The expression that turns the bound value `$n` (or any expression of
/// the bound type) into the column's stored type.
pub(crate) fn stored(ty: ColumnType, bound: &str) -> String {
    match ty {
        ColumnType::Money => format!("({bound}::bigint * 0.01)::numeric(12,2)"),
        _ => bound.to_owned(),
    }
}

/// Parameter `$n` as the column's stored type.
pub(crate) fn param(ty: ColumnType, n: usize) -> String {
    stored(ty, &format!("${n}"))
}

/// The column as it is read: money back to bigint minor units.
pub(crate) fn read(ty: ColumnType, column: &str) -> String {
    match ty {
        ColumnType::Money => format!("({column} * 100)::bigint"),
        _ => column.to_owned(),
    }
}

/// The column as it is ordered and range-compared: text by bytes, as core
/// compares it (and as the memory model sorts).
pub(crate) fn ordered(ty: ColumnType, column: &str) -> String {
    match ty {
        ColumnType::Text => format!("{column} COLLATE \"C\""),
        _ => column.to_owned(),
    }
}

/// `k1 = $first AND k2 = $first+1 ...` over the table's primary key.
pub(crate) fn key_where(table: &Table, first: usize) -> String {
    let parts: Vec<String> = table
        .key
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let col = &table.columns[c];
            format!("{} = {}", ident(col.name), param(col.ty, first + i))
        })
        .collect();
    parts.join(" AND ")
}

/// The statements of one table, generated once.
#[derive(Debug)]
pub(crate) struct TableSql {
    /// Every column as read, in column order.
    pub select_list: String,
    /// `INSERT` of every column, `$1..$n` in column order.
    pub insert: String,
    /// `UPDATE` of every non-key column by key, `$1..$n` in column order.
    pub update: String,
    /// `DELETE` by key, `$1..$k` in key order.
    pub delete: String,
    /// Whether a column is a list (such tables are not batched: PostgreSQL
    /// has no arrays of arrays to `UNNEST`).
    pub has_lists: bool,
}

impl TableSql {
    fn new(table: &Table) -> Self {
        let name = ident(table.name);
        let cols: Vec<String> = table.columns.iter().map(|c| ident(c.name)).collect();
        let select_list: Vec<String> = table.columns.iter().zip(&cols).map(|(c, q)| read(c.ty, q)).collect();
        let values: Vec<String> = table.columns.iter().enumerate().map(|(i, c)| param(c.ty, i + 1)).collect();
        let insert = format!("INSERT INTO {name} ({}) VALUES ({})", cols.join(", "), values.join(", "));
        let mut sets: Vec<String> = (0..table.columns.len())
            .filter(|i| !table.key.contains(i))
            .map(|i| format!("{} = {}", cols[i], values[i]))
            .collect();
        if sets.is_empty() {
            // A table of key columns only: an update that finds the row changes nothing.
            sets.push(format!("{0} = {0}", cols[table.key[0]]));
        }
        let by_key: Vec<String> = table.key.iter().map(|&k| format!("{} = {}", cols[k], values[k])).collect();
        let update = format!("UPDATE {name} SET {} WHERE {}", sets.join(", "), by_key.join(" AND "));
        let delete = format!("DELETE FROM {name} WHERE {}", key_where(table, 1));
        let has_lists = table.columns.iter().any(|c| matches!(c.ty, ColumnType::UuidArray | ColumnType::TextArray));
        Self { select_list: select_list.join(", "), insert, update, delete, has_lists }
    }
}

/// The generated statements of `table`, which must be in the catalogue.
///
/// # Errors
/// [`StoreError::Schema`] for a table the catalogue does not list.
pub(crate) fn table_sql(table: &Table) -> StoreResult<&'static TableSql> {
    static ALL: OnceLock<Vec<TableSql>> = OnceLock::new();
    let all = ALL.get_or_init(|| agora_core::tables().iter().map(|t| TableSql::new(t)).collect());
    agora_core::catalogue::table_position(table)
        .map(|i| &all[i])
        .ok_or_else(|| StoreError::Schema(format!("table {} is not in the catalogue", table.name)))
}

/// SQL built per statement shape, kept for reuse (sqlx then keeps one
/// prepared statement per shape and connection). Bounded: past `cap`
/// shapes, SQL is built per call and not kept.
pub(crate) struct ShapeCache<K> {
    map: RwLock<HashMap<K, Arc<str>>>,
    cap: usize,
}

impl<K: Hash + Eq> ShapeCache<K> {
    /// An empty cache of at most `cap` shapes.
    pub(crate) fn new(cap: usize) -> Self {
        Self { map: RwLock::new(HashMap::new()), cap }
    }

    /// The SQL of `key`, built by `build` the first time.
    ///
    /// # Errors
    /// What `build` returns (nothing is kept then).
    pub(crate) fn get(&self, key: K, build: impl FnOnce(&K) -> StoreResult<String>) -> StoreResult<Arc<str>> {
        if let Some(sql) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(sql.clone());
        }
        let sql: Arc<str> = build(&key)?.into();
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() < self.cap {
            map.entry(key).or_insert_with(|| sql.clone());
        }
        Ok(sql)
    }
}

fn wrong(ty: ColumnType, v: &Value<'_>) -> StoreError {
    StoreError::Schema(format!("a {ty:?} column cannot hold {v:?}"))
}

fn add<'t, T>(args: &mut PgArguments, v: T) -> StoreResult<()>
where
    T: sqlx::Encode<'t, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    args.add(v).map_err(|e| StoreError::Unavailable(format!("cannot encode an argument: {e}")))
}

/// Binds one value of a column of type `ty` (NULL typed as the column).
pub(crate) fn push(args: &mut PgArguments, ty: ColumnType, v: &Value<'_>) -> StoreResult<()> {
    use ColumnType as T;
    match (ty, v) {
        (_, Value::Null) => push_null(args, ty),
        (T::Uuid, Value::Uuid(u)) => add(args, *u),
        (T::Text, Value::Text(t)) => add(args, t.as_ref()),
        (T::Int | T::Int32 | T::Money, Value::Int(i)) => add(args, *i),
        (T::Bool, Value::Bool(b)) => add(args, *b),
        (T::Float, Value::Float(f)) => add(args, *f),
        (T::Timestamp, Value::Timestamp(t)) => add(args, *t),
        (T::Json, Value::Json(j)) => add(args, j.as_ref()),
        (T::Bytes, Value::Bytes(b)) => add(args, b.as_ref()),
        (T::UuidArray, Value::UuidArray(a)) => add(args, a.as_ref()),
        (T::TextArray, Value::TextArray(a)) => add(args, a.as_ref()),
        (ty, v) => Err(wrong(ty, v)),
    }
}

fn push_null(args: &mut PgArguments, ty: ColumnType) -> StoreResult<()> {
    use ColumnType as T;
    match ty {
        T::Uuid => add(args, None::<Uuid>),
        T::Text => add(args, None::<&str>),
        T::Int | T::Int32 | T::Money => add(args, None::<i64>),
        T::Bool => add(args, None::<bool>),
        T::Float => add(args, None::<f64>),
        T::Timestamp => add(args, None::<OffsetDateTime>),
        T::Json => add(args, None::<&serde_json::Value>),
        T::Bytes => add(args, None::<&[u8]>),
        T::UuidArray => add(args, None::<&[Uuid]>),
        T::TextArray => add(args, None::<&[String]>),
    }
}

/// One column's values across rows, typed for a PostgreSQL array (`UNNEST`
/// and `= ANY`). Lists are not supported: there are no arrays of arrays.
pub(crate) enum ColumnArray<'a> {
    Uuid(Vec<Option<Uuid>>),
    Text(Vec<Option<&'a str>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Float(Vec<Option<f64>>),
    Timestamp(Vec<Option<OffsetDateTime>>),
    Json(Vec<Option<&'a serde_json::Value>>),
    Bytes(Vec<Option<&'a [u8]>>),
}

impl<'a> ColumnArray<'a> {
    /// An empty array for a column of type `ty`.
    pub(crate) fn new(ty: ColumnType, capacity: usize) -> StoreResult<Self> {
        use ColumnType as T;
        Ok(match ty {
            T::Uuid => Self::Uuid(Vec::with_capacity(capacity)),
            T::Text => Self::Text(Vec::with_capacity(capacity)),
            T::Int | T::Int32 | T::Money => Self::Int(Vec::with_capacity(capacity)),
            T::Bool => Self::Bool(Vec::with_capacity(capacity)),
            T::Float => Self::Float(Vec::with_capacity(capacity)),
            T::Timestamp => Self::Timestamp(Vec::with_capacity(capacity)),
            T::Json => Self::Json(Vec::with_capacity(capacity)),
            T::Bytes => Self::Bytes(Vec::with_capacity(capacity)),
            T::UuidArray | T::TextArray => {
                return Err(StoreError::Schema(format!("a {ty:?} column cannot be sent as an array")));
            }
        })
    }

    /// Appends one value (of a column of this array's type).
    pub(crate) fn push(&mut self, v: &'a Value<'a>) -> StoreResult<()> {
        match (self, v) {
            (Self::Uuid(a), Value::Null) => a.push(None),
            (Self::Text(a), Value::Null) => a.push(None),
            (Self::Int(a), Value::Null) => a.push(None),
            (Self::Bool(a), Value::Null) => a.push(None),
            (Self::Float(a), Value::Null) => a.push(None),
            (Self::Timestamp(a), Value::Null) => a.push(None),
            (Self::Json(a), Value::Null) => a.push(None),
            (Self::Bytes(a), Value::Null) => a.push(None),
            (Self::Uuid(a), Value::Uuid(u)) => a.push(Some(*u)),
            (Self::Text(a), Value::Text(t)) => a.push(Some(t.as_ref())),
            (Self::Int(a), Value::Int(i)) => a.push(Some(*i)),
            (Self::Bool(a), Value::Bool(b)) => a.push(Some(*b)),
            (Self::Float(a), Value::Float(f)) => a.push(Some(*f)),
            (Self::Timestamp(a), Value::Timestamp(t)) => a.push(Some(*t)),
            (Self::Json(a), Value::Json(j)) => a.push(Some(j.as_ref())),
            (Self::Bytes(a), Value::Bytes(b)) => a.push(Some(b.as_ref())),
            (_, v) => return Err(StoreError::Schema(format!("{v:?} does not fit the column's array"))),
        }
        Ok(())
    }

    /// Binds the array.
    pub(crate) fn bind(&self, args: &mut PgArguments) -> StoreResult<()> {
        match self {
            Self::Uuid(a) => add(args, a),
            Self::Text(a) => add(args, a),
            Self::Int(a) => add(args, a),
            Self::Bool(a) => add(args, a),
            Self::Float(a) => add(args, a),
            Self::Timestamp(a) => add(args, a),
            Self::Json(a) => add(args, a),
            Self::Bytes(a) => add(args, a),
        }
    }
}

/// Reads column `i` of `row`, selected as [`read`] gives it, as a value of
/// type `ty`.
pub(crate) fn decode(row: &PgRow, i: usize, ty: ColumnType) -> Result<Value<'static>, sqlx::Error> {
    use ColumnType as T;
    fn get<'r, X: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
        row: &'r PgRow,
        i: usize,
        f: impl FnOnce(X) -> Value<'static>,
    ) -> Result<Value<'static>, sqlx::Error> {
        Ok(row.try_get::<Option<X>, _>(i)?.map_or(Value::Null, f))
    }
    match ty {
        T::Uuid => get(row, i, Value::Uuid),
        T::Text => get(row, i, |s: String| Value::Text(Cow::Owned(s))),
        T::Int | T::Money => get(row, i, Value::Int),
        T::Int32 => get(row, i, |v: i32| Value::Int(i64::from(v))),
        T::Bool => get(row, i, Value::Bool),
        T::Float => get(row, i, Value::Float),
        T::Timestamp => get(row, i, Value::Timestamp),
        T::Json => get(row, i, |j: serde_json::Value| Value::Json(Cow::Owned(j))),
        T::Bytes => get(row, i, |b: Vec<u8>| Value::Bytes(Cow::Owned(b))),
        T::UuidArray => get(row, i, |a: Vec<Uuid>| Value::UuidArray(Cow::Owned(a))),
        T::TextArray => get(row, i, |a: Vec<String>| Value::TextArray(Cow::Owned(a))),
    }
}

/// A row selected with [`TableSql::select_list`] as a record of `table`.
///
/// # Errors
/// [`StoreError::Schema`] when a column does not decode.
pub(crate) fn decode_record(table: &Table, row: &PgRow) -> StoreResult<Record> {
    let mut values = Vec::with_capacity(table.columns.len());
    for (i, c) in table.columns.iter().enumerate() {
        let v = decode(row, i, c.ty).map_err(|e| StoreError::Schema(format!("{}.{}: {e}", table.name, c.name)))?;
        values.push(v);
    }
    Ok(Record::decode(table, values)?)
}

#[cfg(test)]
mod tests {
    use agora_core::{CustomerOrder, Entity, IdempotencyRecord, Inventory, OrderItem};

    use super::*;

    #[test]
    fn statements_come_from_the_table_description() {
        let items = table_sql(OrderItem::table()).unwrap();
        assert_eq!(
            items.insert,
            "INSERT INTO \"order_item\" (\"id\", \"order_id\", \"line_no\", \"variant_id\", \"sku\", \"qty\", \
             \"unit_price\") VALUES ($1, $2, $3, $4, $5, $6, ($7::bigint * 0.01)::numeric(12,2))"
        );
        assert!(items.select_list.ends_with("(\"unit_price\" * 100)::bigint"));
        let stock = table_sql(Inventory::table()).unwrap();
        assert_eq!(
            stock.update,
            "UPDATE \"inventory\" SET \"store_id\" = $3, \"on_hand\" = $4, \"reserved\" = $5, \"updated_at\" = $6 \
             WHERE \"variant_id\" = $1 AND \"warehouse_id\" = $2"
        );
        assert_eq!(stock.delete, "DELETE FROM \"inventory\" WHERE \"variant_id\" = $1 AND \"warehouse_id\" = $2");
        assert!(!table_sql(CustomerOrder::table()).unwrap().has_lists);
        assert!(table_sql(agora_core::PayoutLedger::table()).unwrap().has_lists);
        assert_eq!(key_where(IdempotencyRecord::table(), 3), "\"scope\" = $3 AND \"key\" = $4");
    }

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(ordered(ColumnType::Text, "\"sku\""), "\"sku\" COLLATE \"C\"");
        assert_eq!(ordered(ColumnType::Uuid, "\"id\""), "\"id\"");
    }

    #[test]
    fn the_shape_cache_is_bounded() {
        let cache = ShapeCache::new(1);
        let get = |k: u8, text: &str| cache.get(k, |k| Ok(format!("{text}{k}"))).unwrap().to_string();
        assert_eq!(get(1, "q"), "q1");
        assert_eq!(get(2, "q"), "q2");
        assert_eq!(get(1, "other"), "q1", "cached");
        assert_eq!(get(2, "again"), "again2", "not kept past the bound");
        assert!(cache.get(3, |_| Err(StoreError::Schema("no".into()))).is_err());
        assert_eq!(get(3, "q"), "q3", "a failed build is not kept");
    }
}
