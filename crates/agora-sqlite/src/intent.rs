//! The writes that carry their condition inside: each is one conditional
//! statement whose `changes()` says whether the condition held, so a stock
//! reservation or an idempotent response costs one statement, not a read
//! and a write. Only when a statement changes nothing is the row read, to
//! tell a failed condition from a missing row or a figure going wrong, by
//! the same rules as the memory reference.
//!
//! The columns named here are the ones the intents are about (`on_hand`,
//! `reserved`, `expires_at`, `seq`, ...), looked up in the catalogue's
//! tables; every other column comes from the generic statements.

use std::sync::OnceLock;

use agora_core::changeset::StockChange;
use agora_core::query::Query;
use agora_core::schema::{Entity, Key, Value};
use agora_core::*;
use rusqlite::Connection;
use time::OffsetDateTime;

use crate::apply::{WriteError, WriteResult, insert, missing};
use crate::codec::bind_all;
use crate::select::fetch_on;
use crate::sql::{equal_params, ident, table_sql};

/// The stock statements; parameters `?1`, `?2` are the row's key.
struct StockSql {
    /// `?3` units held more, `?4` the time: when `on_hand - reserved >= ?3`.
    reserve: String,
    /// `?3` on-hand change, `?4` reserved change, `?5` the time: when both
    /// stay at least zero and reserved stays within on hand.
    shift: String,
    /// `?3` the reserved figure read, `?4` the new one, `?5` the time.
    set_reserved: String,
    /// `?3` the new on-hand figure, `?4` the time: when it covers what is reserved.
    set_on_hand: String,
}

fn stock_sql() -> &'static StockSql {
    static SQL: OnceLock<StockSql> = OnceLock::new();
    SQL.get_or_init(|| {
        let t = Inventory::table();
        let col = |name: &str| ident(t.columns[t.col(name)].name);
        let (oh, rs, at) = (col("on_hand"), col("reserved"), col("updated_at"));
        let (name, key) = (ident(t.name), equal_params(t, &t.key, 1));
        StockSql {
            reserve: format!(
                "UPDATE {name} SET {rs} = {rs} + ?3, {at} = ?4 WHERE {key} AND {oh} - {rs} >= ?3 AND {rs} + ?3 >= 0"
            ),
            shift: format!(
                "UPDATE {name} SET {oh} = {oh} + ?3, {rs} = {rs} + ?4, {at} = ?5 \
                 WHERE {key} AND {oh} + ?3 >= 0 AND {rs} + ?4 >= 0 AND {rs} + ?4 <= {oh} + ?3"
            ),
            set_reserved: format!(
                "UPDATE {name} SET {rs} = ?4, {at} = ?5 WHERE {key} AND {rs} = ?3 AND ?4 >= 0 AND ?4 <= {oh}"
            ),
            set_on_hand: format!("UPDATE {name} SET {oh} = ?3, {at} = ?4 WHERE {key} AND {rs} <= ?3 AND {rs} >= 0"),
        }
    })
}

/// What the memory reference makes of `change` on a row holding
/// `(on_hand, reserved)`: the new figures, `Ok(None)` when the change's
/// condition does not hold, or the figures that would break the row.
fn next_figures(change: &StockChange, on_hand: i64, reserved: i64) -> Result<Option<(i64, i64)>, (i64, i64)> {
    let next = match change {
        StockChange::Reserve(n) if on_hand - reserved < *n => return Ok(None),
        StockChange::Reserve(n) => (on_hand, reserved + n),
        StockChange::Release(n) => (on_hand, reserved - n),
        StockChange::Consume(n) => (on_hand - n, reserved - n),
        StockChange::SetOnHand { on_hand: new, .. } if reserved > *new => return Ok(None),
        StockChange::SetOnHand { on_hand: new, .. } => (*new, reserved),
        StockChange::SetReserved { expected, .. } if reserved != *expected => return Ok(None),
        StockChange::SetReserved { reserved: new, .. } => (on_hand, *new),
        StockChange::Adjust { on_hand: dh, reserved: dr } => (on_hand + dh, reserved + dr),
    };
    if next.0 < 0 || next.1 < 0 || next.1 > next.0 { Err(next) } else { Ok(Some(next)) }
}

