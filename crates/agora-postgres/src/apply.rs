//! The write door: a group of changesets (one, without group commit) in one
//! transaction, each all-or-nothing under its own savepoint, one COMMIT.
//!
//! Within the group, runs of batchable changesets go as one statement
//! (`batch`, write path b); if the statement does not hold, it is rolled
//! back to its savepoint and the run is applied one by one. Every other
//! changeset, and every changeset of a run that did not hold, goes on the
//! direct path (`direct`, write path a). Either way each changeset sees the
//! ones before it in its group, as if they were applied one by one in
//! arrival order.
//!
//! Serialization failures and deadlocks (40001, 40P01), and connections
//! lost before COMMIT was sent, roll everything back and retry the
//! changeset. A group whose COMMIT fails (a deferred foreign key) is
//! retried changeset by changeset, so one bad changeset cannot fail the
//! others; a COMMIT whose answer is lost is "outcome unknown".

use std::sync::Arc;
use std::time::Duration;

use agora_core::{Changeset, StoreError};
use sqlx::PgConnection;
use tokio::sync::oneshot;

use crate::batch;
use crate::error::{Failure, OUTCOME_UNKNOWN, acquire_failure, classify_commit, describe, is_connection_error};
use crate::{PgStore, StoreResult, direct};

/// Attempts of one changeset before a retryable failure is reported.
const MAX_ATTEMPTS: u32 = 5;

/// A changeset of a group with its batch weight (`batch::weight`, worked
/// out by the caller, off the committer's thread).
#[derive(Clone, Copy)]
pub(crate) struct Item<'a> {
    pub cs: &'a Changeset,
    pub weight: Option<usize>,
}

/// What applying a group came to.
pub(crate) struct GroupOutcome {
    /// One per changeset, in order.
    pub outcomes: Vec<Result<(), Failure>>,
    /// The connection must be thrown away.
    pub broken: bool,
    /// Changesets written by a run's single statement.
    pub batched: usize,
}

impl GroupOutcome {
    fn lost(n: usize, e: &sqlx::Error) -> Self {
        let outcomes = (0..n).map(|_| Err(Failure::Retry(describe(e)))).collect();
        Self { outcomes, broken: true, batched: 0 }
    }
}

/// The group's transaction and its one savepoint, `cs`, renewed before
/// each changeset (or run) that follows kept work.
struct GroupTx<'c> {
    conn: &'c mut PgConnection,
    /// True while nothing since the savepoint needs keeping.
    fresh: bool,
}

impl GroupTx<'_> {
    /// Keeps what ran since the savepoint and sets a new one, in one round trip.
    async fn savepoint(&mut self) -> Result<(), sqlx::Error> {
        if !self.fresh {
            sqlx::raw_sql("RELEASE SAVEPOINT cs; SAVEPOINT cs").execute(&mut *self.conn).await?;
            self.fresh = true;
        }
        Ok(())
    }

    async fn rollback(&mut self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT cs").execute(&mut *self.conn).await?;
        self.fresh = true;
        Ok(())
    }

    /// One changeset on the direct path; `Err` when the connection is gone.
    async fn direct(&mut self, cs: &Changeset) -> Result<Result<(), Failure>, sqlx::Error> {
        self.savepoint().await?;
        match direct::apply(self.conn, cs).await {
            Ok(()) => {
                self.fresh = false;
                Ok(Ok(()))
            }
            Err(f) => {
                // A lost connection also surfaces here, or at COMMIT.
                self.rollback().await?;
                Ok(Err(f))
            }
        }
    }

    /// A run as one statement; `Ok(false)` when it was rolled back.
    async fn batch(&mut self, run: &[Item<'_>]) -> Result<bool, sqlx::Error> {
        self.savepoint().await?;
        let changesets: Vec<&Changeset> = run.iter().map(|i| i.cs).collect();
        match batch::apply_run(self.conn, &changesets).await {
            Ok(true) => {
                self.fresh = false;
                Ok(true)
            }
            Err(e) if is_connection_error(&e) => Err(e),
            Ok(false) | Err(_) => {
                self.rollback().await?;
                Ok(false)
            }
        }
    }
}

