//! The single writer thread and the translation of a [`Changeset`] into SQL.
//!
//! The writer owns the only write connection. It blocks for one request,
//! drains whatever else is queued (up to [`MAX_BATCH`]), and applies the
//! group in one `BEGIN IMMEDIATE` transaction; each changeset runs inside
//! its own `SAVEPOINT`, so a failing guard or write rolls back that
//! changeset only (`ROLLBACK TO` + `RELEASE`). One `COMMIT` then makes the
//! whole group durable with one WAL fsync, and every caller gets its reply.
//!
//! A group of one changeset skips the savepoint: a failure rolls the whole
//! transaction back. A larger group is first tried *optimistically*, without
//! savepoints: when every changeset succeeds (the common case) that saves two
//! statements per changeset and, above all, the sub-journal SQLite keeps for
//! an open savepoint (a copy of every page before its first change). When one
//! fails, the whole transaction is rolled back, nothing has been answered
//! yet, and the group is applied again the careful way, with savepoints; the
//! next [`CAREFUL_BATCHES`] groups then use savepoints straight away, so a
//! workload where changesets often fail pays for at most one wasted attempt
//! in `CAREFUL_BATCHES + 1` groups. Either way every changeset sees the same
//! state (the committed one plus the earlier changesets of its group), so
//! the outcomes do not depend on the path taken.
//!
//! Transaction-control statements come from the statement cache rather than
//! being re-parsed per changeset.
//!
//! Guards are plain `SELECT`s, or conditional writes when fused with the one
//! write of their row (see [`apply_one`]): the writer holds SQLite's write
//! lock for the whole transaction, so nothing can change between a guard and
//! the writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use agora_core::*;
use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::codec::*;

/// At most this many changesets share one commit.
const MAX_BATCH: usize = 256;

/// After an optimistic group failed, this many groups use savepoints from
/// the start (see the module documentation).
const CAREFUL_BATCHES: u32 = 8;

type Reply = oneshot::Sender<StoreResult<()>>;

struct Request {
    changeset: Changeset,
    reply: Reply,
}

/// Counters of the writer thread, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Changesets answered (applied or refused).
    pub changesets: u64,
    /// Write transactions committed; fewer than `changesets` when group commit batched them.
    pub commits: u64,
}

#[derive(Default)]
struct Counters {
    changesets: AtomicU64,
    commits: AtomicU64,
}

pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl Writer {
    pub(crate) fn start(conn: Connection) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Request>();
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("agora-sqlite-writer".into())
            .spawn(move || run(conn, rx, &c))
            .map_err(|e| StoreError::Unavailable(format!("cannot start sqlite writer thread: {e}")))?;
        Ok(Self { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)), counters })
    }

    pub(crate) fn stats(&self) -> WriterStats {
        WriterStats {
            changesets: self.counters.changesets.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
        }
    }

    /// Queues a changeset and waits for its outcome.
    pub(crate) async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        let (reply, rx) = oneshot::channel();
        {
            let guard = self.tx.lock();
            let tx = guard.as_ref().ok_or_else(|| StoreError::Unavailable("sqlite store is closed".into()))?;
            tx.send(Request { changeset, reply })
                .map_err(|_| StoreError::Unavailable("sqlite writer thread has stopped".into()))?;
        }
        rx.await.map_err(|_| {
            StoreError::Unavailable("sqlite writer thread stopped before answering; outcome unknown".into())
        })?
    }

    /// Stops accepting work, lets the thread finish the queue, joins it.
    pub(crate) fn shutdown(&self) {
        drop(self.tx.lock().take());
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Request>, counters: &Counters) {
    let mut careful = 0;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        apply_batch(&conn, batch, counters, &mut careful);
    }
    // Dropping the connection checkpoints the WAL when it is the last one.
    drop(conn);
}

/// Runs a transaction-control statement from the connection's statement
/// cache (no re-parse per changeset, unlike `execute_batch`).
fn ctl(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs one changeset, turning a panic into an error: a bug must not take
/// the writer thread (and every later write) down.
fn apply_guarded(conn: &Connection, cs: &Changeset) -> StoreResult<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply_one(conn, cs))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        Err(StoreError::Unavailable(format!("sqlite writer failed on this changeset: {what}")))
    })
}

/// What an optimistic attempt at a group came to.
enum Optimistic {
    /// Every changeset applied and the group is committed.
    Committed,
    /// A changeset failed; the transaction is rolled back, nothing answered.
    Failed,
    /// The transaction itself failed (begin, rollback or commit): answer
    /// every request with this error.
    Broken(String),
}

/// Applies a group of several changesets without savepoints, all or nothing.
fn apply_optimistic(conn: &Connection, batch: &[Request]) -> Optimistic {
    if let Err(e) = ctl(conn, "BEGIN IMMEDIATE") {
        return Optimistic::Broken(format!("sqlite: cannot begin write transaction: {e}"));
    }
    if batch.iter().all(|req| apply_guarded(conn, &req.changeset).is_ok()) {
        if let Err(e) = ctl(conn, "COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            return Optimistic::Broken(format!("sqlite: commit failed, nothing written: {e}"));
        }
        return Optimistic::Committed;
    }
    if let Err(e) = ctl(conn, "ROLLBACK") {
        // The connection's state is unknown; make sure nothing stays open.
        let _ = conn.execute_batch("ROLLBACK");
        return Optimistic::Broken(format!("sqlite: rollback failed: {e}"));
    }
    Optimistic::Failed
}