/// Applies a stock change; see [`StockChange`] for each one's condition.
pub(crate) fn stock(
    conn: &Connection,
    variant_id: VariantId,
    warehouse_id: WarehouseId,
    at: OffsetDateTime,
    change: &StockChange,
) -> WriteResult {
    let sql = stock_sql();
    // The key in the catalogue's order for `inventory`, as `Write::row` gives it.
    let key = [Value::Uuid(variant_id.0), Value::Uuid(warehouse_id.0)];
    let at_v = Value::Timestamp(at);
    let (statement, args) = match change {
        StockChange::Reserve(n) => (&sql.reserve, vec![Value::Int(*n), at_v]),
        StockChange::Release(n) => (&sql.shift, vec![Value::Int(0), Value::Int(-n), at_v]),
        StockChange::Consume(n) => (&sql.shift, vec![Value::Int(-n), Value::Int(-n), at_v]),
        StockChange::Adjust { on_hand, reserved } => {
            (&sql.shift, vec![Value::Int(*on_hand), Value::Int(*reserved), at_v])
        }
        StockChange::SetReserved { expected, reserved } => {
            (&sql.set_reserved, vec![Value::Int(*expected), Value::Int(*reserved), at_v])
        }
        StockChange::SetOnHand { on_hand, .. } => (&sql.set_on_hand, vec![Value::Int(*on_hand), at_v]),
    };
    let mut st = conn.prepare_cached(statement)?;
    let next = bind_all(&mut st, 1, &key)?;
    bind_all(&mut st, next, &args)?;
    if st.raw_execute()? == 1 {
        return Ok(true);
    }
    // Nothing changed: read the row to say why.
    let key = Key(key.to_vec());
    let row = fetch_on(conn, &Query::by_key(Inventory::table(), &key))?.pop();
    let row = row.and_then(Inventory::from_record);
    match (change, row) {
        (StockChange::SetOnHand { store_id, on_hand }, None) => {
            let row = Inventory {
                variant_id,
                warehouse_id,
                store_id: *store_id,
                on_hand: *on_hand,
                reserved: 0,
                updated_at: at,
            };
            insert(conn, &Record::Inventory(row))?;
            Ok(true)
        }
        (StockChange::Reserve(_), None) => Ok(false),
        (_, None) => Err(missing(Inventory::table(), &key).into()),
        (change, Some(r)) => match next_figures(change, r.on_hand, r.reserved) {
            Ok(None) => Ok(false),
            Err((on_hand, reserved)) => Err(StoreError::Missing(format!(
                "inventory ({variant_id}, {warehouse_id}) would hold on_hand {on_hand}, reserved {reserved}"
            ))
            .into()),
            Ok(Some(_)) => Err(StoreError::Unavailable(format!(
                "sqlite: stock change {change:?} of ({variant_id}, {warehouse_id}) neither applied nor refused"
            ))
            .into()),
        },
    }
}

/// The idempotency upsert: replaces only a record with `expires_at <= now`.
fn idempotency_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let t = IdempotencyRecord::table();
        let upsert = table_sql(t).map(|s| s.upsert.as_str()).unwrap_or_default();
        let expires = ident(t.columns[t.col("expires_at")].name);
        format!("{upsert} WHERE {}.{expires} <= ?{}", ident(t.name), t.columns.len() + 1)
    })
}

/// Stores an idempotent response unless a live record holds its key.
pub(crate) fn put_idempotency(conn: &Connection, record: &IdempotencyRecord, now: OffsetDateTime) -> WriteResult {
    let mut values = Vec::with_capacity(IdempotencyRecord::table().columns.len() + 1);
    record.encode(&mut values);
    values.push(Value::Timestamp(now));
    let mut st = conn.prepare_cached(idempotency_sql())?;
    bind_all(&mut st, 1, &values)?;
    Ok(st.raw_execute()? == 1)
}

/// `UPDATE activity_event SET seq = ?2 WHERE id = ?1`.
fn sequence_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let t = ActivityEvent::table();
        let seq = ident(t.columns[t.col("seq")].name);
        format!("UPDATE {} SET {seq} = ?{} WHERE {}", ident(t.name), t.key.len() + 1, equal_params(t, &t.key, 1))
    })
}

/// Numbers `events` after `after` in the store's feed and records the new
/// last seq, when the store's last seq is still `after`.
pub(crate) fn sequence_events(conn: &Connection, store_id: StoreId, after: i64, events: &[EventId]) -> WriteResult {
    let last = fetch_on(conn, &Query::key::<EventSeq>(store_id))?
        .pop()
        .and_then(EventSeq::from_record)
        .map_or(0, |s| s.last_seq);
    if last != after {
        return Ok(false);
    }
    let table = ActivityEvent::table();
    let mut st = conn.prepare_cached(sequence_sql())?;
    let mut seq = after;
    for id in events {
        seq += 1;
        let key = Key::from(*id);
        let next = bind_all(&mut st, 1, key.values())?;
        st.raw_bind_parameter(next, seq)?;
        if st.raw_execute()? == 0 {
            return Err(missing(table, &key).into());
        }
    }
    drop(st);
    let row = Record::EventSeq(EventSeq { store_id, last_seq: seq });
    let mut values = Vec::with_capacity(2);
    row.encode(&mut values);
    let upsert = &table_sql(EventSeq::table())?.upsert;
    let mut st = conn.prepare_cached(upsert).map_err(WriteError::Db)?;
    bind_all(&mut st, 1, &values)?;
    st.raw_execute()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_the_reference() {
        assert_eq!(next_figures(&StockChange::Reserve(3), 5, 2), Ok(Some((5, 5))));
        assert_eq!(next_figures(&StockChange::Reserve(4), 5, 2), Ok(None));
        assert_eq!(next_figures(&StockChange::Reserve(-3), 5, 2), Err((5, -1)));
        assert_eq!(next_figures(&StockChange::Release(3), 5, 2), Err((5, -1)));
        assert_eq!(next_figures(&StockChange::Consume(2), 5, 2), Ok(Some((3, 0))));
        let set = |on_hand| StockChange::SetOnHand { store_id: StoreId(uuid::Uuid::nil()), on_hand };
        assert_eq!(next_figures(&set(1), 5, 2), Ok(None));
        assert_eq!(next_figures(&set(2), 5, 2), Ok(Some((2, 2))));
        assert_eq!(next_figures(&StockChange::SetReserved { expected: 1, reserved: 0 }, 5, 2), Ok(None));
        assert_eq!(next_figures(&StockChange::SetReserved { expected: 2, reserved: 6 }, 5, 2), Err((5, 6)));
        assert_eq!(next_figures(&StockChange::Adjust { on_hand: -5, reserved: -2 }, 5, 2), Ok(Some((0, 0))));
    }
}
