//! One statement per changeset, for changesets whose every guard is checked
//! by one of its own writes (the order path: `StockAvailable` fused with its
//! reservation, `IdempotencyKeyFree` checked by the key's upsert).
//!
//! Such a changeset becomes one chain of data-modifying CTEs: the
//! conditional stock UPDATEs, the INSERTs and the idempotency upsert, with a
//! final `SELECT` of how many rows each guarding part touched. One round trip
//! instead of one per write. Every part runs, whether or not a guard held, so
//! a changeset with a failed guard has written something: the caller rolls
//! back (the transaction, or the group's savepoint) before going on. Parts run
//! on one snapshot, which is what "guards are checked before writes" means;
//! the plan only fuses a stock guard whose row has exactly one write, so no
//! two parts touch the same row. Foreign keys are checked at the end of the
//! statement, so a line may reference the order inserted beside it.
//!
//! The SQL depends only on the changeset's shape (which guards, which
//! tables in which order), so it is built once per shape and cached; sqlx
//! then keeps one prepared statement per shape and connection.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex};

use agora_core::{Changeset, Guard, Record, Write};
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::apply::{Plan, idempotency_guard};
use crate::rows::{self, PgQuery};
use crate::schema::*;

/// At most this many parts in one statement (keeps far below the 65 535
/// bind parameters of the protocol and the planner's comfort zone).
const MAX_PARTS: usize = 48;

/// Distinct statement shapes kept; beyond it, SQL is rebuilt per call.
const MAX_SHAPES: usize = 512;

/// What makes a changeset's idempotency insert an upsert that may replace
/// only an expired record.
pub(crate) const IDEMPOTENCY_UPSERT: &str = " ON CONFLICT (scope, key) DO UPDATE SET \
    fingerprint = EXCLUDED.fingerprint, response_status = EXCLUDED.response_status, \
    response_body = EXCLUDED.response_body, resource_id = EXCLUDED.resource_id, \
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at";

static SHAPES: LazyLock<Mutex<HashMap<Vec<u16>, Arc<str>>>> = LazyLock::new(Default::default);

/// The table a record lives in, with a small number naming it in shape keys.
fn record_table(r: &Record) -> (&'static Table, u16) {
    match r {
        Record::Store(_) => (&STORE, 1),
        Record::StoreSettings(_) => (&SETTINGS, 2),
        Record::User(_) => (&USER, 3),
        Record::Address(_) => (&ADDRESS, 4),
        Record::Session(_) => (&SESSION, 5),
        Record::AdminKey(_) => (&ADMIN_KEY, 6),
        Record::Product(_) => (&PRODUCT, 7),
        Record::Variant(_) => (&VARIANT, 8),
        Record::Image(_) => (&IMAGE, 9),
        Record::Warehouse(_) => (&WAREHOUSE, 10),
        Record::Reservation(_) => (&RESERVATION, 11),
        Record::Order(_) => (&ORDER, 12),
        Record::OrderItem(_) => (&ORDER_ITEM, 13),
        Record::Payment(_) => (&PAYMENT, 14),
        Record::PaymentEvent(_) => (&PAYMENT_EVENT, 15),
        Record::Task(_) => (&TASK, 16),
        Record::Help(_) => (&HELP, 17),
        Record::Payout(_) => (&PAYOUT, 18),
        Record::Audit(_) => (&AUDIT, 19),
        Record::Idempotency(_) => (&IDEMPOTENCY, 20),
        Record::Event(_) => (&EVENT, 21),
        Record::Export(_) => (&EXPORT, 22),
        Record::ExportAudit(_) => (&EXPORT_AUDIT, 23),
    }
}

fn bind_record<'q>(q: PgQuery<'q>, r: &Record) -> PgQuery<'q> {
    match r {
        Record::Store(v) => rows::bind_shop(q, v),
        Record::StoreSettings(v) => rows::bind_settings(q, v),
        Record::User(v) => rows::bind_user(q, v),
        Record::Address(v) => rows::bind_address(q, v),
        Record::Session(v) => rows::bind_session(q, v),
        Record::AdminKey(v) => rows::bind_admin_key(q, v),
        Record::Product(v) => rows::bind_product(q, v),
        Record::Variant(v) => rows::bind_variant(q, v),
        Record::Image(v) => rows::bind_image(q, v),
        Record::Warehouse(v) => rows::bind_warehouse(q, v),
        Record::Reservation(v) => rows::bind_reservation(q, v),
        Record::Order(v) => rows::bind_order(q, v),
        Record::OrderItem(v) => rows::bind_order_item(q, v),
        Record::Payment(v) => rows::bind_payment(q, v),
        Record::PaymentEvent(v) => rows::bind_payment_event(q, v),
        Record::Task(v) => rows::bind_task(q, v),
        Record::Help(v) => rows::bind_help(q, v),
        Record::Payout(v) => rows::bind_payout(q, v),
        Record::Audit(v) => rows::bind_audit(q, v),
        Record::Idempotency(v) => rows::bind_idempotency(q, v),
        Record::Event(v) => rows::bind_event(q, v),
        Record::Export(v) => rows::bind_export(q, v),
        Record::ExportAudit(v) => rows::bind_export_audit(q, v),
    }
}

/// True when write `j` is an idempotency insert that checks a deferred guard.
fn is_guarded_upsert(plan: &Plan, j: usize) -> bool {
    plan.deferred.values().any(|&d| d == j)
}

