//! The ports: the [`Store`] with its one read and its one write door, and
//! the smaller services the use cases need (locks, rate limits, blobs,
//! password hashing, the idempotency fast path).
//!
//! Every trait is object-safe (`async_trait`), so a deployment picks its
//! adapters at run time as `Arc<dyn Store>` and friends.
//!
//! List reads take a [`Page`]: at most `limit` rows, newest first (descending
//! id, which is creation order for UUID v7), strictly below `before` when set.

use async_trait::async_trait;
use uuid::Uuid;

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::StoreError;
use crate::ids::*;
use crate::model::*;
use crate::query::Query;
use crate::reads::Reads;
use crate::search::{SearchHit, SearchTerms};

/// Keyset pagination: newest first, ids strictly below `before`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Maximum rows, 1..=200 (validated by the use cases).
    pub limit: u32,
    /// Exclusive upper bound on the id.
    pub before: Option<Uuid>,
}

impl Page {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        Self { limit, before: None }
    }
}

/// Result type of every port method.
pub type StoreResult<T> = Result<T, StoreError>;

/// How far retention may remove a store's feed: the events that are past
/// the store's period and read by every derived-data job. See
/// [`crate::Agora::event_floor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFloor {
    /// The store.
    pub store_id: StoreId,
    /// Events at or after this time are kept.
    pub before: time::OffsetDateTime,
    /// Events with a seq above this one are kept.
    pub up_to_seq: i64,
}

/// A primary store: the one read ([`Store::fetch`]), the one write door
/// ([`Store::apply`]), the order read placing an order needs and the
/// product search each backend answers with its own full-text index.
///
/// The trait is small on purpose: every typed read ([`crate::Reads`]) is
/// built on `fetch`, so a wrapper (a cache, a dual-write or shadow-read
/// store, a test probe) that forwards these few methods forwards every
/// read there is or will be, and `order_context` and `search_products`
/// have no default, so no wrapper can silently answer them another way.
#[async_trait]
pub trait Store: Send + Sync {
    /// Applies a changeset atomically: every guard, then every write (with
    /// the conditions writes carry), against the committed state; all
    /// writes or none.
    ///
    /// Once this returns `Ok`, the changeset is durable to the adapter's
    /// promise (fsync'd for SQLite at `synchronous=FULL` and PostgreSQL).
    ///
    /// # Errors
    /// - MUST return [`StoreError::GuardFailed`] naming the first condition
    ///   that does not hold, in [`Changeset::conditions`] order (guards
    ///   first, then writes), including when a concurrent changeset made it
    ///   false; nothing is written. A unique violation that a
    ///   [`crate::Guard::Free`] of the changeset covers is reported as that
    ///   guard.
    /// - MUST return [`StoreError::Duplicate`] when an insert breaks a
    ///   uniqueness rule no guard covered (primary key, `order_number`,
    ///   `task_no`, ...); nothing is written.
    /// - MUST return [`StoreError::Missing`] when an update, a stock change
    ///   or a sequencing write names a row that does not exist, or a stock
    ///   change would leave a figure below zero or more reserved than on
    ///   hand; nothing is written.
    /// - [`StoreError::Unavailable`] when the backend failed.
    async fn apply(&self, changeset: Changeset) -> StoreResult<()>;

    /// The rows of one table that a [`Query`] selects, as [`Record`]s of
    /// that table; see [`crate::query`] for the contract.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend failed;
    /// [`StoreError::Schema`] when a stored row does not decode.
    async fn fetch(&self, query: &Query) -> StoreResult<Vec<Record>>;

    /// Every read placing one order needs, in one call: the idempotency
    /// record, the store, its settings, the address, the variants, their
    /// products, their stock rows and, when asked, the help task by number.
    ///
    /// # Contract
    /// Each field of the answer MUST equal what the single read named on it
    /// returns (see [`OrderContext`]): absent rows are `None` or simply
    /// missing from the lists, never an error; an address or task is
    /// returned whoever owns it (the caller checks ownership). The reads may
    /// see different moments or one consistent snapshot; the caller never
    /// relies on more than each row being committed, because the
    /// changeset's guards recheck everything a decision depends on.
    ///
    /// A store without a faster way answers with [`order_context_by_reads`];
    /// a wrapper forwards to the store it wraps.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when any of the reads failed.
    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext>;