/// Applies a group in one transaction and answers every request. The
/// counters are bumped before the replies go out. `careful` counts the
/// groups left that skip the optimistic attempt.
fn apply_batch(conn: &Connection, batch: Vec<Request>, counters: &Counters, careful: &mut u32) {
    counters.changesets.fetch_add(batch.len() as u64, Ordering::Relaxed);
    let fail_all = |batch: Vec<Request>, msg: String| {
        for r in batch {
            let _ = r.reply.send(Err(StoreError::Unavailable(msg.clone())));
        }
    };
    if batch.len() > 1 {
        if *careful > 0 {
            *careful -= 1;
        } else {
            match apply_optimistic(conn, &batch) {
                Optimistic::Committed => {
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                    for req in batch {
                        let _ = req.reply.send(Ok(()));
                    }
                    return;
                }
                Optimistic::Broken(msg) => return fail_all(batch, msg),
                Optimistic::Failed => *careful = CAREFUL_BATCHES,
            }
        }
    }
    if let Err(e) = ctl(conn, "BEGIN IMMEDIATE") {
        return fail_all(batch, format!("sqlite: cannot begin write transaction: {e}"));
    }
    let mut results = Vec::with_capacity(batch.len());
    if let [req] = batch.as_slice() {
        // Alone in its transaction: no savepoint, a failure rolls the whole
        // transaction back, which undoes exactly this changeset.
        let outcome = apply_guarded(conn, &req.changeset);
        if outcome.is_err() {
            if let Err(e) = ctl(conn, "ROLLBACK") {
                // The connection's state is unknown; make sure nothing stays open.
                let _ = conn.execute_batch("ROLLBACK");
                return fail_all(batch, format!("sqlite: rollback failed: {e}"));
            }
            for req in batch {
                let _ = req.reply.send(outcome.clone());
            }
            return;
        }
        results.push(outcome);
    } else {
        for req in &batch {
            if let Err(e) = ctl(conn, "SAVEPOINT cs") {
                let _ = conn.execute_batch("ROLLBACK");
                return fail_all(batch, format!("sqlite: savepoint failed: {e}"));
            }
            let outcome = apply_guarded(conn, &req.changeset);
            let end = if outcome.is_ok() {
                ctl(conn, "RELEASE cs")
            } else {
                ctl(conn, "ROLLBACK TO cs").and_then(|()| ctl(conn, "RELEASE cs"))
            };
            if let Err(e) = end {
                let _ = conn.execute_batch("ROLLBACK");
                return fail_all(batch, format!("sqlite: savepoint end failed: {e}"));
            }
            results.push(outcome);
        }
    }
    if let Err(e) = ctl(conn, "COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return fail_all(batch, format!("sqlite: commit failed, nothing written: {e}"));
    }
    counters.commits.fetch_add(1, Ordering::Relaxed);
    for (req, res) in batch.into_iter().zip(results) {
        let _ = req.reply.send(res);
    }
}

/// Checks every guard, then makes every write. The caller wraps this in a
/// savepoint (or the whole transaction) and rolls it back on error.
///
/// A guard whose row only one write touches is fused with that write (see
/// [`fusions`]): the write runs at the guard's turn as a conditional
/// statement whose `changes()` says whether the guard held. Guards still run
/// in index order and stop at the first failure, and the fused write touches
/// a row no other guard or write of the changeset looks at, so the outcome
/// is the same as checking first and writing afterwards.
pub(crate) fn apply_one(conn: &Connection, cs: &Changeset) -> StoreResult<()> {
    let fused = fusions(cs);
    for (index, guard) in cs.guards.iter().enumerate() {
        let held = match fused.iter().find(|f| f.0 == index) {
            Some(&(_, wi)) => fused_write(conn, guard, &cs.writes[wi]).map_err(db_err)?,
            None => check_guard(conn, guard).map_err(db_err)?,
        };
        if !held {
            return Err(StoreError::GuardFailed(GuardFailure { index, guard: guard.clone() }));
        }
    }
    for (wi, w) in cs.writes.iter().enumerate() {
        if fused.iter().any(|f| f.1 == wi) {
            continue;
        }
        write(conn, w).map_err(|e| map_write_err(e, cs))?;
    }
    Ok(())
}

/// The row a guard reads or a write touches, for the rows fusion cares about.
#[derive(PartialEq, Eq)]
enum RowKey<'a> {
    Inventory(VariantId, WarehouseId),
    Idempotency(&'a str, &'a str),
}

fn guard_row(g: &Guard) -> Option<RowKey<'_>> {
    match g {
        Guard::StockAvailable { variant_id, warehouse_id, .. }
        | Guard::ReservedWithin { variant_id, warehouse_id, .. } => Some(RowKey::Inventory(*variant_id, *warehouse_id)),
        Guard::IdempotencyKeyFree { scope, key, .. } => Some(RowKey::Idempotency(scope, key)),
        _ => None,
    }
}

fn write_row(w: &Write) -> Option<RowKey<'_>> {
    match w {
        Write::AdjustStock { variant_id, warehouse_id, .. } | Write::SetOnHand { variant_id, warehouse_id, .. } => {
            Some(RowKey::Inventory(*variant_id, *warehouse_id))
        }
        Write::Insert(Record::Idempotency(r)) | Write::Update(Record::Idempotency(r)) => {
            Some(RowKey::Idempotency(&r.scope, &r.key))
        }
        Write::DeleteIdempotency { scope, key } => Some(RowKey::Idempotency(scope, key)),
        _ => None,
    }
}

/// Pairs `(guard index, write index)` to run as one conditional statement:
/// `StockAvailable` with the `AdjustStock` of its row, `IdempotencyKeyFree`
/// with the `Insert` of its key, each only when no other guard or write of
/// the changeset touches that row.
fn fusions(cs: &Changeset) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (gi, g) in cs.guards.iter().enumerate() {
        if !matches!(g, Guard::StockAvailable { .. } | Guard::IdempotencyKeyFree { .. }) {
            continue;
        }
        let Some(row) = guard_row(g) else { continue };
        if cs.guards.iter().filter(|o| guard_row(o).as_ref() == Some(&row)).count() != 1 {
            continue;
        }
        let mut touching = cs.writes.iter().enumerate().filter(|(_, w)| write_row(w).as_ref() == Some(&row));
        let (Some((wi, w)), None) = (touching.next(), touching.next()) else { continue };
        let pairs = matches!(
            (g, w),
            (Guard::StockAvailable { .. }, Write::AdjustStock { .. })
                | (Guard::IdempotencyKeyFree { .. }, Write::Insert(Record::Idempotency(_)))
        );
        if pairs {
            out.push((gi, wi));
        }
    }
    out
}

