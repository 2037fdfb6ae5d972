//! Shadow reads: serve from the primary, compare with the secondary in the
//! background.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agora_core::{Changeset, Snapshot, Store, StoreResult};
use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::dual::{DualWriteStats, DualWriteStore, with_store_reads};

#[allow(unused_imports)]
use agora_core::{
    ActivityEvent, AddressId, AdminKey, AppUser, AuditLog, CustomerOrder, ExportAuditRecord, ExportId, ExportJob,
    ExportStatus, Help, HelpTask, IdempotencyRecord, Inventory, InventoryReservation, OrderId, OrderItem, OrderStatus,
    Page, Payment, PaymentEvent, PaymentId, PayoutId, PayoutLedger, PayoutStatus, Product, ProductId, ProductImage,
    ProductStatus, ProductVariant, Session, Shop, StoreId, StoreSettings, TaskId, UserAddress, UserId, VariantId,
    Warehouse, WarehouseId,
};
#[allow(unused_imports)]
use time::OffsetDateTime;

/// Hands an owned argument back to a port method in the borrowed form it takes.
pub trait Pass<'a, T> {
    /// The argument.
    fn pass(&'a self) -> T;
}

impl<'a, T: Copy> Pass<'a, T> for T {
    fn pass(&'a self) -> T {
        *self
    }
}

impl<'a> Pass<'a, &'a str> for String {
    fn pass(&'a self) -> &'a str {
        self
    }
}

impl<'a, U> Pass<'a, &'a [U]> for Vec<U> {
    fn pass(&'a self) -> &'a [U] {
        self
    }
}

/// Counters of a [`ShadowReadStore`], readable by tests and the operator.
#[derive(Debug, Default)]
pub struct ShadowStats {
    /// Reads the secondary answered identically.
    pub matches: AtomicU64,
    /// Reads that differed, and still differed when both stores were read
    /// again: a real divergence.
    pub mismatches: AtomicU64,
    /// Reads that differed at first but agreed when read again (a write
    /// landed between the two reads).
    pub transient: AtomicU64,
    /// Reads the secondary failed.
    pub errors: AtomicU64,
    /// Comparisons skipped because too many were already in flight.
    pub skipped: AtomicU64,
}

impl ShadowStats {
    /// Comparisons finished (matches, mismatches, transient, errors).
    pub fn compared(&self) -> u64 {
        self.matches.load(Ordering::Relaxed)
            + self.mismatches.load(Ordering::Relaxed)
            + self.transient.load(Ordering::Relaxed)
            + self.errors.load(Ordering::Relaxed)
    }

    /// Real divergences so far.
    pub fn mismatches(&self) -> u64 {
        self.mismatches.load(Ordering::Relaxed)
    }
}

/// Dual writes (exactly as [`DualWriteStore`]) plus shadow reads: every
/// read is served from the primary and, in a background task, repeated on
/// the secondary and compared. A difference is read again from both after
/// a short delay; if the two stores still disagree it is a mismatch,
/// counted in `agora_shadow_read_total{method,result="mismatch"}` and logged
/// with the differing fields. Comparisons never delay or fail the request;
/// when more than `max_in_flight` are running, new ones are skipped
/// (`result="skipped"`).
#[derive(Clone)]
pub struct ShadowReadStore {
    dual: DualWriteStore,
    stats: Arc<ShadowStats>,
    permits: Arc<Semaphore>,
    max_in_flight: u32,
    recheck_delay: Duration,
}

impl std::fmt::Debug for ShadowReadStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowReadStore").field("dual", &self.dual).field("stats", &self.stats).finish()
    }
}

impl ShadowReadStore {
    /// Shadow reads from `primary` to `secondary` (and dual writes), at most
    /// 256 comparisons in flight, re-reading after 200 ms on a difference.
    pub fn new(primary: Arc<dyn Store>, secondary: Arc<dyn Store>) -> Self {
        Self::over(DualWriteStore::new(primary, secondary))
    }

    /// Shadow reads over an existing dual-write store (sharing its counters).
    pub fn over(dual: DualWriteStore) -> Self {
        Self {
            dual,
            stats: Arc::default(),
            permits: Arc::new(Semaphore::new(256)),
            max_in_flight: 256,
            recheck_delay: Duration::from_millis(200),
        }
    }

    /// Changes the comparison limits.
    pub fn with_limits(mut self, max_in_flight: usize, recheck_delay: Duration) -> Self {
        let max = u32::try_from(max_in_flight.clamp(1, 1 << 20)).unwrap_or(1);
        self.permits = Arc::new(Semaphore::new(max as usize));
        self.max_in_flight = max;
        self.recheck_delay = recheck_delay;
        self
    }

