//! Dual writes: the primary decides, the secondary follows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agora_core::{Changeset, Record, Snapshot, Store, StoreError, StoreResult, Write};
use async_trait::async_trait;

/// Calls `$cb!` with every read method of the [`Store`] port, grouped by
/// repository trait: `fn name(arg: Type, ...) -> Output;` (the output is
/// wrapped in `StoreResult`).
macro_rules! with_store_reads {
    ($cb:ident, $ty:ty) => {
        $cb! { $ty;
            StoreRepository {
                fn get_store(id: StoreId) -> Option<Shop>;
                fn list_stores(page: Page) -> Vec<Shop>;
                fn get_settings(store_id: StoreId) -> Option<StoreSettings>;
                fn get_admin_key_by_hash(key_hash: &str) -> Option<AdminKey>;
                fn list_audit_logs(store_id: StoreId, page: Page) -> Vec<AuditLog>;
            }
            UserRepository {
                fn get_user(id: UserId) -> Option<AppUser>;
                fn get_user_by_email(email: &str) -> Option<AppUser>;
                fn get_address(id: AddressId) -> Option<UserAddress>;
                fn get_session_by_hash(token_hash: &str) -> Option<Session>;
                fn list_expired_sessions(now: OffsetDateTime, limit: u32) -> Vec<Session>;
            }
            CatalogRepository {
                fn get_product(id: ProductId) -> Option<Product>;
                fn list_products(store_id: StoreId, status: Option<ProductStatus>, page: Page) -> Vec<Product>;
                fn list_variants(product_ids: &[ProductId]) -> Vec<ProductVariant>;
                fn get_variants(ids: &[VariantId]) -> Vec<ProductVariant>;
                fn list_images(product_id: ProductId) -> Vec<ProductImage>;
                fn get_warehouse(id: WarehouseId) -> Option<Warehouse>;
                fn list_inventory(variant_ids: &[VariantId]) -> Vec<Inventory>;
                fn list_store_inventory(store_id: StoreId) -> Vec<Inventory>;
                fn active_reservation_totals(store_id: StoreId) -> Vec<(VariantId, WarehouseId, i64)>;
            }
            OrderRepository {
                fn get_order(id: OrderId) -> Option<CustomerOrder>;
                fn list_order_items(order_ids: &[OrderId]) -> Vec<OrderItem>;
                fn list_orders_by_user(user_id: UserId, page: Page) -> Vec<CustomerOrder>;
                fn list_orders_by_store(store_id: StoreId, status: Option<OrderStatus>, page: Page)
                    -> Vec<CustomerOrder>;
                fn list_unpaid_expired(store_id: StoreId, now: OffsetDateTime, limit: u32) -> Vec<CustomerOrder>;
                fn list_shipped_before(store_id: StoreId, cutoff: OffsetDateTime, limit: u32) -> Vec<CustomerOrder>;
                fn list_reservations(order_id: OrderId) -> Vec<InventoryReservation>;
            }
            PaymentRepository {
                fn get_payment(id: PaymentId) -> Option<Payment>;
                fn list_payments(order_id: OrderId) -> Vec<Payment>;
                fn get_payment_event(provider: &str, event_id: &str) -> Option<PaymentEvent>;
            }
            TaskRepository {
                fn get_task(id: TaskId) -> Option<HelpTask>;
                fn get_task_by_no(task_no: &str) -> Option<HelpTask>;
                fn get_task_by_order(order_id: OrderId) -> Option<HelpTask>;
                fn list_helps(task_id: TaskId) -> Vec<Help>;
                fn get_help_by_order(order_id: OrderId) -> Option<Help>;
                fn list_tasks_expired(store_id: StoreId, now: OffsetDateTime, limit: u32) -> Vec<HelpTask>;
                fn list_tasks_payout_due(store_id: StoreId, now: OffsetDateTime, limit: u32) -> Vec<HelpTask>;
                fn get_payout(id: PayoutId) -> Option<PayoutLedger>;
                fn get_payout_by_task(task_id: TaskId) -> Option<PayoutLedger>;
                fn list_payouts(store_id: StoreId, status: Option<PayoutStatus>, page: Page) -> Vec<PayoutLedger>;
            }
            IdempotencyRepository {
                fn get_idempotency(scope: &str, key: &str) -> Option<IdempotencyRecord>;
                fn list_expired_idempotency(now: OffsetDateTime, limit: u32) -> Vec<IdempotencyRecord>;
            }
            EventRepository {
                fn list_events(store_id: StoreId, after: i64, limit: u32) -> Vec<ActivityEvent>;
                fn list_unsequenced_events(store_id: StoreId, limit: u32) -> Vec<ActivityEvent>;
                fn last_event_seq(store_id: StoreId) -> i64;
            }
            ExportRepository {
                fn get_export(id: ExportId) -> Option<ExportJob>;
                fn list_exports_by_status(status: ExportStatus, limit: u32) -> Vec<ExportJob>;
                fn list_exports_expired(now: OffsetDateTime, limit: u32) -> Vec<ExportJob>;
                fn list_export_audit(export_id: ExportId) -> Vec<ExportAuditRecord>;
            }
        }
    };
}
pub(crate) use with_store_reads;