/// Runs a fused guard + write; whether the guard held (and so the write was made).
fn fused_write(conn: &Connection, g: &Guard, w: &Write) -> rusqlite::Result<bool> {
    let n = match (g, w) {
        (
            Guard::StockAvailable { qty, .. },
            Write::AdjustStock { variant_id, warehouse_id, on_hand_delta, reserved_delta, at },
        ) => conn
            .prepare_cached(
                "UPDATE inventory SET on_hand = on_hand + ?3, reserved = reserved + ?4, updated_at = ?5 \
                 WHERE variant_id = ?1 AND warehouse_id = ?2 AND on_hand - reserved >= ?6",
            )?
            .execute(params![b(variant_id.0), b(warehouse_id.0), on_hand_delta, reserved_delta, ts(*at), qty])?,
        (Guard::IdempotencyKeyFree { now, .. }, Write::Insert(Record::Idempotency(r))) => conn
            .prepare_cached(
                "INSERT INTO idempotency_key (scope, key, fingerprint, response_status, response_body, \
                 resource_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
                 response_status = excluded.response_status, response_body = excluded.response_body, \
                 resource_id = excluded.resource_id, created_at = excluded.created_at, \
                 expires_at = excluded.expires_at WHERE idempotency_key.expires_at <= ?9",
            )?
            .execute(params![
                r.scope,
                r.key,
                r.fingerprint,
                r.response_status,
                r.response_body,
                r.resource_id.map(b),
                ts(r.created_at),
                ts(r.expires_at),
                ts(*now)
            ])?,
        _ => unreachable!("fusions() pairs only these"),
    };
    Ok(n > 0)
}

