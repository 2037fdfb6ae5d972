//! The write door, plus `snapshot` and `health`. A changeset is applied in
//! a transaction of its own, or (group commit, see `group`) under its own
//! savepoint inside the committer's transaction shared with the changesets
//! that arrived with it; either way it is all-or-nothing and its guards see
//! everything applied before it.
//!
//! Guards are checked in index order inside the transaction, each under a
//! row lock (`FOR NO KEY UPDATE`, which does not conflict with the key-share
//! locks foreign-key checks take) or, for "no such row yet" guards, by a
//! plain existence check backed by a unique constraint: when a concurrent
//! transaction wins the race, the insert fails with SQLSTATE 23505 and the
//! constraint's name maps back to the guard. `EventSeqIs` (whose row may
//! not exist yet) serialises on a transaction-scoped advisory lock.
//!
//! Hot path: a `StockAvailable` guard whose row is touched by exactly one
//! write, the matching `AdjustStock { on_hand_delta: 0, reserved_delta: qty }`,
//! is evaluated and applied as one conditional UPDATE; consecutive inserts
//! of order lines or reservations go in one `INSERT ... SELECT FROM UNNEST`;
//! a changeset whose every guard is fused or deferred to its own writes is
//! sent as one statement (see `fused`).
//!
//! Serialization failures and deadlocks (40001, 40P01), and connections lost
//! before COMMIT was sent, roll the changeset back and retry it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use agora_core::*;
use async_trait::async_trait;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::fused::IDEMPOTENCY_UPSERT;
use crate::reads::cached_sql;
use crate::rows::{self, PgQuery};
use crate::schema::*;
use crate::{PgStore, StoreResult, is_connection_error, unavailable};

/// Attempts of one changeset before a retryable failure is reported.
const MAX_ATTEMPTS: u32 = 5;