    /// The shadow-read counters.
    pub fn stats(&self) -> Arc<ShadowStats> {
        self.stats.clone()
    }

    /// The dual-write counters.
    pub fn write_stats(&self) -> Arc<DualWriteStats> {
        self.dual.stats()
    }

    /// Waits until every comparison started so far has finished (tests,
    /// and before reading the counters at the end of a phase).
    pub async fn drain(&self) {
        if let Ok(all) = self.permits.acquire_many(self.max_in_flight).await {
            drop(all);
        }
    }

    fn compare<T, F>(&self, method: &'static str, expected: T, call: F)
    where
        T: PartialEq + Serialize + Send + Sync + 'static,
        F: Fn(Arc<dyn Store>) -> BoxFuture<'static, StoreResult<T>> + Send + Sync + 'static,
    {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("agora_shadow_read_total", "method" => method, "result" => "skipped").increment(1);
            return;
        };
        let primary = self.dual.primary.clone();
        let secondary = self.dual.secondary.clone();
        let stats = self.stats.clone();
        let delay = self.recheck_delay;
        handle.spawn(async move {
            let _permit = permit;
            let result = match call(secondary.clone()).await {
                Err(e) => {
                    tracing::warn!(method, error = %e, "shadow read: the secondary failed");
                    "error"
                }
                Ok(got) if got == expected => "match",
                Ok(got) => {
                    // Read both again (primary first) a few times: a write
                    // that landed between the two reads is not a divergence.
                    let mut last = None;
                    for _ in 0..3 {
                        tokio::time::sleep(delay).await;
                        match (call(primary.clone()).await, call(secondary.clone()).await) {
                            (Ok(p), Ok(s)) if p == s => {
                                last = None;
                                break;
                            }
                            (Ok(p), Ok(s)) => last = Some(differing_fields(&p, &s)),
                            _ => last = Some(differing_fields(&expected, &got)),
                        }
                    }
                    match last {
                        None => "transient",
                        Some(fields) => {
                            tracing::warn!(
                                method,
                                differing = %fields.join(", "),
                                "shadow read: the secondary answers differently from the primary"
                            );
                            "mismatch"
                        }
                    }
                }
            };
            let counter = match result {
                "match" => &stats.matches,
                "transient" => &stats.transient,
                "error" => &stats.errors,
                _ => &stats.mismatches,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("agora_shadow_read_total", "method" => method, "result" => result).increment(1);
        });
    }
}

/// JSON paths at which `a` and `b` differ (at most 20), e.g. `[0].status`.
pub fn differing_fields<T: Serialize>(a: &T, b: &T) -> Vec<String> {
    let (a, b) = (serde_json::to_value(a).unwrap_or(Value::Null), serde_json::to_value(b).unwrap_or(Value::Null));
    let mut out = Vec::new();
    diff_values("", &a, &b, &mut out);
    out
}

fn diff_values(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if out.len() >= 20 || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (va, vb) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                diff_values(&format!("{path}.{k}"), va, vb, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff_values(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            out.push(format!("{path} (length {} vs {})", x.len(), y.len()));
        }
        _ => out.push(if path.is_empty() { "(value)".into() } else { path.trim_start_matches('.').to_owned() }),
    }
}

/// Every read is served by the primary and compared in the background.
macro_rules! shadow_reads {
    ($ty:ty; $( $tr:ident { $( fn $name:ident( $($arg:ident : $aty:ty),* ) -> $ret:ty; )* } )*) => {
        $(
            #[async_trait]
            impl agora_core::$tr for $ty {
                $(
                    async fn $name(&self, $($arg: $aty),*) -> StoreResult<$ret> {
                        let out = self.dual.primary.$name($($arg),*).await;
                        if let Ok(value) = &out {
                            $( #[allow(clippy::clone_on_copy)] let $arg = $arg.to_owned(); )*
                            self.compare(stringify!($name), value.clone(), move |s: Arc<dyn Store>| {
                                $( #[allow(clippy::clone_on_copy)] let $arg = $arg.clone(); )*
                                Box::pin(async move { s.$name($(Pass::pass(&$arg)),*).await })
                            });
                        }
                        out
                    }
                )*
            }
        )*
    };
}

with_store_reads!(shadow_reads, ShadowReadStore);

#[async_trait]
impl Store for ShadowReadStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        self.dual.apply(changeset).await
    }

    async fn snapshot(&self) -> StoreResult<Snapshot> {
        self.dual.snapshot().await
    }

    async fn health(&self) -> StoreResult<()> {
        self.dual.health().await
    }

    fn backend(&self) -> &'static str {
        self.dual.backend()
    }
}