/// Every read goes to `self.primary`.
macro_rules! primary_reads {
    ($ty:ty; $( $tr:ident { $( fn $name:ident( $($arg:ident : $aty:ty),* ) -> $ret:ty; )* } )*) => {
        $(
            #[async_trait]
            impl agora_core::$tr for $ty {
                $(
                    async fn $name(&self, $($arg: $aty),*) -> StoreResult<$ret> {
                        self.primary.$name($($arg),*).await
                    }
                )*
            }
        )*
    };
}

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

/// Reads from the primary; every changeset is applied to the primary and,
/// once it committed there, replayed on the secondary.
///
/// The replay carries the writes only, without the guards: the primary has
/// already decided, and the secondary must follow that decision rather than
/// re-decide on state that may still be incomplete while it is backfilled.
/// Changesets that write a common row are applied to both stores under
/// that row's (striped) lock, held from the primary apply to the end of the
/// secondary replay, so the secondary sees writes to any one row in the
/// primary's commit order (stock figures and `updated_at` stamps end up the
/// same). Changesets on disjoint rows commute and run concurrently. The
/// ordering holds within one process: with several api instances dual
/// writing, a same-row race can still diverge; shadow reads and `verify`
/// show it and `copy` repairs it.
///
/// A replay that fails (or takes longer than the timeout) is counted in
/// [`DualWriteStats::secondary_failures`] and in the metric
/// `agora_dual_write_secondary_total{result="failed"}`, logged, and never
/// fails the request; `agora copy` repairs the secondary afterwards.
#[derive(Clone)]
pub struct DualWriteStore {
    pub(crate) primary: Arc<dyn Store>,
    pub(crate) secondary: Arc<dyn Store>,
    stats: Arc<DualWriteStats>,
    timeout: Duration,
    stripes: Arc<Vec<tokio::sync::Mutex<()>>>,
}

/// Row locks are striped over this many mutexes.
const STRIPES: usize = 512;