/// Why one attempt failed.
#[derive(Clone)]
pub(crate) enum Failure {
    /// Final: report it.
    Store(StoreError),
    /// Nothing was committed; the whole transaction may run again.
    Retry(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// The guard kind a unique constraint stands for.
fn guard_kind_of_constraint(constraint: &str) -> Option<&'static str> {
    Some(match constraint {
        "app_user_email_key" => "email_free",
        "store_domain_key" => "domain_free",
        "product_variant_store_sku_key" => "sku_free",
        "help_task_order_key" => "no_task_for_order",
        "help_task_helper_key" => "no_help_by_helper",
        "payout_ledger_task_key" => "no_payout_for_task",
        "idempotency_key_pkey" => "idempotency_key_free",
        "payment_event_key_pkey" => "payment_event_free",
        _ => return None,
    })
}

pub(crate) fn guard_failed(cs: &Changeset, index: usize) -> StoreError {
    StoreError::GuardFailed(GuardFailure { index, guard: cs.guards[index].clone() })
}

/// Classifies an error of a statement sent before COMMIT.
pub(crate) fn classify(e: sqlx::Error, cs: &Changeset) -> Failure {
    if is_connection_error(&e) {
        return Failure::Retry(e.to_string());
    }
    if let sqlx::Error::Database(db) = &e {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let constraint = db.constraint().unwrap_or("").to_owned();
        match code.as_str() {
            "40001" | "40P01" => return Failure::Retry(db.message().to_owned()),
            "23505" => {
                if let Some(kind) = guard_kind_of_constraint(&constraint)
                    && let Some(index) = cs.guards.iter().position(|g| g.kind() == kind)
                {
                    return Failure::Store(guard_failed(cs, index));
                }
                let what = if constraint.is_empty() { db.message().to_owned() } else { constraint };
                return Failure::Store(StoreError::Duplicate(what));
            }
            "23514" => {
                // Stock CHECKs (never negative, never more reserved than on
                // hand): the memory model reports these as a missing row.
                return Failure::Store(StoreError::Missing(format!("check violated ({constraint})")));
            }
            "23503" => {
                let what = if constraint.is_empty() { db.message().to_owned() } else { constraint };
                return Failure::Store(StoreError::Missing(format!("referenced row ({what})")));
            }
            _ => {}
        }
    }
    Failure::Store(unavailable(e))
}

/// Classifies an error of COMMIT: a lost connection leaves the outcome unknown.
pub(crate) fn classify_commit(e: sqlx::Error, cs: &Changeset) -> Failure {
    if matches!(e, sqlx::Error::Database(_)) && !is_connection_error(&e) {
        // e.g. a deferred foreign key checked at COMMIT, or a serialization failure.
        return classify(e, cs);
    }
    Failure::Store(StoreError::Unavailable(format!(
        "connection lost during COMMIT; the changeset may or may not have been applied: {e}"
    )))
}

/// What can be fused or batched, worked out once per changeset.
pub(crate) struct Plan {
    /// Guard index -> write index of the fused `AdjustStock`.
    pub(crate) fused: HashMap<usize, usize>,
    /// Writes already done by their fused guard.
    pub(crate) skip: HashSet<usize>,
    /// Guard index -> write index of the insert that checks it: an
    /// `IdempotencyKeyFree` guard whose record the changeset inserts is not
    /// checked up front; the upsert's `WHERE expires_at <= now` and its row
    /// count are the check.
    pub(crate) deferred: HashMap<usize, usize>,
}

impl Plan {
    pub(crate) fn new(cs: &Changeset) -> Self {
        let mut fused = HashMap::new();
        let mut skip = HashSet::new();
        // How often each stock row is guarded and written.
        let mut guarded: HashMap<(VariantId, WarehouseId), usize> = HashMap::new();
        for g in &cs.guards {
            match g {
                Guard::StockAvailable { variant_id, warehouse_id, .. }
                | Guard::ReservedWithin { variant_id, warehouse_id, .. } => {
                    *guarded.entry((*variant_id, *warehouse_id)).or_default() += 1;
                }
                _ => {}
            }
        }
        let mut written: HashMap<(VariantId, WarehouseId), Vec<usize>> = HashMap::new();
        for (j, w) in cs.writes.iter().enumerate() {
            match w {
                Write::AdjustStock { variant_id, warehouse_id, .. }
                | Write::SetOnHand { variant_id, warehouse_id, .. } => {
                    written.entry((*variant_id, *warehouse_id)).or_default().push(j);
                }
                _ => {}
            }
        }
        for (i, g) in cs.guards.iter().enumerate() {
            let Guard::StockAvailable { variant_id, warehouse_id, qty } = g else { continue };
            let key = (*variant_id, *warehouse_id);
            if guarded.get(&key) != Some(&1) {
                continue;
            }
            let Some([j]) = written.get(&key).map(Vec::as_slice) else { continue };
            if let Write::AdjustStock { on_hand_delta: 0, reserved_delta, .. } = &cs.writes[*j]
                && reserved_delta == qty
            {
                fused.insert(i, *j);
                skip.insert(*j);
            }
        }
        let mut deferred = HashMap::new();
        for (j, w) in cs.writes.iter().enumerate() {
            if let Write::Insert(Record::Idempotency(rec)) = w
                && let Some((i, _)) = idempotency_guard(cs, &rec.scope, &rec.key)
            {
                deferred.entry(i).or_insert(j);
            }
        }
        Plan { fused, skip, deferred }
    }
}

fn record_query(r: &Record, insert: bool) -> (PgQuery<'static>, &'static str) {
    macro_rules! q {
        ($sql:ident, $bind:path, $v:expr, $table:literal) => {{
            let sql: &'static str = if insert { $sql.insert.as_str() } else { $sql.update.as_str() };
            ($bind(sqlx::query(sql), $v), $table)
        }};
    }
    match r {
        Record::Store(v) => q!(STORE_SQL, rows::bind_shop, v, "store"),
        Record::StoreSettings(v) => q!(SETTINGS_SQL, rows::bind_settings, v, "store_settings"),
        Record::User(v) => q!(USER_SQL, rows::bind_user, v, "app_user"),
        Record::Address(v) => q!(ADDRESS_SQL, rows::bind_address, v, "user_address"),
        Record::Session(v) => q!(SESSION_SQL, rows::bind_session, v, "session"),
        Record::AdminKey(v) => q!(ADMIN_KEY_SQL, rows::bind_admin_key, v, "admin_key"),
        Record::Product(v) => q!(PRODUCT_SQL, rows::bind_product, v, "product"),
        Record::Variant(v) => q!(VARIANT_SQL, rows::bind_variant, v, "product_variant"),
        Record::Image(v) => q!(IMAGE_SQL, rows::bind_image, v, "product_image"),
        Record::Warehouse(v) => q!(WAREHOUSE_SQL, rows::bind_warehouse, v, "warehouse"),
        Record::Reservation(v) => q!(RESERVATION_SQL, rows::bind_reservation, v, "inventory_reservation"),
        Record::Order(v) => q!(ORDER_SQL, rows::bind_order, v, "customer_order"),
        Record::OrderItem(v) => q!(ORDER_ITEM_SQL, rows::bind_order_item, v, "order_item"),
        Record::Payment(v) => q!(PAYMENT_SQL, rows::bind_payment, v, "payment"),
        Record::PaymentEvent(v) => q!(PAYMENT_EVENT_SQL, rows::bind_payment_event, v, "payment_event"),
        Record::Task(v) => q!(TASK_SQL, rows::bind_task, v, "help_task"),
        Record::Help(v) => q!(HELP_SQL, rows::bind_help, v, "help"),
        Record::Payout(v) => q!(PAYOUT_SQL, rows::bind_payout, v, "payout_ledger"),
        Record::Audit(v) => q!(AUDIT_SQL, rows::bind_audit, v, "audit_log"),
        Record::Idempotency(v) => q!(IDEMPOTENCY_SQL, rows::bind_idempotency, v, "idempotency_key"),
        Record::Event(v) => q!(EVENT_SQL, rows::bind_event, v, "activity_event"),
        Record::Export(v) => q!(EXPORT_SQL, rows::bind_export, v, "export_job"),
        Record::ExportAudit(v) => q!(EXPORT_AUDIT_SQL, rows::bind_export_audit, v, "export_audit_record"),
    }
}

/// A row's id for messages.
fn record_key(r: &Record) -> String {
    match r {
        Record::Idempotency(i) => format!("({}, {})", i.scope, i.key),
        other => match other.entity() {
            EntityRef::Store(id) => id.to_string(),
            EntityRef::StoreSettings(id) => id.to_string(),
            _ => String::new(),
        },
    }
}

/// The first deferred guard with an index below `before` that does not hold
/// against committed state, as the failure to report.
async fn first_failing_deferred(
    conn: &mut PgConnection,
    cs: &Changeset,
    plan: &Plan,
    before: usize,
) -> Option<Failure> {
    let mut pending: Vec<usize> = plan.deferred.keys().copied().filter(|&d| d < before).collect();
    pending.sort_unstable();
    for d in pending {
        match check_guard(conn, cs, d, plan).await {
            Ok(true) => {}
            Ok(false) => return Some(Failure::Store(guard_failed(cs, d))),
            Err(f) => return Some(f),
        }
    }
    None
}

async fn check_guard(conn: &mut PgConnection, cs: &Changeset, index: usize, plan: &Plan) -> Result<bool, Failure> {
    let map = |e| classify(e, cs);
    let held = match &cs.guards[index] {
        Guard::EmailFree { email } => {
            !exists(conn, sqlx::query("SELECT 1 FROM app_user WHERE email = $1").bind(email.clone()))
                .await
                .map_err(map)?
        }
        Guard::DomainFree { domain } => {
            !exists(conn, sqlx::query("SELECT 1 FROM store WHERE domain = $1").bind(domain.clone()))
                .await
                .map_err(map)?
        }
        Guard::SkuFree { store_id, sku } => !exists(
            conn,
            sqlx::query("SELECT 1 FROM product_variant WHERE store_id = $1 AND sku = $2")
                .bind(store_id.0)
                .bind(sku.clone()),
        )
        .await
        .map_err(map)?,
        Guard::StockAvailable { variant_id, warehouse_id, qty } => {
            if let Some(&j) = plan.fused.get(&index) {
                let Write::AdjustStock { at, .. } = &cs.writes[j] else {
                    return Err(Failure::Store(StoreError::Unavailable("bad fusion plan".into())));
                };
                sqlx::query(
                    "UPDATE inventory SET reserved = reserved + $3, updated_at = $4 \
                     WHERE variant_id = $1 AND warehouse_id = $2 AND on_hand - reserved >= $3",
                )
                .bind(variant_id.0)
                .bind(warehouse_id.0)
                .bind(*qty)
                .bind(*at)
                .execute(&mut *conn)
                .await
                .map_err(map)?
                .rows_affected()
                    == 1
            } else {
                let ok: Option<bool> = sqlx::query_scalar(
                    "SELECT on_hand - reserved >= $3 FROM inventory \
                     WHERE variant_id = $1 AND warehouse_id = $2 FOR NO KEY UPDATE",
                )
                .bind(variant_id.0)
                .bind(warehouse_id.0)
                .bind(*qty)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map)?;
                ok == Some(true)
            }
        }
        Guard::ReservedWithin { variant_id, warehouse_id, on_hand } => {
            let ok: Option<bool> = sqlx::query_scalar(
                "SELECT reserved <= $3 FROM inventory WHERE variant_id = $1 AND warehouse_id = $2 FOR NO KEY UPDATE",
            )
            .bind(variant_id.0)
            .bind(warehouse_id.0)
            .bind(*on_hand)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map)?;
            ok.unwrap_or(true)
        }
        Guard::OrderStatusIs { order_id, status } => {
            let q = sqlx::query_scalar("SELECT status FROM customer_order WHERE id = $1 FOR NO KEY UPDATE");
            status_is(conn, q.bind(order_id.0), status.as_str()).await.map_err(map)?
        }
        Guard::PaymentStatusIs { payment_id, status } => {
            let q = sqlx::query_scalar("SELECT status FROM payment WHERE id = $1 FOR NO KEY UPDATE");
            status_is(conn, q.bind(payment_id.0), status.as_str()).await.map_err(map)?
        }
        Guard::ReservationStatusIs { reservation_id, status } => {
            let q = sqlx::query_scalar("SELECT status FROM inventory_reservation WHERE id = $1 FOR NO KEY UPDATE");
            status_is(conn, q.bind(reservation_id.0), status.as_str()).await.map_err(map)?
        }
        Guard::TaskStateIs { task_id, status, helps_valid } => {
            let row: Option<(String, i64)> =
                sqlx::query_as("SELECT status, helps_valid FROM help_task WHERE id = $1 FOR NO KEY UPDATE")
                    .bind(task_id.0)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(map)?;
            row.is_some_and(|(s, n)| s == status.as_str() && n == *helps_valid)
        }
        Guard::NoTaskForOrder { order_id } => {
            !exists(conn, sqlx::query("SELECT 1 FROM help_task WHERE order_id = $1").bind(order_id.0))
                .await
                .map_err(map)?
        }
        Guard::NoHelpByHelper { task_id, helper_user_id } => !exists(
            conn,
            sqlx::query("SELECT 1 FROM help WHERE task_id = $1 AND helper_user_id = $2")
                .bind(task_id.0)
                .bind(helper_user_id.0),
        )
        .await
        .map_err(map)?,
        Guard::HelpStatusIs { help_id, status } => {
            let q = sqlx::query_scalar("SELECT status FROM help WHERE id = $1 FOR NO KEY UPDATE");
            status_is(conn, q.bind(help_id.0), status.as_str()).await.map_err(map)?
        }
        Guard::NoPayoutForTask { task_id } => {
            !exists(conn, sqlx::query("SELECT 1 FROM payout_ledger WHERE task_id = $1").bind(task_id.0))
                .await
                .map_err(map)?
        }
        Guard::PayoutStatusIs { payout_id, status } => {
            let q = sqlx::query_scalar("SELECT payout_status FROM payout_ledger WHERE id = $1 FOR NO KEY UPDATE");
            status_is(conn, q.bind(payout_id.0), status.as_str()).await.map_err(map)?
        }
        Guard::IdempotencyKeyFree { scope, key, now } => {
            let expired: Option<bool> = sqlx::query_scalar(
                "SELECT expires_at <= $3 FROM idempotency_key WHERE scope = $1 AND key = $2 FOR UPDATE",
            )
            .bind(scope.clone())
            .bind(key.clone())
            .bind(*now)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map)?;
            expired.unwrap_or(true)
        }
        Guard::PaymentEventFree { provider, event_id } => !exists(
            conn,
            sqlx::query("SELECT 1 FROM payment_event_key WHERE provider = $1 AND event_id = $2")
                .bind(provider.clone())
                .bind(event_id.clone()),
        )
        .await
        .map_err(map)?,
        Guard::SettingsVersionIs { store_id, version } => {
            let v: Option<i64> =
                sqlx::query_scalar("SELECT version FROM store_settings WHERE store_id = $1 FOR NO KEY UPDATE")
                    .bind(store_id.0)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(map)?;
            v == Some(*version)
        }
        Guard::ProductVersionIs { product_id, version } => {
            let v: Option<i64> = sqlx::query_scalar("SELECT version FROM product WHERE id = $1 FOR NO KEY UPDATE")
                .bind(product_id.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map)?;
            v == Some(*version)
        }
        Guard::ExportStatusIs { export_id, status } => {
            let q = sqlx::query_scalar("SELECT status FROM export_job WHERE id = $1 FOR NO KEY UPDATE");
            status_is(conn, q.bind(export_id.0), status.as_str()).await.map_err(map)?
        }
        Guard::EventSeqIs { store_id, last_seq } => {
            // The row may not exist yet, so there is nothing to lock: serialise
            // the store's sequencers on an advisory lock held to the end of the
            // transaction, then read (a fresh statement sees the latest commit).
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('agora.event_seq:' || $1::text, 0))")
                .bind(store_id.0)
                .execute(&mut *conn)
                .await
                .map_err(map)?;
            let v: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM event_seq WHERE store_id = $1")
                .bind(store_id.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map)?;
            v.unwrap_or(0) == *last_seq
        }
    };
    Ok(held)
}

