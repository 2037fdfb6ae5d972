//! One pass of each job: per-store batches through core's sweeps, the
//! global retention and export passes, and the store's maintenance jobs.

use std::sync::Mutex;

use agora_core::{AgoraError, ExportStatus, Reads, StoreId, SweepReport};

use super::fair::{Batch, share_out};
use super::lease::Claim;
use super::{EXPORTS_PER_PASS, Job, Pass, Scheduler};

/// The log target of the per-store batch lines (`job batch`, at debug):
/// `AGORA_LOG=info,agora_runtime::jobs::batch=debug` shows each store's
/// batch as it ends, without the `job idle` lines of every tick.
pub const BATCH_LOG_TARGET: &str = "agora_runtime::jobs::batch";

/// Logs one store's batch of a job (debug, [`BATCH_LOG_TARGET`]).
fn batch_done(worker: &str, job: &str, store: StoreId, r: SweepReport) {
    tracing::debug!(
        target: BATCH_LOG_TARGET,
        worker,
        job,
        store = %store,
        scanned = r.scanned,
        changed = r.changed,
        conflicts = r.conflicts,
        "job batch"
    );
}

/// The scheduler-state name of the per-store part of the retention job.
const STORE_RETENTION: &str = "retention:stores";
/// When the retention pass last removed events in bulk (hourly: on
/// PostgreSQL a check reads a whole old month's partition).
const BULK_RETENTION: &str = "retention:bulk";

impl Scheduler {
    pub(super) async fn pass(&self, job: Job, stores: &[StoreId]) -> Pass {
        match job {
            Job::Exports => self.exports_pass().await,
            Job::Retention => self.retention_pass(stores).await,
            Job::Maintenance => self.maintenance_pass().await,
            Job::SequenceEvents | Job::Reconcile | Job::Kpis | Job::Velocity | Job::Insights | Job::Webhooks => {
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
                batch_done(&self.name, job.as_str(), store, r);
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

    /// A cheap look (one row) for due work, so idle stores cost no lease:
    /// core's own selection for the sweeps.
    async fn has_work(&self, job: Job, store: StoreId) -> Result<bool, AgoraError> {
        if let Some(sweep) = job.sweep() {
            return self.agora.has_due(sweep, store).await;
        }
        Ok(match (job, &self.redis) {
            (Job::RelayEvents, Some(client)) => {
                let relay = agora_redis::EventRelay::new(client.clone(), 100_000);
                relay.checkpoint(store).await? < self.store.last_event_seq(store).await?
            }
            (Job::RelayEvents, None) => false,
            _ => true,
        })
    }

    async fn sweep(&self, job: Job, store: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        if let Some(sweep) = job.sweep() {
            return self.agora.run_sweep(sweep, store, limit).await;
        }
        match (job, &self.redis) {
            (Job::Reconcile, _) => self.agora.reconcile_inventory(store).await,
            (Job::RelayEvents, Some(client)) => {
                let relay = agora_redis::EventRelay::new(client.clone(), 100_000).with_batch(limit.min(10_000));
                let n = relay.relay_once(self.store.as_ref(), store).await? as u64;
                Ok(SweepReport { scanned: n, changed: n, conflicts: 0 })
            }
            _ => Ok(SweepReport::default()),
        }
    }

    async fn retention_pass(&self, stores: &[StoreId]) -> Pass {
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
        let mut results = vec![
            a.purge_expired_idempotency(self.batch).await,
            a.purge_expired_sessions(self.batch).await,
            a.purge_old_security_events(self.batch).await,
            a.purge_old_webhook_deliveries(self.batch).await,
            a.expire_exports(self.batch).await,
        ];
        // Each store's retention periods, at most once a minute: a store
        // with nothing past its periods costs a settings read.
        let due = {
            let state = self.state();
            state.maintained.get(STORE_RETENTION).is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60))
        };
        let bulk_due = {
            let state = self.state();
            state.maintained.get(BULK_RETENTION).is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(3600))
        };
        if bulk_due && !self.stopping() {
            // Whole months first (cheap where the store can), then rows.
            results.push(a.purge_events_in_bulk(stores).await);
            self.state().maintained.insert(BULK_RETENTION, std::time::Instant::now());
        }
        if due {
            for &store in stores {
                if self.stopping() {
                    break;
                }
                let r = a.purge_retained(store, self.batch).await;
                if let Ok(r) = &r {
                    batch_done(&self.name, "retention", store, *r);
                }
                results.push(r);
            }
            self.state().maintained.insert(STORE_RETENTION, std::time::Instant::now());
        }
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

    /// Runs each of the store's maintenance jobs whose period has passed,
    /// under a lease so one worker of many does it.
    async fn maintenance_pass(&self) -> Pass {
        let mut pass = Pass::default();
        for job in &self.maintenance {
            let due = {
                let state = self.state();
                state.maintained.get(job.name()).is_none_or(|t| t.elapsed() >= job.every())
            };
            if !due || self.stopping() {
                continue;
            }
            let claim = match self.claim(&format!("job:maintenance:{}", job.name())).await {
                Ok(Some(c)) => Some(c),
                Ok(None) => {
                    pass.claims_skipped += 1;
                    continue;
                }
                Err(()) => None,
            };
            match job.run().await {
                Ok(n) => {
                    pass.batches += 1;
                    pass.report.changed += n;
                    self.state().maintained.insert(job.name(), std::time::Instant::now());
                }
                Err(e) => {
                    pass.errors += 1;
                    tracing::warn!(worker = %self.name, job = job.name(), error = %e, "maintenance failed; retried next pass");
                }
            }
            if let Some(c) = claim {
                c.release().await;
            }
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
        let store = &self.store;
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
        let stale_after = time::Duration::try_from(self.export_stale_after).unwrap_or(time::Duration::MINUTE);
        for job in self.agora.stale_exports(stale_after, 100).await? {
            pass.report.scanned += 1;
            let claim = match self.claim(&format!("export:{}", job.id)).await {
                Ok(Some(c)) => Some(c),
                Ok(None) => continue, // its worker is alive
                Err(()) => None,
            };
            let result = self.agora.requeue_export(&job).await;
            if let Some(c) = claim {
                c.release().await;
            }
            if result? {
                pass.report.changed += 1;
                metrics::counter!("agora_exports_requeued_total").increment(1);
                tracing::warn!(worker = %self.name, export = %job.id, started_at = ?job.started_at, "stale export given back to the queue");
            } else {
                pass.report.conflicts += 1;
            }
        }
        Ok(())
    }
}
