//! The tables of a [`Snapshot`] in dependency order, their rows as
//! canonical JSON, and the writes that recreate a row in an empty store.

use agora_core::*;
use serde::Serialize;
use serde_json::Value;

use crate::CutoverError;

/// Every table, in dependency order (a row only refers to rows of tables
/// before it). Export, import and copy all walk the tables in this order.
pub const TABLES: &[&str] = &[
    "store",
    "store_settings",
    "app_user",
    "user_address",
    "session",
    "admin_key",
    "product",
    "product_variant",
    "product_image",
    "warehouse",
    "inventory",
    "customer_order",
    "order_item",
    "inventory_reservation",
    "payment",
    "payment_event",
    "help_task",
    "help",
    "payout_ledger",
    "audit_log",
    "idempotency_key",
    "activity_event",
    "event_seq",
    "export_job",
    "export_audit_record",
];

/// Position of `table` in [`TABLES`].
pub fn table_index(table: &str) -> Option<usize> {
    TABLES.iter().position(|t| *t == table)
}

fn values<T: Serialize>(rows: &[T]) -> Vec<Value> {
    rows.iter().map(|r| serde_json::to_value(r).expect("entities always serialise")).collect()
}

/// Every table of `snap` as JSON rows, in [`TABLES`] order; each table in
/// the snapshot's canonical (primary key) order.
pub fn snapshot_rows(snap: &Snapshot) -> Vec<(&'static str, Vec<Value>)> {
    let event_seqs =
        snap.event_seqs.iter().map(|(s, n)| serde_json::json!({"store_id": s, "last_seq": n})).collect::<Vec<_>>();
    let out = vec![
        ("store", values(&snap.stores)),
        ("store_settings", values(&snap.settings)),
        ("app_user", values(&snap.users)),
        ("user_address", values(&snap.addresses)),
        ("session", values(&snap.sessions)),
        ("admin_key", values(&snap.admin_keys)),
        ("product", values(&snap.products)),
        ("product_variant", values(&snap.variants)),
        ("product_image", values(&snap.images)),
        ("warehouse", values(&snap.warehouses)),
        ("inventory", values(&snap.inventory)),
        ("customer_order", values(&snap.orders)),
        ("order_item", values(&snap.order_items)),
        ("inventory_reservation", values(&snap.reservations)),
        ("payment", values(&snap.payments)),
        ("payment_event", values(&snap.payment_events)),
        ("help_task", values(&snap.tasks)),
        ("help", values(&snap.helps)),
        ("payout_ledger", values(&snap.payouts)),
        ("audit_log", values(&snap.audit_logs)),
        ("idempotency_key", values(&snap.idempotency)),
        ("activity_event", values(&snap.events)),
        ("event_seq", event_seqs),
        ("export_job", values(&snap.exports)),
        ("export_audit_record", values(&snap.export_audit)),
    ];
    debug_assert!(out.iter().map(|(t, _)| *t).eq(TABLES.iter().copied()));
    out
}

/// The primary key of a JSON row of `table`, as text (for reports).
pub fn row_key(table: &str, row: &Value) -> String {
    let f = |k: &str| row.get(k).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
    match table {
        "store_settings" | "event_seq" => f("store_id"),
        "inventory" => {
            Some(format!("({}, {})", f("variant_id").unwrap_or_default(), f("warehouse_id").unwrap_or_default()))
        }
        "idempotency_key" => Some(format!("({}, {})", f("scope").unwrap_or_default(), f("key").unwrap_or_default())),
        _ => f("id"),
    }
    .unwrap_or_else(|| "?".into())
}

/// Canonical JSON text: object keys sorted, no insignificant whitespace.
/// Two equal values always give the same text, whatever map order they
/// were built with (PostgreSQL `jsonb` reorders keys).
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn parse<T: serde::de::DeserializeOwned>(table: &str, row: Value) -> Result<T, CutoverError> {
    serde_json::from_value(row).map_err(|e| CutoverError::Format(format!("{table}: bad row: {e}")))
}