/// Applies `group` in one transaction on `conn` and commits once: one WAL
/// flush for the group. A changeset that fails is rolled back to its
/// savepoint and reported; the others still commit.
///
/// `executed` is signalled (or dropped) once every statement but the COMMIT
/// has run: the committer then starts the next group while this one commits.
pub(crate) async fn apply_group(
    conn: &mut PgConnection,
    group: &[Item<'_>],
    executed: Option<oneshot::Sender<()>>,
) -> GroupOutcome {
    // A transaction the driver rolls back if this future is dropped midway.
    let mut transaction = match sqlx::Connection::begin_with(&mut *conn, "BEGIN; SAVEPOINT cs").await {
        Ok(t) => t,
        Err(e) => return GroupOutcome::lost(group.len(), &e),
    };
    let mut tx = GroupTx { conn: &mut transaction, fresh: true };
    let mut outcomes = Vec::with_capacity(group.len());
    let mut batched = 0;
    let mut k = 0;
    while k < group.len() {
        let run = batch::run_len(group[k..].iter().map(|i| (i.cs, i.weight)));
        if run > 0 {
            match tx.batch(&group[k..k + run]).await {
                Ok(true) => {
                    outcomes.extend((0..run).map(|_| Ok(())));
                    batched += run;
                    k += run;
                    continue;
                }
                Ok(false) => {}
                Err(e) => return GroupOutcome::lost(group.len(), &e),
            }
        }
        for item in &group[k..k + run.max(1)] {
            match tx.direct(item.cs).await {
                Ok(outcome) => outcomes.push(outcome),
                // Nothing of the group is committed: every changeset runs again.
                Err(e) => return GroupOutcome::lost(group.len(), &e),
            }
        }
        k += run.max(1);
    }
    if let Some(signal) = executed {
        let _ = signal.send(());
    }
    match transaction.commit().await {
        Ok(_) => GroupOutcome { outcomes, broken: false, batched },
        Err(e) => commit_failed(conn, group, outcomes, e).await,
    }
}

async fn commit_failed(
    conn: &mut PgConnection,
    group: &[Item<'_>],
    outcomes: Vec<Result<(), Failure>>,
    e: sqlx::Error,
) -> GroupOutcome {
    if is_connection_error(&e) || !matches!(e, sqlx::Error::Database(_)) {
        // The applied ones may or may not be committed; the failed ones were
        // judged against state that may never have committed: run them again.
        let msg = format!("{OUTCOME_UNKNOWN}: {}", describe(&e));
        let outcomes = outcomes
            .into_iter()
            .map(|r| match r {
                Ok(()) => Err(Failure::Store(StoreError::Unavailable(msg.clone()))),
                Err(_) => Err(Failure::Retry(msg.clone())),
            })
            .collect();
        return GroupOutcome { outcomes, broken: true, batched: 0 };
    }
    if let [one] = group {
        return GroupOutcome { outcomes: vec![Err(classify_commit(e, one.cs))], broken: false, batched: 0 };
    }
    // Nothing committed, and which changeset caused it is unknown (a foreign
    // key is checked at COMMIT): each one again alone, so one bad changeset
    // cannot fail the others on every retry.
    let mut alone = GroupOutcome { outcomes: Vec::with_capacity(group.len()), broken: false, batched: 0 };
    for item in group {
        let mut one = Box::pin(apply_group(conn, std::slice::from_ref(item), None)).await;
        alone.batched += one.batched;
        alone.outcomes.push(one.outcomes.pop().unwrap_or_else(|| Err(Failure::Retry("no outcome".into()))));
        if one.broken {
            let rest = group.len() - alone.outcomes.len();
            alone.outcomes.extend((0..rest).map(|_| Err(Failure::Retry("connection lost".into()))));
            alone.broken = true;
            break;
        }
    }
    alone
}

impl PgStore {
    /// [`agora_core::Store::apply`]: through the committer when there is
    /// one, else in a transaction of its own; retried while the failure
    /// says nothing was committed.
    pub(crate) async fn apply_changeset(&self, changeset: Changeset) -> StoreResult<()> {
        if changeset.guards.is_empty() && changeset.writes.is_empty() {
            return Ok(());
        }
        let weight = batch::weight(&changeset);
        let cs = Arc::new(changeset);
        let mut attempt = 1;
        loop {
            let grouped = match &self.committer {
                Some(committer) => committer.submit(cs.clone(), weight).await,
                None => None,
            };
            // Without a committer (off, or its thread is gone): apply here.
            let outcome = match grouped {
                Some(outcome) => outcome,
                None => self.apply_alone(Item { cs: &cs, weight }, attempt > 1).await,
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

    /// One attempt on a connection and transaction of its own. `checked`:
    /// take a connection that answers a ping (after an attempt lost its
    /// connection; the pool does not test them).
    async fn apply_alone(&self, item: Item<'_>, checked: bool) -> Result<(), Failure> {
        let conn = if checked { self.checked_connection().await } else { self.pool().acquire().await };
        let mut conn = conn.map_err(acquire_failure)?;
        let mut done = apply_group(&mut conn, &[item], None).await;
        if done.broken {
            drop(conn.detach());
        }
        done.outcomes.pop().unwrap_or_else(|| Err(Failure::Retry("no outcome".into())))
    }
}