fn exists(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<bool> {
    let mut st = conn.prepare_cached(sql)?;
    let out = st.exists(p)?;
    assert_indexed(conn, &st, sql);
    Ok(out)
}

fn one<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> rusqlite::Result<Option<T>> {
    let mut st = conn.prepare_cached(sql)?;
    let out = st.query_row(p, |r| r.get(0)).optional()?;
    assert_indexed(conn, &st, sql);
    Ok(out)
}

fn status_is(conn: &Connection, sql: &str, id: uuid::Uuid, want: &str) -> rusqlite::Result<bool> {
    Ok(one::<String>(conn, sql, [b(id)])?.as_deref() == Some(want))
}

/// Whether a guard holds in the current transaction.
fn check_guard(conn: &Connection, g: &Guard) -> rusqlite::Result<bool> {
    Ok(match g {
        Guard::EmailFree { email } => !exists(conn, "SELECT 1 FROM app_user WHERE email = ?1", [email])?,
        Guard::DomainFree { domain } => !exists(conn, "SELECT 1 FROM store WHERE domain = ?1", [domain])?,
        Guard::SkuFree { store_id, sku } => !exists(
            conn,
            "SELECT 1 FROM product_variant WHERE store_id = ?1 AND sku = ?2",
            params![b(store_id.0), sku],
        )?,
        Guard::StockAvailable { variant_id, warehouse_id, qty } => one::<i64>(
            conn,
            "SELECT on_hand - reserved FROM inventory WHERE variant_id = ?1 AND warehouse_id = ?2",
            [b(variant_id.0), b(warehouse_id.0)],
        )?
        .is_some_and(|avail| avail >= *qty),
        Guard::ReservedWithin { variant_id, warehouse_id, on_hand } => one::<i64>(
            conn,
            "SELECT reserved FROM inventory WHERE variant_id = ?1 AND warehouse_id = ?2",
            [b(variant_id.0), b(warehouse_id.0)],
        )?
        .is_none_or(|reserved| reserved <= *on_hand),
        Guard::OrderStatusIs { order_id, status } => {
            status_is(conn, "SELECT status FROM customer_order WHERE id = ?1", order_id.0, status.as_str())?
        }
        Guard::PaymentStatusIs { payment_id, status } => {
            status_is(conn, "SELECT status FROM payment WHERE id = ?1", payment_id.0, status.as_str())?
        }
        Guard::ReservationStatusIs { reservation_id, status } => status_is(
            conn,
            "SELECT status FROM inventory_reservation WHERE id = ?1",
            reservation_id.0,
            status.as_str(),
        )?,
        Guard::TaskStateIs { task_id, status, helps_valid } => {
            one::<String>(conn, "SELECT status || ':' || helps_valid FROM help_task WHERE id = ?1", [b(task_id.0)])?
                .is_some_and(|s| s == format!("{}:{helps_valid}", status.as_str()))
        }
        Guard::NoTaskForOrder { order_id } => {
            !exists(conn, "SELECT 1 FROM help_task WHERE order_id = ?1", [b(order_id.0)])?
        }
        Guard::NoHelpByHelper { task_id, helper_user_id } => !exists(
            conn,
            "SELECT 1 FROM help WHERE task_id = ?1 AND helper_user_id = ?2",
            [b(task_id.0), b(helper_user_id.0)],
        )?,
        Guard::HelpStatusIs { help_id, status } => {
            status_is(conn, "SELECT status FROM help WHERE id = ?1", help_id.0, status.as_str())?
        }
        Guard::NoPayoutForTask { task_id } => {
            !exists(conn, "SELECT 1 FROM payout_ledger WHERE task_id = ?1", [b(task_id.0)])?
        }
        Guard::PayoutStatusIs { payout_id, status } => {
            status_is(conn, "SELECT payout_status FROM payout_ledger WHERE id = ?1", payout_id.0, status.as_str())?
        }
        Guard::IdempotencyKeyFree { scope, key, now } => one::<i64>(
            conn,
            "SELECT expires_at FROM idempotency_key WHERE scope = ?1 AND key = ?2",
            params![scope, key],
        )?
        .is_none_or(|expires| expires <= ts(*now)),
        Guard::PaymentEventFree { provider, event_id } => !exists(
            conn,
            "SELECT 1 FROM payment_event WHERE provider = ?1 AND event_id = ?2",
            params![provider, event_id],
        )?,
        Guard::SettingsVersionIs { store_id, version } => {
            one::<i64>(conn, "SELECT version FROM store_settings WHERE store_id = ?1", [b(store_id.0)])?
                == Some(*version)
        }
        Guard::ProductVersionIs { product_id, version } => {
            one::<i64>(conn, "SELECT version FROM product WHERE id = ?1", [b(product_id.0)])? == Some(*version)
        }
        Guard::ExportStatusIs { export_id, status } => {
            status_is(conn, "SELECT status FROM export_job WHERE id = ?1", export_id.0, status.as_str())?
        }
        Guard::EventSeqIs { store_id, last_seq } => {
            one::<i64>(conn, "SELECT last_seq FROM event_seq WHERE store_id = ?1", [b(store_id.0)])?.unwrap_or(0)
                == *last_seq
        }
    })
}

/// Why a write failed, before it is mapped to a [`StoreError`].
enum WriteErr {
    Db(rusqlite::Error),
    Missing(String),
}

impl From<rusqlite::Error> for WriteErr {
    fn from(e: rusqlite::Error) -> Self {
        WriteErr::Db(e)
    }
}

/// Runs an UPDATE that must touch one row.
fn must_update(conn: &Connection, sql: &str, p: impl rusqlite::Params, what: &str) -> Result<(), WriteErr> {
    if conn.prepare_cached(sql)?.execute(p)? == 0 { Err(WriteErr::Missing(what.to_owned())) } else { Ok(()) }
}

fn exec(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<(), WriteErr> {
    conn.prepare_cached(sql)?.execute(p)?;
    Ok(())
}

fn write(conn: &Connection, w: &Write) -> Result<(), WriteErr> {
    match w {
        Write::Insert(r) => insert(conn, r),
        Write::Update(r) => update(conn, r),
        Write::SetOnHand { variant_id, warehouse_id, store_id, on_hand, at } => exec(
            conn,
            "INSERT INTO inventory (variant_id, warehouse_id, store_id, on_hand, reserved, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 0, ?5) \
             ON CONFLICT (variant_id, warehouse_id) DO UPDATE SET on_hand = excluded.on_hand, \
             updated_at = excluded.updated_at",
            params![b(variant_id.0), b(warehouse_id.0), b(store_id.0), on_hand, ts(*at)],
        ),
        Write::AdjustStock { variant_id, warehouse_id, on_hand_delta, reserved_delta, at } => must_update(
            conn,
            "UPDATE inventory SET on_hand = on_hand + ?3, reserved = reserved + ?4, updated_at = ?5 \
             WHERE variant_id = ?1 AND warehouse_id = ?2",
            params![b(variant_id.0), b(warehouse_id.0), on_hand_delta, reserved_delta, ts(*at)],
            &format!("inventory ({variant_id}, {warehouse_id})"),
        ),
        Write::SequenceEvent { event_id, store_id, seq } => must_update(
            conn,
            "UPDATE activity_event SET seq = ?3 WHERE id = ?1 AND store_id = ?2",
            params![b(event_id.0), b(store_id.0), seq],
            &format!("activity_event {event_id}"),
        ),
        Write::SetEventSeq { store_id, last_seq } => exec(
            conn,
            "INSERT INTO event_seq (store_id, last_seq) VALUES (?1, ?2) \
             ON CONFLICT (store_id) DO UPDATE SET last_seq = excluded.last_seq",
            params![b(store_id.0), last_seq],
        ),
        Write::DeleteSession(id) => exec(conn, "DELETE FROM session WHERE id = ?1", [b(id.0)]),
        Write::DeleteIdempotency { scope, key } => {
            exec(conn, "DELETE FROM idempotency_key WHERE scope = ?1 AND key = ?2", params![scope, key])
        }
    }
}

/// Bind values of a store row, in `STORE_COLS` order.
macro_rules! store_params {
    ($r:expr) => {
        params![
            b($r.id.0),
            $r.name,
            $r.domain,
            $r.plan,
            $r.status.as_str(),
            $r.access_token.as_ref().map(|t| t.ciphertext.as_slice()),
            $r.access_token.as_ref().map(|t| t.key_version),
            ts($r.created_at),
            ts($r.updated_at)
        ]
    };
}

fn insert(conn: &Connection, rec: &Record) -> Result<(), WriteErr> {
    match rec {
        Record::Store(r) => exec(
            conn,
            "INSERT INTO store (id, name, domain, plan, status, access_token, encryption_version, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            store_params!(r),
        ),
        Record::StoreSettings(r) => exec(
            conn,
            "INSERT INTO store_settings (store_id, order_ttl_seconds, auto_receive_seconds, required_helpers, \
             help_task_ttl_seconds, payout_cooling_seconds, help_payout_percent, version, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                b(r.store_id.0),
                r.order_ttl_seconds,
                r.auto_receive_seconds,
                r.required_helpers,
                r.help_task_ttl_seconds,
                r.payout_cooling_seconds,
                r.help_payout_percent,
                r.version,
                ts(r.updated_at)
            ],
        ),
        Record::User(r) => exec(
            conn,
            "INSERT INTO app_user (id, name, email, phone, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![b(r.id.0), r.name, r.email, r.phone, r.password_hash, ts(r.created_at)],
        ),
        Record::Address(r) => exec(
            conn,
            "INSERT INTO user_address (id, user_id, line1, city, postal_code, country, address_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                b(r.id.0),
                b(r.user_id.0),
                r.line1,
                r.city,
                r.postal_code,
                r.country,
                r.address_hash,
                ts(r.created_at)
            ],
        ),
        Record::Session(r) => exec(
            conn,
            "INSERT INTO session (id, user_id, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![b(r.id.0), b(r.user_id.0), r.token_hash, ts(r.created_at), ts(r.expires_at)],
        ),
        Record::AdminKey(r) => exec(
            conn,
            "INSERT INTO admin_key (id, store_id, key_hash, masked, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![b(r.id.0), b(r.store_id.0), r.key_hash, r.masked, ts(r.created_at)],
        ),
        Record::Product(r) => exec(
            conn,
            "INSERT INTO product (id, store_id, title, status, currency, version, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                b(r.id.0),
                b(r.store_id.0),
                r.title,
                r.status.as_str(),
                r.currency.as_str(),
                r.version,
                ts(r.created_at),
                ts(r.updated_at)
            ],
        ),
        Record::Variant(r) => exec(
            conn,
            "INSERT INTO product_variant (id, product_id, store_id, sku, name, price_minor, status, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                b(r.id.0),
                b(r.product_id.0),
                b(r.store_id.0),
                r.sku,
                r.name,
                r.price_minor,
                r.status.as_str(),
                ts(r.created_at)
            ],
        ),
        Record::Image(r) => exec(
            conn,
            "INSERT INTO product_image (id, product_id, url, position, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![b(r.id.0), b(r.product_id.0), r.url, r.position, ts(r.created_at)],
        ),
        Record::Warehouse(r) => exec(
            conn,
            "INSERT INTO warehouse (id, store_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![b(r.id.0), b(r.store_id.0), r.name, ts(r.created_at)],
        ),
        Record::Reservation(r) => exec(
            conn,
            "INSERT INTO inventory_reservation (id, order_id, store_id, variant_id, warehouse_id, qty, status, \
             expires_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                b(r.id.0),
                b(r.order_id.0),
                b(r.store_id.0),
                b(r.variant_id.0),
                b(r.warehouse_id.0),
                r.qty,
                r.status.as_str(),
                ts(r.expires_at),
                ts(r.created_at),
                ts(r.updated_at)
            ],
        ),
        Record::Order(r) => exec(
            conn,
            "INSERT INTO customer_order (id, order_number, store_id, user_id, address_id, address_hash, status, \
             amount_minor, pay_amount_minor, currency, help_task_no, created_at, paid_at, shipped_at, received_at, \
             closed_at, close_reason, reservation_expires_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            params![
                b(r.id.0),
                r.order_number,
                b(r.store_id.0),
                b(r.user_id.0),
                b(r.address_id.0),
                r.address_hash,
                r.status.as_str(),
                r.amount_minor,
                r.pay_amount_minor,
                r.currency.as_str(),
                r.help_task_no,
                ts(r.created_at),
                ots(r.paid_at),
                ots(r.shipped_at),
                ots(r.received_at),
                ots(r.closed_at),
                r.close_reason.map(|c| c.as_str()),
                ts(r.reservation_expires_at),
                ts(r.updated_at)
            ],
        ),
        Record::OrderItem(r) => exec(
            conn,
            "INSERT INTO order_item (id, order_id, line_no, variant_id, sku, qty, unit_price_minor) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![b(r.id.0), b(r.order_id.0), r.line_no, b(r.variant_id.0), r.sku, r.qty, r.unit_price_minor],
        ),
        Record::Payment(r) => exec(
            conn,
            "INSERT INTO payment (id, order_id, store_id, user_id, amount_minor, currency, status, provider, \
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                b(r.id.0),
                b(r.order_id.0),
                b(r.store_id.0),
                b(r.user_id.0),
                r.amount_minor,
                r.currency.as_str(),
                r.status.as_str(),
                r.provider,
                ts(r.created_at),
                ts(r.updated_at)
            ],
        ),
        Record::PaymentEvent(r) => exec(
            conn,
            "INSERT INTO payment_event (id, provider, event_id, payment_id, store_id, kind, amount_minor, outcome, \
             raw, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                b(r.id.0),
                r.provider,
                r.event_id,
                r.payment_id.map(|p| b(p.0)),
                r.store_id.map(|s| b(s.0)),
                r.kind,
                r.amount_minor,
                r.outcome,
                json(&r.raw),
                ts(r.received_at)
            ],
        ),
        Record::Task(r) => exec(
            conn,
            "INSERT INTO help_task (id, task_no, store_id, order_id, user_id, status, required_helpers, \
             helps_valid, created_at, expires_at, qualified_at, payout_at, closed_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                b(r.id.0),
                r.task_no,
                b(r.store_id.0),
                b(r.order_id.0),
                b(r.user_id.0),
                r.status.as_str(),
                r.required_helpers,
                r.helps_valid,
                ts(r.created_at),
                ts(r.expires_at),
                ots(r.qualified_at),
                ots(r.payout_at),
                ots(r.closed_at),
                ts(r.updated_at)
            ],
        ),
        Record::Help(r) => exec(
            conn,
            "INSERT INTO help (id, task_id, helper_user_id, order_id, status, created_at, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                b(r.id.0),
                b(r.task_id.0),
                b(r.helper_user_id.0),
                b(r.order_id.0),
                r.status.as_str(),
                ts(r.created_at),
                ots(r.received_at)
            ],
        ),
        Record::Payout(r) => exec(
            conn,
            "INSERT INTO payout_ledger (id, task_id, task_no, store_id, user_id, order_id, helper_user_ids, \
             helper_order_ids, amount_minor, currency, qualified_at, payout_at, payout_status, risk_level, \
             risk_reasons, note, operator, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            params![
                b(r.id.0),
                b(r.task_id.0),
                r.task_no,
                b(r.store_id.0),
                b(r.user_id.0),
                b(r.order_id.0),
                json(&r.helper_user_ids),
                json(&r.helper_order_ids),
                r.amount_minor,
                r.currency.as_str(),
                ts(r.qualified_at),
                ts(r.payout_at),
                r.payout_status.as_str(),
                r.risk_level.as_str(),
                json(&r.risk_reasons),
                r.note,
                r.operator,
                ts(r.created_at),
                ts(r.updated_at)
            ],
        ),
        Record::Audit(r) => exec(
            conn,
            "INSERT INTO audit_log (id, store_id, at, actor_masked, ip, key, from_value, to_value) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![b(r.id.0), b(r.store_id.0), ts(r.at), r.actor_masked, r.ip, r.key, r.from, r.to],
        ),
        // Replaces an expired record with the same key (its guard checked it).
        Record::Idempotency(r) => exec(
            conn,
            "INSERT INTO idempotency_key (scope, key, fingerprint, response_status, response_body, resource_id, \
             created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             response_status = excluded.response_status, response_body = excluded.response_body, \
             resource_id = excluded.resource_id, created_at = excluded.created_at, expires_at = excluded.expires_at",
            params![
                r.scope,
                r.key,
                r.fingerprint,
                r.response_status,
                r.response_body,
                r.resource_id.map(b),
                ts(r.created_at),
                ts(r.expires_at)
            ],
        ),
        Record::Event(r) => exec(
            conn,
            "INSERT INTO activity_event (id, store_id, seq, entity_type, entity_id, kind, payload, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                b(r.id.0),
                b(r.store_id.0),
                r.seq,
                r.entity_type,
                b(r.entity_id),
                r.kind,
                json(&r.payload),
                ts(r.at)
            ],
        ),
        Record::Export(r) => exec(
            conn,
            "INSERT INTO export_job (id, store_id, kind, format, status, rows, bytes, blob_key, error, \
             requested_by, created_at, started_at, finished_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                b(r.id.0),
                b(r.store_id.0),
                r.kind.as_str(),
                r.format.as_str(),
                r.status.as_str(),
                r.rows,
                r.bytes,
                r.blob_key,
                r.error,
                r.requested_by,
                ts(r.created_at),
                ots(r.started_at),
                ots(r.finished_at),
                ots(r.expires_at)
            ],
        ),
        Record::ExportAudit(r) => exec(
            conn,
            "INSERT INTO export_audit_record (id, export_id, store_id, action, actor_masked, at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![b(r.id.0), b(r.export_id.0), b(r.store_id.0), r.action.as_str(), r.actor_masked, ts(r.at)],
        ),
    }
}

