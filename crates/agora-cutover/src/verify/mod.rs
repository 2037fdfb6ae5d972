//! `verify`: do two stores hold the same data, and answer every read alike?

use std::collections::{BTreeMap, BTreeSet};

use agora_core::*;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::CutoverError;
use crate::copy::Progress;
use crate::tables::{canonical_json, row_key, snapshot_rows};

/// One table of both stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    /// The table.
    pub table: &'static str,
    /// Rows in `a`.
    pub rows_a: u64,
    /// Rows in `b`.
    pub rows_b: u64,
    /// Hex SHA-256 over the canonical JSON lines of `a`'s rows, in primary-key order.
    pub checksum_a: String,
    /// The same for `b`.
    pub checksum_b: String,
}

impl TableCheck {
    /// Counts and checksums agree.
    pub fn matches(&self) -> bool {
        self.rows_a == self.rows_b && self.checksum_a == self.checksum_b
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Every table, in dependency order.
    pub tables: Vec<TableCheck>,
    /// List reads compared (each page counts once).
    pub list_reads: u64,
    /// Stored idempotent responses whose replay was compared.
    pub idempotency_replays: u64,
    /// Every difference, one line each (rows only in one store, rows that
    /// differ with the differing fields, list reads in another order).
    pub differences: Vec<String>,
}

impl VerifyReport {
    /// No differences at all.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    /// One line for the operator.
    pub fn summary(&self) -> String {
        let rows: u64 = self.tables.iter().map(|t| t.rows_a).sum();
        let bad = self.tables.iter().filter(|t| !t.matches()).count();
        format!(
            "{} tables ({} rows) checked, {} differ; {} list reads and {} idempotent replays compared; {} differences",
            self.tables.len(),
            rows,
            bad,
            self.list_reads,
            self.idempotency_replays,
            self.differences.len()
        )
    }
}

fn checksum(rows: &[Value]) -> String {
    let mut h = Sha256::new();
    for r in rows {
        h.update(canonical_json(r).as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Compares `a` and `b`: per-table counts and checksums, row by row where a
/// table differs, then every list read of the port for every store, user,
/// order, product, task and export, then `get_idempotency` for every stored
/// response. At most 20 differing rows are listed per table.
///
/// # Errors
/// A store failure.
pub async fn verify(a: &dyn Store, b: &dyn Store, progress: &dyn Progress) -> Result<VerifyReport, CutoverError> {
    let (sa, sb) = (a.snapshot().await?, b.snapshot().await?);
    let mut report = VerifyReport::default();
    progress.table("checksums", crate::TABLES.len() as u64);
    for ((table, ra), (_, rb)) in snapshot_rows(&sa).into_iter().zip(snapshot_rows(&sb)) {
        let check = TableCheck {
            table,
            rows_a: ra.len() as u64,
            rows_b: rb.len() as u64,
            checksum_a: checksum(&ra),
            checksum_b: checksum(&rb),
        };
        if !check.matches() {
            row_differences(table, &ra, &rb, &mut report.differences);
        }
        report.tables.push(check);
        progress.rows(1);
    }
    let mut lists = Lists { a, b, report: &mut report };
    lists.compare_all(&sa, &sb, progress).await?;
    Ok(report)
}

fn row_differences(table: &str, ra: &[Value], rb: &[Value], out: &mut Vec<String>) {
    let ma: BTreeMap<String, &Value> = ra.iter().map(|r| (row_key(table, r), r)).collect();
    let mb: BTreeMap<String, &Value> = rb.iter().map(|r| (row_key(table, r), r)).collect();
    let mut listed = 0;
    for (k, va) in &ma {
        if listed >= 20 {
            break;
        }
        match mb.get(k) {
            None => out.push(format!("{table} {k}: only in a")),
            Some(vb) if vb != va => {
                let fields = crate::shadow::differing_fields(va, vb);
                out.push(format!("{table} {k}: differs in {}", fields.join(", ")));
            }
            Some(_) => continue,
        }
        listed += 1;
    }
    for k in mb.keys().filter(|k| !ma.contains_key(*k)).take(20usize.saturating_sub(listed)) {
        out.push(format!("{table} {k}: only in b"));
    }
    if listed == 0 && ma.len() == mb.len() {
        out.push(format!("{table}: same rows, different checksums (row order)"));
    }
}

struct Lists<'a> {
    a: &'a dyn Store,
    b: &'a dyn Store,
    report: &'a mut VerifyReport,
}

/// Far enough ahead that every time-bounded list returns all it can.
fn far_future() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(253_402_300_000 - 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Lists<'_> {
    fn same<T: PartialEq + Serialize>(&mut self, what: String, ra: &[T], rb: &[T]) {
        self.report.list_reads += 1;
        if ra != rb {
            let detail = if ra.len() == rb.len() {
                crate::shadow::differing_fields(&ra, &rb).join(", ")
            } else {
                format!("{} rows vs {}", ra.len(), rb.len())
            };
            self.report.differences.push(format!("list {what}: answers differ ({detail})"));
        }
    }

    /// Pages through a newest-first list on both stores and compares every page.
    async fn paged<T, F>(&mut self, what: String, id: impl Fn(&T) -> Uuid, call: F) -> Result<(), CutoverError>
    where
        T: PartialEq + Serialize,
        F: for<'s> Fn(&'s dyn Store, Page) -> futures::future::BoxFuture<'s, StoreResult<Vec<T>>>,
    {
        let mut page = Page::first(200);
        loop {
            let ra = call(self.a, page).await?;
            let rb = call(self.b, page).await?;
            self.same(format!("{what} page before {:?}", page.before), &ra, &rb);
            match ra.last() {
                Some(last) if ra.len() == page.limit as usize && ra == rb => page.before = Some(id(last)),
                _ => return Ok(()),
            }
        }
    }

    async fn compare_all(&mut self, sa: &Snapshot, sb: &Snapshot, progress: &dyn Progress) -> Result<(), CutoverError> {
        let union = |x: Vec<Uuid>, y: Vec<Uuid>| x.into_iter().chain(y).collect::<BTreeSet<_>>();
        let stores = union(sa.stores.iter().map(|s| s.id.0).collect(), sb.stores.iter().map(|s| s.id.0).collect());
        let users = union(sa.users.iter().map(|s| s.id.0).collect(), sb.users.iter().map(|s| s.id.0).collect());
        let orders = union(sa.orders.iter().map(|s| s.id.0).collect(), sb.orders.iter().map(|s| s.id.0).collect());
        let products =
            union(sa.products.iter().map(|s| s.id.0).collect(), sb.products.iter().map(|s| s.id.0).collect());
        let tasks = union(sa.tasks.iter().map(|s| s.id.0).collect(), sb.tasks.iter().map(|s| s.id.0).collect());
        let exports = union(sa.exports.iter().map(|s| s.id.0).collect(), sb.exports.iter().map(|s| s.id.0).collect());
        let far = far_future();
        progress.table("list reads", (stores.len() + users.len() + orders.len() + products.len()) as u64);

        self.paged("stores".into(), |s: &Shop| s.id.0, |s, p| s.list_stores(p)).await?;
        for &sid in &stores {
            let store_id = StoreId(sid);
            self.paged(format!("audit_logs({sid})"), |r: &AuditLog| r.id.0, move |s, p| s.list_audit_logs(store_id, p))
                .await?;
            for status in std::iter::once(None).chain(ProductStatus::ALL.iter().copied().map(Some)) {
                self.paged(
                    format!("products({sid}, {status:?})"),
                    |r: &Product| r.id.0,
                    move |s, p| s.list_products(store_id, status, p),
                )
                .await?;
            }
            for status in std::iter::once(None).chain(OrderStatus::ALL.iter().copied().map(Some)) {
                self.paged(
                    format!("orders_by_store({sid}, {status:?})"),
                    |r: &CustomerOrder| r.id.0,
                    move |s, p| s.list_orders_by_store(store_id, status, p),
                )
                .await?;
            }
            for status in std::iter::once(None).chain(PayoutStatus::ALL.iter().copied().map(Some)) {
                self.paged(
                    format!("payouts({sid}, {status:?})"),
                    |r: &PayoutLedger| r.id.0,
                    move |s, p| s.list_payouts(store_id, status, p),
                )
                .await?;
            }
            let (ra, rb) = (self.a.list_store_inventory(store_id).await?, self.b.list_store_inventory(store_id).await?);
            self.same(format!("store_inventory({sid})"), &ra, &rb);
            let (ra, rb) =
                (self.a.active_reservation_totals(store_id).await?, self.b.active_reservation_totals(store_id).await?);
            self.same(format!("active_reservation_totals({sid})"), &ra, &rb);
            let mut after = 0;
            loop {
                let (ra, rb) =
                    (self.a.list_events(store_id, after, 500).await?, self.b.list_events(store_id, after, 500).await?);
                self.same(format!("events({sid}, after {after})"), &ra, &rb);
                match ra.last().and_then(|e| e.seq) {
                    Some(seq) if ra.len() == 500 && ra == rb => after = seq,
                    _ => break,
                }
            }
            let (ra, rb) = (
                self.a.list_unsequenced_events(store_id, 10_000).await?,
                self.b.list_unsequenced_events(store_id, 10_000).await?,
            );
            self.same(format!("unsequenced_events({sid})"), &ra, &rb);
            let (ra, rb) = (self.a.last_event_seq(store_id).await?, self.b.last_event_seq(store_id).await?);
            self.same(format!("last_event_seq({sid})"), &[ra], &[rb]);
            let (ra, rb) = (
                self.a.list_unpaid_expired(store_id, far, 10_000).await?,
                self.b.list_unpaid_expired(store_id, far, 10_000).await?,
            );
            self.same(format!("unpaid_expired({sid})"), &ra, &rb);
            let (ra, rb) = (
                self.a.list_shipped_before(store_id, far, 10_000).await?,
                self.b.list_shipped_before(store_id, far, 10_000).await?,
            );
            self.same(format!("shipped_before({sid})"), &ra, &rb);
            let (ra, rb) = (
                self.a.list_tasks_expired(store_id, far, 10_000).await?,
                self.b.list_tasks_expired(store_id, far, 10_000).await?,
            );
            self.same(format!("tasks_expired({sid})"), &ra, &rb);
            let (ra, rb) = (
                self.a.list_tasks_payout_due(store_id, far, 10_000).await?,
                self.b.list_tasks_payout_due(store_id, far, 10_000).await?,
            );
            self.same(format!("tasks_payout_due({sid})"), &ra, &rb);
            progress.rows(1);
        }
        for &uid in &users {
            let user_id = UserId(uid);
            self.paged(
                format!("orders_by_user({uid})"),
                |r: &CustomerOrder| r.id.0,
                move |s, p| s.list_orders_by_user(user_id, p),
            )
            .await?;
            progress.rows(1);
        }
        let order_ids: Vec<OrderId> = orders.iter().map(|&o| OrderId(o)).collect();
        for chunk in order_ids.chunks(200) {
            let (ra, rb) = (self.a.list_order_items(chunk).await?, self.b.list_order_items(chunk).await?);
            self.same("order_items(batch)".into(), &ra, &rb);
        }
        for &oid in &order_ids {
            let (ra, rb) = (self.a.list_reservations(oid).await?, self.b.list_reservations(oid).await?);
            self.same(format!("reservations({oid})"), &ra, &rb);
            let (ra, rb) = (self.a.list_payments(oid).await?, self.b.list_payments(oid).await?);
            self.same(format!("payments({oid})"), &ra, &rb);
            progress.rows(1);
        }
        let product_ids: Vec<ProductId> = products.iter().map(|&p| ProductId(p)).collect();
        for chunk in product_ids.chunks(200) {
            let (ra, rb) = (self.a.list_variants(chunk).await?, self.b.list_variants(chunk).await?);
            self.same("variants(batch)".into(), &ra, &rb);
            let variant_ids: Vec<VariantId> =
                ra.iter().chain(&rb).map(|v| v.id).collect::<BTreeSet<_>>().into_iter().collect();
            let (ia, ib) = (self.a.list_inventory(&variant_ids).await?, self.b.list_inventory(&variant_ids).await?);
            self.same("inventory(batch)".into(), &ia, &ib);
        }
        for &pid in &product_ids {
            let (ra, rb) = (self.a.list_images(pid).await?, self.b.list_images(pid).await?);
            self.same(format!("images({pid})"), &ra, &rb);
            progress.rows(1);
        }
        for &tid in &tasks {
            let (ra, rb) = (self.a.list_helps(TaskId(tid)).await?, self.b.list_helps(TaskId(tid)).await?);
            self.same(format!("helps({tid})"), &ra, &rb);
        }
        for &eid in &exports {
            let (ra, rb) =
                (self.a.list_export_audit(ExportId(eid)).await?, self.b.list_export_audit(ExportId(eid)).await?);
            self.same(format!("export_audit({eid})"), &ra, &rb);
        }
        for &status in ExportStatus::ALL {
            let (ra, rb) = (
                self.a.list_exports_by_status(status, 10_000).await?,
                self.b.list_exports_by_status(status, 10_000).await?,
            );
            self.same(format!("exports_by_status({status})"), &ra, &rb);
        }
        let (ra, rb) =
            (self.a.list_exports_expired(far, 10_000).await?, self.b.list_exports_expired(far, 10_000).await?);
        self.same("exports_expired".into(), &ra, &rb);
        let (ra, rb) =
            (self.a.list_expired_sessions(far, 10_000).await?, self.b.list_expired_sessions(far, 10_000).await?);
        self.same("expired_sessions".into(), &sorted_by_id(ra), &sorted_by_id(rb));
        // Idempotent replays: the stored response of every key, from both.
        let keys: BTreeSet<(String, String)> =
            sa.idempotency.iter().chain(&sb.idempotency).map(|r| (r.scope.clone(), r.key.clone())).collect();
        progress.table("idempotent replays", keys.len() as u64);
        for (scope, key) in keys {
            let (ra, rb) = (self.a.get_idempotency(&scope, &key).await?, self.b.get_idempotency(&scope, &key).await?);
            self.report.idempotency_replays += 1;
            let replay = |r: &Option<IdempotencyRecord>| {
                r.as_ref().map(|r| (r.fingerprint.clone(), r.response_status, r.response_body.clone(), r.resource_id))
            };
            if replay(&ra) != replay(&rb) || ra != rb {
                self.report.differences.push(format!(
                    "idempotency ({scope}, {key}): stored responses differ ({})",
                    crate::shadow::differing_fields(&ra, &rb).join(", ")
                ));
            }
            progress.rows(1);
        }
        Ok(())
    }
}

/// `list_expired_sessions` promises no order: compare as sets.
fn sorted_by_id(mut v: Vec<Session>) -> Vec<Session> {
    v.sort_by_key(|s| s.id);
    v
}