/// The writes that create this row in a store that does not hold it:
/// an insert, except stock rows (`SetOnHand` then `AdjustStock` of the
/// reserved units), events (inserted unsequenced, then `SequenceEvent`)
/// and per-store event seqs (`SetEventSeq`).
///
/// # Errors
/// [`CutoverError::Format`] for an unknown table or a row that does not parse.
pub fn create_writes(table: &str, row: Value) -> Result<Vec<Write>, CutoverError> {
    let ins = |r: Record| Ok(vec![Write::Insert(r)]);
    match table {
        "store" => ins(Record::Store(parse(table, row)?)),
        "store_settings" => ins(Record::StoreSettings(parse(table, row)?)),
        "app_user" => ins(Record::User(parse(table, row)?)),
        "user_address" => ins(Record::Address(parse(table, row)?)),
        "session" => ins(Record::Session(parse(table, row)?)),
        "admin_key" => ins(Record::AdminKey(parse(table, row)?)),
        "product" => ins(Record::Product(parse(table, row)?)),
        "product_variant" => ins(Record::Variant(parse(table, row)?)),
        "product_image" => ins(Record::Image(parse(table, row)?)),
        "warehouse" => ins(Record::Warehouse(parse(table, row)?)),
        "inventory" => Ok(inventory_create(&parse::<Inventory>(table, row)?)),
        "customer_order" => ins(Record::Order(parse(table, row)?)),
        "order_item" => ins(Record::OrderItem(parse(table, row)?)),
        "inventory_reservation" => ins(Record::Reservation(parse(table, row)?)),
        "payment" => ins(Record::Payment(parse(table, row)?)),
        "payment_event" => ins(Record::PaymentEvent(parse(table, row)?)),
        "help_task" => ins(Record::Task(parse(table, row)?)),
        "help" => ins(Record::Help(parse(table, row)?)),
        "payout_ledger" => ins(Record::Payout(parse(table, row)?)),
        "audit_log" => ins(Record::Audit(parse(table, row)?)),
        "idempotency_key" => ins(Record::Idempotency(parse(table, row)?)),
        "activity_event" => Ok(event_create(parse::<ActivityEvent>(table, row)?)),
        "event_seq" => {
            #[derive(serde::Deserialize)]
            struct Seq {
                store_id: StoreId,
                last_seq: i64,
            }
            let s: Seq = parse(table, row)?;
            Ok(vec![Write::SetEventSeq { store_id: s.store_id, last_seq: s.last_seq }])
        }
        "export_job" => ins(Record::Export(parse(table, row)?)),
        "export_audit_record" => ins(Record::ExportAudit(parse(table, row)?)),
        other => Err(CutoverError::Format(format!("unknown table {other:?}"))),
    }
}

/// Creates a stock row exactly: on hand (reserved 0), then the reserved
/// units, both stamped with the row's `updated_at`.
pub(crate) fn inventory_create(inv: &Inventory) -> Vec<Write> {
    let mut w = vec![Write::SetOnHand {
        variant_id: inv.variant_id,
        warehouse_id: inv.warehouse_id,
        store_id: inv.store_id,
        on_hand: inv.on_hand,
        at: inv.updated_at,
    }];
    if inv.reserved != 0 {
        w.push(Write::AdjustStock {
            variant_id: inv.variant_id,
            warehouse_id: inv.warehouse_id,
            on_hand_delta: 0,
            reserved_delta: inv.reserved,
            at: inv.updated_at,
        });
    }
    w
}

/// Inserts an event unsequenced, then gives it its seq.
pub(crate) fn event_create(mut e: ActivityEvent) -> Vec<Write> {
    let seq = e.seq.take();
    let (id, store_id) = (e.id, e.store_id);
    let mut w = vec![Write::Insert(Record::Event(e))];
    if let Some(seq) = seq {
        w.push(Write::SequenceEvent { event_id: id, store_id, seq });
    }
    w
}

/// True when no table of the snapshot has a row; otherwise the first
/// non-empty table and its count.
pub fn first_nonempty(snap: &Snapshot) -> Option<(&'static str, usize)> {
    snap.counts().into_iter().find(|(_, n)| *n > 0)
}
