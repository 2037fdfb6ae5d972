//! Shadow reads: serve from the primary, compare with the secondary in the
//! background.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agora_core::query::Query;
use agora_core::schema::Value as Column;
use agora_core::{
    AddressId, Changeset, OrderContext, OrderContextQuery, ProductSearchQuery, ProductStatus, Record, SearchHit,
    SearchTerms, Store, StoreId, StoreResult, VariantId,
};
use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::dual::{DualWriteStats, DualWriteStore};
use crate::wrap::{Wrapped, Wrapper};

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

/// The shadow-read [`Wrapper`]; [`ShadowReadStore`] is it as a store.
#[derive(Clone)]
pub struct ShadowRead {
    dual: DualWriteStore,
    stats: Arc<ShadowStats>,
    permits: Arc<Semaphore>,
    max_in_flight: u32,
    recheck_delay: Duration,
}

/// Dual writes (exactly as [`DualWriteStore`]) plus shadow reads: every
/// read (each `fetch`, and `order_context` and `search_products` as one
/// call each) is served from the
/// primary and, in a background task, repeated on the secondary and
/// compared. A difference is read again from both after a short delay; if
/// the two stores still disagree it is a mismatch, counted in
/// `agora_shadow_read_total{method,table,result="mismatch"}` and logged
/// with the differing fields. Comparisons never delay or fail the request;
/// when more than `max_in_flight` are running, new ones are skipped
/// (`result="skipped"`).
pub type ShadowReadStore = Wrapped<ShadowRead>;

impl std::fmt::Debug for ShadowRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowRead").field("dual", &self.dual).field("stats", &self.stats).finish()
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
        Wrapped(ShadowRead {
            dual,
            stats: Arc::default(),
            permits: Arc::new(Semaphore::new(256)),
            max_in_flight: 256,
            recheck_delay: Duration::from_millis(200),
        })
    }

    /// Changes the comparison limits.
    pub fn with_limits(mut self, max_in_flight: usize, recheck_delay: Duration) -> Self {
        let max = u32::try_from(max_in_flight.clamp(1, 1 << 20)).unwrap_or(1);
        self.0.permits = Arc::new(Semaphore::new(max as usize));
        self.0.max_in_flight = max;
        self.0.recheck_delay = recheck_delay;
        self
    }
}

/// Asks one store the read being compared.
type Ask<T> = Box<dyn Fn(Arc<dyn Store>) -> BoxFuture<'static, StoreResult<T>> + Send + Sync>;

/// One background comparison: what the primary answered, how to ask a
/// store again, and how to name the differences.
struct Comparison<T> {
    method: &'static str,
    table: &'static str,
    expected: T,
    call: Ask<T>,
    diff: fn(&T, &T) -> Vec<String>,
}

impl ShadowRead {
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

    fn compare<T: PartialEq + Send + Sync + 'static>(&self, c: Comparison<T>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            let (method, table) = (c.method, c.table);
            metrics::counter!("agora_shadow_read_total", "method" => method, "table" => table, "result" => "skipped")
                .increment(1);
            return;
        };
        let (primary, secondary) = (self.dual.primary().clone(), self.dual.secondary().clone());
        let (stats, delay) = (self.stats.clone(), self.recheck_delay);
        handle.spawn(async move {
            let _permit = permit;
            let result = judge(&c, primary, secondary, delay).await;
            let counter = match result {
                "match" => &stats.matches,
                "transient" => &stats.transient,
                "error" => &stats.errors,
                _ => &stats.mismatches,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let (method, table) = (c.method, c.table);
            metrics::counter!("agora_shadow_read_total", "method" => method, "table" => table, "result" => result)
                .increment(1);
        });
    }
}

/// Asks the secondary and compares; a difference is read again from both
/// (primary first) a few times, so a write that landed between the two
/// reads is not a divergence.
async fn judge<T: PartialEq>(
    c: &Comparison<T>,
    primary: Arc<dyn Store>,
    secondary: Arc<dyn Store>,
    delay: Duration,
) -> &'static str {
    let got = match (c.call)(secondary.clone()).await {
        Err(e) => {
            tracing::warn!(method = c.method, table = c.table, error = %e, "shadow read: the secondary failed");
            return "error";
        }
        Ok(got) if got == c.expected => return "match",
        Ok(got) => got,
    };
    let mut last = None;
    for _ in 0..3 {
        tokio::time::sleep(delay).await;
        match ((c.call)(primary.clone()).await, (c.call)(secondary.clone()).await) {
            (Ok(p), Ok(s)) if p == s => {
                last = None;
                break;
            }
            (Ok(p), Ok(s)) => last = Some((c.diff)(&p, &s)),
            _ => last = Some((c.diff)(&c.expected, &got)),
        }
    }
    let Some(fields) = last else { return "transient" };
    tracing::warn!(
        method = c.method,
        table = c.table,
        differing = %fields.join(", "),
        "shadow read: the secondary answers differently from the primary"
    );
    "mismatch"
}

