//! [`Query`] to SQL: `SELECT <columns> FROM t WHERE ... ORDER BY ... LIMIT ?`,
//! generated once per query shape (the table, each filter's kind, column
//! and operator, the order, whether there is a limit) and cached, bound
//! with the query's values and run with a cached prepared statement.
//!
//! - [`Filter::Const`] is inlined as a quoted literal, so the plan is the
//!   one of the constant (and SQLite may use a partial index on it).
//! - A range comparison is marked `unlikely(...)`: the ranges of agora's
//!   reads select few rows (what has expired, what follows a cursor).
//!   Without the hint SQLite prefers walking another index in `ORDER BY`
//!   order and filtering as it goes, which reads the whole table when few
//!   rows match (the expiry sweeps, ordered by key rather than by expiry);
//!   where one index serves both the range and the order it still uses it.
//! - [`Filter::After`] is a row-value comparison `(a, b) > (?, ?)`, which
//!   SQLite serves with a range over the primary key.
//! - [`Filter::In`] binds one `?` per value. The count is rounded up to a
//!   power of two (then to a multiple of [`IN_STEP`]) and the list padded
//!   with its last value, which changes nothing: a list of 3 and one of 4
//!   share a statement, so a few shapes serve every length. This keeps the
//!   values in the statement where the planner sees them (an `IN` over an
//!   index with a known count), unlike a table-valued `rarray(?)`, which
//!   needs a per-connection module and owned copies of every value.
//! - A comparison with NULL never matches and `IN ()` matches nothing: such
//!   a query answers no rows without running any SQL.
//! - Text compares with SQLite's default BINARY collation: byte order, as
//!   the query contract says.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use agora_core::query::{Cmp, Dir, Filter, FilterShape, Query, QueryShape};
use agora_core::schema::{Table, Value};
use agora_core::{Record, StoreError};
use rusqlite::Connection;

use crate::codec::{Bind, db_err, read_record};
use crate::plan::{assert_indexed, counters};
use crate::sql::{ShapeCache, ident, literal, table_sql};

/// Above this many values an `IN` list grows in steps of this size.
const IN_STEP: usize = 1024;
/// SQLite's limit on parameters per statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_PARAMS: usize = 32_766;
/// Query shapes whose SQL is kept.
const SHAPES: usize = 1024;

/// What makes two queries share a statement: core's shape, and the padded
/// number of values of each `IN` filter in order (see [`in_slots`]).
type Shape = (QueryShape, Vec<usize>);

/// The number of parameters an `IN` list of `n` values is padded to.
fn in_slots(n: usize) -> usize {
    if n <= IN_STEP { n.next_power_of_two() } else { n.div_ceil(IN_STEP) * IN_STEP }
}

/// The values an `IN` filter binds: NULLs never match and are left out.
fn in_values<'v>(values: &'v [Value<'static>]) -> impl Iterator<Item = &'v Value<'static>> + Clone {
    values.iter().filter(|v| !v.is_null())
}

/// The shape of `q`, or `None` when it can match no row.
fn shape(q: &Query) -> Result<Option<Shape>, StoreError> {
    if q.matches_nothing() {
        return Ok(None);
    }
    let mut slots = Vec::new();
    let mut params = 0;
    for f in &q.filters {
        params += match f {
            Filter::In { values, .. } => {
                let n = in_slots(in_values(values).count());
                slots.push(n);
                n
            }
            Filter::After { columns, .. } => columns.len(),
            Filter::Cmp { .. } => 1,
            Filter::Const { .. } | Filter::Null { .. } => 0,
        };
    }
    if params >= MAX_PARAMS {
        return Err(StoreError::Unavailable(format!("sqlite: a query of {} binds {params} values", q.table.name)));
    }
    Ok(Some((q.shape(), slots)))
}

/// The SQL of a shape.
fn render(table: &Table, select: &str, (shape, slots): &Shape) -> String {
    let name = |c: usize| ident(table.columns[c].name);
    let mut slots = slots.iter();
    let mut sql = select.to_owned();
    for (i, f) in shape.filters.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        match f {
            FilterShape::Cmp(c, Cmp::Eq) => {
                let _ = write!(sql, "{} = ?", name(*c));
            }
            FilterShape::Cmp(c, op) => {
                let _ = write!(sql, "unlikely({} {} ?)", name(*c), op.sql());
            }
            FilterShape::Const(c, value) => {
                let _ = write!(sql, "{} = {}", name(*c), literal(value));
            }
            FilterShape::In(c) => {
                let n = slots.next().copied().unwrap_or(0);
                let _ = write!(sql, "{} IN ({})", name(*c), vec!["?"; n].join(", "));
            }
            FilterShape::Null(c, null) => {
                let _ = write!(sql, "{} IS {}NULL", name(*c), if *null { "" } else { "NOT " });
            }
            FilterShape::After(cols) if cols.len() == 1 => {
                let _ = write!(sql, "{} > ?", name(cols[0]));
            }
            FilterShape::After(cols) => {
                let names: Vec<String> = cols.iter().map(|c| name(*c)).collect();
                let _ = write!(sql, "({}) > ({})", names.join(", "), vec!["?"; cols.len()].join(", "));
            }
        }
    }
    for (i, (c, dir)) in shape.order.iter().enumerate() {
        sql.push_str(if i == 0 { " ORDER BY " } else { ", " });
        let _ = write!(sql, "{} {}", name(*c), if *dir == Dir::Asc { "ASC" } else { "DESC" });
    }
    if shape.limit {
        sql.push_str(" LIMIT ?");
    }
    sql
}

