//! A store that counts what reaches it, to prove that a wrapper (a cache,
//! a dual-write or shadow-read store) forwards every port method to the
//! store it wraps, and in particular answers `order_context` with the
//! wrapped store's own one-call read rather than with single reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agora_core::query::Query;
use agora_core::*;
use async_trait::async_trait;

/// Calls that reached a [`ProbeStore`].
#[derive(Debug, Default)]
pub struct ProbeCounts {
    /// `apply` calls.
    pub apply: AtomicU64,
    /// `fetch` calls.
    pub fetch: AtomicU64,
    /// `order_context` calls.
    pub order_context: AtomicU64,
    /// `purge_events_in_bulk` calls.
    pub purge_events_in_bulk: AtomicU64,
    /// `search_products` calls.
    pub search_products: AtomicU64,
}

/// Forwards to an inner store and counts each call.
pub struct ProbeStore {
    inner: Arc<dyn Store>,
    /// The counts so far.
    pub counts: Arc<ProbeCounts>,
}

impl ProbeStore {
    /// A probe in front of `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, counts: Arc::default() }
    }
}

#[async_trait]
impl Store for ProbeStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        self.counts.apply.fetch_add(1, Ordering::SeqCst);
        self.inner.apply(changeset).await
    }

    async fn fetch(&self, query: &Query) -> StoreResult<Vec<Record>> {
        self.counts.fetch.fetch_add(1, Ordering::SeqCst);
        self.inner.fetch(query).await
    }

    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        self.counts.order_context.fetch_add(1, Ordering::SeqCst);
        self.inner.order_context(q).await
    }

    async fn search_products(&self, q: &ProductSearchQuery<'_>) -> StoreResult<Vec<SearchHit>> {
        self.counts.search_products.fetch_add(1, Ordering::SeqCst);
        self.inner.search_products(q).await
    }

    async fn purge_events_in_bulk(&self, floors: &[EventFloor]) -> StoreResult<u64> {
        self.counts.purge_events_in_bulk.fetch_add(1, Ordering::SeqCst);
        self.inner.purge_events_in_bulk(floors).await
    }

    async fn health(&self) -> StoreResult<()> {
        self.inner.health().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

/// Asserts that `wrap` (which builds a wrapper around the store it is
/// given) forwards `order_context` as one `order_context` call of the
/// wrapped store and no single reads, `search_products` as one
/// `search_products` call, and forwards `fetch` and `apply`.
///
/// # Panics
/// When the wrapper drops a call or answers `order_context` by itself.
pub async fn assert_forwards_every_call(wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>) {
    let probe = Arc::new(ProbeStore::new(Arc::new(agora_memory::MemoryStore::new())));
    let counts = probe.counts.clone();
    let wrapper = wrap(probe);
    let variants = [VariantId(uuid::Uuid::now_v7())];
    let q = OrderContextQuery {
        idempotency_scope: "orders:x",
        idempotency_key: "k",
        store_id: StoreId(uuid::Uuid::now_v7()),
        address_id: AddressId(uuid::Uuid::now_v7()),
        variant_ids: &variants,
        task_no: Some("T-1"),
    };
    let fetches = counts.fetch.load(Ordering::SeqCst);
    wrapper.order_context(&q).await.expect("order_context");
    assert_eq!(counts.order_context.load(Ordering::SeqCst), 1, "order_context reaches the wrapped store once");
    assert_eq!(counts.fetch.load(Ordering::SeqCst), fetches, "and is not answered with single reads");
    wrapper.fetch(&Query::of::<Shop>().limit(1)).await.expect("fetch");
    assert!(counts.fetch.load(Ordering::SeqCst) > fetches, "fetch reaches the wrapped store");
    let mut cs = Changeset::new();
    cs.delete::<Session>(SessionId(uuid::Uuid::now_v7()));
    wrapper.apply(cs).await.expect("apply");
    assert!(counts.apply.load(Ordering::SeqCst) >= 1, "apply reaches the wrapped store");
    wrapper.purge_events_in_bulk(&[]).await.expect("purge_events_in_bulk");
    assert_eq!(counts.purge_events_in_bulk.load(Ordering::SeqCst), 1, "bulk purges reach the wrapped store");
    let fetches = counts.fetch.load(Ordering::SeqCst);
    let terms = SearchTerms::parse("mug").expect("terms");
    let search = ProductSearchQuery { store_id: q.store_id, status: None, terms: &terms, after: None, limit: 5 };
    wrapper.search_products(&search).await.expect("search_products");
    assert_eq!(counts.search_products.load(Ordering::SeqCst), 1, "search_products reaches the wrapped store once");
    assert_eq!(counts.fetch.load(Ordering::SeqCst), fetches, "and is not answered with single reads");
    wrapper.health().await.expect("health");
}
