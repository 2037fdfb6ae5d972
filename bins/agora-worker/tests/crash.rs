//! The real `agora-worker` binary: killed with SIGKILL in the middle of its
//! work and started again, it finishes with no duplicate effect; SIGTERM
//! finishes the batch in hand and exits 0. Cargo builds the binary for
//! these tests (`cargo test -p agora-worker`, or `cargo test --workspace`).
//! The PostgreSQL variants need `AGORA_TEST_POSTGRES_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`) and fail without it.

#[path = "../../../crates/agora-runtime/tests/support/mod.rs"]
mod support;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agora_core::*;

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
        .env("AGORA_LOG_FORMAT", "json")
        .env("AGORA_LOG", "info")
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

/// Waits for a "job ran" log line of a job that changed rows.
fn wait_for_progress(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the worker made no progress; its log:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
            && v["message"] == "job ran"
            && v["changed"].as_u64().unwrap_or(0) > 0
        {
            return;
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
    let db = support::TestDatabase::new(backend).await;
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
    let log: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "--once exits 0: {status:?}\n{}", log.join("\n"));
    assert_exact(&snapshot(dir, url).await);
}

async fn sigterm_finishes_the_batch_and_exits_zero(backend: &str) {
    let (db, mut child, rx, mut log) = worker_at_work(backend).await;
    let (dir, url) = (db.dir.path(), db.url.as_str());
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    assert!(kill.success());
    let status = wait_exit(&mut child, Duration::from_secs(60));
    log.extend(rx.try_iter());
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

#[test]
fn once_on_an_empty_database_exits_zero_and_help_works() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("empty.db").display());
    let (mut child, rx) = start_worker(dir.path(), &url, &["--once"]);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let log: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
    let help = Command::new(worker_binary()).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--once"));
}
