//! The ports: read repositories, the [`Store`] with its one write door, and
//! the smaller services the use cases need (locks, rate limits, blobs,
//! password hashing, the idempotency fast path).
//!
//! Every trait is object-safe (`async_trait`), so a deployment picks its
//! adapters at run time as `Arc<dyn Store>` and friends.
//!
//! List reads take a [`Page`]: at most `limit` rows, newest first (descending
//! id, which is creation order for UUID v7), strictly below `before` when set.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::changeset::Changeset;
use crate::error::StoreError;
use crate::ids::*;
use crate::model::*;

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

/// Stores, settings, admin keys and the audit log.
#[async_trait]
pub trait StoreRepository: Send + Sync {
    /// The store with this id.
    async fn get_store(&self, id: StoreId) -> StoreResult<Option<Shop>>;
    /// Every store, newest first (the jobs share their batches out per store).
    async fn list_stores(&self, page: Page) -> StoreResult<Vec<Shop>>;
    /// The store's settings row.
    async fn get_settings(&self, store_id: StoreId) -> StoreResult<Option<StoreSettings>>;
    /// The admin key whose hash is `key_hash`.
    async fn get_admin_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<AdminKey>>;
    /// The store's audit rows, newest first.
    async fn list_audit_logs(&self, store_id: StoreId, page: Page) -> StoreResult<Vec<AuditLog>>;
}

/// Users, addresses and sessions.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// The user with this id.
    async fn get_user(&self, id: UserId) -> StoreResult<Option<AppUser>>;
    /// The user with this normalised email.
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<AppUser>>;
    /// The address with this id.
    async fn get_address(&self, id: AddressId) -> StoreResult<Option<UserAddress>>;
    /// The session whose token hashes to `token_hash`.
    async fn get_session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    /// Up to `limit` sessions with `expires_at <= now`.
    async fn list_expired_sessions(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Session>>;
}

/// Products, variants, images, warehouses and stock.
#[async_trait]
pub trait CatalogRepository: Send + Sync {
    /// The product with this id.
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>>;
    /// A store's products, optionally only those with `status`, newest first.
    async fn list_products(
        &self,
        store_id: StoreId,
        status: Option<ProductStatus>,
        page: Page,
    ) -> StoreResult<Vec<Product>>;
    /// The variants of these products, ordered by (product, created, id).
    async fn list_variants(&self, product_ids: &[ProductId]) -> StoreResult<Vec<ProductVariant>>;
    /// These variants (missing ids are simply absent from the result).
    async fn get_variants(&self, ids: &[VariantId]) -> StoreResult<Vec<ProductVariant>>;
    /// A product's images by position.
    async fn list_images(&self, product_id: ProductId) -> StoreResult<Vec<ProductImage>>;
    /// The warehouse with this id.
    async fn get_warehouse(&self, id: WarehouseId) -> StoreResult<Option<Warehouse>>;
    /// The stock rows of these variants, ordered by (variant, warehouse).
    async fn list_inventory(&self, variant_ids: &[VariantId]) -> StoreResult<Vec<Inventory>>;
    /// Every stock row of a store, ordered by (variant, warehouse).
    async fn list_store_inventory(&self, store_id: StoreId) -> StoreResult<Vec<Inventory>>;
    /// Sum of active reservation quantities per (variant, warehouse) of a store.
    async fn active_reservation_totals(&self, store_id: StoreId) -> StoreResult<Vec<(VariantId, WarehouseId, i64)>>;
}

/// Orders, their lines and their stock holds.
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// The order with this id.
    async fn get_order(&self, id: OrderId) -> StoreResult<Option<CustomerOrder>>;
    /// The lines of these orders, ordered by (order, line_no).
    async fn list_order_items(&self, order_ids: &[OrderId]) -> StoreResult<Vec<OrderItem>>;
    /// A user's orders, newest first.
    async fn list_orders_by_user(&self, user_id: UserId, page: Page) -> StoreResult<Vec<CustomerOrder>>;
    /// A store's orders, optionally with one status, newest first.
    async fn list_orders_by_store(
        &self,
        store_id: StoreId,
        status: Option<OrderStatus>,
        page: Page,
    ) -> StoreResult<Vec<CustomerOrder>>;
    /// Up to `limit` CREATED orders of the store with `reservation_expires_at <= now`, oldest first.
    async fn list_unpaid_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<CustomerOrder>>;
    /// Up to `limit` SHIPPED orders of the store with `shipped_at <= cutoff`, oldest first.
    async fn list_shipped_before(
        &self,
        store_id: StoreId,
        cutoff: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<CustomerOrder>>;
    /// The stock holds of an order.
    async fn list_reservations(&self, order_id: OrderId) -> StoreResult<Vec<InventoryReservation>>;
}

