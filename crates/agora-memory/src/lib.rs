//! # agora-memory
//!
//! The reference adapter: every table is an ordered map behind one lock.
//! It defines the behaviour the SQLite and PostgreSQL adapters are checked
//! against, and it is fast enough for demos and unit tests.
//!
//! Atomicity comes from persistent maps (`imbl`): a changeset is applied to
//! a cheap structural copy of the tables, which replaces the live tables
//! only when every guard held and every write succeeded.

use std::sync::Arc;

use agora_core::changeset::{Changeset, Guard, GuardFailure, Record, Write};
use agora_core::ports::*;
use agora_core::*;
use async_trait::async_trait;
use imbl::OrdMap;
use parking_lot::RwLock;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Default)]
struct Tables {
    stores: OrdMap<StoreId, Shop>,
    domains: OrdMap<String, StoreId>,
    settings: OrdMap<StoreId, StoreSettings>,
    users: OrdMap<UserId, AppUser>,
    emails: OrdMap<String, UserId>,
    addresses: OrdMap<AddressId, UserAddress>,
    sessions: OrdMap<SessionId, Session>,
    session_hashes: OrdMap<String, SessionId>,
    admin_keys: OrdMap<AdminKeyId, AdminKey>,
    admin_key_hashes: OrdMap<String, AdminKeyId>,
    products: OrdMap<ProductId, Product>,
    variants: OrdMap<VariantId, ProductVariant>,
    skus: OrdMap<(StoreId, String), VariantId>,
    variants_by_product: OrdMap<(ProductId, VariantId), ()>,
    images: OrdMap<ImageId, ProductImage>,
    warehouses: OrdMap<WarehouseId, Warehouse>,
    inventory: OrdMap<(VariantId, WarehouseId), Inventory>,
    reservations: OrdMap<ReservationId, InventoryReservation>,
    reservations_by_order: OrdMap<(OrderId, ReservationId), ()>,
    orders: OrdMap<OrderId, CustomerOrder>,
    order_numbers: OrdMap<String, OrderId>,
    order_items: OrdMap<OrderItemId, OrderItem>,
    items_by_order: OrdMap<(OrderId, i32), OrderItemId>,
    payments: OrdMap<PaymentId, Payment>,
    payment_events: OrdMap<PaymentEventId, PaymentEvent>,
    payment_event_keys: OrdMap<(String, String), PaymentEventId>,
    tasks: OrdMap<TaskId, HelpTask>,
    task_numbers: OrdMap<String, TaskId>,
    task_by_order: OrdMap<OrderId, TaskId>,
    helps: OrdMap<HelpId, Help>,
    help_by_helper: OrdMap<(TaskId, UserId), HelpId>,
    help_by_order: OrdMap<OrderId, HelpId>,
    payouts: OrdMap<PayoutId, PayoutLedger>,
    payout_by_task: OrdMap<TaskId, PayoutId>,
    audit: OrdMap<AuditId, AuditLog>,
    idempotency: OrdMap<(String, String), IdempotencyRecord>,
    events: OrdMap<EventId, ActivityEvent>,
    unsequenced: OrdMap<(StoreId, EventId), ()>,
    sequenced: OrdMap<(StoreId, i64), EventId>,
    event_seqs: OrdMap<StoreId, i64>,
    exports: OrdMap<ExportId, ExportJob>,
    export_audit: OrdMap<ExportAuditId, ExportAuditRecord>,
}

/// The in-memory store. Cloning shares the same tables.
#[derive(Clone, Default)]
pub struct MemoryStore {
    tables: Arc<RwLock<Tables>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read<T>(&self, f: impl FnOnce(&Tables) -> T) -> StoreResult<T> {
        Ok(f(&self.tables.read()))
    }
}

fn page_desc<K: Ord + Clone, V: Clone>(
    map: &OrdMap<K, V>,
    page: Page,
    id: impl Fn(&V) -> Uuid,
    keep: impl Fn(&V) -> bool,
) -> Vec<V> {
    map.values()
        .rev()
        .filter(|v| page.before.is_none_or(|b| id(v) < b))
        .filter(|v| keep(v))
        .take(page.limit as usize)
        .cloned()
        .collect()
}

fn dup(what: &str) -> StoreError {
    StoreError::Duplicate(what.to_owned())
}

fn missing(what: &str) -> StoreError {
    StoreError::Missing(what.to_owned())
}

