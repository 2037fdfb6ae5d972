//! The resumable, convergent backfill behind `agora copy`.
//!
//! `copy(from, to)` makes `to` hold what `from` holds, table by table in
//! dependency order, in batches of changesets:
//!
//! - a row `to` lacks is inserted (stock rows with `SetOnHand` +
//!   `AdjustStock`, events unsequenced + `SequenceEvent`, event seqs with
//!   `SetEventSeq`);
//! - a row that differs is updated, under a compare-and-set guard wherever
//!   core has one (order/payment/reservation/help/payout/export status, task
//!   state, settings and product version, the store's event seq), so a
//!   concurrent dual write is never overwritten with older data: the guard
//!   fails, the row counts as a conflict and the next pass looks again;
//! - sessions and idempotency records `from` no longer has are deleted from
//!   `to` (the only rows agora ever deletes).
//!
//! The target is its own checkpoint: the diff is recomputed on every run,
//! so a run that stopped half-way (crash, Ctrl-C, a lost connection) is
//! resumed by running it again, and a second run over unchanged data
//! writes nothing. `to` is read before `from`, so a row written to both
//! between the two reads looks "new in from" (its insert fails as a
//! harmless conflict) rather than "old in from" (which would regress `to`).
//! Under live traffic, repeat until a pass reports no changes and no
//! conflicts.

use std::collections::BTreeMap;

use agora_core::*;

use crate::CutoverError;
use crate::tables::{event_create, inventory_create};

/// Reports progress of long operations (the CLI draws bars with it).
pub trait Progress: Send + Sync {
    /// Work on `table` starts; `rows` rows to look at (0 when unknown).
    fn table(&self, _table: &'static str, _rows: u64) {}
    /// `n` more rows done.
    fn rows(&self, _n: u64) {}
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Knobs of [`copy`].
#[derive(Clone, Copy, Debug)]
pub struct CopyOptions {
    /// Rows per changeset.
    pub batch_rows: usize,
    /// Delete sessions and idempotency records the source no longer has.
    pub deletes: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self { batch_rows: 500, deletes: true }
    }
}

/// What a copy did to one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableCopy {
    /// The table.
    pub table: &'static str,
    /// Rows in the source.
    pub source_rows: u64,
    /// Rows inserted into the target.
    pub inserted: u64,
    /// Rows updated in the target.
    pub updated: u64,
    /// Rows deleted from the target.
    pub deleted: u64,
    /// Rows whose write failed (a guard saw a concurrent change, a
    /// duplicate from a concurrent dual write, ...); the next pass retries.
    pub conflicts: u64,
    /// Rows only the target has, which copy cannot remove.
    pub extra: u64,
}

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Per table, in dependency order.
    pub tables: Vec<TableCopy>,
}

impl CopyReport {
    /// Rows written (inserted, updated or deleted).
    pub fn changed(&self) -> u64 {
        self.tables.iter().map(|t| t.inserted + t.updated + t.deleted).sum()
    }

    /// Rows inserted.
    pub fn inserted(&self) -> u64 {
        self.tables.iter().map(|t| t.inserted).sum()
    }

    /// Rows updated.
    pub fn updated(&self) -> u64 {
        self.tables.iter().map(|t| t.updated).sum()
    }

    /// Rows deleted.
    pub fn deleted(&self) -> u64 {
        self.tables.iter().map(|t| t.deleted).sum()
    }

    /// Rows whose write failed.
    pub fn conflicts(&self) -> u64 {
        self.tables.iter().map(|t| t.conflicts).sum()
    }

    /// Rows only the target has.
    pub fn extra(&self) -> u64 {
        self.tables.iter().map(|t| t.extra).sum()
    }

    /// Nothing was left to do: no writes and no conflicts.
    pub fn converged(&self) -> bool {
        self.changed() == 0 && self.conflicts() == 0
    }

