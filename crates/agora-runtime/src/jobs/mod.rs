//! The job scheduler shared by `agora-api` (in-process, `AGORA_WORKER=on`)
//! and `agora-worker`.
//!
//! Every job is a rescan by state through core's sweeps: it reads the rows
//! that are due *now* (CREATED orders past their reservation, QUALIFIED
//! tasks past `payout_at`, ...) in a bounded batch and moves each with a
//! guarded changeset. Nothing is remembered between passes, so a worker
//! killed at any instant simply finds the remaining rows on its next start,
//! and a row another worker moved first is counted as a conflict, never
//! changed twice.
//!
//! * **Fairness.** A pass of a per-store job has a budget of
//!   `job_batch_size` rows shared out over the stores round-robin (see
//!   [`fair`]): one store's backlog cannot starve the others.
//! * **Several workers.** Before a store batch the worker takes a lease
//!   `job:<job>:<store>` from the deployment's lock manager (advisory locks
//!   on PostgreSQL, Redis leases with Redis, in-process otherwise) and
//!   extends it while working; a lease held by another worker means "skip
//!   that store this pass". Leases only save duplicate work; guards keep
//!   the data right.
//! * **Backlogs.** When a pass used its whole budget and changed rows, the
//!   next tick starts at once instead of after `job_interval_ms`.
//! * **Shutdown.** Once shutdown is asked for, the batch in hand finishes
//!   and no new one starts.

pub mod fair;
pub mod lease;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_core::{
    Agora, AgoraError, Changeset, ExportJob, ExportStatus, Guard, Page, Record, StoreError, StoreId, SweepReport,
};
use tokio::sync::{Notify, watch};

use crate::{Backend, Runtime};
use fair::{Batch, share_out};
use lease::Claim;

/// How long a job lease lives without an extension (extended every third of it).
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// A `running` export older than this whose lease nobody holds is given back to the queue.
pub const EXPORT_STALE_AFTER: Duration = Duration::from_secs(15 * 60);
/// Exports written per pass at most.
const EXPORTS_PER_PASS: u32 = 10;
/// Monthly partitions kept ahead on PostgreSQL.
const PARTITION_MONTHS_AHEAD: u32 = 3;

/// One of the worker's jobs (the names of `AGORA_JOBS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Job {
    /// Close CREATED orders past their store's `order_ttl_seconds` (reason `timeout`), releasing stock.
    ExpireOrders,
    /// Receive SHIPPED orders older than `auto_receive_seconds`.
    AutoReceive,
    /// Expire OPEN help tasks past their TTL.
    ExpireTasks,
    /// Settle QUALIFIED tasks past `payout_at`: one payout row each, ever.
    Payouts,
    /// Write queued exports into the blob store; give back stale claims.
    Exports,
    /// Delete expired idempotency keys and sessions, expire export files.
    Retention,
    /// Create upcoming PostgreSQL partitions.
    Partitions,
    /// Number committed events per store.
    SequenceEvents,
    /// Relay sequenced events to Redis streams (when Redis is configured).
    RelayEvents,
    /// Compare reserved stock with active reservations; audit every correction.
    Reconcile,
}

