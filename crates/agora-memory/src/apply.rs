//! A changeset applied under the write lock, with an undo log: the model
//! every other adapter's `apply` is compared with.

use std::sync::Arc;

use agora_core::changeset::{Condition, GuardFailure, StockChange};
use agora_core::schema::{Entity, Key, Table, Value};
use agora_core::*;

use crate::Tables;

/// What a write changed, to put back if the changeset fails.
struct Undo {
    log: Vec<(&'static Table, Key, Option<Arc<Record>>)>,
}

impl Undo {
    fn put(&mut self, t: &mut Tables, table: &'static Table, key: Key, new: Option<Arc<Record>>) {
        let old = t.put(table, key.clone(), new);
        self.log.push((table, key, old));
    }

    fn rollback(self, t: &mut Tables) {
        for (table, key, old) in self.log.into_iter().rev() {
            t.put(table, key, old);
        }
    }
}

fn missing(what: impl Into<String>) -> StoreError {
    StoreError::Missing(what.into())
}

/// Applies `cs` to `t`: all of it or, on any error, nothing.
pub(crate) fn apply(t: &mut Tables, cs: &Changeset) -> StoreResult<()> {
    for (index, g) in cs.guards.iter().enumerate() {
        if !guard_holds(t, g) {
            return Err(StoreError::GuardFailed(GuardFailure { index, condition: Condition::Guard(g.clone()) }));
        }
    }
    let mut undo = Undo { log: Vec::new() };
    for (j, w) in cs.writes.iter().enumerate() {
        match write(t, &mut undo, w) {
            Ok(true) => {}
            Ok(false) => {
                undo.rollback(t);
                return Err(StoreError::GuardFailed(cs.write_failure(j)));
            }
            Err(e) => {
                undo.rollback(t);
                return Err(covering_guard(cs, e));
            }
        }
    }
    Ok(())
}

/// A unique violation that a free check of the changeset covers is
/// reported as that guard (it held when checked; a write of the same
/// changeset took the value since).
fn covering_guard(cs: &Changeset, e: StoreError) -> StoreError {
    if let StoreError::Duplicate(name) = &e
        && let Some(index) = cs.guards.iter().position(|g| g.is_free(name))
    {
        return StoreError::GuardFailed(cs.failure(index));
    }
    e
}

fn guard_holds(t: &Tables, g: &Guard) -> bool {
    match g {
        Guard::RowIs { table, key, expect } => match t.get(table, key) {
            None => false,
            Some(row) => {
                let mut vals = Vec::new();
                row.encode(&mut vals);
                expect.iter().all(|(c, v)| vals[*c] == v.borrowed())
            }
        },
        Guard::Free { table, unique, values } => {
            let Some(u) = table.unique.iter().position(|x| x.name == *unique) else { return false };
            t.unique_holder(table, u, &Key(values.clone())).is_none()
        }
    }
}

/// Checks the primary key and every unique constraint of a row about to be
/// written at `key` (its own old values excepted).
fn check_unique(t: &Tables, record: &Record, key: &Key, inserting: bool) -> StoreResult<()> {
    let table = record.table();
    if inserting && t.get(table, key).is_some() {
        return Err(StoreError::Duplicate(format!("{}_pkey {key}", table.name)));
    }
    let mut vals = Vec::new();
    record.encode(&mut vals);
    for (u, def) in table.unique.iter().enumerate() {
        let v: Vec<Value<'static>> = def.columns.iter().map(|&c| vals[c].clone().into_owned()).collect();
        if v.iter().any(Value::is_null) {
            continue;
        }
        if let Some(holder) = t.unique_holder(table, u, &Key(v))
            && holder != key
        {
            return Err(StoreError::Duplicate(def.name.to_owned()));
        }
    }
    Ok(())
}

/// Makes one write. `Ok(false)`: the write's own condition did not hold.
fn write(t: &mut Tables, undo: &mut Undo, w: &Write) -> StoreResult<bool> {
    match w {
        Write::Insert(r) => {
            let key = r.key();
            check_unique(t, r, &key, true)?;
            undo.put(t, r.table(), key, Some(Arc::new(r.clone())));
        }
        Write::Update(r) => {
            let key = r.key();
            if t.get(r.table(), &key).is_none() {
                return Err(missing(format!("{} {key}", r.table().name)));
            }
            check_unique(t, r, &key, false)?;
            undo.put(t, r.table(), key, Some(Arc::new(r.clone())));
        }
        Write::Delete { table, key } => {
            if t.get(table, key).is_some() {
                undo.put(t, table, key.clone(), None);
            }
        }
        Write::Stock { variant_id, warehouse_id, at, change } => {
            return stock(t, undo, *variant_id, *warehouse_id, *at, change);
        }
        Write::PutIdempotency { record, now } => {
            let key = record.key();
            let table = IdempotencyRecord::table();
            if let Some(Record::Idempotency(old)) = t.get(table, &key).map(|r| &**r)
                && old.expires_at > *now
            {
                return Ok(false);
            }
            undo.put(t, table, key, Some(Arc::new(Record::Idempotency(record.clone()))));
        }
        Write::SequenceEvents { store_id, after, events } => {
            let seq_table = EventSeq::table();
            let seq_key = Key::from(*store_id);
            let last = match t.get(seq_table, &seq_key).map(|r| &**r) {
                Some(Record::EventSeq(s)) => s.last_seq,
                _ => 0,
            };
            if last != *after {
                return Ok(false);
            }
            let mut seq = *after;
            for id in events {
                let key = Key::from(*id);
                let Some(Record::Event(e)) = t.get(ActivityEvent::table(), &key).map(|r| &**r) else {
                    return Err(missing(format!("activity_event {id}")));
                };
                seq += 1;
                let next = ActivityEvent { seq: Some(seq), ..e.clone() };
                undo.put(t, ActivityEvent::table(), key, Some(Arc::new(Record::Event(next))));
            }
            let row = EventSeq { store_id: *store_id, last_seq: seq };
            undo.put(t, seq_table, seq_key, Some(Arc::new(Record::EventSeq(row))));
        }
    }
    Ok(true)
}

fn stock(
    t: &mut Tables,
    undo: &mut Undo,
    variant_id: VariantId,
    warehouse_id: WarehouseId,
    at: time::OffsetDateTime,
    change: &StockChange,
) -> StoreResult<bool> {
    let table = Inventory::table();
    let key = Key(vec![Value::Uuid(variant_id.0), Value::Uuid(warehouse_id.0)]);
    let row = match t.get(table, &key).map(|r| &**r) {
        Some(Record::Inventory(r)) => Some(r.clone()),
        _ => None,
    };
    let what = || missing(format!("inventory ({variant_id}, {warehouse_id})"));
    let next = match (change, row) {
        (StockChange::SetOnHand { store_id, on_hand }, None) => {
            Inventory { variant_id, warehouse_id, store_id: *store_id, on_hand: *on_hand, reserved: 0, updated_at: at }
        }
        (_, None) => {
            return if matches!(change, StockChange::Reserve(_)) { Ok(false) } else { Err(what()) };
        }
        (change, Some(r)) => {
            let (on_hand, reserved) = match change {
                StockChange::Reserve(n) if r.on_hand - r.reserved < *n => return Ok(false),
                StockChange::Reserve(n) => (r.on_hand, r.reserved + n),
                StockChange::Release(n) => (r.on_hand, r.reserved - n),
                StockChange::Consume(n) => (r.on_hand - n, r.reserved - n),
                StockChange::SetOnHand { on_hand, .. } if r.reserved > *on_hand => return Ok(false),
                StockChange::SetOnHand { on_hand, .. } => (*on_hand, r.reserved),
                StockChange::SetReserved { expected, .. } if r.reserved != *expected => return Ok(false),
                StockChange::SetReserved { reserved, .. } => (r.on_hand, *reserved),
                StockChange::Adjust { on_hand, reserved } => (r.on_hand + on_hand, r.reserved + reserved),
            };
            // The SQL schemas' CHECKs: never negative, never more reserved than on hand.
            if on_hand < 0 || reserved < 0 || reserved > on_hand {
                return Err(StoreError::Missing(format!(
                    "inventory ({variant_id}, {warehouse_id}) would hold on_hand {on_hand}, reserved {reserved}"
                )));
            }
            Inventory { on_hand, reserved, updated_at: at, ..r }
        }
    };
    undo.put(t, table, key, Some(Arc::new(Record::Inventory(next))));
    Ok(true)
}
