//! Dual writes: the primary decides, the secondary follows.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agora_core::query::Query;
use agora_core::schema::{Key, Table, Value};
use agora_core::{
    ActivityEvent, Changeset, Entity, Inventory, Record, Store, StoreError, StoreResult, VariantId, WarehouseId, Write,
};
use async_trait::async_trait;

use crate::wrap::{Wrapped, Wrapper};

/// Counters of a [`DualWriteStore`], readable by tests and the operator.
#[derive(Debug, Default)]
pub struct DualWriteStats {
    /// Changesets the primary accepted (and so were replayed on the secondary).
    pub primary_applied: AtomicU64,
    /// Replays the secondary accepted.
    pub secondary_applied: AtomicU64,
    /// Replays the secondary refused or did not answer in time. Each one
    /// means the secondary lags until the next `agora copy`.
    pub secondary_failures: AtomicU64,
}

impl DualWriteStats {
    /// Secondary failures so far.
    pub fn failures(&self) -> u64 {
        self.secondary_failures.load(Ordering::Relaxed)
    }
}

/// Row locks are striped over this many mutexes.
const STRIPES: usize = 512;

/// The dual-write [`Wrapper`]; [`DualWriteStore`] is it as a store.
#[derive(Clone)]
pub struct DualWrite {
    primary: Arc<dyn Store>,
    secondary: Arc<dyn Store>,
    stats: Arc<DualWriteStats>,
    timeout: Duration,
    stripes: Arc<Vec<tokio::sync::Mutex<()>>>,
}

/// Reads from the primary; every changeset is applied to the primary and,
/// once it committed there, replayed on the secondary.
///
/// The replay is the primary's accepted writes made unconditional
/// ([`Write::unconditional`]), without the guards: the primary has already
/// decided, and the secondary must follow that decision rather than
/// re-decide on state that may still be incomplete while it is backfilled
/// (a reservation becomes the stock adjustment it amounted to). Changesets
/// that write a common row are applied to both stores under that row's
/// (striped) lock, held from the primary apply to the end of the secondary
/// replay, so the secondary sees writes to any one row in the primary's
/// commit order (stock figures and `updated_at` stamps end up the same).
/// Changesets on disjoint rows commute and run concurrently. The ordering
/// holds within one process: with several api instances dual writing, a
/// same-row race can still diverge; shadow reads and `verify` show it and
/// `copy` repairs it.
///
/// When the secondary refuses the replay as a whole (a row the backfill
/// has not brought yet, or one it brought already), it is retried write by
/// write, and each write the secondary still refuses is healed by copying
/// the rows it touched from the primary, read under the row locks, so
/// exactly as this changeset left them. The stock rows a changeset changed
/// are then compared with the primary's and set to its figures where they
/// drifted (a backfill pass that copied a row between the primary's commit
/// and the replay would otherwise see the change counted twice).
///
/// A replay that fails (or takes longer than the timeout) is counted in
/// [`DualWriteStats::secondary_failures`] and in the metric
/// `agora_dual_write_secondary_total{result="failed"}`, logged, and never
/// fails the request; `agora copy` repairs the secondary afterwards.
pub type DualWriteStore = Wrapped<DualWrite>;

impl std::fmt::Debug for DualWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DualWrite")
            .field("primary", &self.primary.backend())
            .field("secondary", &self.secondary.backend())
            .field("stats", &self.stats)
            .finish()
    }
}

impl DualWriteStore {
    /// Dual writes from `primary` to `secondary`, with a 10 s replay timeout.
    pub fn new(primary: Arc<dyn Store>, secondary: Arc<dyn Store>) -> Self {
        let stripes = Arc::new((0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect());
        Wrapped(DualWrite { primary, secondary, stats: Arc::default(), timeout: Duration::from_secs(10), stripes })
    }

    /// Changes how long a replay on the secondary may take before it counts as failed.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.0.timeout = timeout;
        self
    }
}

fn one(write: Write) -> Changeset {
    Changeset { guards: Vec::new(), writes: vec![write] }
}

/// The stripe of the row a write touches (table and primary key).
fn stripe(w: &Write) -> usize {
    let (table, key) = w.row();
    let mut h = std::hash::DefaultHasher::new();
    table.name.hash(&mut h);
    key.to_string().hash(&mut h);
    (h.finish() % STRIPES as u64) as usize
}

impl DualWrite {
    /// The counters.
    pub fn stats(&self) -> Arc<DualWriteStats> {
        self.stats.clone()
    }

    /// The primary store.
    pub fn primary(&self) -> &Arc<dyn Store> {
        &self.primary
    }