impl Tables {
    fn guard_holds(&self, g: &Guard) -> bool {
        match g {
            Guard::EmailFree { email } => !self.emails.contains_key(email),
            Guard::DomainFree { domain } => !self.domains.contains_key(domain),
            Guard::SkuFree { store_id, sku } => !self.skus.contains_key(&(*store_id, sku.clone())),
            Guard::StockAvailable { variant_id, warehouse_id, qty } => {
                self.inventory.get(&(*variant_id, *warehouse_id)).is_some_and(|r| r.on_hand - r.reserved >= *qty)
            }
            Guard::ReservedWithin { variant_id, warehouse_id, on_hand } => {
                self.inventory.get(&(*variant_id, *warehouse_id)).is_none_or(|r| r.reserved <= *on_hand)
            }
            Guard::OrderStatusIs { order_id, status } => self.orders.get(order_id).is_some_and(|o| o.status == *status),
            Guard::PaymentStatusIs { payment_id, status } => {
                self.payments.get(payment_id).is_some_and(|p| p.status == *status)
            }
            Guard::ReservationStatusIs { reservation_id, status } => {
                self.reservations.get(reservation_id).is_some_and(|r| r.status == *status)
            }
            Guard::TaskStateIs { task_id, status, helps_valid } => {
                self.tasks.get(task_id).is_some_and(|t| t.status == *status && t.helps_valid == *helps_valid)
            }
            Guard::NoTaskForOrder { order_id } => !self.task_by_order.contains_key(order_id),
            Guard::NoHelpByHelper { task_id, helper_user_id } => {
                !self.help_by_helper.contains_key(&(*task_id, *helper_user_id))
            }
            Guard::HelpStatusIs { help_id, status } => self.helps.get(help_id).is_some_and(|h| h.status == *status),
            Guard::NoPayoutForTask { task_id } => !self.payout_by_task.contains_key(task_id),
            Guard::PayoutStatusIs { payout_id, status } => {
                self.payouts.get(payout_id).is_some_and(|p| p.payout_status == *status)
            }
            Guard::IdempotencyKeyFree { scope, key, now } => {
                self.idempotency.get(&(scope.clone(), key.clone())).is_none_or(|r| r.expires_at <= *now)
            }
            Guard::PaymentEventFree { provider, event_id } => {
                !self.payment_event_keys.contains_key(&(provider.clone(), event_id.clone()))
            }
            Guard::SettingsVersionIs { store_id, version } => {
                self.settings.get(store_id).is_some_and(|s| s.version == *version)
            }
            Guard::ProductVersionIs { product_id, version } => {
                self.products.get(product_id).is_some_and(|p| p.version == *version)
            }
            Guard::ExportStatusIs { export_id, status } => {
                self.exports.get(export_id).is_some_and(|e| e.status == *status)
            }
            Guard::EventSeqIs { store_id, last_seq } => {
                self.event_seqs.get(store_id).copied().unwrap_or(0) == *last_seq
            }
        }
    }

