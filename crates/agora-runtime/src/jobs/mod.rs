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
mod passes;

pub use passes::BATCH_LOG_TARGET;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agora_core::{Agora, AgoraError, MaintenanceJob, Page, Store, StoreId, Sweep, SweepReport};
use tokio::sync::{Notify, watch};

use crate::Runtime;

/// Exports written per pass at most.
const EXPORTS_PER_PASS: u32 = 10;

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
    /// The store's own maintenance jobs (PostgreSQL: create the coming
    /// months' partitions), each at its own period; `partitions` in the
    /// configuration is the same job.
    Maintenance,
    /// Number committed events per store.
    SequenceEvents,
    /// Keep each store's per-day KPI cache: recount the UTC days the new
    /// events' orders touched, and today (at most once a minute).
    Kpis,
    /// Recompute each store's sales velocity and stockout forecast per
    /// variant (when its feed moved, at least hourly; at most every ten minutes).
    Velocity,
    /// Keep each store's insights: one live insight per condition that
    /// holds, resolved when it no longer does (every five minutes).
    Insights,
    /// Relay sequenced events to Redis streams (when Redis is configured).
    RelayEvents,
    /// Compare reserved stock with active reservations; audit every correction.
    Reconcile,
    /// Queue each store's new feed events for its outgoing webhook
    /// endpoints; the deliveries themselves run in their own loop
    /// ([`crate::webhooks::WebhookDispatcher`]) beside the ticks.
    Webhooks,
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
        Job::Maintenance,
        Job::SequenceEvents,
        Job::Kpis,
        Job::Velocity,
        Job::Insights,
        Job::RelayEvents,
        Job::Webhooks,
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
            Job::Maintenance => "maintenance",
            Job::SequenceEvents => "sequence_events",
            Job::Kpis => "kpis",
            Job::Velocity => "velocity",
            Job::Insights => "insights",
            Job::RelayEvents => "relay_events",
            Job::Reconcile => "reconcile",
            Job::Webhooks => "webhooks",
        }
    }

    /// Parses a configuration name.
    pub fn parse(name: &str) -> Option<Job> {
        if name == "partitions" {
            return Some(Job::Maintenance);
        }
        Job::ALL.iter().copied().find(|j| j.as_str() == name)
    }

    /// The core sweep this job runs per store, if it is one.
    pub const fn sweep(self) -> Option<Sweep> {
        match self {
            Job::ExpireOrders => Some(Sweep::ExpireOrders),
            Job::AutoReceive => Some(Sweep::AutoReceive),
            Job::ExpireTasks => Some(Sweep::ExpireTasks),
            Job::Payouts => Some(Sweep::Payouts),
            Job::SequenceEvents => Some(Sweep::SequenceEvents),
            Job::Kpis => Some(Sweep::Kpis),
            Job::Velocity => Some(Sweep::Velocity),
            Job::Insights => Some(Sweep::Insights),
            Job::Webhooks => Some(Sweep::Webhooks),
            _ => None,
        }
    }

    /// Jobs that need not run every tick run at most this often.
    pub const fn min_period(self) -> Option<Duration> {
        match self {
            Job::Reconcile | Job::Kpis => Some(Duration::from_secs(60)),
            Job::Velocity => Some(Duration::from_secs(600)),
            Job::Insights => Some(Duration::from_secs(300)),
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

impl JobStats {
    /// The counts of one pass.
    fn of(pass: &Pass) -> Self {
        let r = pass.report;
        Self {
            passes: 1,
            batches: pass.batches,
            scanned: r.scanned,
            changed: r.changed,
            conflicts: r.conflicts,
            errors: pass.errors,
            claims_skipped: pass.claims_skipped,
            saturated: u64::from(pass.saturated),
        }
    }
}

/// Counts added up: over passes, or over the schedulers of several workers.
impl std::ops::AddAssign for JobStats {
    fn add_assign(&mut self, other: Self) {
        self.passes += other.passes;
        self.batches += other.batches;
        self.scanned += other.scanned;
        self.changed += other.changed;
        self.conflicts += other.conflicts;
        self.errors += other.errors;
        self.claims_skipped += other.claims_skipped;
        self.saturated += other.saturated;
    }
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
    /// Last run of each maintenance job, by name.
    maintained: HashMap<&'static str, Instant>,
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
    /// The store the event relay reads (the runtime's, with its wrappers).
    store: Arc<dyn Store>,
    maintenance: Vec<Arc<dyn MaintenanceJob>>,
    redis: Option<agora_redis::RedisClient>,
    jobs: Vec<Job>,
    interval: Duration,
    batch: u32,
    lease_ttl: Duration,
    export_stale_after: Duration,
    /// Overrides of [`Job::min_period`].
    periods: HashMap<Job, Duration>,
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
    /// A scheduler for a runtime's configuration (`job_interval_ms` and the
    /// `[jobs]` section).
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
            store: rt.store.clone(),
            maintenance: rt.handle.maintenance(),
            redis: rt.redis.clone(),
            jobs,
            interval: Duration::from_millis(rt.config.job_interval_ms.max(1)),
            batch: rt.config.jobs.batch_size.max(1),
            lease_ttl: Duration::from_millis(rt.config.jobs.lease_ttl_ms.max(30)),
            export_stale_after: Duration::from_secs(rt.config.jobs.export_stale_after_secs),
            periods: HashMap::new(),
            name: format!("worker-{}-{}", std::process::id(), &suffix[..6]),
            shared: Arc::new(Shared { stop: AtomicBool::new(false), wake: Notify::new(), state: Mutex::default() }),
        }
    }

    /// Runs only these jobs.
    pub fn with_jobs(mut self, jobs: &[Job]) -> Self {
        self.jobs = jobs.to_vec();
        self
    }

    /// Runs `job` at most once per `period` (instead of its
    /// [`Job::min_period`]; zero: every tick).
    pub fn with_min_period(mut self, job: Job, period: Duration) -> Self {
        self.periods.insert(job, period);
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
        let dispatcher = self.jobs.contains(&Job::Webhooks).then(|| {
            let me = self.clone();
            let dispatcher = crate::webhooks::WebhookDispatcher::new(
                self.agora.clone(),
                self.interval.min(Duration::from_millis(500)),
                self.lease_ttl,
            );
            tokio::spawn(async move { dispatcher.run(move || me.stopping()).await })
        });
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
        if let Some(d) = dispatcher {
            let _ = d.await;
        }
        tracing::info!(worker = %self.name, "job scheduler stopped");
    }

    /// Ticks until no job has a backlog (or a stop is asked for): one
    /// catch-up run, for `agora-worker --once` and cron. When the catch-up
    /// changed anything, the jobs that run at most every so often (KPIs,
    /// velocity, insights, reconcile) run once more at the end, whatever
    /// their period, so they have seen what the catch-up itself wrote.
    pub async fn run_until_idle(&self) -> TickSummary {
        let mut total = self.drain().await;
        if total.report.changed > 0 && !self.stopping() {
            let last = self.tick_with(true).await;
            let rest = if last.more_work { self.drain().await } else { TickSummary::default() };
            for t in [last, rest] {
                total.report.add(t.report);
                total.errors += t.errors;
            }
        }
        if self.jobs.contains(&Job::Webhooks) {
            // The deliveries due now, until none is (retries scheduled
            // later wait for the next run).
            let dispatcher =
                crate::webhooks::WebhookDispatcher::new(self.agora.clone(), Duration::ZERO, self.lease_ttl);
            while !self.stopping() {
                let started = dispatcher.dispatch_once().await;
                while dispatcher.busy() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                if started == 0 {
                    break;
                }
            }
        }
        total
    }

    /// Ticks until no job has a backlog or a stop is asked for.
    async fn drain(&self) -> TickSummary {
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
        self.tick_with(false).await
    }

    /// [`Scheduler::tick`]; with `every_job`, jobs run whatever their period.
    async fn tick_with(&self, every_job: bool) -> TickSummary {
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
            if !self.due(job) && !every_job {
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
        let period = self.periods.get(&job).copied().or(job.min_period());
        if let (Some(period), Some(last)) = (period, state.last_run.get(&job))
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
        *self.state().stats.entry(job).or_default() += JobStats::of(pass);
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
            let stores = self.agora.stores_page(page).await?;
            ids.extend(&stores);
            match stores.last() {
                Some(last) if stores.len() == 200 => page.before = Some(last.0),
                _ => break,
            }
        }
        ids.sort();
        Ok(ids)
    }
}
