//! Several orders in one statement: consecutive changesets of a group that
//! are shaped like `place_order` (stock reservations fused with their
//! guards, an order, its lines and reservations, the idempotency record, the
//! event) are written by one fixed statement over arrays (`UNNEST`), so a
//! whole group of orders costs one round trip.
//!
//! Reservations of the same stock row are coalesced: one conditional UPDATE
//! per `(variant, warehouse)` reserves the sum of the group's quantities if
//! the sum is available. Applied one by one, every order's guard holds
//! exactly when the sum fits (reservations only grow `reserved`), so the
//! outcome is the same; this is what lets a hot SKU take one row lock per
//! group instead of one per order. When anything does not hold (a row
//! short of the sum, a live idempotency key, a constraint), the statement's
//! work is rolled back to the group's savepoint and the changesets are
//! applied one by one, which reports each one's own guard.

use std::collections::HashMap;
use std::sync::LazyLock;

use agora_core::{
    ActivityEvent, Changeset, CustomerOrder, Guard, IdempotencyRecord, InventoryReservation, OrderItem, Record,
    VariantId, WarehouseId, Write,
};
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;

use crate::apply::Plan;
use crate::fused::IDEMPOTENCY_UPSERT;

static ORDERS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH s AS (\
    UPDATE inventory i SET reserved = i.reserved + t.qty, updated_at = t.at \
    FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::timestamptz[]) AS t(v, w, qty, at) \
    WHERE i.variant_id = t.v AND i.warehouse_id = t.w AND i.on_hand - i.reserved >= t.qty RETURNING 1), \
 o AS (INSERT INTO customer_order (id, order_number, store_id, user_id, address_id, address_hash, status, amount, \
    pay_amount, currency, help_task_no, created_at, paid_at, shipped_at, received_at, closed_at, close_reason, \
    reservation_expires_at, updated_at) \
    SELECT t.id, t.order_number, t.store_id, t.user_id, t.address_id, t.address_hash, t.status, \
    (t.amount * 0.01)::numeric(12,2), (t.pay_amount * 0.01)::numeric(12,2), t.currency, t.help_task_no, \
    t.created_at, t.paid_at, t.shipped_at, t.received_at, t.closed_at, t.close_reason, t.reservation_expires_at, \
    t.updated_at \
    FROM UNNEST($5::uuid[], $6::text[], $7::uuid[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::int8[], \
    $13::int8[], $14::text[], $15::text[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[], \
    $19::timestamptz[], $20::timestamptz[], $21::text[], $22::timestamptz[], $23::timestamptz[]) \
    AS t(id, order_number, store_id, user_id, address_id, address_hash, status, amount, pay_amount, currency, \
    help_task_no, created_at, paid_at, shipped_at, received_at, closed_at, close_reason, reservation_expires_at, \
    updated_at)), \
 it AS (INSERT INTO order_item (id, order_id, line_no, variant_id, sku, qty, unit_price) \
    SELECT t.id, t.order_id, t.line_no, t.variant_id, t.sku, t.qty, (t.price * 0.01)::numeric(12,2) \
    FROM UNNEST($24::uuid[], $25::uuid[], $26::int4[], $27::uuid[], $28::text[], $29::int8[], $30::int8[]) \
    AS t(id, order_id, line_no, variant_id, sku, qty, price)), \
 r AS (INSERT INTO inventory_reservation \
    (id, order_id, store_id, variant_id, warehouse_id, qty, status, expires_at, created_at, updated_at) \
    SELECT * FROM UNNEST($31::uuid[], $32::uuid[], $33::uuid[], $34::uuid[], $35::uuid[], $36::int8[], \
    $37::text[], $38::timestamptz[], $39::timestamptz[], $40::timestamptz[])), \
 k AS (INSERT INTO idempotency_key \
    (scope, key, fingerprint, response_status, response_body, resource_id, created_at, expires_at) \
    SELECT * FROM UNNEST($41::text[], $42::text[], $43::text[], $44::int4[], $45::text[], $46::uuid[], \
    $47::timestamptz[], $48::timestamptz[]) \
    {IDEMPOTENCY_UPSERT} WHERE idempotency_key.expires_at <= EXCLUDED.created_at RETURNING 1), \
 e AS (INSERT INTO activity_event (id, store_id, seq, entity_type, entity_id, kind, payload, at) \
    SELECT * FROM UNNEST($49::uuid[], $50::uuid[], $51::int8[], $52::text[], $53::uuid[], $54::text[], \
    $55::jsonb[], $56::timestamptz[])) \
 SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM k)"
    )
});