    /// The products of one store that match a search, best first, as
    /// [`SearchHit`]s: the rows of [`ProductSearch`] of `q.store_id` (and of
    /// `q.status`, when set) whose words match every term, each with its
    /// [`crate::search::MatchTier`].
    ///
    /// # Contract
    /// MUST answer exactly what the reference evaluation
    /// ([`crate::search::match_tier`] over every such row) answers, in
    /// [`SearchHit`] order (tier, then descending product id), only hits
    /// strictly after `q.after` when set, at most `q.limit` of them, from
    /// committed rows: every store, and so every deployment, finds the same
    /// products in the same order for the same data. There is no default,
    /// so a wrapper forwards to the store it wraps.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend failed.
    async fn search_products(&self, q: &ProductSearchQuery<'_>) -> StoreResult<Vec<SearchHit>>;

    /// Removes feed events in bulk where the backend has a cheaper way than
    /// deleting rows (PostgreSQL drops whole monthly partitions of
    /// `activity_event`); returns how many events went. Called by the
    /// retention job with every store's [`EventFloor`].
    ///
    /// # Contract
    /// MAY remove an event only when its store has a floor in `floors`, it
    /// is sequenced, its `at` is before the floor's `before`, its seq is at
    /// most the floor's `up_to_seq`, and every event of its store with a
    /// lower seq is removed with it or already gone (each feed stays
    /// gap-free above its floor). MAY remove nothing: the row deletes of
    /// [`crate::Agora::purge_retained`] reach the same events; a store
    /// without a bulk way answers `Ok(0)`, and a wrapper forwards (there is
    /// no default, so none can forget to).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend failed; nothing was
    /// removed by the unit that failed.
    async fn purge_events_in_bulk(&self, floors: &[EventFloor]) -> StoreResult<u64>;

    /// Ok when the store is reachable and its schema current (`/readyz`).
    async fn health(&self) -> StoreResult<()>;

    /// A short name of the backend: `memory`, `sqlite`, `postgres`.
    fn backend(&self) -> &'static str;
}

/// [`Store::order_context`] from single reads, issued concurrently; the
/// products follow the variants.
///
/// # Errors
/// As [`Store::order_context`].
pub async fn order_context_by_reads<S: Store + ?Sized>(
    store: &S,
    q: &OrderContextQuery<'_>,
) -> StoreResult<OrderContext> {
    let task = async {
        match q.task_no {
            None => Ok(None),
            Some(no) => store.get_task_by_no(no).await,
        }
    };
    let (idempotency, shop, settings, address, variants, inventory, task) = futures::join!(
        store.get_idempotency(q.idempotency_scope, q.idempotency_key),
        store.get_store(q.store_id),
        store.get_settings(q.store_id),
        store.get_address(q.address_id),
        store.get_variants(q.variant_ids),
        store.list_inventory(q.variant_ids),
        task,
    );
    let variants = variants?;
    let mut product_ids: Vec<ProductId> = variants.iter().map(|v| v.product_id).collect();
    product_ids.sort();
    product_ids.dedup();
    let products = store.fetch_all::<Product>(Query::of::<Product>().any("id", product_ids)).await?;
    Ok(OrderContext {
        idempotency: idempotency?,
        store: shop?,
        settings: settings?,
        address: address?,
        variants,
        products,
        inventory: inventory?,
        task: task?,
    })
}

/// What [`Store::search_products`] is asked for: one page of a store's
/// search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProductSearchQuery<'a> {
    /// The store searched.
    pub store_id: StoreId,
    /// Only products of this status; every status when `None`.
    pub status: Option<ProductStatus>,
    /// What to find: every term must begin a word of the product.
    pub terms: &'a SearchTerms,
    /// The page starts after this hit (the last of the previous page).
    pub after: Option<SearchHit>,
    /// At most this many hits, 1..=200.
    pub limit: u32,
}

