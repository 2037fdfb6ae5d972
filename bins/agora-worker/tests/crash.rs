//! The real `agora-worker` binary: killed with SIGKILL in the middle of its
//! work and started again, it finishes with no duplicate effect; SIGTERM
//! finishes the batch in hand and exits 0. Cargo builds the binary for
//! these tests (`cargo test -p agora-worker`, or `cargo test --workspace`).
//!
//! `every_job_killed_mid_work` seeds due work for every job at once, then
//! starts the worker and SIGKILLs it once per job: each time right after a
//! job not caught yet logged a batch that changed rows (`job batch`, per
//! store, so the rest of its pass or its backlog is still in hand; `export
//! written` for exports; `job ran` for the store's maintenance), until
//! every job has been caught. After each kill what the dead worker
//! committed must be whole; after restarts until a `--once` run finds
//! nothing to do, each job's end state must be exact. `relay_events` needs
//! Redis, so `event_relay_killed_mid_batch` covers it on its own.
//!
//! The PostgreSQL variants need `AGORA_TEST_POSTGRES_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`), the relay ones
//! `AGORA_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); they fail
//! without them.

#[path = "../../../crates/agora-runtime/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agora_core::usecases::day_key;
use agora_core::*;
use agora_runtime::jobs::{BATCH_LOG_TARGET, Job};
use time::OffsetDateTime;

const STORES: usize = 3;
const TASKS_PER_STORE: usize = 300;
const ORDERS_PER_STORE: usize = 150;

fn worker_binary() -> &'static str {
    let bin = env!("CARGO_BIN_EXE_agora-worker");
    assert!(
        Path::new(bin).exists(),
        "the agora-worker binary is missing at {bin}; run the tests with `cargo test -p agora-worker` \
         or `cargo test --workspace`, which build it first"
    );
    bin
}

/// Starts the worker on `url` with JSON logs on stderr; the lines arrive on the receiver.
fn start_worker(dir: &Path, url: &str, extra: &[&str]) -> (Child, mpsc::Receiver<String>) {
    start_worker_with(dir, url, extra, &[])
}

