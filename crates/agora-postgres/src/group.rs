//! Group commit: one committer task per store applies every changeset that
//! arrives while it is busy in one transaction, a `SAVEPOINT` per changeset,
//! and commits once (the SQLite writer's scheme).
//!
//! Why: PostgreSQL flushes its WAL once per COMMIT, and a row lock (a hot
//! SKU's `inventory` row) is held until COMMIT returns, so one order per
//! transaction caps a hot SKU at one order per commit latency. In a group,
//! N changesets share one flush and one lock hold.
//!
//! Pipelined, one group at a time: a group holds the locks of all its
//! changesets until it commits, so two groups running statements at once
//! could take the same rows in different orders and deadlock (PostgreSQL only
//! notices after `deadlock_timeout`). So the committer runs one group's
//! statements at a time and starts the next group as soon as the previous
//! one has sent COMMIT: committing groups wait for their WAL flush (which
//! PostgreSQL shares between concurrent commits) but never for a lock, so no
//! cycle can form inside one process. Reads stay on the pool, in parallel.
//!
//! Semantics are those of applying the changesets one by one in arrival
//! order: each sees the ones before it in its group. A changeset that fails
//! a condition is rolled back to its savepoint alone. Its caller hears back
//! only after the group's COMMIT, so "applied" always means durable. How a
//! group is written (runs as one statement, the rest one by one) is
//! `apply::apply_group`'s business.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use agora_core::{Changeset, StoreError};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::PgStore;
use crate::apply::{Item, apply_group};
use crate::error::{Failure, acquire_failure};

/// Changesets queued for the committer before callers wait for room.
const QUEUE: usize = 4096;

/// Groups between BEGIN and the end of COMMIT at once: one running its
/// statements, the others waiting for their WAL flush.
pub(crate) const IN_FLIGHT: usize = 4;

struct Request {
    cs: Arc<Changeset>,
    weight: Option<usize>,
    reply: oneshot::Sender<Result<(), Failure>>,
}

/// Counters of the committer.
#[derive(Default)]
pub(crate) struct GroupCounters {
    changesets: AtomicU64,
    commits: AtomicU64,
    batched: AtomicU64,
}

/// How the committer has grouped so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Changesets applied through the committer (failed ones included).
    pub changesets: u64,
    /// Transactions it ran for them.
    pub commits: u64,
    /// Changesets written as part of a run's single statement.
    pub batched: u64,
}

/// The handle callers submit to. The committer's task ends when the queue
/// closes: when the last handle drops, or on [`Committer::close`].
pub(crate) struct Committer {
    queue: Mutex<Option<mpsc::Sender<Request>>>,
    counters: Arc<GroupCounters>,
    /// Answered when the task has ended (every taken changeset answered).
    finished: tokio::sync::Mutex<Option<oneshot::Receiver<()>>>,
}

impl Committer {
    /// Starts the committer on a thread of its own with a single-threaded
    /// runtime: on the application's runtime its every round trip would wait
    /// behind all runnable request tasks, and the committer is the one serial
    /// step of the write path. `None` if the thread cannot start. `store`
    /// builds the committer's own store (its pool) on that runtime, so its
    /// connections and pool tasks live there; the thread ends when the last
    /// `PgStore` handle is dropped.
    pub(crate) fn start(store: impl FnOnce() -> PgStore + Send + 'static, max_group: usize) -> Option<Committer> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let (done, finished) = oneshot::channel();
        let counters = Arc::new(GroupCounters::default());
        let task_counters = counters.clone();
        std::thread::Builder::new()
            .name("agora-pg-committer".into())
            .spawn(move || {
                runtime.block_on(async move { run(store(), rx, max_group.max(1), task_counters).await });
                let _ = done.send(());
            })
            .ok()?;
        Some(Committer { queue: Mutex::new(Some(queue)), counters, finished: tokio::sync::Mutex::new(Some(finished)) })
    }

    /// Applies through the committer. `None` when the committer is gone
    /// before taking the changeset: the caller applies it on its own.
    pub(crate) async fn submit(&self, cs: Arc<Changeset>, weight: Option<usize>) -> Option<Result<(), Failure>> {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(queue) = queue else {
            return Some(Err(Failure::Store(StoreError::Unavailable("the store is closed".into()))));
        };
        let (reply, answer) = oneshot::channel();
        queue.send(Request { cs, weight, reply }).await.ok()?;
        // Taken but never answered (the committer's task died): it may or
        // may not have been committed, so it must not be applied again.
        Some(answer.await.unwrap_or_else(|_| {
            Err(Failure::Store(StoreError::Unavailable(
                "the committer stopped; the changeset may or may not have been applied".into(),
            )))
        }))
    }

    /// Refuses new changesets and waits until every changeset taken so far
    /// is committed and answered.
    pub(crate) async fn close(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(finished) = self.finished.lock().await.take() {
            let _ = finished.await;
        }
    }

    pub(crate) fn stats(&self) -> GroupStats {
        GroupStats {
            changesets: self.counters.changesets.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
            batched: self.counters.batched.load(Ordering::Relaxed),
        }
    }
}

async fn run(store: PgStore, mut rx: mpsc::Receiver<Request>, max_group: usize, counters: Arc<GroupCounters>) {
    // After a group lost its connection, the next one takes a checked one
    // (the pool does not ping before handing connections out).
    let check_next = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let mut group = Vec::with_capacity(max_group);
        group.push(first);
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        // A caller that gave up (its future was dropped) gets nothing applied.
        group.retain(|r: &Request| !r.reply.is_closed());
        if group.is_empty() {
            continue;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let (executed, statements_done) = oneshot::channel();
        let (store, check_next, counters) = (store.clone(), check_next.clone(), counters.clone());
        tokio::spawn(async move {
            let checked = check_next.swap(false, Ordering::Relaxed);
            let outcomes = match connection(&store, checked).await {
                Ok(mut conn) => {
                    let items: Vec<Item<'_>> = group.iter().map(|r| Item { cs: &r.cs, weight: r.weight }).collect();
                    let done = apply_group(&mut conn, &items, Some(executed)).await;
                    if done.broken {
                        check_next.store(true, Ordering::Relaxed);
                        conn.close_on_drop();
                    }
                    counters.batched.fetch_add(done.batched as u64, Ordering::Relaxed);
                    done.outcomes
                }
                Err(f) => {
                    check_next.store(true, Ordering::Relaxed);
                    group.iter().map(|_| Err(f.clone())).collect()
                }
            };
            counters.changesets.fetch_add(group.len() as u64, Ordering::Relaxed);
            counters.commits.fetch_add(1, Ordering::Relaxed);
            for (request, outcome) in group.into_iter().zip(outcomes) {
                let _ = request.reply.send(outcome);
            }
            drop(permit);
        });
        // The next group starts once this one's statements have run (only
        // one group takes row locks at a time, so groups cannot deadlock each
        // other), while this one waits for its COMMIT.
        let _ = statements_done.await;
    }
    // Every handle is gone; let the groups still committing finish.
    let _ = in_flight.acquire_many(IN_FLIGHT as u32).await;
}

async fn connection(store: &PgStore, checked: bool) -> Result<PoolConnection<Postgres>, Failure> {
    let conn = if checked { store.checked_connection().await } else { store.pool().acquire().await };
    conn.map_err(acquire_failure)
}