impl std::fmt::Debug for DualWriteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DualWriteStore")
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
        Self { primary, secondary, stats: Arc::default(), timeout: Duration::from_secs(10), stripes }
    }

    /// Changes how long a replay on the secondary may take before it counts as failed.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

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
    ///
    /// Stock writes are not replayed as deltas: the stock rows they touched
    /// are read back from the primary (still under the row locks, so exactly
    /// as this changeset left them) and the secondary's rows are set to the
    /// same figures, which also heals any drift. When the whole replay is
    /// refused (a row the backfill has not brought yet, or one it brought
    /// already), it is retried write by write as upserts: an insert of a row
    /// the secondary has becomes an update, an update of a row it lacks
    /// becomes an insert.
    async fn replay(&self, writes: Vec<Write>) {
        let mut plain = Vec::with_capacity(writes.len());
        let mut stock = std::collections::BTreeSet::new();
        for w in writes {
            match w {
                Write::SetOnHand { variant_id, warehouse_id, .. }
                | Write::AdjustStock { variant_id, warehouse_id, .. } => {
                    stock.insert((variant_id, warehouse_id));
                }
                other => plain.push(other),
            }
        }
        let work = async {
            let mut all = plain.clone();
            all.extend(self.stock_sync(&stock).await?);
            if all.is_empty() {
                return Ok(());
            }
            if self.secondary.apply(Changeset { guards: Vec::new(), writes: all }).await.is_ok() {
                return Ok(());
            }
            let mut first_error = None;
            for w in plain {
                if let Err(e) = self.upsert(w).await {
                    first_error.get_or_insert(e);
                }
            }
            for w in self.stock_sync(&stock).await? {
                if let Err(e) = self.secondary.apply(Changeset { guards: Vec::new(), writes: vec![w] }).await {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
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

    /// One write on the secondary, as an upsert where that makes sense.
    async fn upsert(&self, w: Write) -> StoreResult<()> {
        let one = |w: Write| Changeset { guards: Vec::new(), writes: vec![w] };
        match self.secondary.apply(one(w.clone())).await {
            Ok(()) => Ok(()),
            // Events only ever change by being sequenced: the secondary's copy stands.
            Err(StoreError::Duplicate(_))
                if matches!(&w, Write::Insert(Record::Event(_)) | Write::SequenceEvent { .. }) =>
            {
                Ok(())
            }
            Err(StoreError::Duplicate(_)) if matches!(&w, Write::Insert(_)) => {
                let Write::Insert(r) = w else { unreachable!("matched above") };
                self.secondary.apply(one(Write::Update(r))).await
            }
            Err(StoreError::Missing(_)) if matches!(&w, Write::Update(_)) => {
                let Write::Update(r) = w else { unreachable!("matched above") };
                self.secondary.apply(one(Write::Insert(r))).await
            }
            Err(e) => Err(e),
        }
    }

    /// Writes setting the secondary's stock rows `keys` to the primary's figures.
    async fn stock_sync(&self, keys: &std::collections::BTreeSet<(VariantId, WarehouseId)>) -> StoreResult<Vec<Write>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let variants: Vec<VariantId> =
            keys.iter().map(|k| k.0).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let on_primary = self.primary.list_inventory(&variants).await?;
        let on_secondary = self.secondary.list_inventory(&variants).await?;
        let mut out = Vec::new();
        for (v, w) in keys {
            let find = |rows: &[Inventory]| rows.iter().find(|r| r.variant_id == *v && r.warehouse_id == *w).cloned();
            match (find(&on_primary), find(&on_secondary)) {
                (Some(p), None) => out.extend(crate::tables::inventory_create(&p)),
                (Some(p), Some(s)) if p != s => out.extend(crate::copy::stock_update(&p, &s)),
                _ => {}
            }
        }
        Ok(out)
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

with_store_reads!(primary_reads, DualWriteStore);

#[async_trait]
impl Store for DualWriteStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        let writes = changeset.writes.clone();
        let mut stripes: Vec<usize> = writes.iter().map(|w| (row_hash(w) % STRIPES as u64) as usize).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut held = Vec::with_capacity(stripes.len());
        for i in stripes {
            held.push(self.stripes[i].lock().await);
        }
        self.primary.apply(changeset).await?;
        self.stats.primary_applied.fetch_add(1, Ordering::Relaxed);
        if !writes.is_empty() {
            self.replay(writes).await;
        }
        drop(held);
        Ok(())
    }

    async fn snapshot(&self) -> StoreResult<Snapshot> {
        self.primary.snapshot().await
    }

    async fn health(&self) -> StoreResult<()> {
        if let Err(e) = self.secondary.health().await {
            tracing::warn!(error = %e, "dual write: the secondary is not healthy");
        }
        self.primary.health().await
    }

    fn backend(&self) -> &'static str {
        self.primary.backend()
    }
}

/// A stable hash of the row a write touches (table + primary key).
fn row_hash(w: &agora_core::Write) -> u64 {
    use agora_core::{Record, Write};
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    match w {
        Write::Insert(r) | Write::Update(r) => match r {
            Record::Store(x) => ("store", x.id.0).hash(&mut h),
            Record::StoreSettings(x) => ("store_settings", x.store_id.0).hash(&mut h),
            Record::User(x) => ("app_user", x.id.0).hash(&mut h),
            Record::Address(x) => ("user_address", x.id.0).hash(&mut h),
            Record::Session(x) => ("session", x.id.0).hash(&mut h),
            Record::AdminKey(x) => ("admin_key", x.id.0).hash(&mut h),
            Record::Product(x) => ("product", x.id.0).hash(&mut h),
            Record::Variant(x) => ("product_variant", x.id.0).hash(&mut h),
            Record::Image(x) => ("product_image", x.id.0).hash(&mut h),
            Record::Warehouse(x) => ("warehouse", x.id.0).hash(&mut h),
            Record::Reservation(x) => ("inventory_reservation", x.id.0).hash(&mut h),
            Record::Order(x) => ("customer_order", x.id.0).hash(&mut h),
            Record::OrderItem(x) => ("order_item", x.id.0).hash(&mut h),
            Record::Payment(x) => ("payment", x.id.0).hash(&mut h),
            Record::PaymentEvent(x) => ("payment_event", x.id.0).hash(&mut h),
            Record::Task(x) => ("help_task", x.id.0).hash(&mut h),
            Record::Help(x) => ("help", x.id.0).hash(&mut h),
            Record::Payout(x) => ("payout_ledger", x.id.0).hash(&mut h),
            Record::Audit(x) => ("audit_log", x.id.0).hash(&mut h),
            Record::Idempotency(x) => ("idempotency_key", &x.scope, &x.key).hash(&mut h),
            Record::Event(x) => ("activity_event", x.id.0).hash(&mut h),
            Record::Export(x) => ("export_job", x.id.0).hash(&mut h),
            Record::ExportAudit(x) => ("export_audit_record", x.id.0).hash(&mut h),
        },
        Write::SetOnHand { variant_id, warehouse_id, .. } | Write::AdjustStock { variant_id, warehouse_id, .. } => {
            ("inventory", variant_id.0, warehouse_id.0).hash(&mut h)
        }
        Write::SequenceEvent { event_id, .. } => ("activity_event", event_id.0).hash(&mut h),
        Write::SetEventSeq { store_id, .. } => ("event_seq", store_id.0).hash(&mut h),
        Write::DeleteSession(id) => ("session", id.0).hash(&mut h),
        Write::DeleteIdempotency { scope, key } => ("idempotency_key", scope, key).hash(&mut h),
    }
    h.finish()
}
