//! Every typed read of the domain, each one [`Query`] through
//! [`Store::fetch`]. They are provided for every store (a blanket
//! implementation, no adapter code), so no wrapper can drop one and a new
//! table's reads need nothing but the query here.

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::catalogue::Catalogued;
use crate::ids::*;
use crate::model::*;
use crate::ports::{Page, Store, StoreResult};
use crate::query::Query;
use crate::schema::Key;

fn typed<T: Catalogued>(rows: Vec<crate::Record>) -> StoreResult<Vec<T>> {
    rows.into_iter()
        .map(|r| {
            let table = r.table().name;
            T::from_record(r).ok_or_else(|| {
                crate::StoreError::Schema(format!("a query of {} answered rows of {table}", T::table().name))
            })
        })
        .collect()
}

/// The typed reads of the domain, available on every [`Store`].
#[async_trait]
pub trait Reads: Store {
    /// The rows of `T` that `query` selects.
    async fn fetch_all<T: Catalogued>(&self, query: Query) -> StoreResult<Vec<T>> {
        typed(self.fetch(&query).await?)
    }

    /// The first row of `T` that `query` selects.
    async fn fetch_one<T: Catalogued>(&self, query: Query) -> StoreResult<Option<T>> {
        Ok(self.fetch_all::<T>(query.limit(1)).await?.into_iter().next())
    }

    /// The row of `T` with primary key `key`.
    async fn get<T: Catalogued, K: Into<Key> + Send>(&self, key: K) -> StoreResult<Option<T>> {
        self.fetch_one::<T>(Query::key::<T>(key)).await
    }

    /// The store with this id.
    async fn get_store(&self, id: StoreId) -> StoreResult<Option<Shop>> {
        self.get(id).await
    }

    /// Every store, newest first (the jobs share their batches out per store).
    async fn list_stores(&self, page: Page) -> StoreResult<Vec<Shop>> {
        self.fetch_all(Query::of::<Shop>().page(page)).await
    }

    /// The store's settings row.
    async fn get_settings(&self, store_id: StoreId) -> StoreResult<Option<StoreSettings>> {
        self.get(store_id).await
    }

    /// The admin key whose hash is `key_hash`.
    async fn get_admin_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<AdminKey>> {
        self.fetch_one(Query::of::<AdminKey>().eq("key_hash", key_hash).asc("id")).await
    }

    /// The store's admin keys, newest first.
    async fn list_admin_keys(&self, store_id: StoreId, page: Page) -> StoreResult<Vec<AdminKey>> {
        self.fetch_all(Query::of::<AdminKey>().eq("store_id", store_id).page(page)).await
    }

    /// The store's audit rows, newest first.
    async fn list_audit_logs(&self, store_id: StoreId, page: Page) -> StoreResult<Vec<AuditLog>> {
        self.fetch_all(Query::of::<AuditLog>().eq("store_id", store_id).page(page)).await
    }

    /// The user with this id.
    async fn get_user(&self, id: UserId) -> StoreResult<Option<AppUser>> {
        self.get(id).await
    }

    /// The user with this normalised email.
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<AppUser>> {
        self.fetch_one(Query::of::<AppUser>().eq("email", email)).await
    }

    /// The address with this id.
    async fn get_address(&self, id: AddressId) -> StoreResult<Option<UserAddress>> {
        self.get(id).await
    }