    fn insert(&mut self, r: Record) -> StoreResult<()> {
        match r {
            Record::Store(s) => {
                if self.stores.contains_key(&s.id) {
                    return Err(dup("store.id"));
                }
                if self.domains.insert(s.domain.clone(), s.id).is_some() {
                    return Err(dup("store.domain"));
                }
                self.stores.insert(s.id, s);
            }
            Record::StoreSettings(s) => {
                if self.settings.insert(s.store_id, s).is_some() {
                    return Err(dup("store_settings.store_id"));
                }
            }
            Record::User(u) => {
                if self.users.contains_key(&u.id) {
                    return Err(dup("app_user.id"));
                }
                if self.emails.insert(u.email.clone(), u.id).is_some() {
                    return Err(dup("app_user.email"));
                }
                self.users.insert(u.id, u);
            }
            Record::Address(a) => {
                if !self.users.contains_key(&a.user_id) {
                    return Err(missing("app_user"));
                }
                if self.addresses.insert(a.id, a).is_some() {
                    return Err(dup("user_address.id"));
                }
            }
            Record::Session(s) => {
                if self.session_hashes.insert(s.token_hash.clone(), s.id).is_some() {
                    return Err(dup("session.token_hash"));
                }
                if self.sessions.insert(s.id, s).is_some() {
                    return Err(dup("session.id"));
                }
            }
            Record::AdminKey(k) => {
                if self.admin_key_hashes.insert(k.key_hash.clone(), k.id).is_some() {
                    return Err(dup("admin_key.key_hash"));
                }
                if self.admin_keys.insert(k.id, k).is_some() {
                    return Err(dup("admin_key.id"));
                }
            }
            Record::Product(p) => {
                if self.products.insert(p.id, p).is_some() {
                    return Err(dup("product.id"));
                }
            }
            Record::Variant(v) => {
                if !self.products.contains_key(&v.product_id) {
                    return Err(missing("product"));
                }
                if self.skus.insert((v.store_id, v.sku.clone()), v.id).is_some() {
                    return Err(dup("product_variant.sku"));
                }
                self.variants_by_product.insert((v.product_id, v.id), ());
                if self.variants.insert(v.id, v).is_some() {
                    return Err(dup("product_variant.id"));
                }
            }
            Record::Image(i) => {
                if self.images.insert(i.id, i).is_some() {
                    return Err(dup("product_image.id"));
                }
            }
            Record::Warehouse(w) => {
                if self.warehouses.insert(w.id, w).is_some() {
                    return Err(dup("warehouse.id"));
                }
            }
            Record::Reservation(r) => {
                self.reservations_by_order.insert((r.order_id, r.id), ());
                if self.reservations.insert(r.id, r).is_some() {
                    return Err(dup("inventory_reservation.id"));
                }
            }
            Record::Order(o) => {
                if self.order_numbers.insert(o.order_number.clone(), o.id).is_some() {
                    return Err(dup("customer_order.order_number"));
                }
                if self.orders.insert(o.id, o).is_some() {
                    return Err(dup("customer_order.id"));
                }
            }
            Record::OrderItem(i) => {
                if self.items_by_order.insert((i.order_id, i.line_no), i.id).is_some() {
                    return Err(dup("order_item.line_no"));
                }
                if self.order_items.insert(i.id, i).is_some() {
                    return Err(dup("order_item.id"));
                }
            }
            Record::Payment(p) => {
                if self.payments.insert(p.id, p).is_some() {
                    return Err(dup("payment.id"));
                }
            }
            Record::PaymentEvent(e) => {
                if self.payment_event_keys.insert((e.provider.clone(), e.event_id.clone()), e.id).is_some() {
                    return Err(dup("payment_event.provider_event_id"));
                }
                if self.payment_events.insert(e.id, e).is_some() {
                    return Err(dup("payment_event.id"));
                }
            }
            Record::Task(t) => {
                if self.task_numbers.insert(t.task_no.clone(), t.id).is_some() {
                    return Err(dup("help_task.task_no"));
                }
                if self.task_by_order.insert(t.order_id, t.id).is_some() {
                    return Err(dup("help_task.order_id"));
                }
                if self.tasks.insert(t.id, t).is_some() {
                    return Err(dup("help_task.id"));
                }
            }
            Record::Help(h) => {
                if self.help_by_helper.insert((h.task_id, h.helper_user_id), h.id).is_some() {
                    return Err(dup("help.task_helper"));
                }
                if self.help_by_order.insert(h.order_id, h.id).is_some() {
                    return Err(dup("help.order_id"));
                }
                if self.helps.insert(h.id, h).is_some() {
                    return Err(dup("help.id"));
                }
            }
            Record::Payout(p) => {
                if self.payout_by_task.insert(p.task_id, p.id).is_some() {
                    return Err(dup("payout_ledger.task_id"));
                }
                if self.payouts.insert(p.id, p).is_some() {
                    return Err(dup("payout_ledger.id"));
                }
            }
            Record::Audit(a) => {
                if self.audit.insert(a.id, a).is_some() {
                    return Err(dup("audit_log.id"));
                }
            }
            Record::Idempotency(r) => {
                // Replaces an expired record: its guard checked that.
                self.idempotency.insert((r.scope.clone(), r.key.clone()), r);
            }
            Record::Event(e) => {
                match e.seq {
                    None => self.unsequenced.insert((e.store_id, e.id), ()),
                    Some(seq) => self.sequenced.insert((e.store_id, seq), e.id).map(|_| ()),
                };
                if self.events.insert(e.id, e).is_some() {
                    return Err(dup("activity_event.id"));
                }
            }
            Record::Export(j) => {
                if self.exports.insert(j.id, j).is_some() {
                    return Err(dup("export_job.id"));
                }
            }
            Record::ExportAudit(a) => {
                if self.export_audit.insert(a.id, a).is_some() {
                    return Err(dup("export_audit_record.id"));
                }
            }
        }
        Ok(())
    }

