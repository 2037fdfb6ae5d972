//! The single writer thread: group commit of changesets.
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
//! Each changeset is applied by [`apply_changeset`]: the writer holds
//! SQLite's write lock for the whole transaction, so nothing can change
//! between a guard and the writes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use agora_core::*;
use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::apply::apply_changeset;

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

/// Counters of the writer thread, for metrics and tests: core's
/// [`WriteStats`](agora_core::WriteStats) under the name this crate used.
pub type WriterStats = agora_core::WriteStats;

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
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply_changeset(conn, cs))).unwrap_or_else(|panic| {
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

    /// A write connection on a migrated fresh file, and the file's directory.
    fn migrated() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_write_connection(&SqliteConfig::new(dir.path().join("w.db"))).unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        (dir, conn)
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
        let (_dir, conn) = migrated();
        let counters = Counters::default();
        let mut careful = 0;

        let mut batch = Vec::new();
        let mut replies = Vec::new();
        for (i, email) in ["a@x", "taken@x", "b@x"].into_iter().enumerate() {
            let mut cs = Changeset::new();
            if i == 1 {
                cs.guard(agora_core::guards::email_free("a@x"));
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

    fn session_of(user_id: UserId) -> Record {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let id = SessionId(uuid::Uuid::now_v7());
        Record::Session(Session { id, user_id, token_hash: id.to_string(), created_at: at, expires_at: at })
    }

    /// Foreign keys are checked per changeset inside the group, on both
    /// paths: a child before its parent is fine, a dangling reference fails
    /// its changeset alone, even when a later changeset of the group would
    /// have supplied the row it refers to.
    #[test]
    fn a_dangling_reference_fails_only_its_changeset() {
        let (_dir, conn) = migrated();
        let counters = Counters::default();
        for mut careful in [0, 1] {
            let (ann, bob) = (user(&format!("ann{careful}@x")), user(&format!("bob{careful}@x")));
            let mut child_first = Changeset::new();
            child_first.insert(session_of(ann.id)).insert(Record::User(ann.clone()));
            let mut dangling = Changeset::new();
            dangling.insert(session_of(bob.id));
            let (r1, mut rx1) = request(child_first);
            let (r2, mut rx2) = request(dangling);
            let (r3, mut rx3) =
                request(Changeset { guards: Vec::new(), writes: vec![Write::Insert(Record::User(bob))] });
            apply_batch(&conn, vec![r1, r2, r3], &counters, &mut careful);
            assert!(rx1.try_recv().unwrap().is_ok());
            assert!(matches!(rx2.try_recv().unwrap(), Err(StoreError::Missing(_))));
            assert!(rx3.try_recv().unwrap().is_ok());
            assert!(conn.is_autocommit());
        }
        let sessions: i64 = conn.query_row("SELECT count(*) FROM session", [], |r| r.get(0)).unwrap();
        assert_eq!((emails(&conn).len(), sessions), (4, 2));
    }
}