    /// The session whose token hashes to `token_hash`.
    async fn get_session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        self.fetch_one(Query::of::<Session>().eq("token_hash", token_hash)).await
    }

    /// Up to `limit` sessions with `expires_at <= now`, oldest expiry first
    /// (one index serves the filter and the order).
    async fn list_expired_sessions(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Session>> {
        let q = Query::of::<Session>().le("expires_at", now).asc("expires_at").asc("id");
        self.fetch_all(q.limit(limit)).await
    }

    /// The product with this id.
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>> {
        self.get(id).await
    }

    /// A store's products, optionally only those with `status`, newest first.
    async fn list_products(
        &self,
        store_id: StoreId,
        status: Option<ProductStatus>,
        page: Page,
    ) -> StoreResult<Vec<Product>> {
        let q = Query::of::<Product>().eq("store_id", store_id).is_opt("status", status.map(|s| s.as_str()));
        self.fetch_all(q.page(page)).await
    }

    /// The variants of these products, ordered by (product, created, id).
    async fn list_variants(&self, product_ids: &[ProductId]) -> StoreResult<Vec<ProductVariant>> {
        let q = Query::of::<ProductVariant>().any("product_id", product_ids.iter().copied());
        self.fetch_all(q.asc("product_id").asc("created_at").asc("id")).await
    }

    /// These variants, by id (missing ids are simply absent).
    async fn get_variants(&self, ids: &[VariantId]) -> StoreResult<Vec<ProductVariant>> {
        self.fetch_all(Query::of::<ProductVariant>().any("id", ids.iter().copied()).asc("id")).await
    }

    /// A product's images by position.
    async fn list_images(&self, product_id: ProductId) -> StoreResult<Vec<ProductImage>> {
        self.fetch_all(Query::of::<ProductImage>().eq("product_id", product_id).asc("position").asc("id")).await
    }

    /// The images of these products, ordered by (product, position, id).
    async fn list_images_of(&self, product_ids: &[ProductId]) -> StoreResult<Vec<ProductImage>> {
        let q = Query::of::<ProductImage>().any("product_id", product_ids.iter().copied());
        self.fetch_all(q.asc("product_id").asc("position").asc("id")).await
    }

    /// The warehouse with this id.
    async fn get_warehouse(&self, id: WarehouseId) -> StoreResult<Option<Warehouse>> {
        self.get(id).await
    }

    /// The stock rows of these variants, ordered by (variant, warehouse).
    async fn list_inventory(&self, variant_ids: &[VariantId]) -> StoreResult<Vec<Inventory>> {
        let q = Query::of::<Inventory>().any("variant_id", variant_ids.iter().copied());
        self.fetch_all(q.asc("variant_id").asc("warehouse_id")).await
    }

    /// Every stock row of a store, ordered by (variant, warehouse).
    async fn list_store_inventory(&self, store_id: StoreId) -> StoreResult<Vec<Inventory>> {
        let q = Query::of::<Inventory>().eq("store_id", store_id);
        self.fetch_all(q.asc("variant_id").asc("warehouse_id")).await
    }

    /// Sum of active reservation quantities per (variant, warehouse) of a
    /// store, ordered by (variant, warehouse).
    async fn active_reservation_totals(&self, store_id: StoreId) -> StoreResult<Vec<(VariantId, WarehouseId, i64)>> {
        let q = Query::of::<InventoryReservation>().eq("store_id", store_id).is("status", "active");
        let mut totals: BTreeMap<(VariantId, WarehouseId), i64> = BTreeMap::new();
        for r in self.fetch_all::<InventoryReservation>(q).await? {
            *totals.entry((r.variant_id, r.warehouse_id)).or_default() += r.qty;
        }
        Ok(totals.into_iter().map(|((v, w), n)| (v, w, n)).collect())
    }

    /// The order with this id.
    async fn get_order(&self, id: OrderId) -> StoreResult<Option<CustomerOrder>> {
        self.get(id).await
    }

    /// The lines of these orders, ordered by (order, line_no).
    async fn list_order_items(&self, order_ids: &[OrderId]) -> StoreResult<Vec<OrderItem>> {
        let q = Query::of::<OrderItem>().any("order_id", order_ids.iter().copied());
        self.fetch_all(q.asc("order_id").asc("line_no").asc("id")).await
    }

    /// A user's orders, newest first.
    async fn list_orders_by_user(&self, user_id: UserId, page: Page) -> StoreResult<Vec<CustomerOrder>> {
        self.fetch_all(Query::of::<CustomerOrder>().eq("user_id", user_id).page(page)).await
    }

    /// A store's orders, optionally with one status, newest first.
    async fn list_orders_by_store(
        &self,
        store_id: StoreId,
        status: Option<OrderStatus>,
        page: Page,
    ) -> StoreResult<Vec<CustomerOrder>> {
        let q = Query::of::<CustomerOrder>().eq("store_id", store_id).is_opt("status", status.map(|s| s.as_str()));
        self.fetch_all(q.page(page)).await
    }

    /// Up to `limit` CREATED orders of the store with `reservation_expires_at <= now`, oldest first.
    async fn list_unpaid_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<CustomerOrder>> {
        let q = Query::of::<CustomerOrder>().eq("store_id", store_id).is("status", OrderStatus::Created.as_str());
        let q = q.le("reservation_expires_at", now).asc("reservation_expires_at").asc("id");
        self.fetch_all(q.limit(limit)).await
    }

    /// Up to `limit` SHIPPED orders of the store with `shipped_at <= cutoff`, oldest first.
    async fn list_shipped_before(
        &self,
        store_id: StoreId,
        cutoff: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<CustomerOrder>> {
        let q = Query::of::<CustomerOrder>().eq("store_id", store_id).is("status", OrderStatus::Shipped.as_str());
        self.fetch_all(q.le("shipped_at", cutoff).asc("shipped_at").asc("id").limit(limit)).await
    }

    /// The stock holds of an order, by id.
    async fn list_reservations(&self, order_id: OrderId) -> StoreResult<Vec<InventoryReservation>> {
        self.fetch_all(Query::of::<InventoryReservation>().eq("order_id", order_id).asc("id")).await
    }

    /// The payment with this id.
    async fn get_payment(&self, id: PaymentId) -> StoreResult<Option<Payment>> {
        self.get(id).await
    }

    /// An order's payments, oldest first.
    async fn list_payments(&self, order_id: OrderId) -> StoreResult<Vec<Payment>> {
        self.fetch_all(Query::of::<Payment>().eq("order_id", order_id).asc("created_at").asc("id")).await
    }

    /// The provider event with this (provider, event_id).
    async fn get_payment_event(&self, provider: &str, event_id: &str) -> StoreResult<Option<PaymentEvent>> {
        self.fetch_one(Query::of::<PaymentEvent>().eq("provider", provider).eq("event_id", event_id)).await
    }

    /// The task with this id.
    async fn get_task(&self, id: TaskId) -> StoreResult<Option<HelpTask>> {
        self.get(id).await
    }

    /// The task with this number.
    async fn get_task_by_no(&self, task_no: &str) -> StoreResult<Option<HelpTask>> {
        self.fetch_one(Query::of::<HelpTask>().eq("task_no", task_no)).await
    }

    /// The task whose owner order is `order_id`.
    async fn get_task_by_order(&self, order_id: OrderId) -> StoreResult<Option<HelpTask>> {
        self.fetch_one(Query::of::<HelpTask>().eq("order_id", order_id)).await
    }

    /// A task's helps, oldest first.
    async fn list_helps(&self, task_id: TaskId) -> StoreResult<Vec<Help>> {
        self.fetch_all(Query::of::<Help>().eq("task_id", task_id).asc("id")).await
    }

    /// The help made by the helper order `order_id`.
    async fn get_help_by_order(&self, order_id: OrderId) -> StoreResult<Option<Help>> {
        self.fetch_one(Query::of::<Help>().eq("order_id", order_id)).await
    }

    /// Up to `limit` OPEN tasks of the store with `expires_at <= now`, oldest first.
    async fn list_tasks_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<HelpTask>> {
        let q = Query::of::<HelpTask>().eq("store_id", store_id).is("status", TaskStatus::Open.as_str());
        self.fetch_all(q.le("expires_at", now).asc("expires_at").asc("id").limit(limit)).await
    }

    /// Up to `limit` QUALIFIED tasks of the store with `payout_at <= now`, oldest first.
    async fn list_tasks_payout_due(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<HelpTask>> {
        let q = Query::of::<HelpTask>().eq("store_id", store_id).is("status", TaskStatus::Qualified.as_str());
        self.fetch_all(q.le("payout_at", now).asc("payout_at").asc("id").limit(limit)).await
    }

    /// The payout row with this id.
    async fn get_payout(&self, id: PayoutId) -> StoreResult<Option<PayoutLedger>> {
        self.get(id).await
    }

    /// The payout row of a task.
    async fn get_payout_by_task(&self, task_id: TaskId) -> StoreResult<Option<PayoutLedger>> {
        self.fetch_one(Query::of::<PayoutLedger>().eq("task_id", task_id)).await
    }

    /// A store's payout rows, optionally with one status, newest first.
    async fn list_payouts(
        &self,
        store_id: StoreId,
        status: Option<PayoutStatus>,
        page: Page,
    ) -> StoreResult<Vec<PayoutLedger>> {
        let q = Query::of::<PayoutLedger>().eq("store_id", store_id);
        self.fetch_all(q.is_opt("payout_status", status.map(|s| s.as_str())).page(page)).await
    }

    /// The store's order flags, newest first, optionally of one status.
    async fn list_flags(
        &self,
        store_id: StoreId,
        status: Option<FlagStatus>,
        page: Page,
    ) -> StoreResult<Vec<OrderFlag>> {
        let q = Query::of::<OrderFlag>().eq("store_id", store_id);
        self.fetch_all(q.is_opt("status", status.map(|s| s.as_str())).page(page)).await
    }

    /// The record for (scope, key), expired or not.
    async fn get_idempotency(&self, scope: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.fetch_one(Query::of::<IdempotencyRecord>().eq("scope", scope).eq("key", key)).await
    }

    /// Up to `limit` records with `expires_at <= now`, oldest expiry first
    /// (one index serves the filter and the order).
    async fn list_expired_idempotency(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<IdempotencyRecord>> {
        let q = Query::of::<IdempotencyRecord>().le("expires_at", now).asc("expires_at").asc("scope").asc("key");
        self.fetch_all(q.limit(limit)).await
    }

    /// A store's sequenced events with `seq > after`, in seq order.
    async fn list_events(&self, store_id: StoreId, after: i64, limit: u32) -> StoreResult<Vec<ActivityEvent>> {
        let q = Query::of::<ActivityEvent>().eq("store_id", store_id).not_null("seq").gt("seq", after);
        self.fetch_all(q.asc("seq").limit(limit)).await
    }

    /// Up to `limit` of a store's unsequenced events, oldest first (by id).
    async fn list_unsequenced_events(&self, store_id: StoreId, limit: u32) -> StoreResult<Vec<ActivityEvent>> {
        let q = Query::of::<ActivityEvent>().eq("store_id", store_id).null("seq").asc("id");
        self.fetch_all(q.limit(limit)).await
    }

    /// The last seq assigned in the store's feed, 0 when none.
    async fn last_event_seq(&self, store_id: StoreId) -> StoreResult<i64> {
        Ok(self.get::<EventSeq, _>(store_id).await?.map_or(0, |s| s.last_seq))
    }

    /// The export with this id.
    async fn get_export(&self, id: ExportId) -> StoreResult<Option<ExportJob>> {
        self.get(id).await
    }

    /// Up to `limit` exports with this status, oldest first.
    async fn list_exports_by_status(&self, status: ExportStatus, limit: u32) -> StoreResult<Vec<ExportJob>> {
        self.fetch_all(Query::of::<ExportJob>().is("status", status.as_str()).asc("id").limit(limit)).await
    }

    /// Up to `limit` READY exports with `expires_at <= now`, oldest first.
    async fn list_exports_expired(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<ExportJob>> {
        let q = Query::of::<ExportJob>().is("status", ExportStatus::Ready.as_str()).le("expires_at", now);
        self.fetch_all(q.asc("expires_at").asc("id").limit(limit)).await
    }

    /// An export's audit records, oldest first.
    async fn list_export_audit(&self, export_id: ExportId) -> StoreResult<Vec<ExportAuditRecord>> {
        self.fetch_all(Query::of::<ExportAuditRecord>().eq("export_id", export_id).asc("id")).await
    }
}

impl<S: Store + ?Sized> Reads for S {}