    fn update(&mut self, r: Record) -> StoreResult<()> {
        fn replace<K: Ord + Clone, V: Clone>(map: &mut OrdMap<K, V>, k: K, v: V, what: &str) -> StoreResult<V> {
            match map.get_mut(&k) {
                Some(slot) => Ok(std::mem::replace(slot, v)),
                None => Err(missing(what)),
            }
        }
        match r {
            Record::Store(s) => {
                let old = replace(&mut self.stores, s.id, s.clone(), "store")?;
                if old.domain != s.domain {
                    self.domains.remove(&old.domain);
                    if self.domains.insert(s.domain.clone(), s.id).is_some() {
                        return Err(dup("store.domain"));
                    }
                }
            }
            Record::StoreSettings(s) => {
                replace(&mut self.settings, s.store_id, s, "store_settings")?;
            }
            Record::User(u) => {
                let old = replace(&mut self.users, u.id, u.clone(), "app_user")?;
                if old.email != u.email {
                    self.emails.remove(&old.email);
                    if self.emails.insert(u.email.clone(), u.id).is_some() {
                        return Err(dup("app_user.email"));
                    }
                }
            }
            Record::Address(a) => {
                replace(&mut self.addresses, a.id, a, "user_address")?;
            }
            Record::Session(s) => {
                replace(&mut self.sessions, s.id, s, "session")?;
            }
            Record::AdminKey(k) => {
                replace(&mut self.admin_keys, k.id, k, "admin_key")?;
            }
            Record::Product(p) => {
                replace(&mut self.products, p.id, p, "product")?;
            }
            Record::Variant(v) => {
                let old = replace(&mut self.variants, v.id, v.clone(), "product_variant")?;
                if old.sku != v.sku {
                    self.skus.remove(&(old.store_id, old.sku));
                    if self.skus.insert((v.store_id, v.sku.clone()), v.id).is_some() {
                        return Err(dup("product_variant.sku"));
                    }
                }
            }
            Record::Image(i) => {
                replace(&mut self.images, i.id, i, "product_image")?;
            }
            Record::Warehouse(w) => {
                replace(&mut self.warehouses, w.id, w, "warehouse")?;
            }
            Record::Reservation(r) => {
                replace(&mut self.reservations, r.id, r, "inventory_reservation")?;
            }
            Record::Order(o) => {
                replace(&mut self.orders, o.id, o, "customer_order")?;
            }
            Record::OrderItem(i) => {
                replace(&mut self.order_items, i.id, i, "order_item")?;
            }
            Record::Payment(p) => {
                replace(&mut self.payments, p.id, p, "payment")?;
            }
            Record::PaymentEvent(e) => {
                replace(&mut self.payment_events, e.id, e, "payment_event")?;
            }
            Record::Task(t) => {
                replace(&mut self.tasks, t.id, t, "help_task")?;
            }
            Record::Help(h) => {
                replace(&mut self.helps, h.id, h, "help")?;
            }
            Record::Payout(p) => {
                replace(&mut self.payouts, p.id, p, "payout_ledger")?;
            }
            Record::Audit(a) => {
                replace(&mut self.audit, a.id, a, "audit_log")?;
            }
            Record::Idempotency(r) => {
                replace(&mut self.idempotency, (r.scope.clone(), r.key.clone()), r, "idempotency_key")?;
            }
            Record::Event(e) => {
                replace(&mut self.events, e.id, e, "activity_event")?;
            }
            Record::Export(j) => {
                replace(&mut self.exports, j.id, j, "export_job")?;
            }
            Record::ExportAudit(a) => {
                replace(&mut self.export_audit, a.id, a, "export_audit_record")?;
            }
        }
        Ok(())
    }

