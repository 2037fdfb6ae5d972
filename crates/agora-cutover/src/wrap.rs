//! The one forwarding mechanism of the cutover wrappers (and the test
//! forwarders): a [`Wrapper`] says where writes go and may watch the
//! answers of reads; [`Wrapped`] turns it into a [`Store`] that forwards
//! every read — `fetch`, and `order_context` and `search_products` as one
//! call each — to
//! [`Wrapper::reads`]. A wrapper cannot answer a read itself, so no typed
//! read of [`agora_core::Reads`], present or future, and no one-call
//! `order_context` of the wrapped store, can be dropped by it.

use std::sync::Arc;

use agora_core::query::Query;
use agora_core::{
    Changeset, EventFloor, OrderContext, OrderContextQuery, ProductSearchQuery, Record, SearchHit, Store, StoreResult,
};
use async_trait::async_trait;

/// What a wrapper adds around the store(s) it wraps.
#[async_trait]
pub trait Wrapper: Send + Sync {
    /// The store every read is served by.
    fn reads(&self) -> &Arc<dyn Store>;

    /// Applies a changeset: where writes go is what a wrapper decides; by
    /// default, to the read store.
    ///
    /// # Errors
    /// As [`Store::apply`].
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        self.reads().apply(changeset).await
    }

    /// Sees the answer [`Wrapper::reads`] gave to a query (a shadow
    /// comparison); never delays or changes it.
    fn fetched(&self, _query: &Query, _rows: &[Record]) {}

    /// Sees the answer [`Wrapper::reads`] gave to an order read.
    fn order_context_read(&self, _query: &OrderContextQuery<'_>, _answer: &OrderContext) {}

    /// Sees the answer [`Wrapper::reads`] gave to a product search.
    fn searched(&self, _query: &ProductSearchQuery<'_>, _hits: &[SearchHit]) {}

    /// Removes events in bulk from the read store. A second store keeps
    /// them until its own retention (or a cutover copy, which removes from
    /// the target the `deletable` rows gone from the source) reaches them:
    /// the contract allows removing less, never more.
    ///
    /// # Errors
    /// As [`Store::purge_events_in_bulk`].
    async fn purge_events_in_bulk(&self, floors: &[EventFloor]) -> StoreResult<u64> {
        self.reads().purge_events_in_bulk(floors).await
    }

    /// Health: the read store's.
    ///
    /// # Errors
    /// As [`Store::health`].
    async fn health(&self) -> StoreResult<()> {
        self.reads().health().await
    }
}

/// A [`Wrapper`] as a [`Store`]; it dereferences to the wrapper.
#[derive(Clone, Debug)]
pub struct Wrapped<W>(pub W);

impl<W> std::ops::Deref for Wrapped<W> {
    type Target = W;

    fn deref(&self) -> &W {
        &self.0
    }
}

#[async_trait]
impl<W: Wrapper> Store for Wrapped<W> {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        self.0.apply(changeset).await
    }

    async fn fetch(&self, query: &Query) -> StoreResult<Vec<Record>> {
        let rows = self.0.reads().fetch(query).await?;
        self.0.fetched(query, &rows);
        Ok(rows)
    }

    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        let answer = self.0.reads().order_context(q).await?;
        self.0.order_context_read(q, &answer);
        Ok(answer)
    }

    async fn search_products(&self, q: &ProductSearchQuery<'_>) -> StoreResult<Vec<SearchHit>> {
        let hits = self.0.reads().search_products(q).await?;
        self.0.searched(q, &hits);
        Ok(hits)
    }

    async fn purge_events_in_bulk(&self, floors: &[EventFloor]) -> StoreResult<u64> {
        self.0.purge_events_in_bulk(floors).await
    }

    async fn health(&self) -> StoreResult<()> {
        self.0.health().await
    }

    fn backend(&self) -> &'static str {
        self.0.reads().backend()
    }
}