    /// The secondary store.
    pub fn secondary(&self) -> &Arc<dyn Store> {
        &self.secondary
    }

    /// Replays the writes of a committed changeset on the secondary.
    async fn replay(&self, writes: &[Write]) {
        let work = async {
            let replays = writes.iter().map(Write::unconditional).collect();
            if self.secondary.apply(Changeset { guards: Vec::new(), writes: replays }).await.is_ok() {
                return Ok(());
            }
            let mut first_error = None;
            for w in writes {
                if self.secondary.apply(one(w.unconditional())).await.is_err()
                    && let Err(e) = self.heal(w).await
                {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        };
        let work = async {
            work.await?;
            self.settle_stock(writes).await
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(())) => {
                self.stats.secondary_applied.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("agora_dual_write_secondary_total", "result" => "ok").increment(1);
            }
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed(&format!("timed out after {:?}", self.timeout)),
        }
    }

    /// Sets the secondary's stock rows that `writes` changed to the
    /// primary's figures where they drifted. A stock replay is a delta: had
    /// a copy pass brought a row that already held this change (read from
    /// the primary between its commit and this replay), the delta counts it
    /// twice; the rows are read under the row locks, so exactly as this
    /// changeset left them.
    async fn settle_stock(&self, writes: &[Write]) -> StoreResult<()> {
        let mut rows: Vec<(VariantId, WarehouseId)> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Stock { variant_id, warehouse_id, .. } => Some((*variant_id, *warehouse_id)),
                _ => None,
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        rows.sort_unstable();
        rows.dedup();
        let q = Query::of::<Inventory>().any("variant_id", rows.iter().map(|(v, _)| *v));
        let (on_primary, on_secondary) = (self.primary.fetch(&q).await?, self.secondary.fetch(&q).await?);
        let find = |rows: &[Record], key: &Key| rows.iter().find(|r| r.key() == *key).cloned();
        let mut fixes = Changeset::new();
        for (v, w) in rows {
            let key = Key(vec![Value::Uuid(v.0), Value::Uuid(w.0)]);
            match (find(&on_primary, &key), find(&on_secondary, &key)) {
                (Some(p), Some(s)) if p != s => fixes.update(p),
                (Some(p), None) => fixes.insert(p),
                _ => continue,
            };
        }
        if fixes.is_empty() { Ok(()) } else { self.secondary.apply(fixes).await }
    }

    /// Makes the secondary's rows that `w` touched equal to the primary's.
    async fn heal(&self, w: &Write) -> StoreResult<()> {
        let (table, key) = w.row();
        self.copy_row(table, key).await?;
        if let Write::SequenceEvents { events, .. } = w {
            for id in events {
                self.copy_row(ActivityEvent::table(), Key::from(*id)).await?;
            }
        }
        Ok(())
    }

    /// Copies one row from the primary to the secondary (an upsert, or a
    /// delete when the primary no longer has it).
    async fn copy_row(&self, table: &'static Table, key: Key) -> StoreResult<()> {
        let row = self.primary.fetch(&Query::by_key(table, &key)).await?.into_iter().next();
        let Some(row) = row else {
            return self.secondary.apply(one(Write::Delete { table, key })).await;
        };
        match self.secondary.apply(one(Write::Update(row.clone()))).await {
            Err(StoreError::Missing(_)) => self.secondary.apply(one(Write::Insert(row))).await,
            other => other,
        }
    }

    fn failed(&self, error: &str) {
        let n = self.stats.secondary_failures.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!("agora_dual_write_secondary_total", "result" => "failed").increment(1);
        tracing::warn!(
            secondary = self.secondary.backend(),
            error,
            failures = n,
            "dual write: the secondary did not take a changeset the primary committed; run `agora copy` to repair"
        );
    }
}

#[async_trait]
impl Wrapper for DualWrite {
    fn reads(&self) -> &Arc<dyn Store> {
        &self.primary
    }

    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        let mut stripes: Vec<usize> = changeset.writes.iter().map(stripe).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut held = Vec::with_capacity(stripes.len());
        for i in stripes {
            held.push(self.stripes[i].lock().await);
        }
        let writes = changeset.writes.clone();
        self.primary.apply(changeset).await?;
        self.stats.primary_applied.fetch_add(1, Ordering::Relaxed);
        if !writes.is_empty() {
            self.replay(&writes).await;
        }
        drop(held);
        Ok(())
    }

    async fn health(&self) -> StoreResult<()> {
        if let Err(e) = self.secondary.health().await {
            tracing::warn!(error = %e, "dual write: the secondary is not healthy");
        }
        self.primary.health().await
    }
}