async fn exists(conn: &mut PgConnection, q: PgQuery<'static>) -> Result<bool, sqlx::Error> {
    Ok(q.fetch_optional(conn).await?.is_some())
}

async fn status_is(
    conn: &mut PgConnection,
    q: sqlx::query::QueryScalar<'static, sqlx::Postgres, String, sqlx::postgres::PgArguments>,
    want: &str,
) -> Result<bool, sqlx::Error> {
    Ok(q.fetch_optional(conn).await?.is_some_and(|s| s == want))
}

/// The `now` of the changeset's guard on this idempotency key, if any.
pub(crate) fn idempotency_guard(cs: &Changeset, scope: &str, key: &str) -> Option<(usize, OffsetDateTime)> {
    cs.guards.iter().enumerate().find_map(|(i, g)| match g {
        Guard::IdempotencyKeyFree { scope: s, key: k, now } if s == scope && k == key => Some((i, *now)),
        _ => None,
    })
}

async fn insert_order_items(conn: &mut PgConnection, items: &[&OrderItem]) -> Result<(), sqlx::Error> {
    if let [one] = items {
        rows::bind_order_item(sqlx::query(ORDER_ITEM_SQL.insert.as_str()), one).execute(conn).await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_item (id, order_id, line_no, variant_id, sku, qty, unit_price) \
         SELECT t.id, t.order_id, t.line_no, t.variant_id, t.sku, t.qty, (t.price * 0.01)::numeric(12,2) \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::int4[], $4::uuid[], $5::text[], $6::int8[], $7::int8[]) \
         AS t(id, order_id, line_no, variant_id, sku, qty, price)",
    )
    .bind(items.iter().map(|i| i.id.0).collect::<Vec<Uuid>>())
    .bind(items.iter().map(|i| i.order_id.0).collect::<Vec<Uuid>>())
    .bind(items.iter().map(|i| i.line_no).collect::<Vec<i32>>())
    .bind(items.iter().map(|i| i.variant_id.0).collect::<Vec<Uuid>>())
    .bind(items.iter().map(|i| i.sku.clone()).collect::<Vec<String>>())
    .bind(items.iter().map(|i| i.qty).collect::<Vec<i64>>())
    .bind(items.iter().map(|i| i.unit_price_minor).collect::<Vec<i64>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_reservations(conn: &mut PgConnection, rs: &[&InventoryReservation]) -> Result<(), sqlx::Error> {
    if let [one] = rs {
        rows::bind_reservation(sqlx::query(RESERVATION_SQL.insert.as_str()), one).execute(conn).await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO inventory_reservation \
         (id, order_id, store_id, variant_id, warehouse_id, qty, status, expires_at, created_at, updated_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::int8[], $7::text[], \
         $8::timestamptz[], $9::timestamptz[], $10::timestamptz[])",
    )
    .bind(rs.iter().map(|r| r.id.0).collect::<Vec<Uuid>>())
    .bind(rs.iter().map(|r| r.order_id.0).collect::<Vec<Uuid>>())
    .bind(rs.iter().map(|r| r.store_id.0).collect::<Vec<Uuid>>())
    .bind(rs.iter().map(|r| r.variant_id.0).collect::<Vec<Uuid>>())
    .bind(rs.iter().map(|r| r.warehouse_id.0).collect::<Vec<Uuid>>())
    .bind(rs.iter().map(|r| r.qty).collect::<Vec<i64>>())
    .bind(rs.iter().map(|r| r.status.as_str()).collect::<Vec<&str>>())
    .bind(rs.iter().map(|r| r.expires_at).collect::<Vec<OffsetDateTime>>())
    .bind(rs.iter().map(|r| r.created_at).collect::<Vec<OffsetDateTime>>())
    .bind(rs.iter().map(|r| r.updated_at).collect::<Vec<OffsetDateTime>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn write_one(conn: &mut PgConnection, cs: &Changeset, w: &Write) -> Result<(), Failure> {
    let map = |e| classify(e, cs);
    match w {
        Write::Insert(Record::Idempotency(rec)) => {
            // Replaces an expired record, never a live one: the guard saw it
            // expired, and the WHERE re-checks against whatever committed since.
            let affected = match idempotency_guard(cs, &rec.scope, &rec.key) {
                Some((index, now)) => {
                    let n = rows::bind_idempotency(
                        sqlx::query(cached_sql!(
                            "{}{IDEMPOTENCY_UPSERT} WHERE idempotency_key.expires_at <= $9",
                            IDEMPOTENCY_SQL.insert
                        )),
                        rec,
                    )
                    .bind(now)
                    .execute(&mut *conn)
                    .await
                    .map_err(map)?
                    .rows_affected();
                    if n == 0 {
                        return Err(Failure::Store(guard_failed(cs, index)));
                    }
                    n
                }
                None => rows::bind_idempotency(
                    sqlx::query(cached_sql!("{}{IDEMPOTENCY_UPSERT}", IDEMPOTENCY_SQL.insert)),
                    rec,
                )
                .execute(&mut *conn)
                .await
                .map_err(map)?
                .rows_affected(),
            };
            debug_assert_eq!(affected, 1);
        }
        Write::Insert(Record::PaymentEvent(e)) => {
            sqlx::query(
                "INSERT INTO payment_event_key (provider, event_id, payment_event_id, received_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(e.provider.clone())
            .bind(e.event_id.clone())
            .bind(e.id.0)
            .bind(e.received_at)
            .execute(&mut *conn)
            .await
            .map_err(map)?;
            rows::bind_payment_event(sqlx::query(PAYMENT_EVENT_SQL.insert.as_str()), e)
                .execute(&mut *conn)
                .await
                .map_err(map)?;
        }
        Write::Update(Record::PaymentEvent(e)) => {
            let n = rows::bind_payment_event(sqlx::query(PAYMENT_EVENT_SQL.update.as_str()), e)
                .execute(&mut *conn)
                .await
                .map_err(map)?
                .rows_affected();
            if n == 0 {
                return Err(Failure::Store(StoreError::Missing(format!("payment_event {}", e.id))));
            }
            sqlx::query(
                "UPDATE payment_event_key SET provider = $2, event_id = $3, received_at = $4 \
                 WHERE payment_event_id = $1",
            )
            .bind(e.id.0)
            .bind(e.provider.clone())
            .bind(e.event_id.clone())
            .bind(e.received_at)
            .execute(&mut *conn)
            .await
            .map_err(map)?;
        }
        Write::Insert(r) => {
            let (q, _) = record_query(r, true);
            q.execute(&mut *conn).await.map_err(map)?;
        }
        Write::Update(r) => {
            let (q, table) = record_query(r, false);
            if q.execute(&mut *conn).await.map_err(map)?.rows_affected() == 0 {
                return Err(Failure::Store(StoreError::Missing(format!("{table} {}", record_key(r)))));
            }
        }
        Write::SetOnHand { variant_id, warehouse_id, store_id, on_hand, at } => {
            sqlx::query(
                "INSERT INTO inventory (variant_id, warehouse_id, store_id, on_hand, reserved, updated_at) \
                 VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (variant_id, warehouse_id) \
                 DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = EXCLUDED.updated_at",
            )
            .bind(variant_id.0)
            .bind(warehouse_id.0)
            .bind(store_id.0)
            .bind(*on_hand)
            .bind(*at)
            .execute(&mut *conn)
            .await
            .map_err(map)?;
        }
        Write::AdjustStock { variant_id, warehouse_id, on_hand_delta, reserved_delta, at } => {
            let n = sqlx::query(
                "UPDATE inventory SET on_hand = on_hand + $3, reserved = reserved + $4, updated_at = $5 \
                 WHERE variant_id = $1 AND warehouse_id = $2",
            )
            .bind(variant_id.0)
            .bind(warehouse_id.0)
            .bind(*on_hand_delta)
            .bind(*reserved_delta)
            .bind(*at)
            .execute(&mut *conn)
            .await
            .map_err(map)?
            .rows_affected();
            if n == 0 {
                return Err(Failure::Store(StoreError::Missing(format!("inventory ({variant_id}, {warehouse_id})"))));
            }
        }
        Write::SequenceEvent { event_id, store_id, seq } => {
            let n = sqlx::query("UPDATE activity_event SET seq = $2 WHERE id = $1 AND seq IS NULL")
                .bind(event_id.0)
                .bind(*seq)
                .execute(&mut *conn)
                .await
                .map_err(map)?
                .rows_affected();
            if n == 0 {
                let found = exists(conn, sqlx::query("SELECT 1 FROM activity_event WHERE id = $1").bind(event_id.0))
                    .await
                    .map_err(map)?;
                return Err(Failure::Store(if found {
                    StoreError::Duplicate(format!("activity_event.seq of {event_id} already set"))
                } else {
                    StoreError::Missing(format!("activity_event {event_id}"))
                }));
            }
            // One seq per store position (the partitioned table cannot carry
            // this unique constraint, so it is checked here).
            let taken = exists(
                conn,
                sqlx::query("SELECT 1 FROM activity_event WHERE store_id = $1 AND seq = $2 AND id <> $3")
                    .bind(store_id.0)
                    .bind(*seq)
                    .bind(event_id.0),
            )
            .await
            .map_err(map)?;
            if taken {
                return Err(Failure::Store(StoreError::Duplicate(format!(
                    "activity_event.store_seq {store_id} {seq}"
                ))));
            }
        }
        Write::SetEventSeq { store_id, last_seq } => {
            sqlx::query(
                "INSERT INTO event_seq (store_id, last_seq) VALUES ($1, $2) \
                 ON CONFLICT (store_id) DO UPDATE SET last_seq = EXCLUDED.last_seq",
            )
            .bind(store_id.0)
            .bind(*last_seq)
            .execute(&mut *conn)
            .await
            .map_err(map)?;
        }
        Write::DeleteSession(id) => {
            sqlx::query("DELETE FROM session WHERE id = $1").bind(id.0).execute(&mut *conn).await.map_err(map)?;
        }
        Write::DeleteIdempotency { scope, key } => {
            sqlx::query("DELETE FROM idempotency_key WHERE scope = $1 AND key = $2")
                .bind(scope.clone())
                .bind(key.clone())
                .execute(&mut *conn)
                .await
                .map_err(map)?;
        }
    }
    Ok(())
}

async fn write_all(conn: &mut PgConnection, cs: &Changeset, plan: &Plan) -> Result<(), Failure> {
    let todo: Vec<&Write> =
        cs.writes.iter().enumerate().filter(|(j, _)| !plan.skip.contains(j)).map(|(_, w)| w).collect();
    let mut k = 0;
    while k < todo.len() {
        match todo[k] {
            Write::Insert(Record::OrderItem(_)) => {
                let mut batch = Vec::new();
                while let Some(Write::Insert(Record::OrderItem(i))) = todo.get(k) {
                    batch.push(i);
                    k += 1;
                }
                insert_order_items(conn, &batch).await.map_err(|e| classify(e, cs))?;
            }
            Write::Insert(Record::Reservation(_)) => {
                let mut batch = Vec::new();
                while let Some(Write::Insert(Record::Reservation(r))) = todo.get(k) {
                    batch.push(r);
                    k += 1;
                }
                insert_reservations(conn, &batch).await.map_err(|e| classify(e, cs))?;
            }
            w => {
                write_one(conn, cs, w).await?;
                k += 1;
            }
        }
    }
    Ok(())
}

/// How one changeset failed inside a transaction that is still open.
pub(crate) enum BodyError {
    /// Report this once the changeset's work is rolled back.
    Final(Failure),
    /// A write failed: roll back, then report the first deferred guard below
    /// `reported` that does not hold (guards come before writes), or else
    /// `failure`.
    WriteFailed { failure: Failure, reported: usize },
}

fn write_failed(cs: &Changeset, plan: &Plan, failure: Failure) -> BodyError {
    if let Failure::Store(e) = &failure
        && !plan.deferred.is_empty()
    {
        let reported = match e {
            StoreError::GuardFailed(g) => g.index,
            _ => cs.guards.len(),
        };
        if plan.deferred.keys().any(|&d| d < reported) {
            return BodyError::WriteFailed { failure, reported };
        }
    }
    BodyError::Final(failure)
}

/// Checks the guards and applies the writes of one changeset inside the
/// caller's transaction. On error the caller rolls the changeset back
/// (transaction or savepoint) and then calls [`resolve`].
pub(crate) async fn apply_body(conn: &mut PgConnection, cs: &Changeset, plan: &Plan) -> Result<(), BodyError> {
    if crate::fused::fusable(cs, plan) {
        return match crate::fused::apply_fused(conn, cs, plan).await {
            Ok(None) => Ok(()),
            Ok(Some(index)) => Err(BodyError::Final(Failure::Store(guard_failed(cs, index)))),
            Err(e) => Err(write_failed(cs, plan, classify(e, cs))),
        };
    }
    for index in 0..cs.guards.len() {
        if plan.deferred.contains_key(&index) {
            continue;
        }
        match check_guard(conn, cs, index, plan).await {
            Ok(true) => {}
            Ok(false) => {
                // A deferred guard before this one may fail too, and the
                // first failing guard is the one to report.
                let first = first_failing_deferred(conn, cs, plan, index).await;
                return Err(BodyError::Final(first.unwrap_or_else(|| Failure::Store(guard_failed(cs, index)))));
            }
            Err(f) => return Err(BodyError::Final(f)),
        }
    }
    write_all(conn, cs, plan).await.map_err(|f| write_failed(cs, plan, f))
}

/// What to report for a changeset whose work was rolled back; `conn` now
/// shows the state the changeset was checked against (committed state, plus
/// the earlier changesets of its group).
pub(crate) async fn resolve(conn: &mut PgConnection, cs: &Changeset, plan: &Plan, e: BodyError) -> Failure {
    match e {
        BodyError::Final(f) => f,
        BodyError::WriteFailed { failure, reported } => {
            first_failing_deferred(conn, cs, plan, reported).await.unwrap_or(failure)
        }
    }
}

/// Applies changesets in one transaction on `conn`, each under its own
/// savepoint (runs of order-shaped ones as one statement, see `batch`), and
/// commits once: one WAL flush for the group. A changeset that fails is
/// rolled back to its savepoint and reported; the others still commit.
/// Returns one outcome per changeset and whether the connection must be
/// thrown away.
///
/// `executed` is signalled (or dropped) once every statement but the COMMIT
/// has run: the committer then starts the next group while this one commits.
pub(crate) async fn apply_group(
    conn: &mut PgConnection,
    group: &[(&Changeset, &Plan)],
    executed: Option<tokio::sync::oneshot::Sender<()>>,
) -> (Vec<Result<(), Failure>>, bool) {
    let all = |e: &sqlx::Error| group.iter().map(|_| Err(Failure::Retry(unavailable_text(e)))).collect::<Vec<_>>();
    let mut tx = match sqlx::Connection::begin_with(&mut *conn, "BEGIN; SAVEPOINT cs").await {
        Ok(tx) => tx,
        Err(e) => return (all(&e), true),
    };
    let mut out = Vec::with_capacity(group.len());
    // True while the savepoint `cs` has nothing after it to keep.
    let mut fresh = true;
    let mut k = 0;
    while k < group.len() {
        let run = crate::batch::run_len(&group[k..]);
        let batched = if run >= 2 {
            if !fresh && let Err(e) = next_savepoint(&mut tx).await {
                return (all(&e), true);
            }
            fresh = false;
            match crate::batch::apply_orders(&mut tx, &group[k..k + run]).await {
                Ok(true) => true,
                // Some guard or constraint did not hold: undo the statement
                // and apply the run one by one, which reports each guard.
                Ok(false) | Err(_) => {
                    if let Err(e) = sqlx::raw_sql("ROLLBACK TO SAVEPOINT cs").execute(&mut *tx).await {
                        return (all(&e), true);
                    }
                    fresh = true;
                    false
                }
            }
        } else {
            false
        };
        if batched {
            out.extend((0..run).map(|_| Ok(())));
            k += run;
            continue;
        }
        for (cs, plan) in &group[k..k + run.max(1)] {
            if !fresh && let Err(e) = next_savepoint(&mut tx).await {
                // Nothing of the group is committed: every changeset runs again.
                return (all(&e), true);
            }
            match apply_body(&mut tx, cs, plan).await {
                Ok(()) => {
                    out.push(Ok(()));
                    fresh = false;
                }
                Err(body) => {
                    if let Err(e) = sqlx::raw_sql("ROLLBACK TO SAVEPOINT cs").execute(&mut *tx).await {
                        return (all(&e), true);
                    }
                    fresh = true;
                    // A lost connection surfaces at the next statement or COMMIT.
                    out.push(Err(resolve(&mut tx, cs, plan, body).await));
                }
            }
        }
        k += run.max(1);
    }
    if let Some(signal) = executed {
        let _ = signal.send(());
    }
    match tx.commit().await {
        Ok(()) => (out, false),
        Err(e) if is_connection_error(&e) => {
            // The outcome of the applied ones is unknown; the failed ones
            // were judged against state that may never have committed.
            let msg = format!("connection lost during COMMIT; the changeset may or may not have been applied: {e}");
            let out = out
                .into_iter()
                .map(|r| match r {
                    Ok(()) => Err(Failure::Store(StoreError::Unavailable(msg.clone()))),
                    Err(_) => Err(Failure::Retry(msg.clone())),
                })
                .collect();
            (out, true)
        }
        // A changeset alone: its own error (e.g. a deferred check at COMMIT).
        Err(e) if group.len() == 1 => (vec![Err(classify_commit(e, group[0].0))], false),
        // Nothing committed, and which changeset caused it is unknown (a
        // foreign key is checked at COMMIT): each one again alone, so one
        // bad changeset cannot fail the others on every retry.
        Err(_) => {
            let mut alone = Vec::with_capacity(group.len());
            for item in group {
                let (mut one, broken) = Box::pin(apply_group(conn, std::slice::from_ref(item), None)).await;
                alone.push(one.pop().unwrap_or_else(|| Err(Failure::Retry("no outcome".into()))));
                if broken {
                    let rest = group.len() - alone.len();
                    alone.extend((0..rest).map(|_| Err(Failure::Retry("connection lost".into()))));
                    return (alone, true);
                }
            }
            (alone, false)
        }
    }
}

/// Keeps what ran since the savepoint and sets a new one, in one round trip.
async fn next_savepoint(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("RELEASE SAVEPOINT cs; SAVEPOINT cs").execute(tx).await.map(|_| ())
}

fn unavailable_text(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => {
            format!("database error {}: {}", db.code().as_deref().unwrap_or("?"), db.message())
        }
        other => other.to_string(),
    }
}

impl PgStore {
    /// One attempt on its own connection and transaction. `checked`: take a
    /// connection that answers a ping (after an attempt lost its connection;
    /// the pool does not test them).
    async fn apply_once(&self, cs: &Changeset, plan: &Plan, checked: bool) -> Result<(), Failure> {
        let mut conn =
            if checked { self.checked_connection().await } else { self.pool().acquire().await }.map_err(|e| {
                if is_connection_error(&e) { Failure::Retry(e.to_string()) } else { Failure::Store(unavailable(e)) }
            })?;
        let (mut out, broken) = apply_group(&mut conn, &[(cs, plan)], None).await;
        if broken {
            drop(conn.detach());
        }
        out.pop().unwrap_or_else(|| Err(Failure::Retry("no outcome".into())))
    }

    async fn snapshot_inner(&self) -> StoreResult<Snapshot> {
        async fn all<T>(
            conn: &mut PgConnection,
            sql: &'static str,
            map: fn(&sqlx::postgres::PgRow) -> StoreResult<T>,
        ) -> StoreResult<Vec<T>> {
            sqlx::query(sql).fetch_all(conn).await.map_err(unavailable)?.iter().map(map).collect()
        }
        let mut tx =
            self.pool().begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(unavailable)?;
        let c: &mut PgConnection = &mut tx;
        let mut s = Snapshot {
            stores: all(c, STORE_SQL.select.as_str(), rows::shop).await?,
            settings: all(c, SETTINGS_SQL.select.as_str(), rows::settings).await?,
            users: all(c, USER_SQL.select.as_str(), rows::user).await?,
            addresses: all(c, ADDRESS_SQL.select.as_str(), rows::address).await?,
            sessions: all(c, SESSION_SQL.select.as_str(), rows::session).await?,
            admin_keys: all(c, ADMIN_KEY_SQL.select.as_str(), rows::admin_key).await?,
            products: all(c, PRODUCT_SQL.select.as_str(), rows::product).await?,
            variants: all(c, VARIANT_SQL.select.as_str(), rows::variant).await?,
            images: all(c, IMAGE_SQL.select.as_str(), rows::image).await?,
            warehouses: all(c, WAREHOUSE_SQL.select.as_str(), rows::warehouse).await?,
            inventory: all(c, INVENTORY_SQL.select.as_str(), rows::inventory).await?,
            reservations: all(c, RESERVATION_SQL.select.as_str(), rows::reservation).await?,
            orders: all(c, ORDER_SQL.select.as_str(), rows::order).await?,
            order_items: all(c, ORDER_ITEM_SQL.select.as_str(), rows::order_item).await?,
            payments: all(c, PAYMENT_SQL.select.as_str(), rows::payment).await?,
            payment_events: all(c, PAYMENT_EVENT_SQL.select.as_str(), rows::payment_event).await?,
            tasks: all(c, TASK_SQL.select.as_str(), rows::task).await?,
            helps: all(c, HELP_SQL.select.as_str(), rows::help).await?,
            payouts: all(c, PAYOUT_SQL.select.as_str(), rows::payout).await?,
            audit_logs: all(c, AUDIT_SQL.select.as_str(), rows::audit).await?,
            idempotency: all(c, IDEMPOTENCY_SQL.select.as_str(), rows::idempotency).await?,
            events: all(c, EVENT_SQL.select.as_str(), rows::event).await?,
            event_seqs: Vec::new(),
            exports: all(c, EXPORT_SQL.select.as_str(), rows::export).await?,
            export_audit: all(c, EXPORT_AUDIT_SQL.select.as_str(), rows::export_audit).await?,
        };
        let seqs: Vec<(Uuid, i64)> = sqlx::query_as("SELECT store_id, last_seq FROM event_seq")
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?;
        s.event_seqs = seqs.into_iter().map(|(id, n)| (StoreId(id), n)).collect();
        tx.commit().await.map_err(unavailable)?;
        s.canonicalize();
        Ok(s)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        if changeset.guards.is_empty() && changeset.writes.is_empty() {
            return Ok(());
        }
        let plan = Plan::new(&changeset);
        let (cs, plan) = (Arc::new(changeset), Arc::new(plan));
        let mut attempt = 1;
        loop {
            let grouped = match &self.committer {
                Some(committer) => committer.submit(cs.clone(), plan.clone()).await,
                None => None,
            };
            // Without a committer (off, or its runtime is gone): apply here.
            let outcome = match grouped {
                Some(outcome) => outcome,
                None => self.apply_once(&cs, &plan, attempt > 1).await,
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(Failure::Store(e)) => return Err(e),
                Err(Failure::Retry(msg)) => {
                    if attempt >= MAX_ATTEMPTS {
                        return Err(StoreError::Unavailable(format!("gave up after {attempt} attempts: {msg}")));
                    }
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt * attempt))).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn snapshot(&self) -> StoreResult<Snapshot> {
        self.snapshot_inner().await
    }

    /// All reads on one connection, one after the other (see
    /// `PgStore::order_context_on_one_connection` for why not concurrently).
    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        self.order_context_on_one_connection(q).await
    }

    async fn health(&self) -> StoreResult<()> {
        let status = self.migration_status().await?;
        if status.is_current() { Ok(()) } else { Err(StoreError::Schema(format!("schema not current: {status:?}"))) }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