impl ProductSearchQuery<'_> {
    /// The reference answer over `rows` (any rows: those of other stores or
    /// statuses are skipped): what [`Store::search_products`] must return
    /// when these are the store's rows. The memory store answers with it.
    pub fn evaluate<'r>(&self, rows: impl IntoIterator<Item = &'r ProductSearch>) -> Vec<SearchHit> {
        let mut hits: Vec<SearchHit> = rows
            .into_iter()
            .filter(|r| r.store_id == self.store_id && self.status.is_none_or(|s| r.status == s))
            .filter_map(|r| {
                let tier = crate::search::match_tier(self.terms, &r.title_words, &r.other_words)?;
                let hit = SearchHit { tier, product_id: r.product_id };
                self.after.is_none_or(|after| hit > after).then_some(hit)
            })
            .collect();
        let limit = self.limit as usize;
        if hits.len() > limit {
            // The best `limit` first (in no order), then only they are sorted.
            hits.select_nth_unstable(limit);
            hits.truncate(limit);
        }
        hits.sort_unstable();
        hits
    }
}

/// What [`Store::order_context`] is asked for: the keys of the rows placing
/// one order reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderContextQuery<'a> {
    /// Scope of the idempotency record (`orders:{user id}`).
    pub idempotency_scope: &'a str,
    /// The request's `Idempotency-Key`.
    pub idempotency_key: &'a str,
    /// The store ordered from (its row and its settings).
    pub store_id: StoreId,
    /// The delivery address.
    pub address_id: AddressId,
    /// The ordered variants, each once.
    pub variant_ids: &'a [VariantId],
    /// The number of the help task the order helps, if any.
    pub task_no: Option<&'a str>,
}

/// The answer of [`Store::order_context`]; each field is what the named
/// single read returns for the query's keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderContext {
    /// `get_idempotency(scope, key)`: the record, expired or not.
    pub idempotency: Option<IdempotencyRecord>,
    /// `get_store(store_id)`, whatever its status.
    pub store: Option<Shop>,
    /// `get_settings(store_id)`.
    pub settings: Option<StoreSettings>,
    /// `get_address(address_id)`, whoever owns it.
    pub address: Option<UserAddress>,
    /// `get_variants(variant_ids)`: the variants that exist (of any store
    /// and status), in no particular order.
    pub variants: Vec<ProductVariant>,
    /// The product of each distinct `product_id` of `variants`, each once,
    /// in no particular order.
    pub products: Vec<Product>,
    /// `list_inventory(variant_ids)`: every stock row of those variants, in
    /// every warehouse, ordered by (variant, warehouse).
    pub inventory: Vec<Inventory>,
    /// `get_task_by_no(task_no)` when `task_no` is set, else `None`.
    pub task: Option<HelpTask>,
}

impl OrderContext {
    /// The same answer with its lists in a canonical order, for comparing
    /// two stores' answers.
    pub fn canonical(mut self) -> Self {
        self.variants.sort_by_key(|v| v.id);
        self.products.sort_by_key(|p| p.id);
        self
    }
}

/// A held lock; pass it back to [`LockManager::release`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The lock's name.
    pub name: String,
    /// The holder's random token; only the holder can release or extend.
    pub token: String,
}

/// Named locks that save wasted work (two workers doing the same batch).
/// They never keep data correct on their own: guards do that.
#[async_trait]
pub trait LockManager: Send + Sync {
    /// Takes the lock for `ttl` unless someone else holds it.
    async fn try_acquire(&self, name: &str, ttl: std::time::Duration) -> Result<Option<Lease>, StoreError>;
    /// Extends a held lock; false when it was lost.
    async fn extend(&self, lease: &Lease, ttl: std::time::Duration) -> Result<bool, StoreError>;
    /// Releases a held lock; false when it was not held by this lease.
    async fn release(&self, lease: &Lease) -> Result<bool, StoreError>;
}

/// The answer of a rate limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// Go ahead.
    Allowed,
    /// Refused; try again after this many seconds.
    Limited {
        /// Seconds to wait.
        retry_after: u64,
    },
}

/// Counts events per key in a sliding window.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Whether `key` has fewer than `limit` recorded hits in the last `window`; records nothing.
    async fn peek(&self, key: &str, limit: u32, window: std::time::Duration) -> Result<RateDecision, StoreError>;
    /// Records a hit for `key` and says whether it was within `limit` per `window`.
    async fn hit(&self, key: &str, limit: u32, window: std::time::Duration) -> Result<RateDecision, StoreError>;
    /// Takes back the newest recorded hit of `key`, if any: a use case that
    /// reserves its place before doing the counted work (a login's password
    /// check) returns it when the work turned out not to count (the password
    /// was right).
    async fn refund(&self, key: &str) -> Result<(), StoreError>;
}