    fn write(&mut self, w: Write) -> StoreResult<()> {
        match w {
            Write::Insert(r) => self.insert(r),
            Write::Update(r) => self.update(r),
            Write::SetOnHand { variant_id, warehouse_id, store_id, on_hand, at } => {
                let row = self.inventory.entry((variant_id, warehouse_id)).or_insert_with(|| Inventory {
                    variant_id,
                    warehouse_id,
                    store_id,
                    on_hand: 0,
                    reserved: 0,
                    updated_at: at,
                });
                row.on_hand = on_hand;
                row.updated_at = at;
                check_stock(row)
            }
            Write::AdjustStock { variant_id, warehouse_id, on_hand_delta, reserved_delta, at } => {
                let row = self.inventory.get_mut(&(variant_id, warehouse_id)).ok_or_else(|| missing("inventory"))?;
                row.on_hand += on_hand_delta;
                row.reserved += reserved_delta;
                row.updated_at = at;
                check_stock(row)
            }
            Write::SequenceEvent { event_id, store_id, seq } => {
                let e = self.events.get_mut(&event_id).ok_or_else(|| missing("activity_event"))?;
                if e.seq.is_some() {
                    return Err(dup("activity_event.seq already set"));
                }
                e.seq = Some(seq);
                self.unsequenced.remove(&(store_id, event_id));
                if self.sequenced.insert((store_id, seq), event_id).is_some() {
                    return Err(dup("activity_event.store_seq"));
                }
                Ok(())
            }
            Write::SetEventSeq { store_id, last_seq } => {
                self.event_seqs.insert(store_id, last_seq);
                Ok(())
            }
            Write::DeleteSession(id) => {
                if let Some(s) = self.sessions.remove(&id) {
                    self.session_hashes.remove(&s.token_hash);
                }
                Ok(())
            }
            Write::DeleteIdempotency { scope, key } => {
                self.idempotency.remove(&(scope, key));
                Ok(())
            }
        }
    }
}

/// The CHECK constraints of the SQL schemas: stock never negative, never
/// more reserved than on hand.
fn check_stock(row: &Inventory) -> StoreResult<()> {
    if row.on_hand < 0 || row.reserved < 0 || row.reserved > row.on_hand {
        return Err(StoreError::Missing(format!(
            "inventory check violated: on_hand {} reserved {}",
            row.on_hand, row.reserved
        )));
    }
    Ok(())
}