/// Rows as two stores may both rightly answer them: in the query's order,
/// ties (and queries without an order) broken by primary key.
fn canonical_rows(query: &Query, rows: Vec<Record>) -> Vec<Record> {
    let t = query.table;
    if t.key.iter().all(|k| query.order.iter().any(|(c, _)| c == k)) {
        return rows;
    }
    let mut keyed: Vec<(Vec<Column<'static>>, Record)> = rows
        .into_iter()
        .map(|r| {
            let mut v = Vec::with_capacity(t.columns.len());
            r.encode(&mut v);
            (v.into_iter().map(Column::into_owned).collect(), r)
        })
        .collect();
    let by_key = |a: &[Column<'_>], b: &[Column<'_>]| t.key.iter().map(|k| a[*k].cmp(&b[*k])).find(|o| o.is_ne());
    keyed.sort_by(|(a, _), (b, _)| query.compare(a, b).then_with(|| by_key(a, b).unwrap_or(std::cmp::Ordering::Equal)));
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// The keys of an order read, owned for a background comparison.
#[derive(Clone)]
struct OrderKeys {
    scope: String,
    key: String,
    store_id: StoreId,
    address_id: AddressId,
    variant_ids: Vec<VariantId>,
    task_no: Option<String>,
}

impl OrderKeys {
    fn of(q: &OrderContextQuery<'_>) -> Self {
        Self {
            scope: q.idempotency_scope.to_owned(),
            key: q.idempotency_key.to_owned(),
            store_id: q.store_id,
            address_id: q.address_id,
            variant_ids: q.variant_ids.to_vec(),
            task_no: q.task_no.map(str::to_owned),
        }
    }

    fn query(&self) -> OrderContextQuery<'_> {
        OrderContextQuery {
            idempotency_scope: &self.scope,
            idempotency_key: &self.key,
            store_id: self.store_id,
            address_id: self.address_id,
            variant_ids: &self.variant_ids,
            task_no: self.task_no.as_deref(),
        }
    }
}

/// A product search, owned for a background comparison.
#[derive(Clone)]
struct SearchKeys {
    store_id: StoreId,
    status: Option<ProductStatus>,
    terms: SearchTerms,
    after: Option<SearchHit>,
    limit: u32,
}

impl SearchKeys {
    fn of(q: &ProductSearchQuery<'_>) -> Self {
        Self { store_id: q.store_id, status: q.status, terms: q.terms.clone(), after: q.after, limit: q.limit }
    }

    fn query(&self) -> ProductSearchQuery<'_> {
        ProductSearchQuery {
            store_id: self.store_id,
            status: self.status,
            terms: &self.terms,
            after: self.after,
            limit: self.limit,
        }
    }
}

/// Search hits as JSON for the difference report: `tier:product id` each.
fn hits_json(hits: &[SearchHit]) -> Value {
    hits.iter().map(|h| Value::String(format!("{}:{}", h.tier.rank(), h.product_id))).collect()
}

fn context_json(c: &OrderContext) -> Value {
    serde_json::json!({
        "idempotency": c.idempotency, "store": c.store, "settings": c.settings, "address": c.address,
        "variants": c.variants, "products": c.products, "inventory": c.inventory, "task": c.task,
    })
}

#[async_trait]
impl Wrapper for ShadowRead {
    fn reads(&self) -> &Arc<dyn Store> {
        self.dual.primary()
    }

    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        Store::apply(&self.dual, changeset).await
    }

    fn fetched(&self, query: &Query, rows: &[Record]) {
        let q = query.clone();
        let call = move |s: Arc<dyn Store>| -> BoxFuture<'static, StoreResult<Vec<Record>>> {
            let q = q.clone();
            Box::pin(async move { Ok(canonical_rows(&q, s.fetch(&q).await?)) })
        };
        let expected = canonical_rows(query, rows.to_vec());
        let diff = |a: &Vec<Record>, b: &Vec<Record>| differing_fields(a, b);
        self.compare(Comparison { method: "fetch", table: query.table.name, expected, call: Box::new(call), diff });
    }

    fn order_context_read(&self, query: &OrderContextQuery<'_>, answer: &OrderContext) {
        let keys = OrderKeys::of(query);
        let call = move |s: Arc<dyn Store>| -> BoxFuture<'static, StoreResult<OrderContext>> {
            let keys = keys.clone();
            Box::pin(async move { Ok(s.order_context(&keys.query()).await?.canonical()) })
        };
        let expected = answer.clone().canonical();
        let diff = |a: &OrderContext, b: &OrderContext| differing_fields(&context_json(a), &context_json(b));
        self.compare(Comparison { method: "order_context", table: "*", expected, call: Box::new(call), diff });
    }

    fn searched(&self, query: &ProductSearchQuery<'_>, hits: &[SearchHit]) {
        let keys = SearchKeys::of(query);
        let call = move |s: Arc<dyn Store>| -> BoxFuture<'static, StoreResult<Vec<SearchHit>>> {
            let keys = keys.clone();
            Box::pin(async move { s.search_products(&keys.query()).await })
        };
        let diff = |a: &Vec<SearchHit>, b: &Vec<SearchHit>| differing_fields(&hits_json(a), &hits_json(b));
        let expected = hits.to_vec();
        self.compare(Comparison {
            method: "search_products",
            table: "product_search",
            expected,
            call: Box::new(call),
            diff,
        });
    }

    async fn health(&self) -> StoreResult<()> {
        Store::health(&self.dual).await
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