impl Job {
    /// Every job, in the order a tick runs them.
    pub const ALL: &'static [Job] = &[
        Job::ExpireOrders,
        Job::AutoReceive,
        Job::ExpireTasks,
        Job::Payouts,
        Job::Exports,
        Job::Retention,
        Job::Partitions,
        Job::SequenceEvents,
        Job::RelayEvents,
        Job::Reconcile,
    ];

    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Job::ExpireOrders => "expire_orders",
            Job::AutoReceive => "auto_receive",
            Job::ExpireTasks => "expire_tasks",
            Job::Payouts => "payouts",
            Job::Exports => "exports",
            Job::Retention => "retention",
            Job::Partitions => "partitions",
            Job::SequenceEvents => "sequence_events",
            Job::RelayEvents => "relay_events",
            Job::Reconcile => "reconcile",
        }
    }

    /// Parses a configuration name.
    pub fn parse(name: &str) -> Option<Job> {
        Job::ALL.iter().copied().find(|j| j.as_str() == name)
    }

    /// Jobs that need not run every tick run at most this often.
    pub const fn min_period(self) -> Option<Duration> {
        match self {
            Job::Partitions => Some(Duration::from_secs(3600)),
            Job::Reconcile => Some(Duration::from_secs(60)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts of one job since the scheduler started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Passes run.
    pub passes: u64,
    /// Store (or export) batches run.
    pub batches: u64,
    /// Rows looked at.
    pub scanned: u64,
    /// Rows changed.
    pub changed: u64,
    /// Rows another writer changed first (guard lost); left alone.
    pub conflicts: u64,
    /// Batches that failed (retried next pass).
    pub errors: u64,
    /// Batches skipped because another worker held the lease.
    pub claims_skipped: u64,
    /// Passes that used their whole budget (a backlog).
    pub saturated: u64,
}

/// What one tick did over every job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickSummary {
    /// Totals over the jobs.
    pub report: SweepReport,
    /// Failed batches.
    pub errors: u64,
    /// Some job used its whole budget and changed rows: tick again at once.
    pub more_work: bool,
}

#[derive(Default)]
struct Pass {
    report: SweepReport,
    batches: u64,
    errors: u64,
    claims_skipped: u64,
    saturated: bool,
}

#[derive(Default)]
struct State {
    stats: BTreeMap<Job, JobStats>,
    cursors: HashMap<Job, usize>,
    last_run: HashMap<Job, Instant>,
}

struct Shared {
    stop: AtomicBool,
    wake: Notify,
    state: Mutex<State>,
}

/// Runs the configured jobs on an interval. Cheap to clone; clones share
/// their counters and their stop flag.
#[derive(Clone)]
pub struct Scheduler {
    agora: Agora,
    backend: Backend,
    redis: Option<agora_redis::RedisClient>,
    jobs: Vec<Job>,
    interval: Duration,
    batch: u32,
    lease_ttl: Duration,
    export_stale_after: Duration,
    name: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("name", &self.name)
            .field("jobs", &self.jobs)
            .field("interval", &self.interval)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler for a runtime's configuration (`jobs`, `job_interval_ms`, `job_batch_size`).
    pub fn new(rt: &Runtime) -> Self {
        let mut jobs = Vec::new();
        for name in rt.config.job_list() {
            match Job::parse(&name) {
                Some(job) if !jobs.contains(&job) => jobs.push(job),
                Some(_) => {}
                None => tracing::warn!(job = name, "unknown job ignored"),
            }
        }
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self {
            agora: rt.agora.clone(),
            backend: rt.backend.clone(),
            redis: rt.redis.clone(),
            jobs,
            interval: Duration::from_millis(rt.config.job_interval_ms.max(1)),
            batch: rt.config.job_batch_size.max(1),
            lease_ttl: LEASE_TTL,
            export_stale_after: EXPORT_STALE_AFTER,
            name: format!("worker-{}-{}", std::process::id(), &suffix[..6]),
            shared: Arc::new(Shared { stop: AtomicBool::new(false), wake: Notify::new(), state: Mutex::default() }),
        }
    }

    /// Runs only these jobs.
    pub fn with_jobs(mut self, jobs: &[Job]) -> Self {
        self.jobs = jobs.to_vec();
        self
    }

    /// Rows per pass of each job (shared out over the stores).
    pub fn with_batch_size(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Pause between ticks when there is no backlog.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Lifetime of job leases (extended every third of it while working).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// How old a `running` export must be before it is given back to the queue.
    pub fn with_export_stale_after(mut self, after: Duration) -> Self {
        self.export_stale_after = after;
        self
    }

    /// The name used in logs.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The jobs this scheduler runs.
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// Counts per job since start.
    pub fn stats(&self) -> BTreeMap<Job, JobStats> {
        self.state().stats.clone()
    }

    /// Asks the scheduler (and its clones) to stop after the batch in hand.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// Whether a stop was asked for.
    pub fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ticks until `shutdown` turns true (or its sender is dropped); the
    /// batch in hand is finished first. Ticks back to back while a job has
    /// a backlog, otherwise waits `job_interval_ms` between ticks.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let me = self.clone();
        let watcher = tokio::spawn(async move {
            loop {
                if *shutdown.borrow_and_update() || shutdown.changed().await.is_err() {
                    break;
                }
            }
            me.stop();
        });
        let jobs: Vec<&str> = self.jobs.iter().map(|j| j.as_str()).collect();
        tracing::info!(
            worker = %self.name,
            jobs = %jobs.join(","),
            interval_ms = self.interval.as_millis() as u64,
            batch = self.batch,
            "job scheduler started"
        );
        while !self.stopping() {
            let summary = self.tick().await;
            if self.stopping() {
                break;
            }
            if summary.more_work {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = self.shared.wake.notified() => {}
            }
        }
        watcher.abort();
        tracing::info!(worker = %self.name, "job scheduler stopped");
    }

    /// Ticks until no job has a backlog (or a stop is asked for): one
    /// catch-up run, for `agora-worker --once` and cron.
    pub async fn run_until_idle(&self) -> TickSummary {
        let mut total = TickSummary::default();
        loop {
            let t = self.tick().await;
            total.report.add(t.report);
            total.errors += t.errors;
            if !t.more_work || self.stopping() {
                return total;
            }
        }
    }

    /// Runs one pass of every configured job that is due.
    pub async fn tick(&self) -> TickSummary {
        let mut summary = TickSummary::default();
        let stores = match self.stores().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(worker = %self.name, error = %e, "cannot list stores; per-store jobs wait for the next tick");
                metrics::counter!("agora_job_errors_total", "job" => "list_stores").increment(1);
                summary.errors += 1;
                Vec::new()
            }
        };
        for &job in &self.jobs {
            if self.stopping() {
                break;
            }
            if !self.due(job) {
                continue;
            }
            let started = Instant::now();
            let pass = self.pass(job, &stores).await;
            self.record(job, &pass, started.elapsed());
            summary.report.add(pass.report);
            summary.errors += pass.errors;
            summary.more_work |= pass.saturated && pass.report.changed > 0;
        }
        summary
    }

    fn due(&self, job: Job) -> bool {
        let mut state = self.state();
        let now = Instant::now();
        if let (Some(period), Some(last)) = (job.min_period(), state.last_run.get(&job))
            && now.duration_since(*last) < period
        {
            return false;
        }
        state.last_run.insert(job, now);
        true
    }

    fn record(&self, job: Job, pass: &Pass, elapsed: Duration) {
        let name = job.as_str();
        let r = pass.report;
        metrics::counter!("agora_job_runs_total", "job" => name).increment(1);
        metrics::histogram!("agora_job_duration_seconds", "job" => name).record(elapsed.as_secs_f64());
        metrics::counter!("agora_job_rows_scanned_total", "job" => name).increment(r.scanned);
        metrics::counter!("agora_job_rows_changed_total", "job" => name).increment(r.changed);
        metrics::counter!("agora_job_conflicts_total", "job" => name).increment(r.conflicts);
        metrics::counter!("agora_job_errors_total", "job" => name).increment(pass.errors);
        metrics::counter!("agora_job_claims_skipped_total", "job" => name).increment(pass.claims_skipped);
        if pass.saturated {
            metrics::counter!("agora_job_saturated_total", "job" => name).increment(1);
        }
        if pass.errors == 0 {
            let unix = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
            metrics::gauge!("agora_job_last_success_timestamp_seconds", "job" => name).set(unix);
        }
        {
            let mut state = self.state();
            let s = state.stats.entry(job).or_default();
            s.passes += 1;
            s.batches += pass.batches;
            s.scanned += r.scanned;
            s.changed += r.changed;
            s.conflicts += r.conflicts;
            s.errors += pass.errors;
            s.claims_skipped += pass.claims_skipped;
            s.saturated += u64::from(pass.saturated);
        }
        let ms = elapsed.as_millis() as u64;
        if r.changed > 0 || r.conflicts > 0 || pass.errors > 0 {
            tracing::info!(
                worker = %self.name,
                job = name,
                scanned = r.scanned,
                changed = r.changed,
                conflicts = r.conflicts,
                errors = pass.errors,
                claims_skipped = pass.claims_skipped,
                backlog = pass.saturated,
                ms,
                "job ran"
            );
        } else {
            tracing::debug!(worker = %self.name, job = name, scanned = r.scanned, claims_skipped = pass.claims_skipped, ms, "job idle");
        }
    }

    /// Every store id, oldest first (a stable order for the round-robin).
    async fn stores(&self) -> Result<Vec<StoreId>, AgoraError> {
        let mut ids = Vec::new();
        let mut page = Page::first(200);
        loop {
            let stores = self.agora.store().list_stores(page).await?;
            ids.extend(stores.iter().map(|s| s.id));
            match stores.last() {
                Some(last) if stores.len() == 200 => page.before = Some(last.id.0),
                _ => break,
            }
        }
        ids.sort();
        Ok(ids)
    }

    async fn pass(&self, job: Job, stores: &[StoreId]) -> Pass {
        match job {
            Job::Exports => self.exports_pass().await,
            Job::Retention => self.retention_pass().await,
            Job::Partitions => self.partitions_pass().await,
            Job::SequenceEvents | Job::Reconcile => {
                // Whole-store jobs: every store once per pass.
                let acc = Mutex::new(Pass::default());
                for &store in stores {
                    if self.stopping() {
                        break;
                    }
                    self.store_batch(job, store, u32::MAX, &acc).await;
                }
                acc.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
            }
            Job::ExpireOrders | Job::AutoReceive | Job::ExpireTasks | Job::Payouts | Job::RelayEvents => {
                if job == Job::RelayEvents && self.redis.is_none() {
                    return Pass::default();
                }
                let start = self.state().cursors.get(&job).copied().unwrap_or(0);
                let acc = Mutex::new(Pass::default());
                let stop = || self.stopping();
                let shared = share_out(stores, start, self.batch, &stop, |store, limit| {
                    self.store_batch(job, store, limit, &acc)
                })
                .await;
                self.state().cursors.insert(job, shared.next_start);
                let mut pass = acc.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
                pass.saturated = shared.saturated;
                pass
            }
        }
    }

    /// One store's batch: probe for due rows, claim, sweep, release.
    async fn store_batch(&self, job: Job, store: StoreId, limit: u32, acc: &Mutex<Pass>) -> Batch {
        let add = |f: &dyn Fn(&mut Pass)| f(&mut acc.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        match self.has_work(job, store).await {
            Ok(true) => {}
            Ok(false) => return Batch::Skipped,
            Err(e) => {
                add(&|p| p.errors += 1);
                tracing::warn!(worker = %self.name, job = job.as_str(), store = %store, error = %e, "job batch failed; retried next pass");
                return Batch::Skipped;
            }
        }
        // The sequencer takes its own lock in core.
        let claim = if job == Job::SequenceEvents {
            None
        } else {
            match self.claim(&format!("job:{job}:{store}")).await {
                Ok(Some(c)) => Some(c),
                Ok(None) => {
                    add(&|p| p.claims_skipped += 1);
                    return Batch::Skipped;
                }
                Err(()) => None,
            }
        };
        let result = self.sweep(job, store, limit).await;
        if let Some(c) = claim {
            c.release().await;
        }
        match result {
            Ok(r) => {
                add(&|p| {
                    p.report.add(r);
                    p.batches += 1;
                });
                Batch::Ran(r.scanned)
            }
            Err(e) => {
                add(&|p| p.errors += 1);
                tracing::warn!(worker = %self.name, job = job.as_str(), store = %store, error = %e, "job batch failed; retried next pass");
                Batch::Skipped
            }
        }
    }

    /// Takes a lease; `Err(())` when the lock manager is unreachable (the
    /// batch then runs unclaimed: guards keep it right).
    async fn claim(&self, name: &str) -> Result<Option<Claim>, ()> {
        match Claim::try_take(self.agora.locks(), name, self.lease_ttl).await {
            Ok(c) => Ok(c),
            Err(e) => {
                tracing::warn!(worker = %self.name, lock = name, error = %e, "lock manager unavailable; running unclaimed");
                metrics::counter!("agora_job_lease_errors_total").increment(1);
                Err(())
            }
        }
    }

    /// A cheap look (one row) for due work, so idle stores cost no lease.
    async fn has_work(&self, job: Job, store: StoreId) -> Result<bool, AgoraError> {
        let s = self.agora.store();
        let now = self.agora.clock().now();
        Ok(match job {
            Job::ExpireOrders => !s.list_unpaid_expired(store, now, 1).await?.is_empty(),
            Job::AutoReceive => match s.get_settings(store).await? {
                Some(settings) => {
                    let cutoff = now - time::Duration::seconds(settings.auto_receive_seconds);
                    !s.list_shipped_before(store, cutoff, 1).await?.is_empty()
                }
                None => false,
            },
            Job::ExpireTasks => !s.list_tasks_expired(store, now, 1).await?.is_empty(),
            Job::Payouts => !s.list_tasks_payout_due(store, now, 1).await?.is_empty(),
            Job::SequenceEvents => !s.list_unsequenced_events(store, 1).await?.is_empty(),
            Job::RelayEvents => match &self.redis {
                Some(client) => {
                    let relay = agora_redis::EventRelay::new(client.clone(), 100_000);
                    relay.checkpoint(store).await? < s.last_event_seq(store).await?
                }
                None => false,
            },
            Job::Reconcile | Job::Exports | Job::Retention | Job::Partitions => true,
        })
    }

    async fn sweep(&self, job: Job, store: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        let a = &self.agora;
        let moved = |n: u64| SweepReport { scanned: n, changed: n, conflicts: 0 };
        match job {
            Job::ExpireOrders => a.expire_unpaid_orders(store, limit).await,
            Job::AutoReceive => a.auto_receive_orders(store, limit).await,
            Job::ExpireTasks => a.expire_tasks(store, limit).await,
            Job::Payouts => a.settle_due_payouts(store, limit).await,
            Job::Reconcile => a.reconcile_inventory(store).await,
            Job::SequenceEvents => Ok(moved(a.sequence_events(store).await?)),
            Job::RelayEvents => match &self.redis {
                Some(client) => {
                    let relay = agora_redis::EventRelay::new(client.clone(), 100_000).with_batch(limit.min(10_000));
                    Ok(moved(relay.relay_once(a.store().as_ref(), store).await? as u64))
                }
                None => Ok(SweepReport::default()),
            },
            Job::Exports | Job::Retention | Job::Partitions => Ok(SweepReport::default()),
        }
    }

    async fn retention_pass(&self) -> Pass {
        let mut pass = Pass::default();
        let claim = match self.claim("job:retention").await {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                pass.claims_skipped += 1;
                return pass;
            }
            Err(()) => None,
        };
        let a = &self.agora;
        let results = [
            a.purge_expired_idempotency(self.batch).await,
            a.purge_expired_sessions(self.batch).await,
            a.expire_exports(self.batch).await,
        ];
        for r in results {
            match r {
                Ok(r) => {
                    pass.batches += 1;
                    pass.saturated |= r.scanned >= u64::from(self.batch);
                    pass.report.add(r);
                }
                Err(e) => {
                    pass.errors += 1;
                    tracing::warn!(worker = %self.name, job = "retention", error = %e, "retention failed; retried next pass");
                }
            }
        }
        if let Some(c) = claim {
            c.release().await;
        }
        pass
    }

    async fn partitions_pass(&self) -> Pass {
        let mut pass = Pass::default();
        let Backend::Postgres(pg) = &self.backend else { return pass };
        let claim = match self.claim("job:partitions").await {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                pass.claims_skipped += 1;
                return pass;
            }
            Err(()) => None,
        };
        match pg.create_partitions(PARTITION_MONTHS_AHEAD).await {
            Ok(n) => {
                pass.batches += 1;
                pass.report.changed += u64::from(n);
            }
            Err(e) => {
                pass.errors += 1;
                tracing::warn!(worker = %self.name, job = "partitions", error = %e, "creating partitions failed; retried next pass");
            }
        }
        if let Some(c) = claim {
            c.release().await;
        }
        pass
    }

    async fn exports_pass(&self) -> Pass {
        let mut pass = Pass::default();
        if let Err(e) = self.requeue_stale_exports(&mut pass).await {
            pass.errors += 1;
            tracing::warn!(worker = %self.name, job = "exports", error = %e, "requeueing stale exports failed");
        }
        let per_pass = self.batch.min(EXPORTS_PER_PASS);
        let mut written = 0;
        while written < per_pass && !self.stopping() {
            match self.export_one(&mut pass).await {
                Ok(true) => written += 1,
                Ok(false) => break,
                Err(e) => {
                    pass.errors += 1;
                    tracing::warn!(worker = %self.name, job = "exports", error = %e, "export failed; retried next pass");
                    break;
                }
            }
        }
        pass.saturated = written == per_pass;
        pass
    }

    /// Claims the oldest queued export and writes it; false when there is
    /// none (or another worker is claiming it right now).
    async fn export_one(&self, pass: &mut Pass) -> Result<bool, AgoraError> {
        let store = self.agora.store();
        let Some(next) = store.list_exports_by_status(ExportStatus::Queued, 1).await?.into_iter().next() else {
            return Ok(false);
        };
        let claim = match self.claim(&format!("export:{}", next.id)).await {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                pass.claims_skipped += 1;
                return Ok(false);
            }
            Err(()) => None,
        };
        // Another worker may have written it between the read and the claim.
        let still_queued = store.get_export(next.id).await?.is_some_and(|j| j.status == ExportStatus::Queued);
        let result = if still_queued {
            let worker = self.name.clone();
            let progress = move |id: agora_core::ExportId, rows: i64| {
                tracing::info!(worker = %worker, export = %id, rows, "export in progress");
            };
            self.agora.run_queued_exports(1, &progress).await.map(Some)
        } else {
            Ok(None)
        };
        if let Some(c) = claim {
            c.release().await;
        }
        match result? {
            Some(r) => {
                pass.batches += 1;
                pass.report.add(r);
                if r.changed > 0 {
                    tracing::info!(worker = %self.name, export = %next.id, store = %next.store_id, "export written");
                }
                Ok(true)
            }
            None => Ok(true),
        }
    }

    /// Gives `running` exports whose worker died back to the queue: older
    /// than the staleness timeout and with nobody holding their lease.
    async fn requeue_stale_exports(&self, pass: &mut Pass) -> Result<(), AgoraError> {
        let store = self.agora.store();
        let now = self.agora.clock().now();
        let stale = time::Duration::try_from(self.export_stale_after).unwrap_or(time::Duration::MINUTE);
        for job in store.list_exports_by_status(ExportStatus::Running, 100).await? {
            pass.report.scanned += 1;
            if job.started_at.is_some_and(|t| now - t < stale) {
                continue;
            }
            let claim = match self.claim(&format!("export:{}", job.id)).await {
                Ok(Some(c)) => Some(c),
                Ok(None) => continue, // its worker is alive
                Err(()) => None,
            };
            let mut cs = Changeset::new();
            cs.guard(Guard::ExportStatusIs { export_id: job.id, status: ExportStatus::Running })
                .update(Record::Export(ExportJob { status: ExportStatus::Queued, started_at: None, ..job.clone() }));
            let result = store.apply(cs).await;
            if let Some(c) = claim {
                c.release().await;
            }
            match result {
                Ok(()) => {
                    pass.report.changed += 1;
                    metrics::counter!("agora_exports_requeued_total").increment(1);
                    tracing::warn!(worker = %self.name, export = %job.id, started_at = ?job.started_at, "stale export given back to the queue");
                }
                Err(StoreError::GuardFailed(_)) => pass.report.conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