/// A stream of bytes coming out of a [`BlobStore`] (or going into one from
/// a request). An error item ends it.
pub type ByteStream = futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

/// A stream of bytes going into a [`BlobStore`]; it may borrow from the
/// writer (an export generated page by page). An error item ends it, and
/// the writer then stores nothing.
pub type UploadStream<'a> = futures::stream::BoxStream<'a, Result<bytes::Bytes, std::io::Error>>;

/// An object being read: its size and its bytes.
pub struct BlobObject {
    /// Its length in bytes.
    pub size: u64,
    /// Its bytes, in order.
    pub body: ByteStream,
}

impl std::fmt::Debug for BlobObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobObject").field("size", &self.size).finish_non_exhaustive()
    }
}

/// Where files go: export files, attachments, product images and what
/// processors derive from them. Every process that shares a database must
/// share its blob store (see `object_store_url` in docs/configuration.md).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Writes a whole object held in memory (small objects: a processor's
    /// result). Replaces what `key` held.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend failed.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError>;

    /// Writes an object from a stream, holding at most a few MiB of it in
    /// memory at a time, and returns how many bytes it wrote.
    ///
    /// # Errors
    /// MUST leave nothing readable under `key` (and no partial upload
    /// behind) when `body` yields an error or the backend fails: the
    /// stream's error comes back as [`StoreError::Unavailable`] unless the
    /// caller recognises its own error first.
    async fn put_stream(&self, key: &str, body: UploadStream<'_>) -> Result<u64, StoreError>;

    /// Reads a whole object, `None` when absent.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend failed.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Opens an object for streaming, `None` when absent.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend failed.
    async fn open(&self, key: &str) -> Result<Option<BlobObject>, StoreError>;

    /// Deletes an object; absent is fine.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the backend failed.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Something a connection check can reach besides the store (Redis, the
/// object store); the runtime registers one per configured dependency.
#[async_trait]
pub trait ConnectionProbe: Send + Sync {
    /// Which target it answers for.
    fn target(&self) -> crate::model::ConnectionTarget;
    /// Reaches the dependency once.
    ///
    /// # Errors
    /// What went wrong, in words safe to show an admin (no secrets).
    async fn probe(&self) -> Result<String, String>;
}

/// Hashes and checks passwords. The runtime wraps the CPU-heavy work in a
/// blocking task; core's [`crate::secrets::Argon2Passwords`] does it inline.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC hash string of `password`, salted from `salt`.
    async fn hash(&self, password: &str, salt: [u8; 16]) -> Result<String, crate::AgoraError>;
    /// Whether `password` matches the PHC string `hash`.
    ///
    /// # Errors
    /// [`crate::AgoraError::Unavailable`] when the check could not run now
    /// (the hasher is saturated): the caller answers 503, it does not treat
    /// the password as wrong.
    async fn verify(&self, password: &str, hash: &str) -> Result<bool, crate::AgoraError>;
}

/// What the idempotency fast path knows about a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InFlight {
    /// This caller now holds the in-flight marker.
    Acquired,
    /// Another request with this key is being processed.
    Busy,
    /// A completed response is cached: (fingerprint, status, body).
    Completed {
        /// Fingerprint of the request that produced it.
        fingerprint: String,
        /// Status.
        status: u16,
        /// Body.
        body: String,
    },
}

/// The shared idempotency fast path (Redis). It only saves work and answers
/// retries quickly; the primary store's record stays authoritative.
#[async_trait]
pub trait IdempotencyCache: Send + Sync {
    /// Tries to mark (scope, key) in flight for `lease`.
    async fn begin(&self, scope: &str, key: &str, lease: std::time::Duration) -> Result<InFlight, StoreError>;
    /// Caches the completed response for `ttl` and clears the marker.
    async fn complete(
        &self,
        scope: &str,
        key: &str,
        record: &IdempotencyRecord,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError>;
    /// Clears the marker without a response (the request failed).
    async fn abandon(&self, scope: &str, key: &str) -> Result<(), StoreError>;
}