/// The SQL of `q`, from the cache when its shape was seen; `None` when
/// the query can match no row.
pub(crate) fn query_sql(q: &Query) -> Result<Option<Arc<str>>, StoreError> {
    static CACHE: OnceLock<ShapeCache<Shape>> = OnceLock::new();
    let Some(shape) = shape(q)? else { return Ok(None) };
    let select = &table_sql(q.table)?.select;
    let cache = CACHE.get_or_init(|| ShapeCache::new(SHAPES));
    Ok(Some(cache.get(shape, |s| render(q.table, select, s))))
}

/// Binds the values of `q` in the order its SQL names them.
fn bind(st: &mut rusqlite::Statement<'_>, q: &Query) -> rusqlite::Result<()> {
    let mut i = 1;
    let mut put = |st: &mut rusqlite::Statement<'_>, v: &Value<'_>| {
        let r = st.raw_bind_parameter(i, Bind(v));
        i += 1;
        r
    };
    for f in &q.filters {
        match f {
            Filter::Cmp { value, .. } => put(st, value)?,
            Filter::In { values, .. } => {
                let n = in_values(values).count();
                let last = in_values(values).last().unwrap_or(&Value::Null);
                for v in in_values(values).chain(std::iter::repeat_n(last, in_slots(n) - n)) {
                    put(st, v)?;
                }
            }
            Filter::After { values, .. } => {
                for v in values {
                    put(st, v)?;
                }
            }
            Filter::Const { .. } | Filter::Null { .. } => {}
        }
    }
    if let Some(limit) = q.limit {
        put(st, &Value::Int(i64::from(limit)))?;
    }
    Ok(())
}

/// Runs `q` on `conn`. Unless the query is marked [`Query::unindexed`],
/// debug builds assert that a filtered query used an index (see
/// [`assert_indexed`]).
pub(crate) fn fetch_on(conn: &Connection, q: &Query) -> Result<Vec<Record>, StoreError> {
    let Some(sql) = query_sql(q)? else { return Ok(Vec::new()) };
    let mut st = conn.prepare_cached(&sql).map_err(db_err)?;
    bind(&mut st, q).map_err(db_err)?;
    let before = counters(&st);
    let mut out = Vec::new();
    {
        let mut rows = st.raw_query();
        while let Some(row) = rows.next().map_err(db_err)? {
            out.push(read_record(row, q.table)?);
        }
    }
    if !q.unindexed {
        assert_indexed(conn, &st, before, &sql);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_core::model::{ActivityEvent, CustomerOrder, Inventory, ProductVariant};
    use agora_core::{Entity, Key, Page};

    fn sql(q: Query) -> String {
        query_sql(&q).unwrap().map(|s| s.to_string()).unwrap_or_default()
    }

    #[test]
    fn queries_render_their_filters_order_and_limit() {
        let id = uuid::Uuid::nil();
        let q = Query::of::<CustomerOrder>().eq("store_id", id).is("status", "CREATED").page(Page::first(5));
        let s = sql(q);
        assert!(s.ends_with(" FROM \"customer_order\" WHERE \"store_id\" = ? AND \"status\" = 'CREATED' ORDER BY \"id\" DESC LIMIT ?"), "{s}");
        let s = sql(Query::of::<ActivityEvent>().eq("store_id", id).not_null("seq").gt("seq", 3i64).asc("seq"));
        assert!(
            s.ends_with(
                "WHERE \"store_id\" = ? AND \"seq\" IS NOT NULL AND unlikely(\"seq\" > ?) ORDER BY \"seq\" ASC"
            ),
            "{s}"
        );
        let key = Key(vec![Value::Uuid(id), Value::Uuid(id)]);
        let s = sql(Query::scan(Inventory::table(), Some(&key), 10));
        assert!(s.ends_with("WHERE (\"variant_id\", \"warehouse_id\") > (?, ?) ORDER BY \"variant_id\" ASC, \"warehouse_id\" ASC LIMIT ?"), "{s}");
        let s = sql(Query::of::<ProductVariant>().is("sku", "it's"));
        assert!(s.ends_with("WHERE \"sku\" = 'it''s'"), "{s}");
    }

    #[test]
    fn in_lists_share_padded_statements() {
        let ids = |n: u128| (0..n).map(uuid::Uuid::from_u128).collect::<Vec<_>>();
        let q = |n| Query::of::<ProductVariant>().any("id", ids(n));
        assert!(sql(q(3)).contains("IN (?, ?, ?, ?)"));
        assert_eq!(query_sql(&q(3)).unwrap(), query_sql(&q(4)).unwrap());
        assert_eq!([1, 2, 3, 5, 1024, 1025, 2049].map(in_slots), [1, 2, 4, 8, 1024, 2048, 3072]);
        assert_eq!(query_sql(&q(0)).unwrap(), None);
        assert_eq!(query_sql(&Query::of::<ProductVariant>().any("sku", [Value::Null])).unwrap(), None);
        assert_eq!(query_sql(&Query::of::<CustomerOrder>().eq("closed_at", Value::Null)).unwrap(), None);
        assert!(query_sql(&q(40_000)).is_err());
    }
}