    /// One line for the operator.
    pub fn summary(&self) -> String {
        format!(
            "{} inserted, {} updated, {} deleted, {} conflicts, {} extra rows in the target",
            self.inserted(),
            self.updated(),
            self.deleted(),
            self.conflicts(),
            self.extra()
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Insert,
    Update,
    Delete,
}

enum Op {
    /// Writes decided from the snapshots.
    Fixed { kind: Kind, key: String, guards: Vec<Guard>, writes: Vec<Write> },
    /// A stock row: re-read from both stores right before writing, because
    /// its figures move with every order.
    Stock { variant_id: VariantId, warehouse_id: WarehouseId },
    /// Something copy cannot repair (counted as a conflict).
    Unfixable { key: String, why: String },
}

enum Change<'a, T> {
    New(&'a T),
    Changed(&'a T, &'a T),
    Gone(&'a T),
}

fn diff<'a, T: PartialEq, K: Ord>(src: &'a [T], dst: &'a [T], key: impl Fn(&T) -> K) -> Vec<Change<'a, T>> {
    let mut theirs: BTreeMap<K, &T> = dst.iter().map(|r| (key(r), r)).collect();
    let mut out = Vec::new();
    for s in src {
        match theirs.remove(&key(s)) {
            None => out.push(Change::New(s)),
            Some(d) if d != s => out.push(Change::Changed(s, d)),
            Some(_) => {}
        }
    }
    out.extend(theirs.into_values().map(Change::Gone));
    out
}

fn fixed(kind: Kind, key: impl ToString, guards: Vec<Guard>, writes: Vec<Write>) -> Op {
    Op::Fixed { kind, key: key.to_string(), guards, writes }
}

/// Ops for a table whose rows are inserted and updated by primary key,
/// `guard` giving the compare-and-set guard of an update from the target's row.
fn rows<T: PartialEq + Clone, K: Ord + std::fmt::Debug>(
    src: &[T],
    dst: &[T],
    key: impl Fn(&T) -> K,
    record: impl Fn(T) -> Record,
    guard: impl Fn(&T) -> Option<Guard>,
) -> Vec<Op> {
    diff(src, dst, &key)
        .into_iter()
        .map(|c| match c {
            Change::New(s) => {
                fixed(Kind::Insert, format!("{:?}", key(s)), vec![], vec![Write::Insert(record(s.clone()))])
            }
            Change::Changed(s, d) => fixed(
                Kind::Update,
                format!("{:?}", key(s)),
                guard(d).into_iter().collect(),
                vec![Write::Update(record(s.clone()))],
            ),
            Change::Gone(d) => Op::Unfixable { key: format!("{:?}", key(d)), why: "only in the target".into() },
        })
        .collect()
}

fn no_guard<T>(_: &T) -> Option<Guard> {
    None
}

fn plan(table: &'static str, src: &Snapshot, dst: &Snapshot, opts: &CopyOptions) -> Vec<Op> {
    match table {
        "store" => rows(&src.stores, &dst.stores, |r| r.id, Record::Store, no_guard),
        "store_settings" => rows(
            &src.settings,
            &dst.settings,
            |r| r.store_id,
            Record::StoreSettings,
            |d| Some(Guard::SettingsVersionIs { store_id: d.store_id, version: d.version }),
        ),
        "app_user" => rows(&src.users, &dst.users, |r| r.id, Record::User, no_guard),
        "user_address" => rows(&src.addresses, &dst.addresses, |r| r.id, Record::Address, no_guard),
        "session" => {
            let mut ops = rows(&src.sessions, &dst.sessions, |r| r.id, Record::Session, no_guard);
            for op in &mut ops {
                if let Op::Unfixable { key, .. } = op
                    && opts.deletes
                {
                    let id = dst.sessions.iter().find(|s| format!("{:?}", s.id) == *key).map(|s| s.id);
                    if let Some(id) = id {
                        *op = fixed(Kind::Delete, key.clone(), vec![], vec![Write::DeleteSession(id)]);
                    }
                }
            }
            ops
        }
        "admin_key" => rows(&src.admin_keys, &dst.admin_keys, |r| r.id, Record::AdminKey, no_guard),
        "product" => rows(
            &src.products,
            &dst.products,
            |r| r.id,
            Record::Product,
            |d| Some(Guard::ProductVersionIs { product_id: d.id, version: d.version }),
        ),
        "product_variant" => rows(&src.variants, &dst.variants, |r| r.id, Record::Variant, no_guard),
        "product_image" => rows(&src.images, &dst.images, |r| r.id, Record::Image, no_guard),
        "warehouse" => rows(&src.warehouses, &dst.warehouses, |r| r.id, Record::Warehouse, no_guard),
        "inventory" => diff(&src.inventory, &dst.inventory, |r| (r.variant_id, r.warehouse_id))
            .into_iter()
            .map(|c| match c {
                Change::New(s) | Change::Changed(s, _) => {
                    Op::Stock { variant_id: s.variant_id, warehouse_id: s.warehouse_id }
                }
                Change::Gone(d) => Op::Unfixable {
                    key: format!("({}, {})", d.variant_id, d.warehouse_id),
                    why: "only in the target".into(),
                },
            })
            .collect(),
        "customer_order" => rows(
            &src.orders,
            &dst.orders,
            |r| r.id,
            Record::Order,
            |d| Some(Guard::OrderStatusIs { order_id: d.id, status: d.status }),
        ),
        "order_item" => rows(&src.order_items, &dst.order_items, |r| r.id, Record::OrderItem, no_guard),
        "inventory_reservation" => rows(
            &src.reservations,
            &dst.reservations,
            |r| r.id,
            Record::Reservation,
            |d| Some(Guard::ReservationStatusIs { reservation_id: d.id, status: d.status }),
        ),
        "payment" => rows(
            &src.payments,
            &dst.payments,
            |r| r.id,
            Record::Payment,
            |d| Some(Guard::PaymentStatusIs { payment_id: d.id, status: d.status }),
        ),
        "payment_event" => rows(&src.payment_events, &dst.payment_events, |r| r.id, Record::PaymentEvent, no_guard),
        "help_task" => rows(
            &src.tasks,
            &dst.tasks,
            |r| r.id,
            Record::Task,
            |d| Some(Guard::TaskStateIs { task_id: d.id, status: d.status, helps_valid: d.helps_valid }),
        ),
        "help" => rows(
            &src.helps,
            &dst.helps,
            |r| r.id,
            Record::Help,
            |d| Some(Guard::HelpStatusIs { help_id: d.id, status: d.status }),
        ),
        "payout_ledger" => rows(
            &src.payouts,
            &dst.payouts,
            |r| r.id,
            Record::Payout,
            |d| Some(Guard::PayoutStatusIs { payout_id: d.id, status: d.payout_status }),
        ),
        "audit_log" => rows(&src.audit_logs, &dst.audit_logs, |r| r.id, Record::Audit, no_guard),
        "idempotency_key" => diff(&src.idempotency, &dst.idempotency, |r| (r.scope.clone(), r.key.clone()))
            .into_iter()
            .filter_map(|c| match c {
                // An insert of an idempotency record replaces the old one.
                Change::New(s) => Some(fixed(
                    Kind::Insert,
                    format!("({}, {})", s.scope, s.key),
                    vec![],
                    vec![Write::Insert(Record::Idempotency(s.clone()))],
                )),
                Change::Changed(s, _) => Some(fixed(
                    Kind::Update,
                    format!("({}, {})", s.scope, s.key),
                    vec![],
                    vec![Write::Insert(Record::Idempotency(s.clone()))],
                )),
                Change::Gone(d) => opts.deletes.then(|| {
                    fixed(
                        Kind::Delete,
                        format!("({}, {})", d.scope, d.key),
                        vec![],
                        vec![Write::DeleteIdempotency { scope: d.scope.clone(), key: d.key.clone() }],
                    )
                }),
            })
            .collect(),
        "activity_event" => diff(&src.events, &dst.events, |r| r.id)
            .into_iter()
            .map(|c| match c {
                Change::New(s) => fixed(Kind::Insert, s.id, vec![], event_create(s.clone())),
                Change::Changed(s, d) => {
                    if d.seq.is_some() && d.seq != s.seq {
                        return Op::Unfixable {
                            key: s.id.to_string(),
                            why: format!("seq {:?} in the target, {:?} in the source", d.seq, s.seq),
                        };
                    }
                    let mut writes = Vec::new();
                    let mut body = s.clone();
                    body.seq = d.seq;
                    if body != *d {
                        writes.push(Write::Update(Record::Event(body)));
                    }
                    if let (None, Some(seq)) = (d.seq, s.seq) {
                        writes.push(Write::SequenceEvent { event_id: s.id, store_id: s.store_id, seq });
                    }
                    fixed(Kind::Update, s.id, vec![], writes)
                }
                Change::Gone(d) => Op::Unfixable { key: d.id.to_string(), why: "only in the target".into() },
            })
            .collect(),
        "event_seq" => diff(&src.event_seqs, &dst.event_seqs, |r| r.0)
            .into_iter()
            .map(|c| match c {
                Change::New(s) => fixed(
                    Kind::Insert,
                    s.0,
                    vec![Guard::EventSeqIs { store_id: s.0, last_seq: 0 }],
                    vec![Write::SetEventSeq { store_id: s.0, last_seq: s.1 }],
                ),
                Change::Changed(s, d) => fixed(
                    Kind::Update,
                    s.0,
                    vec![Guard::EventSeqIs { store_id: d.0, last_seq: d.1 }],
                    vec![Write::SetEventSeq { store_id: s.0, last_seq: s.1 }],
                ),
                Change::Gone(d) => Op::Unfixable { key: d.0.to_string(), why: "only in the target".into() },
            })
            .collect(),
        "export_job" => rows(
            &src.exports,
            &dst.exports,
            |r| r.id,
            Record::Export,
            |d| Some(Guard::ExportStatusIs { export_id: d.id, status: d.status }),
        ),
        "export_audit_record" => rows(&src.export_audit, &dst.export_audit, |r| r.id, Record::ExportAudit, no_guard),
        _ => Vec::new(),
    }
}

fn source_rows(table: &str, snap: &Snapshot) -> u64 {
    snap.counts().into_iter().find(|(t, _)| *t == table).map_or(0, |(_, n)| n as u64)
}

/// Makes `to` hold what `from` holds (see the module docs).
///
/// # Errors
/// A store failure while reading either snapshot. Failed writes are not
/// errors: they are counted as conflicts and logged.
pub async fn copy(
    from: &dyn Store,
    to: &dyn Store,
    opts: &CopyOptions,
    progress: &dyn Progress,
) -> Result<CopyReport, CutoverError> {
    // The target first: see the module docs.
    let dst = to.snapshot().await?;
    let src = from.snapshot().await?;
    let mut report = CopyReport::default();
    for &table in crate::TABLES {
        let ops = plan(table, &src, &dst, opts);
        let mut t = TableCopy { table, source_rows: source_rows(table, &src), ..TableCopy::default() };
        progress.table(table, ops.len() as u64);
        let mut batch: Vec<(Kind, String, Vec<Guard>, Vec<Write>)> = Vec::new();
        for op in ops {
            match op {
                Op::Fixed { kind, key, guards, writes } => {
                    if writes.is_empty() {
                        progress.rows(1);
                        continue;
                    }
                    batch.push((kind, key, guards, writes));
                    if batch.len() >= opts.batch_rows.max(1) {
                        apply_batch(to, table, std::mem::take(&mut batch), &mut t, progress).await;
                    }
                }
                Op::Stock { variant_id, warehouse_id } => {
                    stock(from, to, variant_id, warehouse_id, &mut t).await;
                    progress.rows(1);
                }
                Op::Unfixable { key, why } => {
                    if why == "only in the target" {
                        t.extra += 1;
                    } else {
                        t.conflicts += 1;
                    }
                    tracing::warn!(table, key, why, "copy: cannot repair this row");
                    progress.rows(1);
                }
            }
        }
        apply_batch(to, table, batch, &mut t, progress).await;
        report.tables.push(t);
    }
    Ok(report)
}

fn count(t: &mut TableCopy, kind: Kind) {
    match kind {
        Kind::Insert => t.inserted += 1,
        Kind::Update => t.updated += 1,
        Kind::Delete => t.deleted += 1,
    }
}

async fn apply_batch(
    to: &dyn Store,
    table: &'static str,
    batch: Vec<(Kind, String, Vec<Guard>, Vec<Write>)>,
    t: &mut TableCopy,
    progress: &dyn Progress,
) {
    if batch.is_empty() {
        return;
    }
    let mut cs = Changeset::new();
    for (_, _, guards, writes) in &batch {
        cs.guards.extend(guards.iter().cloned());
        cs.writes.extend(writes.iter().cloned());
    }
    let n = batch.len() as u64;
    if to.apply(cs).await.is_ok() {
        for (kind, ..) in &batch {
            count(t, *kind);
        }
        progress.rows(n);
        return;
    }
    // Something in the batch failed: apply row by row to find it.
    for (kind, key, guards, writes) in batch {
        match to.apply(Changeset { guards, writes }).await {
            Ok(()) => count(t, kind),
            Err(e) => {
                t.conflicts += 1;
                tracing::warn!(table, key, error = %e, "copy: row not written; the next pass retries it");
            }
        }
        progress.rows(1);
    }
}

/// Brings one stock row of `to` to `from`'s figures, read fresh from both
/// (the target first) right before the write.
async fn stock(from: &dyn Store, to: &dyn Store, variant_id: VariantId, warehouse_id: WarehouseId, t: &mut TableCopy) {
    let pick = |rows: Vec<Inventory>| rows.into_iter().find(|r| r.warehouse_id == warehouse_id);
    let fresh = async {
        let d = pick(to.list_inventory(&[variant_id]).await?);
        let s = pick(from.list_inventory(&[variant_id]).await?);
        Ok::<_, StoreError>((s, d))
    };
    let (s, d) = match fresh.await {
        Ok(pair) => pair,
        Err(e) => {
            t.conflicts += 1;
            tracing::warn!(table = "inventory", %variant_id, %warehouse_id, error = %e, "copy: cannot read the row");
            return;
        }
    };
    let (kind, writes) = match (s, d) {
        (None, _) => return,
        (Some(s), None) => (Kind::Insert, inventory_create(&s)),
        (Some(s), Some(d)) if s == d => return,
        (Some(s), Some(d)) => (Kind::Update, stock_update(&s, &d)),
    };
    match to.apply(Changeset { guards: vec![], writes }).await {
        Ok(()) => count(t, kind),
        Err(e) => {
            t.conflicts += 1;
            tracing::warn!(table = "inventory", %variant_id, %warehouse_id, error = %e, "copy: row not written");
        }
    }
}

/// Writes turning stock row `d` into `s`, ordered so `reserved <= on_hand`
/// holds after each one.
pub(crate) fn stock_update(s: &Inventory, d: &Inventory) -> Vec<Write> {
    let set = Write::SetOnHand {
        variant_id: s.variant_id,
        warehouse_id: s.warehouse_id,
        store_id: s.store_id,
        on_hand: s.on_hand,
        at: s.updated_at,
    };
    let delta = s.reserved - d.reserved;
    let adjust = Write::AdjustStock {
        variant_id: s.variant_id,
        warehouse_id: s.warehouse_id,
        on_hand_delta: 0,
        reserved_delta: delta,
        at: s.updated_at,
    };
    match delta {
        0 => vec![set],
        d if d < 0 => vec![adjust, set],
        _ => vec![set, adjust],
    }
}