fn update(conn: &Connection, rec: &Record) -> Result<(), WriteErr> {
    let missing = |table: &str, id: &dyn std::fmt::Display| format!("{table} {id}");
    match rec {
        Record::Store(r) => must_update(
            conn,
            "UPDATE store SET name = ?2, domain = ?3, plan = ?4, status = ?5, access_token = ?6, \
             encryption_version = ?7, created_at = ?8, updated_at = ?9 WHERE id = ?1",
            store_params!(r),
            &missing("store", &r.id),
        ),
        Record::StoreSettings(r) => must_update(
            conn,
            "UPDATE store_settings SET order_ttl_seconds = ?2, auto_receive_seconds = ?3, required_helpers = ?4, \
             help_task_ttl_seconds = ?5, payout_cooling_seconds = ?6, help_payout_percent = ?7, version = ?8, \
             updated_at = ?9 WHERE store_id = ?1",
            params![
                b(r.store_id.0),
                r.order_ttl_seconds,
                r.auto_receive_seconds,
                r.required_helpers,
                r.help_task_ttl_seconds,
                r.payout_cooling_seconds,
                r.help_payout_percent,
                r.version,
                ts(r.updated_at)
            ],
            &missing("store_settings", &r.store_id),
        ),
        Record::User(r) => must_update(
            conn,
            "UPDATE app_user SET name = ?2, email = ?3, phone = ?4, password_hash = ?5, created_at = ?6 WHERE id = ?1",
            params![b(r.id.0), r.name, r.email, r.phone, r.password_hash, ts(r.created_at)],
            &missing("app_user", &r.id),
        ),
        Record::Address(r) => must_update(
            conn,
            "UPDATE user_address SET user_id = ?2, line1 = ?3, city = ?4, postal_code = ?5, country = ?6, \
             address_hash = ?7, created_at = ?8 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.user_id.0),
                r.line1,
                r.city,
                r.postal_code,
                r.country,
                r.address_hash,
                ts(r.created_at)
            ],
            &missing("user_address", &r.id),
        ),
        Record::Session(r) => must_update(
            conn,
            "UPDATE session SET user_id = ?2, token_hash = ?3, created_at = ?4, expires_at = ?5 WHERE id = ?1",
            params![b(r.id.0), b(r.user_id.0), r.token_hash, ts(r.created_at), ts(r.expires_at)],
            &missing("session", &r.id),
        ),
        Record::AdminKey(r) => must_update(
            conn,
            "UPDATE admin_key SET store_id = ?2, key_hash = ?3, masked = ?4, created_at = ?5 WHERE id = ?1",
            params![b(r.id.0), b(r.store_id.0), r.key_hash, r.masked, ts(r.created_at)],
            &missing("admin_key", &r.id),
        ),
        Record::Product(r) => must_update(
            conn,
            "UPDATE product SET store_id = ?2, title = ?3, status = ?4, currency = ?5, version = ?6, \
             created_at = ?7, updated_at = ?8 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.store_id.0),
                r.title,
                r.status.as_str(),
                r.currency.as_str(),
                r.version,
                ts(r.created_at),
                ts(r.updated_at)
            ],
            &missing("product", &r.id),
        ),
        Record::Variant(r) => must_update(
            conn,
            "UPDATE product_variant SET product_id = ?2, store_id = ?3, sku = ?4, name = ?5, price_minor = ?6, \
             status = ?7, created_at = ?8 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.product_id.0),
                b(r.store_id.0),
                r.sku,
                r.name,
                r.price_minor,
                r.status.as_str(),
                ts(r.created_at)
            ],
            &missing("product_variant", &r.id),
        ),
        Record::Image(r) => must_update(
            conn,
            "UPDATE product_image SET product_id = ?2, url = ?3, position = ?4, created_at = ?5 WHERE id = ?1",
            params![b(r.id.0), b(r.product_id.0), r.url, r.position, ts(r.created_at)],
            &missing("product_image", &r.id),
        ),
        Record::Warehouse(r) => must_update(
            conn,
            "UPDATE warehouse SET store_id = ?2, name = ?3, created_at = ?4 WHERE id = ?1",
            params![b(r.id.0), b(r.store_id.0), r.name, ts(r.created_at)],
            &missing("warehouse", &r.id),
        ),
        Record::Reservation(r) => must_update(
            conn,
            "UPDATE inventory_reservation SET order_id = ?2, store_id = ?3, variant_id = ?4, warehouse_id = ?5, \
             qty = ?6, status = ?7, expires_at = ?8, created_at = ?9, updated_at = ?10 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.order_id.0),
                b(r.store_id.0),
                b(r.variant_id.0),
                b(r.warehouse_id.0),
                r.qty,
                r.status.as_str(),
                ts(r.expires_at),
                ts(r.created_at),
                ts(r.updated_at)
            ],
            &missing("inventory_reservation", &r.id),
        ),
        Record::Order(r) => must_update(
            conn,
            "UPDATE customer_order SET order_number = ?2, store_id = ?3, user_id = ?4, address_id = ?5, \
             address_hash = ?6, status = ?7, amount_minor = ?8, pay_amount_minor = ?9, currency = ?10, \
             help_task_no = ?11, created_at = ?12, paid_at = ?13, shipped_at = ?14, received_at = ?15, \
             closed_at = ?16, close_reason = ?17, reservation_expires_at = ?18, updated_at = ?19 WHERE id = ?1",
            params![
                b(r.id.0),
                r.order_number,
                b(r.store_id.0),
                b(r.user_id.0),
                b(r.address_id.0),
                r.address_hash,
                r.status.as_str(),
                r.amount_minor,
                r.pay_amount_minor,
                r.currency.as_str(),
                r.help_task_no,
                ts(r.created_at),
                ots(r.paid_at),
                ots(r.shipped_at),
                ots(r.received_at),
                ots(r.closed_at),
                r.close_reason.map(|c| c.as_str()),
                ts(r.reservation_expires_at),
                ts(r.updated_at)
            ],
            &missing("customer_order", &r.id),
        ),
        Record::OrderItem(r) => must_update(
            conn,
            "UPDATE order_item SET order_id = ?2, line_no = ?3, variant_id = ?4, sku = ?5, qty = ?6, \
             unit_price_minor = ?7 WHERE id = ?1",
            params![b(r.id.0), b(r.order_id.0), r.line_no, b(r.variant_id.0), r.sku, r.qty, r.unit_price_minor],
            &missing("order_item", &r.id),
        ),
        Record::Payment(r) => must_update(
            conn,
            "UPDATE payment SET order_id = ?2, store_id = ?3, user_id = ?4, amount_minor = ?5, currency = ?6, \
             status = ?7, provider = ?8, created_at = ?9, updated_at = ?10 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.order_id.0),
                b(r.store_id.0),
                b(r.user_id.0),
                r.amount_minor,
                r.currency.as_str(),
                r.status.as_str(),
                r.provider,
                ts(r.created_at),
                ts(r.updated_at)
            ],
            &missing("payment", &r.id),
        ),
        Record::PaymentEvent(r) => must_update(
            conn,
            "UPDATE payment_event SET provider = ?2, event_id = ?3, payment_id = ?4, store_id = ?5, kind = ?6, \
             amount_minor = ?7, outcome = ?8, raw = ?9, received_at = ?10 WHERE id = ?1",
            params![
                b(r.id.0),
                r.provider,
                r.event_id,
                r.payment_id.map(|p| b(p.0)),
                r.store_id.map(|s| b(s.0)),
                r.kind,
                r.amount_minor,
                r.outcome,
                json(&r.raw),
                ts(r.received_at)
            ],
            &missing("payment_event", &r.id),
        ),
        Record::Task(r) => must_update(
            conn,
            "UPDATE help_task SET task_no = ?2, store_id = ?3, order_id = ?4, user_id = ?5, status = ?6, \
             required_helpers = ?7, helps_valid = ?8, created_at = ?9, expires_at = ?10, qualified_at = ?11, \
             payout_at = ?12, closed_at = ?13, updated_at = ?14 WHERE id = ?1",
            params![
                b(r.id.0),
                r.task_no,
                b(r.store_id.0),
                b(r.order_id.0),
                b(r.user_id.0),
                r.status.as_str(),
                r.required_helpers,
                r.helps_valid,
                ts(r.created_at),
                ts(r.expires_at),
                ots(r.qualified_at),
                ots(r.payout_at),
                ots(r.closed_at),
                ts(r.updated_at)
            ],
            &missing("help_task", &r.id),
        ),
        Record::Help(r) => must_update(
            conn,
            "UPDATE help SET task_id = ?2, helper_user_id = ?3, order_id = ?4, status = ?5, created_at = ?6, \
             received_at = ?7 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.task_id.0),
                b(r.helper_user_id.0),
                b(r.order_id.0),
                r.status.as_str(),
                ts(r.created_at),
                ots(r.received_at)
            ],
            &missing("help", &r.id),
        ),
        Record::Payout(r) => must_update(
            conn,
            "UPDATE payout_ledger SET task_id = ?2, task_no = ?3, store_id = ?4, user_id = ?5, order_id = ?6, \
             helper_user_ids = ?7, helper_order_ids = ?8, amount_minor = ?9, currency = ?10, qualified_at = ?11, \
             payout_at = ?12, payout_status = ?13, risk_level = ?14, risk_reasons = ?15, note = ?16, \
             operator = ?17, created_at = ?18, updated_at = ?19 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.task_id.0),
                r.task_no,
                b(r.store_id.0),
                b(r.user_id.0),
                b(r.order_id.0),
                json(&r.helper_user_ids),
                json(&r.helper_order_ids),
                r.amount_minor,
                r.currency.as_str(),
                ts(r.qualified_at),
                ts(r.payout_at),
                r.payout_status.as_str(),
                r.risk_level.as_str(),
                json(&r.risk_reasons),
                r.note,
                r.operator,
                ts(r.created_at),
                ts(r.updated_at)
            ],
            &missing("payout_ledger", &r.id),
        ),
        Record::Audit(r) => must_update(
            conn,
            "UPDATE audit_log SET store_id = ?2, at = ?3, actor_masked = ?4, ip = ?5, key = ?6, from_value = ?7, \
             to_value = ?8 WHERE id = ?1",
            params![b(r.id.0), b(r.store_id.0), ts(r.at), r.actor_masked, r.ip, r.key, r.from, r.to],
            &missing("audit_log", &r.id),
        ),
        Record::Idempotency(r) => must_update(
            conn,
            "UPDATE idempotency_key SET fingerprint = ?3, response_status = ?4, response_body = ?5, \
             resource_id = ?6, created_at = ?7, expires_at = ?8 WHERE scope = ?1 AND key = ?2",
            params![
                r.scope,
                r.key,
                r.fingerprint,
                r.response_status,
                r.response_body,
                r.resource_id.map(b),
                ts(r.created_at),
                ts(r.expires_at)
            ],
            &format!("idempotency_key ({}, {})", r.scope, r.key),
        ),
        Record::Event(r) => must_update(
            conn,
            "UPDATE activity_event SET store_id = ?2, seq = ?3, entity_type = ?4, entity_id = ?5, kind = ?6, \
             payload = ?7, at = ?8 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.store_id.0),
                r.seq,
                r.entity_type,
                b(r.entity_id),
                r.kind,
                json(&r.payload),
                ts(r.at)
            ],
            &missing("activity_event", &r.id),
        ),
        Record::Export(r) => must_update(
            conn,
            "UPDATE export_job SET store_id = ?2, kind = ?3, format = ?4, status = ?5, rows = ?6, bytes = ?7, \
             blob_key = ?8, error = ?9, requested_by = ?10, created_at = ?11, started_at = ?12, \
             finished_at = ?13, expires_at = ?14 WHERE id = ?1",
            params![
                b(r.id.0),
                b(r.store_id.0),
                r.kind.as_str(),
                r.format.as_str(),
                r.status.as_str(),
                r.rows,
                r.bytes,
                r.blob_key,
                r.error,
                r.requested_by,
                ts(r.created_at),
                ots(r.started_at),
                ots(r.finished_at),
                ots(r.expires_at)
            ],
            &missing("export_job", &r.id),
        ),
        Record::ExportAudit(r) => must_update(
            conn,
            "UPDATE export_audit_record SET export_id = ?2, store_id = ?3, action = ?4, actor_masked = ?5, \
             at = ?6 WHERE id = ?1",
            params![b(r.id.0), b(r.export_id.0), b(r.store_id.0), r.action.as_str(), r.actor_masked, ts(r.at)],
            &missing("export_audit_record", &r.id),
        ),
    }
}