/// [`start_worker`] with more `AGORA_*` variables. Logs each store batch
/// (`job batch`, debug) besides the info lines; a running export is stale
/// after one second.
fn start_worker_with(dir: &Path, url: &str, extra: &[&str], env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(worker_binary());
    for (k, _) in std::env::vars() {
        if k.starts_with("AGORA_") && !k.starts_with("AGORA_TEST_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(extra)
        .env("AGORA_CONFIG", dir.join("absent.toml"))
        .env("AGORA_DATABASE_URL", url)
        .env("AGORA_DATA_DIR", dir)
        .env("AGORA_JOB_INTERVAL_MS", "10")
        .env("AGORA_JOB_BATCH_SIZE", "20")
        .env("AGORA_PG_MAX_CONNECTIONS", "4")
        .env("AGORA_JOBS_EXPORT_STALE_AFTER_SECS", "1")
        .env("AGORA_LOG_FORMAT", "json")
        .env("AGORA_LOG", format!("info,{BATCH_LOG_TARGET}=debug"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("agora-worker starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// A fresh database of `backend`. PostgreSQL without TLS: each job lease
/// (`PgLocks`) takes a connection of its own, and a TLS handshake for each
/// makes the debug-build worker four to five times slower on this box.
async fn test_database(backend: &str) -> support::TestDatabase {
    let mut db = support::TestDatabase::new(backend).await;
    if backend == "postgres" && !db.url.contains("sslmode=") {
        let sep = if db.url.contains('?') { '&' } else { '?' };
        db.url = format!("{}{sep}sslmode=disable", db.url);
    }
    db
}

fn json(line: &str) -> Option<serde_json::Value> {
    serde_json::from_str(line).ok()
}

/// Waits for a "job ran" log line of a job that changed rows.
fn wait_for_progress(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the worker made no progress; its log:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if let Some(v) = json(&line)
            && v["message"] == "job ran"
            && v["changed"].as_u64().unwrap_or(0) > 0
        {
            return;
        }
    }
}

/// The job a log line shows making progress, and the line's message: a
/// store batch or a pass that changed rows, or an export written.
fn progress_of(line: &str) -> Option<(String, String)> {
    let v = json(line)?;
    let message = v["message"].as_str()?;
    match message {
        "job batch" | "job ran" if v["changed"].as_u64().unwrap_or(0) > 0 => {
            Some((v["job"].as_str()?.to_owned(), message.to_owned()))
        }
        "export written" => Some(("exports".to_owned(), message.to_owned())),
        _ => None,
    }
}

/// When a log line was written.
fn timestamp(line: &str) -> Option<OffsetDateTime> {
    let v = json(line)?;
    OffsetDateTime::parse(v["timestamp"].as_str()?, &time::format_description::well_known::Rfc3339).ok()
}

/// SIGKILLs `child` once a line shows progress of a job `wanted` accepts;
/// returns that job and the line's message. Right away, but for an export
/// written: then 40% of the time that export took later, so that the next
/// export is most likely claimed (running) and not written yet.
fn kill_on_progress(
    child: &mut Child,
    rx: &mpsc::Receiver<String>,
    wanted: impl Fn(&str) -> bool,
    log: &mut Vec<String>,
) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut previous = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            let _ = child.wait();
            log.extend(rx.try_iter());
            panic!("no job still to be caught made progress within 90 s; the worker's log:\n{}", log.join("\n"));
        };
        let hit = progress_of(&line).filter(|(job, _)| wanted(job));
        let at = timestamp(&line);
        if let Some((_, what)) = &hit
            && what == "export written"
            && let (Some(from), Some(to)) = (previous, at)
        {
            let took = Duration::try_from(to - from).unwrap_or_default();
            std::thread::sleep((took * 2 / 5).min(Duration::from_millis(500)));
        }
        previous = at;
        log.push(line);
        if let Some(hit) = hit {
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("wait");
            assert!(!status.success(), "killed, not exited: {status:?}");
            log.extend(rx.iter());
            return hit;
        }
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the worker did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn seed(dir: &Path, url: &str) {
    let rt = support::runtime(support::config(dir, url)).await;
    let store = rt.store.clone();
    let past = support::now() - time::Duration::hours(1);
    for i in 0..STORES {
        let s = support::seed_store(store.as_ref(), &format!("shop{i}")).await;
        support::seed_due_tasks(store.as_ref(), s, TASKS_PER_STORE, |_| past).await;
        support::seed_expired_orders(store.as_ref(), s, ORDERS_PER_STORE).await;
    }
    close(rt).await;
}

async fn close(rt: agora_runtime::Runtime) {
    rt.close().await;
}

async fn snapshot(dir: &Path, url: &str) -> Snapshot {
    let rt = support::runtime(support::config(dir, url)).await;
    let snap = agora_core::Snapshot::read(&*rt.store).await.expect("snapshot");
    close(rt).await;
    snap
}

fn assert_exact(snap: &Snapshot) {
    let tasks = STORES * TASKS_PER_STORE;
    let orders = STORES * ORDERS_PER_STORE;
    support::assert_payouts_exact(snap, tasks);
    let closed: Vec<&CustomerOrder> =
        snap.rows::<agora_core::CustomerOrder>().into_iter().filter(|o| o.status == OrderStatus::Closed).collect();
    assert_eq!(closed.len(), orders, "closed orders");
    assert!(closed.iter().all(|o| o.close_reason == Some(CloseReason::Timeout)));
    assert!(
        snap.rows::<agora_core::InventoryReservation>().into_iter().all(|r| r.status == ReservationStatus::Released),
        "every hold released"
    );
    assert!(
        snap.rows::<agora_core::Inventory>().into_iter().all(|r| r.reserved == 0),
        "stock released exactly once: {:?}",
        snap.rows::<agora_core::Inventory>()
    );
    let closed_events =
        snap.rows::<agora_core::ActivityEvent>().into_iter().filter(|e| e.kind == "order.closed").count();
    assert_eq!(closed_events, orders, "one order.closed event per order");
    let corrections =
        snap.rows::<agora_core::AuditLog>().into_iter().filter(|l| l.key.starts_with("inventory_reserved:")).count();
    assert_eq!(corrections, 0, "no drift to reconcile after a crash");
    support::assert_feeds_gapless(snap);
}

/// A seeded `backend` database and a worker on it that has made progress,
/// with its log so far.
async fn worker_at_work(backend: &str) -> (support::TestDatabase, Child, mpsc::Receiver<String>, Vec<String>) {
    let db = test_database(backend).await;
    seed(db.dir.path(), &db.url).await;
    let (child, rx) = start_worker(db.dir.path(), &db.url, &[]);
    let mut log = Vec::new();
    wait_for_progress(&rx, &mut log);
    (db, child, rx, log)
}

async fn killed_mid_batch_and_restarted(backend: &str) {
    let (db, mut child, _rx, _log) = worker_at_work(backend).await;
    let (dir, url) = (db.dir.path(), db.url.as_str());
    std::thread::sleep(Duration::from_millis(25));
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");

    let before = snapshot(dir, url).await;
    let settled = before.rows::<agora_core::HelpTask>().into_iter().filter(|t| t.status == TaskStatus::Settled).count();
    let closed =
        before.rows::<agora_core::CustomerOrder>().into_iter().filter(|o| o.status == OrderStatus::Closed).count();
    assert!(settled + closed > 0, "the worker did some work before it was killed");
    assert!(
        settled < STORES * TASKS_PER_STORE || closed < STORES * ORDERS_PER_STORE,
        "the worker was killed before the end of its work (settled {settled}, closed {closed})"
    );
    // What the killed worker committed is whole.
    support::assert_payouts_exact(&before, settled);

    let (mut child, rx) = start_worker(dir, url, &["--once"]);
    let status = wait_exit(&mut child, Duration::from_secs(300));
    let log: Vec<String> = rx.iter().collect();
    assert!(status.success(), "--once exits 0: {status:?}\n{}", log.join("\n"));
    assert_exact(&snapshot(dir, url).await);
}

async fn sigterm_finishes_the_batch_and_exits_zero(backend: &str) {
    let (db, mut child, rx, mut log) = worker_at_work(backend).await;
    let (dir, url) = (db.dir.path(), db.url.as_str());
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    assert!(kill.success());
    let status = wait_exit(&mut child, Duration::from_secs(60));
    log.extend(rx.iter());
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0; log:\n{}", log.join("\n"));
    assert!(log.iter().any(|l| l.contains("job scheduler stopped")), "log:\n{}", log.join("\n"));
    let snap = snapshot(dir, url).await;
    let settled = snap.rows::<agora_core::HelpTask>().into_iter().filter(|t| t.status == TaskStatus::Settled).count();
    support::assert_payouts_exact(&snap, settled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_worker_killed_mid_batch_finishes_on_restart_without_duplicates() {
    killed_mid_batch_and_restarted("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_worker_killed_mid_batch_finishes_on_restart_without_duplicates() {
    killed_mid_batch_and_restarted("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sigterm_finishes_the_batch_and_exits_zero() {
    sigterm_finishes_the_batch_and_exits_zero("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sigterm_finishes_the_batch_and_exits_zero() {
    sigterm_finishes_the_batch_and_exits_zero("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_every_job_killed_mid_work_finishes_exactly_once() {
    every_job_killed_mid_work("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_job_killed_mid_work_finishes_exactly_once() {
    every_job_killed_mid_work("postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_event_relay_killed_mid_batch_relays_each_event_once() {
    event_relay_killed_mid_batch("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_event_relay_killed_mid_batch_relays_each_event_once() {
    event_relay_killed_mid_batch("postgres").await;
}

#[test]
fn once_on_an_empty_database_exits_zero_and_help_works() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("empty.db").display());
    let (mut child, rx) = start_worker(dir.path(), &url, &["--once"]);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let log: Vec<String> = rx.iter().collect();
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
    let help = Command::new(worker_binary()).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--once"));
}

// ---------------------------------------------------------------------------
// Every job killed mid-work.

/// Per store: CREATED orders past their reservation (`expire_orders`).
const EXPIRING_ORDERS: usize = 150;
/// Per store: CREATED orders past their reservation, expiring after the
/// others, whose holds are all of their variant's stock: `low_stock`
/// (critical) until `expire_orders` gets to them, resolved after.
const SOLD_OUT_ORDERS: usize = 8;
/// Per store: QUALIFIED tasks past `payout_at` (`payouts`).
const DUE_TASKS: usize = 150;
/// Per store: OPEN tasks past `expires_at` (`expire_tasks`).
const EXPIRED_TASKS: usize = 60;
/// Per store: SHIPPED orders past `auto_receive_seconds`, one unit each of
/// the "Seller" variant (`auto_receive`; the sales `velocity` counts).
const SHIPPED_ORDERS: usize = 40;
/// Seller's stock: 40 sold in 28 days, 10 left, so out in 7 days.
const SELLER_ON_HAND: i64 = 10;
/// Per store: OPEN tasks whose one help's order is SHIPPED and due for
/// auto-receipt (`auto_receive` qualifies them, `payouts` settles them).
const HELPED_TASKS: usize = 15;
/// Per store and kind: rows past their retention period, and within it.
const OLD_ROWS: usize = 30;
const KEPT_ROWS: usize = 6;
/// Per store: exports queued (`exports`), ready ones past `expires_at` (`retention`).
const QUEUED_EXPORTS: usize = 4;
const EXPIRED_EXPORTS: usize = 3;
/// Idempotency records and sessions past their lifetime, and live ones.
const EXPIRED_RECORDS: usize = 60;
const LIVE_RECORDS: usize = 10;
/// Units reserved by no hold on each store's expiring stock row (`reconcile`).
const DRIFT: i64 = 2;

/// The helpers whose accounts are younger than their tasks: payout held.
fn younger_helper(i: usize) -> bool {
    i.is_multiple_of(3)
}

/// What was seeded for one store.
struct StoreSeed {
    expiring: support::ExpiredOrders,
    sold_out: support::ExpiredOrders,
    due_tasks: Vec<TaskId>,
    expired_tasks: Vec<TaskId>,
    shipped: support::ShippedOrders,
    helped: Vec<TaskId>,
    scarce: support::StockedVariant,
    old_flag: FlagId,
    queued_exports: Vec<ExportId>,
    expired_exports: Vec<ExportId>,
    retention: support::RetentionBacklog,
}

/// What was seeded.
struct Seeded {
    stores: BTreeMap<StoreId, StoreSeed>,
    records: support::ExpiringRecords,
    /// PostgreSQL: the partition of `activity_event` the old events went to.
    old_partition: Option<String>,
}

/// Seeds due work for every job, in a way each one's end state can be told
/// exactly: see the constants above.
async fn seed_every_job(backend: &str, dir: &Path, url: &str) -> Seeded {
    let rt = support::runtime(support::config(dir, url)).await;
    // The migrations ran: shape the partitions before the events go in.
    let old_partition = if backend == "postgres" { Some(pg_shape_partitions(url).await) } else { None };
    let store = rt.store.as_ref();
    let t = support::now();
    let mut stores = BTreeMap::new();
    for i in 0..STORES {
        let s = support::seed_store_with(store, &format!("every{i}"), |s| {
            s.retention_events_days = 30;
            s.retention_audit_logs_days = 30;
            s.auto_receive_seconds = 3600;
            s.payout_cooling_seconds = 0;
        })
        .await;
        // First: the old events must be the bottom of the feed.
        let retention = support::seed_retention_backlog(store, s, OLD_ROWS, KEPT_ROWS).await;
        let expiring = support::seed_expired_orders(store, s, EXPIRING_ORDERS).await;
        // Expiring after the others (released last), holding all their stock.
        let sold_out = support::seed_expired_orders(store, s, SOLD_OUT_ORDERS).await;
        let mut cs = Changeset::new();
        cs.stock(expiring.variant_id, expiring.warehouse_id, t, StockChange::Adjust { on_hand: 0, reserved: DRIFT })
            .stock(
                sold_out.variant_id,
                sold_out.warehouse_id,
                t,
                StockChange::Adjust { on_hand: SOLD_OUT_ORDERS as i64 - sold_out.on_hand, reserved: 0 },
            );
        store.apply(cs).await.expect("drift seeded");
        let due_tasks = support::seed_due_tasks(store, s, DUE_TASKS, |_| t - time::Duration::hours(1)).await;
        let expired_tasks = support::seed_expired_open_tasks(store, s, EXPIRED_TASKS).await;
        let shipped_at = t - time::Duration::days(1);
        let shipped = support::seed_shipped_orders(store, s, SHIPPED_ORDERS, 1, SELLER_ON_HAND, shipped_at).await;
        let helped = support::seed_helped_tasks(store, s, HELPED_TASKS, shipped_at, younger_helper).await;
        let scarce = support::seed_variant(store, s, "Scarce", 0).await;
        let old_flag = support::seed_flags_and_image(store, s, scarce.product_id, shipped.orders[0]).await;
        let queued_exports = support::seed_queued_exports(store, s, QUEUED_EXPORTS).await;
        let expired_exports = support::seed_expired_exports(store, s, EXPIRED_EXPORTS, &dir.join("blobs")).await;
        stores.insert(
            s,
            StoreSeed {
                expiring,
                sold_out,
                due_tasks,
                expired_tasks,
                shipped,
                helped,
                scarce,
                old_flag,
                queued_exports,
                expired_exports,
                retention,
            },
        );
    }
    let records = support::seed_expiring_records(store, EXPIRED_RECORDS, LIVE_RECORDS).await;
    close(rt).await;
    Seeded { stores, records, old_partition }
}

/// The first day of the month `ahead` months after `day`'s.
fn month_start(day: time::Date, ahead: i32) -> time::Date {
    let n = day.year() * 12 + i32::from(u8::from(day.month())) - 1 + ahead;
    let month = time::Month::try_from((n.rem_euclid(12) + 1) as u8).expect("a month");
    time::Date::from_calendar_date(n.div_euclid(12), month, 1).expect("a day")
}

fn partition_name(parent: &str, month: time::Date) -> String {
    format!("{parent}_p{:04}{:02}", month.year(), u8::from(month.month()))
}

async fn pg_connect(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| panic!("PostgreSQL test database: {e}"))
}

/// Gives the maintenance job work (drops the partitions of the last month
/// ahead it keeps, of both tables) and the retention job a whole month to
/// drop (a partition for the month of the old events, 90 days ago).
/// Returns that partition's name.
async fn pg_shape_partitions(url: &str) -> String {
    let mut conn = pg_connect(url).await;
    let today = support::now().date();
    let old = month_start((support::now() - time::Duration::days(90)).date(), 0);
    let old_name = partition_name("activity_event", old);
    let mut sql = format!(
        "CREATE TABLE public.{old_name} PARTITION OF public.activity_event FOR VALUES FROM ('{old} 00:00:00+00') TO ('{} 00:00:00+00');",
        month_start(old, 1)
    );
    let last = month_start(today, agora_postgres::PARTITION_MONTHS_AHEAD as i32);
    for parent in ["activity_event", "payment_event"] {
        sql.push_str(&format!("DROP TABLE public.{};", partition_name(parent, last)));
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("partitions shaped");
    old_name
}

/// The monthly partitions of `parent`.
async fn pg_partitions(url: &str, parent: &str) -> BTreeSet<String> {
    let mut conn = pg_connect(url).await;
    let sql = format!(
        "SELECT c.relname::text FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid \
         WHERE h.inhparent = 'public.{parent}'::regclass"
    );
    let names: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&mut conn).await.expect("partitions listed");
    names.into_iter().collect()
}

async fn every_job_killed_mid_work(backend: &str) {
    let started = Instant::now();
    let db = test_database(backend).await;
    let (dir, url) = (db.dir.path(), db.url.as_str());
    let seeded = seed_every_job(backend, dir, url).await;
    eprintln!("{backend}: seeded in {:?}", started.elapsed());
    // Without Redis `relay_events` has nothing to do (see the relay test);
    // SQLite has no maintenance jobs; `webhooks` has its own drill
    // (webhook_drill.rs: the worker killed while delivering).
    let targets: Vec<&str> = Job::ALL
        .iter()
        .filter(|j| {
            **j != Job::RelayEvents && **j != Job::Webhooks && (backend == "postgres" || **j != Job::Maintenance)
        })
        .map(|j| j.as_str())
        .collect();
    let mut caught: Vec<String> = Vec::new();
    // Each claim (export, started_at) a kill left running: each must be
    // given back to the queue exactly once.
    let mut left_running: BTreeSet<(ExportId, Option<OffsetDateTime>)> = BTreeSet::new();
    while caught.len() < targets.len() {
        let round = Instant::now();
        let (mut child, rx) = start_worker(dir, url, &[]);
        let mut log = Vec::new();
        let (job, what) =
            kill_on_progress(&mut child, &rx, |j| targets.contains(&j) && !caught.iter().any(|c| c == j), &mut log);
        let alive = round.elapsed();
        let snap = snapshot(dir, url).await;
        assert_whole(&snap, &seeded, dir, &format!("after the kill in {job}"), &log);
        for e in snap.rows::<ExportJob>().into_iter().filter(|e| e.status == ExportStatus::Running) {
            left_running.insert((e.id, e.started_at));
        }
        eprintln!(
            "{backend}: killed in {job} after its `{what}` ({alive:?} after start; {})",
            progress_summary(&snap, &seeded)
        );
        caught.push(job);
    }
    // A running export is given back once it is a second old.
    std::thread::sleep(Duration::from_millis(1200));
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs <= 12, "{backend}: twelve --once runs and the worker still finds work");
        let (mut child, rx) = start_worker(dir, url, &["--once"]);
        let status = wait_exit(&mut child, Duration::from_secs(180));
        let log: Vec<String> = rx.iter().collect();
        assert!(status.success(), "--once exits 0: {status:?}\n{}", log.join("\n"));
        let changed = log
            .iter()
            .filter_map(|l| json(l))
            .find(|v| v["message"] == "caught up")
            .and_then(|v| v["changed"].as_u64())
            .unwrap_or_else(|| panic!("no `caught up` line:\n{}", log.join("\n")));
        if changed == 0 {
            break;
        }
    }
    let snap = snapshot(dir, url).await;
    assert_every_job_exact(&snap, &seeded, &left_running, dir, url, backend).await;
    eprintln!(
        "{backend}: every job caught ({}), finished after {runs} --once runs; {:?} in all",
        caught.join(", "),
        started.elapsed()
    );
}

fn count<T>(rows: &[&T], f: impl Fn(&T) -> bool) -> usize {
    rows.iter().filter(|r| f(r)).count()
}

/// How far the jobs got, for the log.
fn progress_summary(snap: &Snapshot, seeded: &Seeded) -> String {
    let orders = snap.rows::<CustomerOrder>();
    let tasks = snap.rows::<HelpTask>();
    let exports = snap.rows::<ExportJob>();
    let events = snap.rows::<ActivityEvent>();
    let cursors = snap.rows::<JobCursor>();
    let old: usize = seeded.stores.values().map(|s| s.retention.old_audit.len()).sum();
    let audit_ids: HashSet<AuditId> = snap.rows::<AuditLog>().iter().map(|a| a.id).collect();
    let old_left: usize =
        seeded.stores.values().flat_map(|s| &s.retention.old_audit).filter(|id| audit_ids.contains(id)).count();
    format!(
        "closed {}, received {}, expired tasks {}, settled {}, exports ready/running {}/{}, \
         old audit rows purged {}/{old}, events sequenced {}/{}, kpi cursors {}, velocity cursors {}, \
         insights {}, corrections {}",
        count(&orders, |o| o.status == OrderStatus::Closed),
        count(&orders, |o| o.status == OrderStatus::Received),
        count(&tasks, |t| t.status == TaskStatus::Expired),
        count(&tasks, |t| t.status == TaskStatus::Settled),
        count(&exports, |e| e.status == ExportStatus::Ready && e.rows > 0),
        count(&exports, |e| e.status == ExportStatus::Running),
        old - old_left,
        count(&events, |e| e.seq.is_some()),
        events.len(),
        count(&cursors, |c| c.job == "kpis"),
        count(&cursors, |c| c.job == "velocity"),
        snap.rows::<Insight>().len(),
        count(&snap.rows::<AuditLog>(), |a| a.key.starts_with("inventory_reserved:")),
    )
}

/// How many events of each (kind, entity).
fn events_by_entity(snap: &Snapshot) -> HashMap<(String, uuid::Uuid), usize> {
    let mut m = HashMap::new();
    for e in snap.rows::<ActivityEvent>() {
        *m.entry((e.kind.clone(), e.entity_id)).or_default() += 1;
    }
    m
}

/// Exactly one `kind` event for each of `entities`, and no other.
fn assert_one_event_each(snap: &Snapshot, kind: &str, entities: &[uuid::Uuid], ctx: &str) {
    let by = events_by_entity(snap);
    for id in entities {
        assert_eq!(by.get(&(kind.to_owned(), *id)).copied().unwrap_or(0), 1, "{ctx}: one {kind} event for {id}");
    }
    let total = snap.rows::<ActivityEvent>().iter().filter(|e| e.kind == kind).count();
    assert_eq!(total, entities.len(), "{ctx}: {kind} events");
}

/// The lines of a ready export's file: the whole file as its row says.
fn export_lines(dir: &Path, job: &ExportJob, ctx: &str) -> Vec<String> {
    let key = job.blob_key.as_deref().unwrap_or_else(|| panic!("{ctx}: ready export {} without a file", job.id));
    let path = dir.join("blobs").join(key);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{ctx}: export file {}: {e}", path.display()));
    assert_eq!(bytes.len() as i64, job.bytes, "{ctx}: bytes of export {}", job.id);
    let text = String::from_utf8(bytes).expect("an export is UTF-8");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header = usize::from(job.format == ExportFormat::Csv);
    assert_eq!(lines.len(), job.rows as usize + header, "{ctx}: lines of export {}", job.id);
    lines
}

/// What must hold whenever the worker is dead, whatever it was doing: each
/// committed change whole, with its event, and nothing twice.
fn assert_whole(snap: &Snapshot, seeded: &Seeded, dir: &Path, ctx: &str, log: &[String]) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| assert_whole_inner(snap, seeded, dir, ctx)));
    if let Err(e) = result {
        eprintln!("the killed worker's log:\n{}", log.join("\n"));
        std::panic::resume_unwind(e);
    }
}

fn assert_whole_inner(snap: &Snapshot, seeded: &Seeded, dir: &Path, ctx: &str) {
    let orders = snap.rows::<CustomerOrder>();
    let tasks = snap.rows::<HelpTask>();
    // Payouts: one row and one event per settled task.
    support::assert_payouts_exact(snap, count(&tasks, |t| t.status == TaskStatus::Settled));
    // Helps: each VALID help counted once by its task, and the task moved on with it.
    let helps = snap.rows::<Help>();
    for t in &tasks {
        let valid = helps.iter().filter(|h| h.task_id == t.id && h.status == HelpStatus::Valid).count();
        assert_eq!(t.helps_valid as usize, valid, "{ctx}: task {} counts each valid help once", t.id);
    }
    let qualified: Vec<uuid::Uuid> = tasks
        .iter()
        .filter(|t| t.required_helpers == 1 && matches!(t.status, TaskStatus::Qualified | TaskStatus::Settled))
        .map(|t| t.id.0)
        .collect();
    assert_one_event_each(snap, "task.qualified", &qualified, ctx);
    // Orders and tasks the jobs moved: one event each.
    let ids = |s: OrderStatus| -> Vec<uuid::Uuid> { orders.iter().filter(|o| o.status == s).map(|o| o.id.0).collect() };
    assert_one_event_each(snap, "order.closed", &ids(OrderStatus::Closed), ctx);
    assert_one_event_each(snap, "order.received", &ids(OrderStatus::Received), ctx);
    let expired: Vec<uuid::Uuid> = tasks.iter().filter(|t| t.status == TaskStatus::Expired).map(|t| t.id.0).collect();
    assert_one_event_each(snap, "task.expired", &expired, ctx);
    // Holds: released exactly with their order's close.
    let status_of: HashMap<OrderId, OrderStatus> = orders.iter().map(|o| (o.id, o.status)).collect();
    for r in snap.rows::<InventoryReservation>() {
        let closed = status_of.get(&r.order_id) == Some(&OrderStatus::Closed);
        let want = if closed { ReservationStatus::Released } else { ReservationStatus::Active };
        assert_eq!(r.status, want, "{ctx}: the hold of order {}", r.order_id);
    }
    // Stock: `reserved` is the sum of the active holds, but for the seeded
    // drift until its one audited correction.
    let mut held: HashMap<(VariantId, WarehouseId), i64> = HashMap::new();
    for r in snap.rows::<InventoryReservation>().into_iter().filter(|r| r.status == ReservationStatus::Active) {
        *held.entry((r.variant_id, r.warehouse_id)).or_default() += r.qty;
    }
    let audits = snap.rows::<AuditLog>();
    for row in snap.rows::<Inventory>() {
        let key = format!("inventory_reserved:{}:{}", row.variant_id, row.warehouse_id);
        let corrections: Vec<&&AuditLog> = audits.iter().filter(|a| a.key == key).collect();
        let holds = held.get(&(row.variant_id, row.warehouse_id)).copied().unwrap_or(0);
        let drifted = seeded.stores.values().any(|s| s.expiring.variant_id == row.variant_id);
        match corrections.len() {
            0 if drifted => assert_eq!(row.reserved - holds, DRIFT, "{ctx}: {key} before its correction"),
            0 => assert_eq!(row.reserved, holds, "{ctx}: {key}"),
            1 if drifted => {
                assert_eq!(row.reserved, holds, "{ctx}: {key} after its correction");
                let c = corrections[0];
                let (from, to): (i64, i64) = (
                    c.from.as_deref().and_then(|v| v.parse().ok()).expect("from"),
                    c.to.as_deref().and_then(|v| v.parse().ok()).expect("to"),
                );
                assert_eq!(from - to, DRIFT, "{ctx}: the correction of {key} is the seeded drift: {c:?}");
            }
            n => panic!("{ctx}: {n} corrections of {key}: {corrections:?}"),
        }
    }
    // Feeds: sequenced events numbered without gap or repeat from just above
    // what retention removed (the seeded old events, the bottom of each feed).
    let present: HashSet<EventId> = snap.rows::<ActivityEvent>().iter().map(|e| e.id).collect();
    let last: HashMap<StoreId, i64> = snap.rows::<EventSeq>().iter().map(|s| (s.store_id, s.last_seq)).collect();
    for (store_id, s) in &seeded.stores {
        let purged = s.retention.old_events.iter().filter(|id| !present.contains(id)).count() as i64;
        let mut seqs: Vec<i64> =
            snap.rows::<ActivityEvent>().iter().filter(|e| e.store_id == *store_id).filter_map(|e| e.seq).collect();
        seqs.sort_unstable();
        let top = last.get(store_id).copied().unwrap_or(0);
        let want: Vec<i64> = (purged + 1..=top).collect();
        assert_eq!(seqs, want, "{ctx}: the feed of {store_id} ({purged} old events purged, last seq {top})");
        assert!(
            s.retention.old_events.iter().take(purged as usize).all(|id| !present.contains(id)),
            "{ctx}: retention removes the feed from the bottom up"
        );
    }
    // Exports: a ready one's file is whole; an expired one's file is gone
    // and audited once.
    let export_audits = snap.rows::<ExportAuditRecord>();
    for e in snap.rows::<ExportJob>() {
        let expired_audits =
            export_audits.iter().filter(|a| a.export_id == e.id && a.action == ExportAction::Expired).count();
        match e.status {
            ExportStatus::Ready if e.rows > 0 => {
                export_lines(dir, e, ctx);
            }
            ExportStatus::Expired => {
                assert_eq!(expired_audits, 1, "{ctx}: expired export {} audited once", e.id);
                let file = dir.join("blobs").join(e.blob_key.as_deref().expect("a key"));
                assert!(!file.exists(), "{ctx}: the file of expired export {} is gone", e.id);
            }
            _ => assert_eq!(expired_audits, 0, "{ctx}: export {} is {} and has an expired audit", e.id, e.status),
        }
    }
    // Insights: one live insight per (store, kind, resource).
    let live: Vec<(StoreId, String)> =
        snap.rows::<Insight>().iter().filter_map(|i| i.live_key.clone().map(|k| (i.store_id, k))).collect();
    let distinct: HashSet<&(StoreId, String)> = live.iter().collect();
    assert_eq!(distinct.len(), live.len(), "{ctx}: one live insight per condition");
}

/// Per (store, day, currency): created, paid, closed, revenue, units, as
/// the KPI job counts them from the orders.
type KpiFigures = (i64, i64, i64, i64, i64);

fn kpi_recount(
    snap: &Snapshot,
    days: &HashMap<StoreId, BTreeSet<String>>,
) -> BTreeMap<(StoreId, String, String), KpiFigures> {
    let mut units: HashMap<OrderId, i64> = HashMap::new();
    for i in snap.rows::<OrderItem>() {
        *units.entry(i.order_id).or_default() += i.qty;
    }
    let mut out: BTreeMap<(StoreId, String, String), KpiFigures> = BTreeMap::new();
    let wanted = |store: StoreId, t: OffsetDateTime| days.get(&store).is_some_and(|d| d.contains(&day_key(t.date())));
    for o in snap.rows::<CustomerOrder>() {
        let key = |t: OffsetDateTime| (o.store_id, day_key(t.date()), o.currency.as_str().to_owned());
        if wanted(o.store_id, o.created_at) {
            out.entry(key(o.created_at)).or_default().0 += 1;
        }
        if let Some(t) = o.paid_at.filter(|t| wanted(o.store_id, *t)) {
            let f = out.entry(key(t)).or_default();
            f.1 += 1;
            f.3 += o.pay_amount_minor;
            f.4 += units.get(&o.id).copied().unwrap_or(0);
        }
        if let Some(t) = o.closed_at.filter(|t| wanted(o.store_id, *t)) {
            out.entry(key(t)).or_default().2 += 1;
        }
    }
    out
}

/// The velocity job's row for `v`, recomputed from the snapshot at `now`.
fn velocity_recount(
    snap: &Snapshot,
    settings: &StoreSettings,
    v: &ProductVariant,
    now: OffsetDateTime,
) -> ProductVelocity {
    let window = settings.velocity_window_days.max(1);
    let since = now - time::Duration::days(window);
    let paid: HashSet<OrderId> = snap
        .rows::<CustomerOrder>()
        .iter()
        .filter(|o| o.store_id == v.store_id && o.paid_at.is_some_and(|t| t >= since && t <= now))
        .map(|o| o.id)
        .collect();
    let units_sold: i64 = snap
        .rows::<OrderItem>()
        .iter()
        .filter(|i| i.variant_id == v.id && paid.contains(&i.order_id))
        .map(|i| i.qty)
        .sum();
    let available: i64 = snap.rows::<Inventory>().iter().filter(|r| r.variant_id == v.id).map(|r| r.available()).sum();
    let horizon = settings.reorder_lead_days + settings.reorder_cover_days;
    let needed = (units_sold * horizon + window - 1) / window;
    let (days_of_cover, stockout_at) = if units_sold == 0 {
        (None, None)
    } else {
        let left = available.max(0);
        let seconds = left * window * 86_400 / units_sold;
        (Some(left * window / units_sold), Some(now + time::Duration::seconds(seconds)))
    };
    ProductVelocity {
        variant_id: v.id,
        store_id: v.store_id,
        sku: v.sku.clone(),
        units_sold,
        window_days: window,
        daily_velocity_milli: (units_sold * 2000 + window) / (2 * window),
        available,
        on_order: 0,
        days_of_cover,
        stockout_at,
        reorder_qty: (needed - available).max(0),
    }
}

/// The live insights the rules find true of a store now: (live key, severity).
fn expected_insights(
    snap: &Snapshot,
    settings: &StoreSettings,
    now: OffsetDateTime,
) -> BTreeSet<(String, InsightSeverity)> {
    let store_id = settings.store_id;
    let mut out = BTreeSet::new();
    let products: Vec<&Product> = snap
        .rows::<Product>()
        .into_iter()
        .filter(|p| p.store_id == store_id && p.status == ProductStatus::Active)
        .collect();
    let active: HashSet<ProductId> = products.iter().map(|p| p.id).collect();
    for v in snap.rows::<ProductVariant>() {
        if v.store_id != store_id || !active.contains(&v.product_id) || v.status != ProductStatus::Active {
            continue;
        }
        let n: i64 = snap.rows::<Inventory>().iter().filter(|r| r.variant_id == v.id).map(|r| r.available()).sum();
        if n <= settings.low_stock_threshold {
            let severity = if n <= 0 { InsightSeverity::Critical } else { InsightSeverity::Warning };
            out.insert((format!("low_stock:{}", v.id.0), severity));
        }
    }
    let horizon = now + time::Duration::days(settings.reorder_lead_days);
    for r in snap.rows::<ProductVelocity>() {
        if r.store_id == store_id && r.stockout_at.is_some_and(|t| t <= horizon) {
            out.insert((format!("stockout_forecast:{}", r.variant_id.0), InsightSeverity::Warning));
        }
    }
    let with_image: HashSet<ProductId> = snap.rows::<ProductImage>().iter().map(|i| i.product_id).collect();
    for p in products.iter().filter(|p| !with_image.contains(&p.id)) {
        out.insert((format!("product_without_image:{}", p.id.0), InsightSeverity::Info));
    }
    for f in snap.rows::<OrderFlag>() {
        if f.store_id == store_id && f.status.is_live() && f.created_at <= now - time::Duration::hours(24) {
            out.insert((format!("flag_open_over_24h:{}", f.id.0), InsightSeverity::Warning));
        }
    }
    for p in snap.rows::<PayoutLedger>() {
        if p.store_id == store_id && p.payout_status == PayoutStatus::Held {
            out.insert((format!("payout_held:{}", p.id.0), InsightSeverity::Warning));
        }
    }
    out
}

/// Each job's end state after the kills and the restarts.
async fn assert_every_job_exact(
    snap: &Snapshot,
    seeded: &Seeded,
    left_running: &BTreeSet<(ExportId, Option<OffsetDateTime>)>,
    dir: &Path,
    url: &str,
    backend: &str,
) {
    let now = support::now();
    assert_whole_inner(snap, seeded, dir, "at the end");
    let orders: HashMap<OrderId, &CustomerOrder> =
        snap.rows::<CustomerOrder>().into_iter().map(|o| (o.id, o)).collect();
    let tasks: HashMap<TaskId, &HelpTask> = snap.rows::<HelpTask>().into_iter().map(|t| (t.id, t)).collect();
    let settings: HashMap<StoreId, &StoreSettings> =
        snap.rows::<StoreSettings>().into_iter().map(|s| (s.store_id, s)).collect();
    let events = snap.rows::<ActivityEvent>();
    let last_seq: HashMap<StoreId, i64> = snap.rows::<EventSeq>().iter().map(|s| (s.store_id, s.last_seq)).collect();

    // expire_orders: every expiring order closed (timeout), its stock released once.
    for s in seeded.stores.values() {
        for id in &s.expiring.orders {
            let o = orders[id];
            assert_eq!((o.status, o.close_reason), (OrderStatus::Closed, Some(CloseReason::Timeout)), "order {id}");
        }
        for id in &s.sold_out.orders {
            assert_eq!(orders[id].status, OrderStatus::Closed, "order {id}");
        }
        let row = |v: VariantId| snap.rows::<Inventory>().into_iter().find(|r| r.variant_id == v).expect("a stock row");
        let expiring = row(s.expiring.variant_id);
        assert_eq!((expiring.on_hand, expiring.reserved), (s.expiring.on_hand, 0), "stock released once");
        let sold_out = row(s.sold_out.variant_id);
        assert_eq!((sold_out.on_hand, sold_out.reserved), (SOLD_OUT_ORDERS as i64, 0), "stock released once");
    }
    // auto_receive: every shipped order received, the helpers' too.
    let helper_orders: HashMap<TaskId, OrderId> = snap.rows::<Help>().iter().map(|h| (h.task_id, h.order_id)).collect();
    for s in seeded.stores.values() {
        let shipped = s.shipped.orders.iter().chain(s.helped.iter().map(|t| &helper_orders[t]));
        for id in shipped {
            let o = orders[id];
            assert_eq!(o.status, OrderStatus::Received, "order {id}");
            assert!(o.received_at.is_some());
        }
    }
    assert_eq!(
        events.iter().filter(|e| e.kind == "order.received").count(),
        STORES * (SHIPPED_ORDERS + HELPED_TASKS),
        "one order.received event per order"
    );
    // expire_tasks: every expired OPEN task EXPIRED.
    for s in seeded.stores.values() {
        for id in &s.expired_tasks {
            assert_eq!(tasks[id].status, TaskStatus::Expired, "task {id}");
        }
    }
    // payouts: every due task and every helped one settled, one row each;
    // the helped ones of helpers younger than their task held.
    support::assert_payouts_exact(snap, STORES * (DUE_TASKS + HELPED_TASKS));
    let payouts: HashMap<TaskId, &PayoutLedger> =
        snap.rows::<PayoutLedger>().into_iter().map(|p| (p.task_id, p)).collect();
    for s in seeded.stores.values() {
        for id in &s.due_tasks {
            assert_eq!(payouts[id].payout_status, PayoutStatus::Pending, "task {id}");
        }
        for (i, id) in s.helped.iter().enumerate() {
            let (t, p) = (tasks[id], payouts[id]);
            assert_eq!((t.status, t.helps_valid), (TaskStatus::Settled, 1), "helped task {id}");
            let want = if younger_helper(i) { PayoutStatus::Held } else { PayoutStatus::Pending };
            assert_eq!(p.payout_status, want, "payout of helped task {id}: {p:?}");
            assert_eq!(p.amount_minor, orders[&t.order_id].pay_amount_minor / 10, "10% of the owner's order");
        }
    }
    // exports: each queued export written once, whole, with every order of
    // its store once; each claim a kill left running given back once.
    let exports: HashMap<ExportId, &ExportJob> = snap.rows::<ExportJob>().into_iter().map(|e| (e.id, e)).collect();
    let requeued: Vec<uuid::Uuid> =
        events.iter().filter(|e| e.kind == "export.requeued").map(|e| e.entity_id).collect();
    for (store_id, s) in &seeded.stores {
        let store_orders: BTreeSet<String> =
            orders.values().filter(|o| o.store_id == *store_id).map(|o| o.id.0.to_string()).collect();
        for id in &s.queued_exports {
            let e = exports[id];
            assert_eq!(e.status, ExportStatus::Ready, "export {id}: {e:?}");
            assert_eq!(e.rows as usize, store_orders.len(), "export {id}: one row per order of the store");
            let lines = export_lines(dir, e, "at the end");
            let ids: Vec<String> = match e.format {
                ExportFormat::Csv => {
                    lines.iter().skip(1).map(|l| l.split(',').next().unwrap_or_default().to_owned()).collect()
                }
                ExportFormat::Jsonl => lines
                    .iter()
                    .map(|l| json(l).and_then(|v| v["id"].as_str().map(str::to_owned)).expect("a JSON line with an id"))
                    .collect(),
            };
            let distinct: BTreeSet<String> = ids.iter().cloned().collect();
            assert_eq!(distinct.len(), ids.len(), "export {id}: no order twice");
            assert_eq!(distinct, store_orders, "export {id}: every order of the store");
            let claims = left_running.iter().filter(|(e, _)| e == id).count();
            let given_back = requeued.iter().filter(|e| **e == id.0).count();
            assert_eq!(given_back, claims, "export {id}: each claim a kill left running given back once");
        }
        // Only the written exports' files are left (retention deleted the others).
        let files: BTreeSet<String> = std::fs::read_dir(dir.join("blobs/exports").join(store_id.to_string()))
            .expect("the store's export dir")
            .map(|f| f.expect("a file").file_name().to_string_lossy().into_owned())
            .collect();
        let want: BTreeSet<String> = s.queued_exports.iter().map(|id| format!("{id}.{}", exports[id].format)).collect();
        let stray: Vec<&String> = files.difference(&want).collect();
        assert!(want.is_subset(&files), "export files of {store_id}: {files:?}");
        if !stray.is_empty() {
            // A kill during a file write leaves the object store's staging
            // file behind (`<name>#<n>`); anything else is a bug.
            assert!(stray.iter().all(|f| f.contains('#')), "stray export files of {store_id}: {stray:?}");
            eprintln!("{backend}: staging files left by a kill mid-write in {store_id}: {stray:?}");
        }
    }
    assert_eq!(requeued.len(), left_running.len(), "export.requeued events");
    // retention: exactly the rows past their periods are gone.
    let present_events: HashSet<EventId> = events.iter().map(|e| e.id).collect();
    let audit: HashSet<AuditId> = snap.rows::<AuditLog>().iter().map(|a| a.id).collect();
    let checks: HashSet<ConnectionCheckId> = snap.rows::<ConnectionCheck>().iter().map(|c| c.id).collect();
    let drafts: HashSet<DraftId> = snap.rows::<ReplyDraft>().iter().map(|d| d.id).collect();
    let audits = snap.rows::<ExportAuditRecord>();
    for (store_id, s) in &seeded.stores {
        let r = &s.retention;
        let gone = |what: &str, all_gone: bool, all_kept: bool| {
            assert!(all_gone, "{store_id}: every {what} past its period deleted");
            assert!(all_kept, "{store_id}: every {what} within its period kept");
        };
        gone(
            "event",
            r.old_events.iter().all(|id| !present_events.contains(id)),
            r.kept_events.iter().all(|id| present_events.contains(id)),
        );
        gone(
            "audit row",
            r.old_audit.iter().all(|id| !audit.contains(id)),
            r.kept_audit.iter().all(|id| audit.contains(id)),
        );
        gone(
            "connection check",
            r.old_checks.iter().all(|id| !checks.contains(id)),
            r.kept_checks.iter().all(|id| checks.contains(id)),
        );
        gone(
            "unsent reply draft",
            r.old_drafts.iter().all(|id| !drafts.contains(id)),
            r.kept_drafts.iter().all(|id| drafts.contains(id)),
        );
        for id in &s.expired_exports {
            assert_eq!(exports[id].status, ExportStatus::Expired, "export {id}");
            let n = audits.iter().filter(|a| a.export_id == *id && a.action == ExportAction::Expired).count();
            assert_eq!(n, 1, "export {id}: one expired audit record");
        }
        // sequence_events: every event numbered, the feed gap-free above the purged bottom.
        let seqs: Vec<i64> = events.iter().filter(|e| e.store_id == *store_id).filter_map(|e| e.seq).collect();
        assert_eq!(
            seqs.iter().min().copied(),
            Some(OLD_ROWS as i64 + 1),
            "{store_id}: the feed starts above the purged events"
        );
    }
    assert!(events.iter().all(|e| e.seq.is_some()), "every event numbered");
    let idempotency: HashSet<(String, String)> =
        snap.rows::<IdempotencyRecord>().iter().map(|r| (r.scope.clone(), r.key.clone())).collect();
    let sessions: HashSet<SessionId> = snap.rows::<Session>().iter().map(|s| s.id).collect();
    let rec = &seeded.records;
    assert!(rec.expired_idempotency.iter().all(|k| !idempotency.contains(k)), "expired idempotency records deleted");
    assert!(rec.live_idempotency.iter().all(|k| idempotency.contains(k)), "live idempotency records kept");
    assert!(rec.expired_sessions.iter().all(|id| !sessions.contains(id)), "expired sessions deleted");
    assert!(rec.live_sessions.iter().all(|id| sessions.contains(id)), "live sessions kept");
    // maintenance (PostgreSQL): this month's partitions and the next three's, of both tables.
    if backend == "postgres" {
        let today = now.date();
        for parent in ["activity_event", "payment_event"] {
            let parts = pg_partitions(url, parent).await;
            for ahead in 0..=agora_postgres::PARTITION_MONTHS_AHEAD as i32 {
                let name = partition_name(parent, month_start(today, ahead));
                assert!(parts.contains(&name), "partition {name} exists: {parts:?}");
            }
        }
        let old = seeded.old_partition.as_deref().expect("the old month's partition");
        let dropped = !pg_partitions(url, "activity_event").await.contains(old);
        eprintln!(
            "{backend}: the old events' month {old} was {}",
            if dropped { "dropped whole" } else { "emptied row by row" }
        );
    }
    // kpis: the cache equals a recount from the orders, for every day the
    // feed's orders touched and today, each (store, day, currency) once.
    let mut days: HashMap<StoreId, BTreeSet<String>> = HashMap::new();
    for s in seeded.stores.keys() {
        days.entry(*s).or_default().extend([day_key(now.date())]);
    }
    for e in events.iter().filter(|e| e.entity_type == "order") {
        if let Some(o) = orders.get(&OrderId(e.entity_id)) {
            let d = days.entry(o.store_id).or_default();
            d.extend([Some(o.created_at), o.paid_at, o.closed_at].into_iter().flatten().map(|t| day_key(t.date())));
        }
    }
    let want = kpi_recount(snap, &days);
    let got: BTreeMap<(StoreId, String, String), KpiFigures> = snap
        .rows::<KpiDay>()
        .iter()
        .map(|k| {
            (
                (k.store_id, k.day.clone(), k.currency.as_str().to_owned()),
                (k.orders_created, k.orders_paid, k.orders_closed, k.revenue_minor, k.units_sold),
            )
        })
        .collect();
    assert_eq!(got, want, "the KPI cache is a recount of the days its feed touched");
    for c in snap.rows::<JobCursor>() {
        assert_eq!(c.last_seq, last_seq[&c.store_id], "the {} cursor of {} read the whole feed", c.job, c.store_id);
    }
    for s in seeded.stores.keys() {
        for job in ["kpis", "velocity"] {
            assert!(snap.rows::<JobCursor>().iter().any(|c| c.store_id == *s && c.job == job), "{job} cursor of {s}");
        }
    }
    // velocity: one row per variant, equal to a recompute.
    let rows: HashMap<VariantId, &ProductVelocity> =
        snap.rows::<ProductVelocity>().into_iter().map(|v| (v.variant_id, v)).collect();
    let variants = snap.rows::<ProductVariant>();
    assert_eq!(rows.len(), variants.len(), "one velocity row per variant");
    for v in &variants {
        let want = velocity_recount(snap, settings[&v.store_id], v, now);
        let got = rows[&v.id];
        assert_eq!(ProductVelocity { stockout_at: want.stockout_at, ..(*got).clone() }, want, "velocity of {}", v.sku);
        match (got.stockout_at, want.stockout_at) {
            (Some(a), Some(b)) => assert!((a - b).abs() < time::Duration::days(1), "stockout of {}: {a} vs {b}", v.sku),
            (a, b) => assert_eq!(a, b, "stockout of {}", v.sku),
        }
    }
    let seller = seeded.stores.values().next().map(|s| s.shipped.variant.variant_id).expect("a store");
    assert_eq!(rows[&seller].units_sold, SHIPPED_ORDERS as i64, "the seller's sales are counted");
    // insights: exactly the findings of now, each opened once; those gone resolved once.
    let insights = snap.rows::<Insight>();
    let by = events_by_entity(snap);
    for (store_id, s) in &seeded.stores {
        let want = expected_insights(snap, settings[store_id], now);
        let got: BTreeSet<(String, InsightSeverity)> = insights
            .iter()
            .filter(|i| i.store_id == *store_id)
            .filter_map(|i| i.live_key.clone().map(|k| (k, i.severity)))
            .collect();
        assert_eq!(got, want, "live insights of {store_id}");
        assert!(want.contains(&(format!("flag_open_over_24h:{}", s.old_flag.0), InsightSeverity::Warning)));
        assert!(want.contains(&(format!("low_stock:{}", s.scarce.variant_id.0), InsightSeverity::Critical)));
        assert_eq!(want.iter().filter(|(k, _)| k.starts_with("payout_held:")).count(), HELPED_TASKS.div_ceil(3));
        // The first insights run (the kill rounds run one tick each) came
        // before `expire_orders` reached the sold-out holds, released last.
        let key = format!("low_stock:{}", s.sold_out.variant_id.0);
        let sold_out: Vec<&&Insight> =
            insights.iter().filter(|i| i.kind == "low_stock" && i.resource_id == s.sold_out.variant_id.0).collect();
        assert!(
            sold_out.len() == 1 && sold_out[0].status == InsightStatus::Resolved,
            "{key}: opened while sold out, resolved once released: {sold_out:?}"
        );
    }
    for i in &insights {
        assert_eq!(by.get(&("insight.opened".to_owned(), i.id.0)), Some(&1), "insight {} opened once", i.id);
        let resolved = by.get(&("insight.resolved".to_owned(), i.id.0)).copied().unwrap_or(0);
        let want = usize::from(i.status == InsightStatus::Resolved);
        assert_eq!(resolved, want, "insight {} ({}) resolved {want} times", i.id, i.status);
        assert_eq!(i.live_key.is_none(), i.status == InsightStatus::Resolved, "insight {}", i.id);
    }
    // reconcile: one audited correction per store, of the seeded drift; no other.
    let corrections: Vec<&AuditLog> =
        snap.rows::<AuditLog>().into_iter().filter(|a| a.key.starts_with("inventory_reserved:")).collect();
    assert_eq!(corrections.len(), STORES, "one correction per store, none spurious: {corrections:?}");
    let resolved = insights.iter().filter(|i| i.status == InsightStatus::Resolved).count();
    eprintln!("{backend}: {} live insights, {resolved} resolved along the way", insights.len() - resolved);
}

// ---------------------------------------------------------------------------
// relay_events (Redis) killed mid-batch.

/// Events per store, all sequenced before the worker starts.
const RELAYED_EVENTS: usize = 200;

fn redis_url() -> String {
    std::env::var("AGORA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Deletes the test's keys (under its random prefix) when dropped, also
/// when the test fails.
struct RedisKeys {
    client: redis::Client,
    prefix: String,
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let Ok(mut conn) = self.client.get_connection() else { return };
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query(&mut conn).unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
    }
}

/// The entries of a stream: (id, event_id field).
async fn stream(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<(String, String)> {
    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg(key).arg("-").arg("+").query_async(conn).await.expect("XRANGE");
    entries
        .into_iter()
        .map(|(id, fields)| {
            let event_id = fields.chunks(2).find(|kv| kv[0] == "event_id").map(|kv| kv[1].clone()).unwrap_or_default();
            (id, event_id)
        })
        .collect()
}

/// Each store's stream holds its feed's first events in order, each once,
/// as `{seq}-0`; returns how many in all.
async fn assert_streams(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    feeds: &BTreeMap<StoreId, Vec<EventId>>,
    whole: bool,
    ctx: &str,
) -> usize {
    let mut total = 0;
    for (store_id, feed) in feeds {
        let got = stream(conn, &format!("{prefix}events:{store_id}")).await;
        let want: Vec<(String, String)> =
            feed.iter().enumerate().take(got.len()).map(|(i, id)| (format!("{}-0", i + 1), id.to_string())).collect();
        assert_eq!(got, want, "{ctx}: the stream of {store_id} is its feed, in order, each event once");
        if whole {
            assert_eq!(got.len(), feed.len(), "{ctx}: every event of {store_id} relayed");
        }
        total += got.len();
    }
    total
}

async fn event_relay_killed_mid_batch(backend: &str) {
    let started = Instant::now();
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).expect("a Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.unwrap_or_else(|e| {
        panic!("no redis-server at AGORA_TEST_REDIS_URL={url} ({e}); start one or point AGORA_TEST_REDIS_URL at one")
    });
    let prefix = format!("agoratest:{}:", uuid::Uuid::now_v7().simple());
    let _keys = RedisKeys { client: client.clone(), prefix: prefix.clone() };
    let db = test_database(backend).await;
    let (dir, db_url) = (db.dir.path(), db.url.as_str());
    let rt = support::runtime(support::config(dir, db_url)).await;
    let mut feeds = BTreeMap::new();
    for i in 0..STORES {
        let s = support::seed_store(rt.store.as_ref(), &format!("relay{i}")).await;
        support::seed_events(rt.store.as_ref(), s, RELAYED_EVENTS).await;
        rt.agora.sequence_events(s).await.expect("sequenced");
        let mut feed: Vec<&ActivityEvent> = Vec::new();
        let snap = agora_core::Snapshot::read(&*rt.store).await.expect("snapshot");
        feed.extend(snap.rows::<ActivityEvent>().into_iter().filter(|e| e.store_id == s));
        feed.sort_by_key(|e| e.seq.expect("sequenced"));
        feeds.insert(s, feed.iter().map(|e| e.id).collect::<Vec<_>>());
    }
    close(rt).await;
    let env = [
        ("AGORA_REDIS_URL", url.as_str()),
        ("AGORA_REDIS_KEY_PREFIX", prefix.as_str()),
        ("AGORA_JOBS_RUN", "relay_events"),
        // A dead worker's leases (Redis, `SET PX`) lapse quickly.
        ("AGORA_JOBS_LEASE_TTL_MS", "300"),
    ];
    let mut relayed = 0;
    for kill in 0..2 {
        let (mut child, rx) = start_worker_with(dir, db_url, &[], &env);
        let mut log = Vec::new();
        kill_on_progress(&mut child, &rx, |j| j == "relay_events", &mut log);
        let now = assert_streams(&mut conn, &prefix, &feeds, false, &format!("after kill {kill}")).await;
        assert!(now > relayed, "the worker relayed events before kill {kill}");
        assert!(now < STORES * RELAYED_EVENTS, "kill {kill} came before the end of the feeds");
        eprintln!("{backend}: relay killed after {now} of {} events", STORES * RELAYED_EVENTS);
        relayed = now;
        std::thread::sleep(Duration::from_millis(400));
    }
    let (mut child, rx) = start_worker_with(dir, db_url, &["--once"], &env);
    let status = wait_exit(&mut child, Duration::from_secs(120));
    let log: Vec<String> = rx.iter().collect();
    assert!(status.success(), "--once exits 0: {status:?}\n{}", log.join("\n"));
    let relayed = assert_streams(&mut conn, &prefix, &feeds, true, "at the end").await;
    assert_eq!(relayed, STORES * RELAYED_EVENTS);
    eprintln!("{backend}: relay test in {:?}", started.elapsed());
}
