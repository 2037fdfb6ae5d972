//! The job scheduler shared by `agora-api` (in-process) and `agora-worker`:
//! every `job_interval_ms` it runs each configured job once, sharing the
//! batch out per store so one store's backlog cannot starve the others.
//! Jobs are rescans by state through core's sweeps: idempotent and safe to
//! run again after a crash or next to other workers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_core::{Agora, Page, SweepReport};

use crate::{Backend, Runtime};

/// Runs the configured jobs on an interval.
pub struct Scheduler {
    agora: Agora,
    backend: Backend,
    relay: Option<Arc<agora_redis::EventRelay>>,
    jobs: Vec<String>,
    interval: Duration,
    batch: u32,
}

impl Scheduler {
    /// A scheduler for a runtime's configuration.
    pub fn new(rt: &Runtime) -> Self {
        Self {
            agora: rt.agora.clone(),
            backend: rt.backend.clone(),
            relay: rt.redis.as_ref().map(|c| Arc::new(agora_redis::EventRelay::new(c.clone(), 100_000))),
            jobs: rt.config.job_list(),
            interval: Duration::from_millis(rt.config.job_interval_ms),
            batch: rt.config.job_batch_size,
        }
    }

    /// Ticks until `shutdown` is true; a tick in progress is finished first.
    pub async fn run(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            self.tick().await;
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Runs every configured job once.
    pub async fn tick(&self) {
        for job in &self.jobs {
            let started = Instant::now();
            let result = self.run_job(job).await;
            let elapsed = started.elapsed();
            metrics::counter!("agora_job_runs_total", "job" => job.clone()).increment(1);
            metrics::histogram!("agora_job_duration_seconds", "job" => job.clone()).record(elapsed.as_secs_f64());
            match result {
                Ok(r) => {
                    metrics::counter!("agora_job_rows_scanned_total", "job" => job.clone()).increment(r.scanned);
                    metrics::counter!("agora_job_rows_changed_total", "job" => job.clone()).increment(r.changed);
                    metrics::counter!("agora_job_conflicts_total", "job" => job.clone()).increment(r.conflicts);
                    if r.changed > 0 || r.conflicts > 0 {
                        tracing::info!(
                            job,
                            scanned = r.scanned,
                            changed = r.changed,
                            conflicts = r.conflicts,
                            ms = elapsed.as_millis() as u64,
                            "job ran"
                        );
                    }
                }
                Err(e) => {
                    metrics::counter!("agora_job_errors_total", "job" => job.clone()).increment(1);
                    tracing::warn!(job, error = %e, "job failed; it will run again next tick");
                }
            }
        }
    }

    async fn stores(&self) -> Result<Vec<agora_core::StoreId>, agora_core::AgoraError> {
        let mut ids = Vec::new();
        let mut page = Page::first(200);
        loop {
            let stores = self.agora.store().list_stores(page).await?;
            ids.extend(stores.iter().map(|s| s.id));
            match stores.last() {
                Some(last) if stores.len() == 200 => page.before = Some(last.id.0),
                _ => return Ok(ids),
            }
        }
    }

    async fn run_job(&self, job: &str) -> Result<SweepReport, agora_core::AgoraError> {
        let mut report = SweepReport::default();
        let a = &self.agora;
        match job {
            "retention" => {
                report.add(a.purge_expired_idempotency(self.batch).await?);
                report.add(a.purge_expired_sessions(self.batch).await?);
                report.add(a.expire_exports(self.batch).await?);
                return Ok(report);
            }
            "exports" => {
                let progress =
                    |id: agora_core::ExportId, rows: i64| tracing::info!(export = %id, rows, "export in progress");
                return a.run_queued_exports(self.batch.min(10), &progress).await;
            }
            "partitions" => {
                if let Backend::Postgres(pg) = &self.backend {
                    let n = pg.create_partitions(3).await?;
                    report.changed = u64::from(n);
                }
                return Ok(report);
            }
            _ => {}
        }
        for store_id in self.stores().await? {
            let r = match job {
                "expire_orders" => a.expire_unpaid_orders(store_id, self.batch).await?,
                "auto_receive" => a.auto_receive_orders(store_id, self.batch).await?,
                "expire_tasks" => a.expire_tasks(store_id, self.batch).await?,
                "payouts" => a.settle_due_payouts(store_id, self.batch).await?,
                "reconcile" => a.reconcile_inventory(store_id).await?,
                "sequence_events" => SweepReport { changed: a.sequence_events(store_id).await?, ..Default::default() },
                "relay_events" => match &self.relay {
                    Some(relay) => {
                        let n = relay.relay_once(a.store().as_ref(), store_id).await?;
                        SweepReport { changed: n as u64, ..Default::default() }
                    }
                    None => SweepReport::default(),
                },
                _ => SweepReport::default(),
            };
            report.add(r);
        }
        Ok(report)
    }
}