/// Maps a write failure: a unique violation that a guard of the same
/// changeset covers becomes that guard's failure, other unique violations
/// are `Duplicate`, a foreign key violation is `Missing`.
fn map_write_err(e: WriteErr, cs: &Changeset) -> StoreError {
    let e = match e {
        WriteErr::Missing(what) => return StoreError::Missing(what),
        WriteErr::Db(e) => e,
    };
    let Some(code) = e.sqlite_error() else { return db_err(e) };
    if code.code != ErrorCode::ConstraintViolation {
        return db_err(e);
    }
    let msg = match &e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        _ => String::new(),
    };
    if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
        return StoreError::Missing(format!("a referenced row does not exist ({msg})"));
    }
    let is_unique = code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        || code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
    if !is_unique {
        return db_err(e);
    }
    let cols = msg.strip_prefix("UNIQUE constraint failed: ").unwrap_or(&msg).to_owned();
    let kind = match cols.as_str() {
        "app_user.email" => Some("email_free"),
        "store.domain" => Some("domain_free"),
        "product_variant.store_id, product_variant.sku" => Some("sku_free"),
        "idempotency_key.scope, idempotency_key.key" => Some("idempotency_key_free"),
        "payment_event.provider, payment_event.event_id" => Some("payment_event_free"),
        "help.task_id, help.helper_user_id" => Some("no_help_by_helper"),
        "help_task.order_id" => Some("no_task_for_order"),
        "payout_ledger.task_id" => Some("no_payout_for_task"),
        _ => None,
    };
    if let Some(kind) = kind
        && let Some((index, guard)) = cs.guards.iter().enumerate().find(|(_, g)| g.kind() == kind)
    {
        return StoreError::GuardFailed(GuardFailure { index, guard: guard.clone() });
    }
    StoreError::Duplicate(cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SqliteConfig, open_write_connection};

    fn user(email: &str) -> AppUser {
        AppUser {
            id: UserId(uuid::Uuid::now_v7()),
            name: "Ann".into(),
            email: email.into(),
            phone: None,
            password_hash: "$argon2id$test".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn insert_user(email: &str) -> Changeset {
        let mut cs = Changeset::new();
        cs.insert(Record::User(user(email)));
        cs
    }

    fn request(cs: Changeset) -> (Request, oneshot::Receiver<StoreResult<()>>) {
        let (reply, rx) = oneshot::channel();
        (Request { changeset: cs, reply }, rx)
    }

    fn emails(conn: &Connection) -> Vec<String> {
        let mut st = conn.prepare("SELECT email FROM app_user ORDER BY email").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    }

    /// A group whose middle changeset fails: the optimistic attempt is rolled
    /// back and the group applied again with savepoints, with the same
    /// outcomes; the next groups skip the optimistic attempt for a while.
    #[test]
    fn a_failed_optimistic_group_is_applied_again_with_savepoints() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_write_connection(&SqliteConfig::new(dir.path().join("w.db"))).unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let counters = Counters::default();
        let mut careful = 0;

        let mut batch = Vec::new();
        let mut replies = Vec::new();
        for (i, email) in ["a@x", "taken@x", "b@x"].into_iter().enumerate() {
            let mut cs = Changeset::new();
            if i == 1 {
                cs.guard(Guard::EmailFree { email: "a@x".into() });
            }
            cs.insert(Record::User(user(email)));
            let (req, rx) = request(cs);
            batch.push(req);
            replies.push(rx);
        }
        apply_batch(&conn, batch, &counters, &mut careful);
        let outcomes: Vec<_> = replies.into_iter().map(|mut rx| rx.try_recv().unwrap()).collect();
        assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
        assert!(matches!(outcomes[1], Err(StoreError::GuardFailed(GuardFailure { index: 0, .. }))));
        assert_eq!(emails(&conn), ["a@x", "b@x"]);
        assert_eq!(careful, CAREFUL_BATCHES);
        assert!(conn.is_autocommit());

        // The next group goes the careful way at once and counts down.
        let (r1, mut rx1) = request(insert_user("c@x"));
        let (r2, mut rx2) = request(insert_user("d@x"));
        apply_batch(&conn, vec![r1, r2], &counters, &mut careful);
        assert!(rx1.try_recv().unwrap().is_ok() && rx2.try_recv().unwrap().is_ok());
        assert_eq!(careful, CAREFUL_BATCHES - 1);

        // Optimistic again once the count is down: all or nothing, one commit.
        careful = 0;
        let (r1, mut rx1) = request(insert_user("e@x"));
        let (r2, mut rx2) = request(insert_user("f@x"));
        apply_batch(&conn, vec![r1, r2], &counters, &mut careful);
        assert!(rx1.try_recv().unwrap().is_ok() && rx2.try_recv().unwrap().is_ok());
        assert_eq!(careful, 0);
        assert_eq!(emails(&conn), ["a@x", "b@x", "c@x", "d@x", "e@x", "f@x"]);
        assert_eq!(counters.changesets.load(Ordering::Relaxed), 7);
        assert_eq!(counters.commits.load(Ordering::Relaxed), 3);
    }
}