/// True when the changeset can be sent as one statement: every guard is
/// fused with its stock write or deferred to its upsert, and every other
/// write is a plain insert (payment events write two tables and are left to
/// the general path).
pub(crate) fn fusable(cs: &Changeset, plan: &Plan) -> bool {
    let guards_ok = (0..cs.guards.len()).all(|i| plan.fused.contains_key(&i) || plan.deferred.contains_key(&i));
    if !guards_ok {
        return false;
    }
    let mut parts = plan.fused.len();
    for (j, w) in cs.writes.iter().enumerate() {
        if plan.skip.contains(&j) {
            continue;
        }
        match w {
            Write::Insert(Record::PaymentEvent(_)) => return false,
            Write::Insert(Record::Idempotency(_)) if !is_guarded_upsert(plan, j) => return false,
            Write::Insert(_) => parts += 1,
            _ => return false,
        }
    }
    (2..=MAX_PARTS).contains(&parts)
}

/// The shape key: guards (fused or deferred to which write), then the
/// tables of the writes in order.
fn shape_key(cs: &Changeset, plan: &Plan) -> Vec<u16> {
    let mut key = Vec::with_capacity(cs.guards.len() + cs.writes.len() + 1);
    for i in 0..cs.guards.len() {
        match plan.deferred.get(&i) {
            Some(&j) => key.push(1000 + j as u16),
            None => key.push(1),
        }
    }
    key.push(0);
    for (j, w) in cs.writes.iter().enumerate() {
        match w {
            _ if plan.skip.contains(&j) => key.push(0),
            Write::Insert(r) => key.push(record_table(r).1),
            _ => key.push(u16::MAX),
        }
    }
    key
}

fn build_sql(cs: &Changeset, plan: &Plan) -> String {
    let mut sql = String::with_capacity(4096);
    let mut n = 0usize;
    let mut first = true;
    let mut part = |sql: &mut String, name: String, body: &str| {
        sql.push_str(if first { "WITH " } else { ", " });
        first = false;
        let _ = write!(sql, "{name} AS ({body})");
    };
    for i in 0..cs.guards.len() {
        if plan.fused.contains_key(&i) {
            let body = format!(
                "UPDATE inventory SET reserved = reserved + ${q}, updated_at = ${at} \
                 WHERE variant_id = ${v} AND warehouse_id = ${w} AND on_hand - reserved >= ${q} RETURNING 1",
                v = n + 1,
                w = n + 2,
                q = n + 3,
                at = n + 4
            );
            part(&mut sql, format!("g{i}"), &body);
            n += 4;
        }
    }
    for (j, w) in cs.writes.iter().enumerate() {
        if plan.skip.contains(&j) {
            continue;
        }
        let Write::Insert(r) = w else { continue };
        let (table, _) = record_table(r);
        let mut body = table.insert_at(n);
        n += table.cols.len();
        if is_guarded_upsert(plan, j) {
            let _ = write!(body, "{IDEMPOTENCY_UPSERT} WHERE idempotency_key.expires_at <= ${} RETURNING 1", n + 1);
            n += 1;
        }
        part(&mut sql, format!("w{j}"), &body);
    }
    sql.push_str(" SELECT ");
    if cs.guards.is_empty() {
        sql.push('1');
    }
    for i in 0..cs.guards.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        match plan.deferred.get(&i) {
            Some(j) => {
                let _ = write!(sql, "(SELECT count(*) FROM w{j})");
            }
            None => {
                let _ = write!(sql, "(SELECT count(*) FROM g{i})");
            }
        }
    }
    sql
}

fn statement(cs: &Changeset, plan: &Plan) -> Arc<str> {
    let key = shape_key(cs, plan);
    let mut shapes = SHAPES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(sql) = shapes.get(&key) {
        return sql.clone();
    }
    let sql: Arc<str> = build_sql(cs, plan).into();
    if shapes.len() < MAX_SHAPES {
        shapes.insert(key, sql.clone());
    }
    sql
}

/// Runs a [`fusable`] changeset as one statement. `Ok(None)`: every guard
/// held; `Ok(Some(i))`: guard `i` is the first that did not (the statement
/// wrote anyway: roll back). The caller has begun a transaction.
pub(crate) async fn apply_fused(
    conn: &mut PgConnection,
    cs: &Changeset,
    plan: &Plan,
) -> Result<Option<usize>, sqlx::Error> {
    let mut q: PgQuery<'_> = sqlx::query(AssertSqlSafe(statement(cs, plan)));
    // Bind in exactly the order build_sql numbers the parameters.
    for (i, g) in cs.guards.iter().enumerate() {
        if let Some(&j) = plan.fused.get(&i)
            && let (Guard::StockAvailable { variant_id, warehouse_id, qty }, Write::AdjustStock { at, .. }) =
                (g, &cs.writes[j])
        {
            q = q.bind(variant_id.0).bind(warehouse_id.0).bind(*qty).bind(*at);
        }
    }
    for (j, w) in cs.writes.iter().enumerate() {
        if plan.skip.contains(&j) {
            continue;
        }
        let Write::Insert(r) = w else { continue };
        q = bind_record(q, r);
        if is_guarded_upsert(plan, j)
            && let Record::Idempotency(rec) = r
        {
            let now = idempotency_guard(cs, &rec.scope, &rec.key).map(|(_, now)| now);
            q = q.bind(now);
        }
    }
    let row = q.fetch_one(conn).await?;
    for i in 0..cs.guards.len() {
        let touched: i64 = row.try_get(i)?;
        if touched != 1 {
            return Ok(Some(i));
        }
    }
    Ok(None)
}