#[async_trait]
impl StoreRepository for MemoryStore {
    async fn get_store(&self, id: StoreId) -> StoreResult<Option<Shop>> {
        self.read(|t| t.stores.get(&id).cloned())
    }
    async fn list_stores(&self, page: Page) -> StoreResult<Vec<Shop>> {
        self.read(|t| page_desc(&t.stores, page, |s| s.id.0, |_| true))
    }
    async fn get_settings(&self, store_id: StoreId) -> StoreResult<Option<StoreSettings>> {
        self.read(|t| t.settings.get(&store_id).cloned())
    }
    async fn get_admin_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<AdminKey>> {
        self.read(|t| t.admin_key_hashes.get(key_hash).and_then(|id| t.admin_keys.get(id)).cloned())
    }
    async fn list_audit_logs(&self, store_id: StoreId, page: Page) -> StoreResult<Vec<AuditLog>> {
        self.read(|t| page_desc(&t.audit, page, |a| a.id.0, |a| a.store_id == store_id))
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn get_user(&self, id: UserId) -> StoreResult<Option<AppUser>> {
        self.read(|t| t.users.get(&id).cloned())
    }
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<AppUser>> {
        self.read(|t| t.emails.get(email).and_then(|id| t.users.get(id)).cloned())
    }
    async fn get_address(&self, id: AddressId) -> StoreResult<Option<UserAddress>> {
        self.read(|t| t.addresses.get(&id).cloned())
    }
    async fn get_session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        self.read(|t| t.session_hashes.get(token_hash).and_then(|id| t.sessions.get(id)).cloned())
    }
    async fn list_expired_sessions(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Session>> {
        self.read(|t| t.sessions.values().filter(|s| s.expires_at <= now).take(limit as usize).cloned().collect())
    }
}

#[async_trait]
impl CatalogRepository for MemoryStore {
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>> {
        self.read(|t| t.products.get(&id).cloned())
    }
    async fn list_products(
        &self,
        store_id: StoreId,
        status: Option<ProductStatus>,
        page: Page,
    ) -> StoreResult<Vec<Product>> {
        self.read(|t| {
            page_desc(&t.products, page, |p| p.id.0, |p| p.store_id == store_id && status.is_none_or(|s| p.status == s))
        })
    }
    async fn list_variants(&self, product_ids: &[ProductId]) -> StoreResult<Vec<ProductVariant>> {
        self.read(|t| {
            let mut ids: Vec<ProductId> = product_ids.to_vec();
            ids.sort();
            ids.dedup();
            let mut out = Vec::new();
            for pid in ids {
                let mut vs: Vec<ProductVariant> = t
                    .variants_by_product
                    .range((pid, VariantId(Uuid::nil()))..=(pid, VariantId(Uuid::max())))
                    .filter_map(|((_, vid), _)| t.variants.get(vid).cloned())
                    .collect();
                vs.sort_by_key(|v| (v.created_at, v.id));
                out.extend(vs);
            }
            out
        })
    }
    async fn get_variants(&self, ids: &[VariantId]) -> StoreResult<Vec<ProductVariant>> {
        self.read(|t| ids.iter().filter_map(|id| t.variants.get(id).cloned()).collect())
    }
    async fn list_images(&self, product_id: ProductId) -> StoreResult<Vec<ProductImage>> {
        self.read(|t| {
            let mut v: Vec<ProductImage> = t.images.values().filter(|i| i.product_id == product_id).cloned().collect();
            v.sort_by_key(|i| (i.position, i.id));
            v
        })
    }
    async fn get_warehouse(&self, id: WarehouseId) -> StoreResult<Option<Warehouse>> {
        self.read(|t| t.warehouses.get(&id).cloned())
    }
    async fn list_inventory(&self, variant_ids: &[VariantId]) -> StoreResult<Vec<Inventory>> {
        self.read(|t| {
            let mut ids = variant_ids.to_vec();
            ids.sort();
            ids.dedup();
            ids.iter()
                .flat_map(|v| {
                    t.inventory
                        .range((*v, WarehouseId(Uuid::nil()))..=(*v, WarehouseId(Uuid::max())))
                        .map(|(_, r)| r.clone())
                })
                .collect()
        })
    }
    async fn list_store_inventory(&self, store_id: StoreId) -> StoreResult<Vec<Inventory>> {
        self.read(|t| t.inventory.values().filter(|r| r.store_id == store_id).cloned().collect())
    }
    async fn active_reservation_totals(&self, store_id: StoreId) -> StoreResult<Vec<(VariantId, WarehouseId, i64)>> {
        self.read(|t| {
            let mut totals: std::collections::BTreeMap<(VariantId, WarehouseId), i64> = Default::default();
            for r in t.reservations.values() {
                if r.store_id == store_id && r.status == ReservationStatus::Active {
                    *totals.entry((r.variant_id, r.warehouse_id)).or_default() += r.qty;
                }
            }
            totals.into_iter().map(|((v, w), q)| (v, w, q)).collect()
        })
    }
}

#[async_trait]
impl OrderRepository for MemoryStore {
    async fn get_order(&self, id: OrderId) -> StoreResult<Option<CustomerOrder>> {
        self.read(|t| t.orders.get(&id).cloned())
    }
    async fn list_order_items(&self, order_ids: &[OrderId]) -> StoreResult<Vec<OrderItem>> {
        self.read(|t| {
            let mut ids = order_ids.to_vec();
            ids.sort();
            ids.dedup();
            ids.iter()
                .flat_map(|o| {
                    t.items_by_order
                        .range((*o, i32::MIN)..=(*o, i32::MAX))
                        .filter_map(|(_, id)| t.order_items.get(id).cloned())
                })
                .collect()
        })
    }
    async fn list_orders_by_user(&self, user_id: UserId, page: Page) -> StoreResult<Vec<CustomerOrder>> {
        self.read(|t| page_desc(&t.orders, page, |o| o.id.0, |o| o.user_id == user_id))
    }
    async fn list_orders_by_store(
        &self,
        store_id: StoreId,
        status: Option<OrderStatus>,
        page: Page,
    ) -> StoreResult<Vec<CustomerOrder>> {
        self.read(|t| {
            page_desc(&t.orders, page, |o| o.id.0, |o| o.store_id == store_id && status.is_none_or(|s| o.status == s))
        })
    }
    async fn list_unpaid_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<CustomerOrder>> {
        self.read(|t| {
            let mut v: Vec<CustomerOrder> = t
                .orders
                .values()
                .filter(|o| {
                    o.store_id == store_id && o.status == OrderStatus::Created && o.reservation_expires_at <= now
                })
                .cloned()
                .collect();
            v.sort_by_key(|o| (o.reservation_expires_at, o.id));
            v.truncate(limit as usize);
            v
        })
    }
    async fn list_shipped_before(
        &self,
        store_id: StoreId,
        cutoff: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<CustomerOrder>> {
        self.read(|t| {
            let mut v: Vec<CustomerOrder> = t
                .orders
                .values()
                .filter(|o| {
                    o.store_id == store_id
                        && o.status == OrderStatus::Shipped
                        && o.shipped_at.is_some_and(|s| s <= cutoff)
                })
                .cloned()
                .collect();
            v.sort_by_key(|o| (o.shipped_at, o.id));
            v.truncate(limit as usize);
            v
        })
    }
    async fn list_reservations(&self, order_id: OrderId) -> StoreResult<Vec<InventoryReservation>> {
        self.read(|t| {
            t.reservations_by_order
                .range((order_id, ReservationId(Uuid::nil()))..=(order_id, ReservationId(Uuid::max())))
                .filter_map(|((_, id), _)| t.reservations.get(id).cloned())
                .collect()
        })
    }
}

#[async_trait]
impl PaymentRepository for MemoryStore {
    async fn get_payment(&self, id: PaymentId) -> StoreResult<Option<Payment>> {
        self.read(|t| t.payments.get(&id).cloned())
    }
    async fn list_payments(&self, order_id: OrderId) -> StoreResult<Vec<Payment>> {
        self.read(|t| t.payments.values().filter(|p| p.order_id == order_id).cloned().collect())
    }
    async fn get_payment_event(&self, provider: &str, event_id: &str) -> StoreResult<Option<PaymentEvent>> {
        self.read(|t| {
            t.payment_event_keys
                .get(&(provider.to_owned(), event_id.to_owned()))
                .and_then(|id| t.payment_events.get(id))
                .cloned()
        })
    }
}

#[async_trait]
impl TaskRepository for MemoryStore {
    async fn get_task(&self, id: TaskId) -> StoreResult<Option<HelpTask>> {
        self.read(|t| t.tasks.get(&id).cloned())
    }
    async fn get_task_by_no(&self, task_no: &str) -> StoreResult<Option<HelpTask>> {
        self.read(|t| t.task_numbers.get(task_no).and_then(|id| t.tasks.get(id)).cloned())
    }
    async fn get_task_by_order(&self, order_id: OrderId) -> StoreResult<Option<HelpTask>> {
        self.read(|t| t.task_by_order.get(&order_id).and_then(|id| t.tasks.get(id)).cloned())
    }
    async fn list_helps(&self, task_id: TaskId) -> StoreResult<Vec<Help>> {
        self.read(|t| t.helps.values().filter(|h| h.task_id == task_id).cloned().collect())
    }
    async fn get_help_by_order(&self, order_id: OrderId) -> StoreResult<Option<Help>> {
        self.read(|t| t.help_by_order.get(&order_id).and_then(|id| t.helps.get(id)).cloned())
    }
    async fn list_tasks_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<HelpTask>> {
        self.read(|t| {
            let mut v: Vec<HelpTask> = t
                .tasks
                .values()
                .filter(|x| x.store_id == store_id && x.status == TaskStatus::Open && x.expires_at <= now)
                .cloned()
                .collect();
            v.sort_by_key(|x| (x.expires_at, x.id));
            v.truncate(limit as usize);
            v
        })
    }
    async fn list_tasks_payout_due(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<HelpTask>> {
        self.read(|t| {
            let mut v: Vec<HelpTask> = t
                .tasks
                .values()
                .filter(|x| {
                    x.store_id == store_id && x.status == TaskStatus::Qualified && x.payout_at.is_some_and(|p| p <= now)
                })
                .cloned()
                .collect();
            v.sort_by_key(|x| (x.payout_at, x.id));
            v.truncate(limit as usize);
            v
        })
    }
    async fn get_payout(&self, id: PayoutId) -> StoreResult<Option<PayoutLedger>> {
        self.read(|t| t.payouts.get(&id).cloned())
    }
    async fn get_payout_by_task(&self, task_id: TaskId) -> StoreResult<Option<PayoutLedger>> {
        self.read(|t| t.payout_by_task.get(&task_id).and_then(|id| t.payouts.get(id)).cloned())
    }
    async fn list_payouts(
        &self,
        store_id: StoreId,
        status: Option<PayoutStatus>,
        page: Page,
    ) -> StoreResult<Vec<PayoutLedger>> {
        self.read(|t| {
            page_desc(
                &t.payouts,
                page,
                |p| p.id.0,
                |p| p.store_id == store_id && status.is_none_or(|s| p.payout_status == s),
            )
        })
    }
}

#[async_trait]
impl IdempotencyRepository for MemoryStore {
    async fn get_idempotency(&self, scope: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.read(|t| t.idempotency.get(&(scope.to_owned(), key.to_owned())).cloned())
    }
    async fn list_expired_idempotency(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<IdempotencyRecord>> {
        self.read(|t| t.idempotency.values().filter(|r| r.expires_at <= now).take(limit as usize).cloned().collect())
    }
}

#[async_trait]
impl EventRepository for MemoryStore {
    async fn list_events(&self, store_id: StoreId, after: i64, limit: u32) -> StoreResult<Vec<ActivityEvent>> {
        self.read(|t| {
            t.sequenced
                .range((store_id, after.saturating_add(1))..=(store_id, i64::MAX))
                .take(limit as usize)
                .filter_map(|(_, id)| t.events.get(id).cloned())
                .collect()
        })
    }
    async fn list_unsequenced_events(&self, store_id: StoreId, limit: u32) -> StoreResult<Vec<ActivityEvent>> {
        self.read(|t| {
            t.unsequenced
                .range((store_id, EventId(Uuid::nil()))..=(store_id, EventId(Uuid::max())))
                .take(limit as usize)
                .filter_map(|((_, id), _)| t.events.get(id).cloned())
                .collect()
        })
    }
    async fn last_event_seq(&self, store_id: StoreId) -> StoreResult<i64> {
        self.read(|t| t.event_seqs.get(&store_id).copied().unwrap_or(0))
    }
}

#[async_trait]
impl ExportRepository for MemoryStore {
    async fn get_export(&self, id: ExportId) -> StoreResult<Option<ExportJob>> {
        self.read(|t| t.exports.get(&id).cloned())
    }
    async fn list_exports_by_status(&self, status: ExportStatus, limit: u32) -> StoreResult<Vec<ExportJob>> {
        self.read(|t| t.exports.values().filter(|e| e.status == status).take(limit as usize).cloned().collect())
    }
    async fn list_exports_expired(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<ExportJob>> {
        self.read(|t| {
            let mut v: Vec<ExportJob> = t
                .exports
                .values()
                .filter(|e| e.status == ExportStatus::Ready && e.expires_at.is_some_and(|x| x <= now))
                .cloned()
                .collect();
            v.sort_by_key(|e| (e.expires_at, e.id));
            v.truncate(limit as usize);
            v
        })
    }
    async fn list_export_audit(&self, export_id: ExportId) -> StoreResult<Vec<ExportAuditRecord>> {
        self.read(|t| t.export_audit.values().filter(|a| a.export_id == export_id).cloned().collect())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        let mut live = self.tables.write();
        for (index, guard) in changeset.guards.iter().enumerate() {
            if !live.guard_holds(guard) {
                return Err(StoreError::GuardFailed(GuardFailure { index, guard: guard.clone() }));
            }
        }
        // Persistent maps make this copy cheap; it becomes live only if
        // every write succeeds.
        let mut next = live.clone();
        for w in changeset.writes {
            next.write(w)?;
        }
        *live = next;
        Ok(())
    }

    async fn snapshot(&self) -> StoreResult<Snapshot> {
        let t = self.tables.read();
        let mut s = Snapshot {
            stores: t.stores.values().cloned().collect(),
            settings: t.settings.values().cloned().collect(),
            users: t.users.values().cloned().collect(),
            addresses: t.addresses.values().cloned().collect(),
            sessions: t.sessions.values().cloned().collect(),
            admin_keys: t.admin_keys.values().cloned().collect(),
            products: t.products.values().cloned().collect(),
            variants: t.variants.values().cloned().collect(),
            images: t.images.values().cloned().collect(),
            warehouses: t.warehouses.values().cloned().collect(),
            inventory: t.inventory.values().cloned().collect(),
            reservations: t.reservations.values().cloned().collect(),
            orders: t.orders.values().cloned().collect(),
            order_items: t.order_items.values().cloned().collect(),
            payments: t.payments.values().cloned().collect(),
            payment_events: t.payment_events.values().cloned().collect(),
            tasks: t.tasks.values().cloned().collect(),
            helps: t.helps.values().cloned().collect(),
            payouts: t.payouts.values().cloned().collect(),
            audit_logs: t.audit.values().cloned().collect(),
            idempotency: t.idempotency.values().cloned().collect(),
            events: t.events.values().cloned().collect(),
            event_seqs: t.event_seqs.iter().map(|(k, v)| (*k, *v)).collect(),
            exports: t.exports.values().cloned().collect(),
            export_audit: t.export_audit.values().cloned().collect(),
        };
        s.canonicalize();
        Ok(s)
    }

    async fn health(&self) -> StoreResult<()> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