/// True when a changeset is order-shaped: every guard is a stock guard fused
/// with its reservation or the idempotency guard checked by its upsert (with
/// the record's `created_at` as the guard's `now`, which the statement
/// compares against), and every write is one of the five inserts.
fn order_shaped(cs: &Changeset, plan: &Plan) -> bool {
    for (i, g) in cs.guards.iter().enumerate() {
        let ok = match g {
            Guard::StockAvailable { qty, .. } => plan.fused.contains_key(&i) && *qty > 0,
            Guard::IdempotencyKeyFree { now, .. } => plan.deferred.get(&i).is_some_and(
                |&j| matches!(&cs.writes[j], Write::Insert(Record::Idempotency(rec)) if rec.created_at == *now),
            ),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    cs.writes.iter().enumerate().all(|(j, w)| {
        plan.skip.contains(&j)
            || match w {
                Write::Insert(Record::Idempotency(_)) => plan.deferred.values().any(|&d| d == j),
                Write::Insert(Record::Order(_) | Record::OrderItem(_) | Record::Reservation(_) | Record::Event(_)) => {
                    true
                }
                _ => false,
            }
    })
}

/// The statement's bind data is kept under this many bytes. A larger
/// message goes out in several TLS records, and with Nagle's algorithm on
/// (sqlx does not set `TCP_NODELAY`) the last record then waits for the
/// server's delayed ACK: 40 ms per statement on Linux, measured.
const BATCH_BYTES: usize = 12 * 1024;

/// Roughly how many bytes a changeset adds to the statement's parameters.
fn weight(cs: &Changeset) -> usize {
    cs.writes
        .iter()
        .map(|w| match w {
            Write::Insert(Record::Order(o)) => 220 + o.order_number.len() + o.address_hash.len(),
            Write::Insert(Record::OrderItem(i)) => 80 + i.sku.len(),
            Write::Insert(Record::Reservation(_)) => 130,
            Write::Insert(Record::Idempotency(k)) => {
                60 + k.scope.len() + k.key.len() + k.fingerprint.len() + k.response_body.len()
            }
            // The payload's JSON length is not known without serialising it.
            Write::Insert(Record::Event(e)) => 300 + e.kind.len() + e.entity_type.len(),
            _ => 40,
        })
        .sum()
}

/// How many changesets from the start of `group` form one batch.
pub(crate) fn run_len(group: &[(&Changeset, &Plan)]) -> usize {
    let mut bytes = 0;
    group
        .iter()
        .take_while(|(cs, plan)| {
            bytes += weight(cs);
            order_shaped(cs, plan) && bytes <= BATCH_BYTES
        })
        .count()
}

#[derive(Default)]
struct Columns<'a> {
    stock: Vec<((VariantId, WarehouseId), i64, OffsetDateTime)>,
    orders: Vec<&'a CustomerOrder>,
    items: Vec<&'a OrderItem>,
    reservations: Vec<&'a InventoryReservation>,
    keys: Vec<&'a IdempotencyRecord>,
    events: Vec<&'a ActivityEvent>,
}

fn collect<'a>(run: &[(&'a Changeset, &'a Plan)]) -> Columns<'a> {
    let mut c = Columns::default();
    let mut row_of: HashMap<(VariantId, WarehouseId), usize> = HashMap::new();
    for (cs, plan) in run {
        for (i, g) in cs.guards.iter().enumerate() {
            if let (Guard::StockAvailable { variant_id, warehouse_id, qty }, Some(&j)) = (g, plan.fused.get(&i)) {
                let Write::AdjustStock { at, .. } = &cs.writes[j] else { continue };
                let key = (*variant_id, *warehouse_id);
                match row_of.get(&key) {
                    // Applied in order, the last changeset's time is the row's.
                    Some(&n) => {
                        c.stock[n].1 += qty;
                        c.stock[n].2 = *at;
                    }
                    None => {
                        row_of.insert(key, c.stock.len());
                        c.stock.push((key, *qty, *at));
                    }
                }
            }
        }
        for (j, w) in cs.writes.iter().enumerate() {
            if plan.skip.contains(&j) {
                continue;
            }
            match w {
                Write::Insert(Record::Order(o)) => c.orders.push(o),
                Write::Insert(Record::OrderItem(i)) => c.items.push(i),
                Write::Insert(Record::Reservation(r)) => c.reservations.push(r),
                Write::Insert(Record::Idempotency(k)) => c.keys.push(k),
                Write::Insert(Record::Event(e)) => c.events.push(e),
                _ => {}
            }
        }
    }
    c
}

fn col<T, U>(rows: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

/// Writes a run of order-shaped changesets (see [`run_len`]) with one
/// statement. `Ok(true)`: every guard of every changeset held. `Ok(false)`
/// or `Err`: something did not; the statement may have written part of the
/// run, so the caller rolls back to its savepoint and applies the run one by
/// one.
pub(crate) async fn apply_orders(conn: &mut PgConnection, run: &[(&Changeset, &Plan)]) -> Result<bool, sqlx::Error> {
    let c = collect(run);
    let (o, it, r, k, e) = (&c.orders, &c.items, &c.reservations, &c.keys, &c.events);
    let row = sqlx::query(ORDERS_SQL.as_str())
        .bind(col(&c.stock, |s| s.0.0.0))
        .bind(col(&c.stock, |s| s.0.1.0))
        .bind(col(&c.stock, |s| s.1))
        .bind(col(&c.stock, |s| s.2))
        .bind(col(o, |o| o.id.0))
        .bind(col(o, |o| o.order_number.as_str()))
        .bind(col(o, |o| o.store_id.0))
        .bind(col(o, |o| o.user_id.0))
        .bind(col(o, |o| o.address_id.0))
        .bind(col(o, |o| o.address_hash.as_str()))
        .bind(col(o, |o| o.status.as_str()))
        .bind(col(o, |o| o.amount_minor))
        .bind(col(o, |o| o.pay_amount_minor))
        .bind(col(o, |o| o.currency.as_str()))
        .bind(col(o, |o| o.help_task_no.as_deref()))
        .bind(col(o, |o| o.created_at))
        .bind(col(o, |o| o.paid_at))
        .bind(col(o, |o| o.shipped_at))
        .bind(col(o, |o| o.received_at))
        .bind(col(o, |o| o.closed_at))
        .bind(col(o, |o| o.close_reason.map(|c| c.as_str())))
        .bind(col(o, |o| o.reservation_expires_at))
        .bind(col(o, |o| o.updated_at))
        .bind(col(it, |i| i.id.0))
        .bind(col(it, |i| i.order_id.0))
        .bind(col(it, |i| i.line_no))
        .bind(col(it, |i| i.variant_id.0))
        .bind(col(it, |i| i.sku.as_str()))
        .bind(col(it, |i| i.qty))
        .bind(col(it, |i| i.unit_price_minor))
        .bind(col(r, |r| r.id.0))
        .bind(col(r, |r| r.order_id.0))
        .bind(col(r, |r| r.store_id.0))
        .bind(col(r, |r| r.variant_id.0))
        .bind(col(r, |r| r.warehouse_id.0))
        .bind(col(r, |r| r.qty))
        .bind(col(r, |r| r.status.as_str()))
        .bind(col(r, |r| r.expires_at))
        .bind(col(r, |r| r.created_at))
        .bind(col(r, |r| r.updated_at))
        .bind(col(k, |k| k.scope.as_str()))
        .bind(col(k, |k| k.key.as_str()))
        .bind(col(k, |k| k.fingerprint.as_str()))
        .bind(col(k, |k| i32::from(k.response_status)))
        .bind(col(k, |k| k.response_body.as_str()))
        .bind(col(k, |k| k.resource_id))
        .bind(col(k, |k| k.created_at))
        .bind(col(k, |k| k.expires_at))
        .bind(col(e, |e| e.id.0))
        .bind(col(e, |e| e.store_id.0))
        .bind(col(e, |e| e.seq))
        .bind(col(e, |e| e.entity_type.as_str()))
        .bind(col(e, |e| e.entity_id))
        .bind(col(e, |e| e.kind.as_str()))
        .bind(col(e, |e| &e.payload))
        .bind(col(e, |e| e.at))
        .fetch_one(conn)
        .await?;
    let stock_rows: i64 = row.try_get(0)?;
    let keys_written: i64 = row.try_get(1)?;
    Ok(usize::try_from(stock_rows).ok() == Some(c.stock.len()) && usize::try_from(keys_written).ok() == Some(k.len()))
}