/// Payments and provider events.
#[async_trait]
pub trait PaymentRepository: Send + Sync {
    /// The payment with this id.
    async fn get_payment(&self, id: PaymentId) -> StoreResult<Option<Payment>>;
    /// An order's payments, oldest first.
    async fn list_payments(&self, order_id: OrderId) -> StoreResult<Vec<Payment>>;
    /// The provider event with this (provider, event_id).
    async fn get_payment_event(&self, provider: &str, event_id: &str) -> StoreResult<Option<PaymentEvent>>;
}

/// Help tasks, helps and the payout ledger.
#[async_trait]
pub trait TaskRepository: Send + Sync {
    /// The task with this id.
    async fn get_task(&self, id: TaskId) -> StoreResult<Option<HelpTask>>;
    /// The task with this number.
    async fn get_task_by_no(&self, task_no: &str) -> StoreResult<Option<HelpTask>>;
    /// The task whose owner order is `order_id`.
    async fn get_task_by_order(&self, order_id: OrderId) -> StoreResult<Option<HelpTask>>;
    /// A task's helps, oldest first.
    async fn list_helps(&self, task_id: TaskId) -> StoreResult<Vec<Help>>;
    /// The help made by the helper order `order_id`.
    async fn get_help_by_order(&self, order_id: OrderId) -> StoreResult<Option<Help>>;
    /// Up to `limit` OPEN tasks of the store with `expires_at <= now`, oldest first.
    async fn list_tasks_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<HelpTask>>;
    /// Up to `limit` QUALIFIED tasks of the store with `payout_at <= now`, oldest first.
    async fn list_tasks_payout_due(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<HelpTask>>;
    /// The payout row with this id.
    async fn get_payout(&self, id: PayoutId) -> StoreResult<Option<PayoutLedger>>;
    /// The payout row of a task.
    async fn get_payout_by_task(&self, task_id: TaskId) -> StoreResult<Option<PayoutLedger>>;
    /// A store's payout rows, optionally with one status, newest first.
    async fn list_payouts(
        &self,
        store_id: StoreId,
        status: Option<PayoutStatus>,
        page: Page,
    ) -> StoreResult<Vec<PayoutLedger>>;
}

/// Stored idempotent responses.
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// The record for (scope, key), expired or not.
    async fn get_idempotency(&self, scope: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>>;
    /// Up to `limit` records with `expires_at <= now`.
    async fn list_expired_idempotency(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<IdempotencyRecord>>;
}

/// The append-only activity feed.
#[async_trait]
pub trait EventRepository: Send + Sync {
    /// A store's sequenced events with `seq > after`, in seq order.
    async fn list_events(&self, store_id: StoreId, after: i64, limit: u32) -> StoreResult<Vec<ActivityEvent>>;
    /// Up to `limit` of a store's unsequenced events, oldest first (by id).
    async fn list_unsequenced_events(&self, store_id: StoreId, limit: u32) -> StoreResult<Vec<ActivityEvent>>;
    /// The last seq assigned in the store's feed, 0 when none.
    async fn last_event_seq(&self, store_id: StoreId) -> StoreResult<i64>;
}

/// Export jobs and their audit trail.
#[async_trait]
pub trait ExportRepository: Send + Sync {
    /// The export with this id.
    async fn get_export(&self, id: ExportId) -> StoreResult<Option<ExportJob>>;
    /// Up to `limit` exports with this status, oldest first.
    async fn list_exports_by_status(&self, status: ExportStatus, limit: u32) -> StoreResult<Vec<ExportJob>>;
    /// Up to `limit` READY exports with `expires_at <= now`, oldest first.
    async fn list_exports_expired(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<ExportJob>>;
    /// An export's audit records, oldest first.
    async fn list_export_audit(&self, export_id: ExportId) -> StoreResult<Vec<ExportAuditRecord>>;
}

/// A primary store: every read repository plus the one write door.
#[async_trait]
pub trait Store:
    StoreRepository
    + UserRepository
    + CatalogRepository
    + OrderRepository
    + PaymentRepository
    + TaskRepository
    + IdempotencyRepository
    + EventRepository
    + ExportRepository
    + Send
    + Sync
{
    /// Applies a changeset atomically: every guard is checked against the
    /// committed state and, if all hold, every write is made; otherwise
    /// nothing is written.
    ///
    /// Once this returns `Ok`, the changeset is durable to the adapter's
    /// promise (fsync'd for SQLite at `synchronous=FULL` and PostgreSQL).
    ///
    /// # Errors
    /// - MUST return [`StoreError::GuardFailed`] naming the first failing
    ///   guard (by index) when a guard does not hold, including when a
    ///   concurrent changeset made it false; nothing is written.
    /// - MUST return [`StoreError::Duplicate`] when an insert breaks a
    ///   uniqueness rule no guard covered (primary key, `order_number`,
    ///   `task_no`, ...); nothing is written.
    /// - MUST return [`StoreError::Missing`] when an update or stock
    ///   adjustment names a row that does not exist; nothing is written.
    /// - [`StoreError::Unavailable`] when the backend failed.
    async fn apply(&self, changeset: Changeset) -> StoreResult<()>;

    /// A canonical dump of every table, each sorted by primary key. Used by
    /// the differential test, `verify` and export.
    async fn snapshot(&self) -> StoreResult<Snapshot>;

    /// Ok when the store is reachable and its schema current (`/readyz`).
    async fn health(&self) -> StoreResult<()>;

    /// A short name of the backend: `memory`, `sqlite`, `postgres`.
    fn backend(&self) -> &'static str;

    /// Every read placing one order needs, in one call: the idempotency
    /// record, the store, its settings, the address, the variants, their
    /// products, their stock rows and, when asked, the help task by number.
    ///
    /// # Contract
    /// Each field of the answer MUST equal what the single read named on it
    /// returns (see [`OrderContext`]): absent rows are `None` or simply
    /// missing from the lists, never an error; an address or task is
    /// returned whoever owns it (the caller checks ownership). The reads may
    /// see different moments (the default runs them concurrently) or one
    /// consistent snapshot (SQLite answers from one read transaction); the
    /// caller never relies on more than each row being committed, because
    /// the changeset's guards recheck everything a decision depends on.
    ///
    /// The default implementation issues the existing reads concurrently
    /// (`get_idempotency`, `get_store`, `get_settings`, `get_address`,
    /// `get_variants`, `list_inventory`, and `get_task_by_no` when
    /// `task_no` is set), then `get_product` for each distinct product of
    /// the variants found. So a wrapper that intercepts those reads (a
    /// cache, a shadow reader) stays correct without overriding this; an
    /// adapter overrides it only to answer in fewer round trips.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when any of the reads failed (then
    /// nothing is returned).
    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        let task = async {
            match q.task_no {
                None => Ok(None),
                Some(no) => self.get_task_by_no(no).await,
            }
        };
        let (idempotency, store, settings, address, variants, inventory, task) = futures::join!(
            self.get_idempotency(q.idempotency_scope, q.idempotency_key),
            self.get_store(q.store_id),
            self.get_settings(q.store_id),
            self.get_address(q.address_id),
            self.get_variants(q.variant_ids),
            self.list_inventory(q.variant_ids),
            task,
        );
        let variants = variants?;
        let mut product_ids: Vec<ProductId> = variants.iter().map(|v| v.product_id).collect();
        product_ids.sort();
        product_ids.dedup();
        let products = futures::future::try_join_all(product_ids.iter().map(|id| self.get_product(*id)))
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(OrderContext {
            idempotency: idempotency?,
            store: store?,
            settings: settings?,
            address: address?,
            variants,
            products,
            inventory: inventory?,
            task: task?,
        })
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
    /// `get_product` of each distinct `product_id` of `variants`, each once,
    /// in no particular order.
    pub products: Vec<Product>,
    /// `list_inventory(variant_ids)`: every stock row of those variants, in
    /// every warehouse, ordered by (variant, warehouse).
    pub inventory: Vec<Inventory>,
    /// `get_task_by_no(task_no)` when `task_no` is set, else `None`.
    pub task: Option<HelpTask>,
}

/// Every row of every table, each sorted by primary key; two stores hold the
/// same data exactly when their snapshots are equal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `store`, by id.
    pub stores: Vec<Shop>,
    /// `store_settings`, by store.
    pub settings: Vec<StoreSettings>,
    /// `app_user`, by id.
    pub users: Vec<AppUser>,
    /// `user_address`, by id.
    pub addresses: Vec<UserAddress>,
    /// `session`, by id.
    pub sessions: Vec<Session>,
    /// `admin_key`, by id.
    pub admin_keys: Vec<AdminKey>,
    /// `product`, by id.
    pub products: Vec<Product>,
    /// `product_variant`, by id.
    pub variants: Vec<ProductVariant>,
    /// `product_image`, by id.
    pub images: Vec<ProductImage>,
    /// `warehouse`, by id.
    pub warehouses: Vec<Warehouse>,
    /// `inventory`, by (variant, warehouse).
    pub inventory: Vec<Inventory>,
    /// `inventory_reservation`, by id.
    pub reservations: Vec<InventoryReservation>,
    /// `customer_order`, by id.
    pub orders: Vec<CustomerOrder>,
    /// `order_item`, by id.
    pub order_items: Vec<OrderItem>,
    /// `payment`, by id.
    pub payments: Vec<Payment>,
    /// `payment_event`, by id.
    pub payment_events: Vec<PaymentEvent>,
    /// `help_task`, by id.
    pub tasks: Vec<HelpTask>,
    /// `help`, by id.
    pub helps: Vec<Help>,
    /// `payout_ledger`, by id.
    pub payouts: Vec<PayoutLedger>,
    /// `audit_log`, by id.
    pub audit_logs: Vec<AuditLog>,
    /// `idempotency_key`, by (scope, key).
    pub idempotency: Vec<IdempotencyRecord>,
    /// `activity_event`, by id.
    pub events: Vec<ActivityEvent>,
    /// Each store's last event seq, by store.
    pub event_seqs: Vec<(StoreId, i64)>,
    /// `export_job`, by id.
    pub exports: Vec<ExportJob>,
    /// `export_audit_record`, by id.
    pub export_audit: Vec<ExportAuditRecord>,
}

impl Snapshot {
    /// Sorts every table into its canonical order (adapters may call this
    /// instead of sorting in SQL).
    pub fn canonicalize(&mut self) {
        self.stores.sort_by_key(|r| r.id);
        self.settings.sort_by_key(|r| r.store_id);
        self.users.sort_by_key(|r| r.id);
        self.addresses.sort_by_key(|r| r.id);
        self.sessions.sort_by_key(|r| r.id);
        self.admin_keys.sort_by_key(|r| r.id);
        self.products.sort_by_key(|r| r.id);
        self.variants.sort_by_key(|r| r.id);
        self.images.sort_by_key(|r| r.id);
        self.warehouses.sort_by_key(|r| r.id);
        self.inventory.sort_by_key(|r| (r.variant_id, r.warehouse_id));
        self.reservations.sort_by_key(|r| r.id);
        self.orders.sort_by_key(|r| r.id);
        self.order_items.sort_by_key(|r| r.id);
        self.payments.sort_by_key(|r| r.id);
        self.payment_events.sort_by_key(|r| r.id);
        self.tasks.sort_by_key(|r| r.id);
        self.helps.sort_by_key(|r| r.id);
        self.payouts.sort_by_key(|r| r.id);
        self.audit_logs.sort_by_key(|r| r.id);
        self.idempotency.sort_by(|a, b| (&a.scope, &a.key).cmp(&(&b.scope, &b.key)));
        self.events.sort_by_key(|r| r.id);
        self.event_seqs.sort();
        self.exports.sort_by_key(|r| r.id);
        self.export_audit.sort_by_key(|r| r.id);
    }

    /// Row counts per table, by table name.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("store", self.stores.len()),
            ("store_settings", self.settings.len()),
            ("app_user", self.users.len()),
            ("user_address", self.addresses.len()),
            ("session", self.sessions.len()),
            ("admin_key", self.admin_keys.len()),
            ("product", self.products.len()),
            ("product_variant", self.variants.len()),
            ("product_image", self.images.len()),
            ("warehouse", self.warehouses.len()),
            ("inventory", self.inventory.len()),
            ("inventory_reservation", self.reservations.len()),
            ("customer_order", self.orders.len()),
            ("order_item", self.order_items.len()),
            ("payment", self.payments.len()),
            ("payment_event", self.payment_events.len()),
            ("help_task", self.tasks.len()),
            ("help", self.helps.len()),
            ("payout_ledger", self.payouts.len()),
            ("audit_log", self.audit_logs.len()),
            ("idempotency_key", self.idempotency.len()),
            ("activity_event", self.events.len()),
            ("event_seq", self.event_seqs.len()),
            ("export_job", self.exports.len()),
            ("export_audit_record", self.export_audit.len()),
        ]
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
}

/// Where export files go.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Writes a whole object.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError>;
    /// Reads a whole object, `None` when absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes an object; absent is fine.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Hashes and checks passwords. The runtime wraps the CPU-heavy work in a
/// blocking task; core's [`crate::secrets::Argon2Passwords`] does it inline.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC hash string of `password`, salted from `salt`.
    async fn hash(&self, password: &str, salt: [u8; 16]) -> Result<String, crate::AgoraError>;
    /// Whether `password` matches the PHC string `hash`.
    async fn verify(&self, password: &str, hash: &str) -> bool;
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
