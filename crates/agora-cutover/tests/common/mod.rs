//! Shared fixtures: fresh stores of every kind and a rich history.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agora_core::views::*;
use agora_core::*;
use agora_testkit::{Harness, TestStore};
use async_trait::async_trait;
use time::Duration;

/// A fresh, empty store of `kind`: `memory`, `sqlite` (temp file) or
/// `postgres` (throwaway database on `AGORA_TEST_POSTGRES_URL`).
pub async fn fresh(kind: &str) -> TestStore {
    match kind {
        "memory" => TestStore::memory(),
        "sqlite" => {
            let dir = tempfile::tempdir().expect("tempdir");
            let cfg = agora_sqlite::SqliteConfig::new(dir.path().join("agora.db"));
            let store = agora_sqlite::SqliteStore::open(cfg).await.expect("open sqlite");
            TestStore::new(Arc::new(store), dir)
        }
        "postgres" => {
            let (cfg, guard) = agora_postgres::testing::throwaway_database().await;
            let store =
                agora_postgres::PgStore::connect(cfg).await.expect("connect postgres (AGORA_TEST_POSTGRES_URL)");
            TestStore::new(Arc::new(store), guard)
        }
        other => panic!("unknown store kind {other}"),
    }
}

/// Writes a history touching every table into `store`: two stores (one
/// with a sealed access token), settings changes (audit rows), active and
/// draft products, stock, users with addresses and sessions, orders in
/// every state, payments and provider events, a task with a help and its
/// payout, an export with its audit trail, sequenced and unsequenced
/// events, idempotency records.
pub async fn populate(store: Arc<dyn Store>) -> Harness {
    let h = Harness::new(TestStore::new(store, ()));
    let sa = h.super_admin().await;
    let s = h.store_fixture("shop.example.com").await;
    h.agora
        .create_store(
            &sa,
            NewStore { name: "Tok".into(), domain: "tok.example.com".into(), access_token: Some("tok-secret".into()) },
        )
        .await
        .expect("store with token");
    h.agora
        .patch_settings(
            &s.admin,
            s.id,
            SettingsPatch { required_helpers: Some(1), order_ttl_seconds: Some(600), ..Default::default() },
            Some("203.0.113.9"),
        )
        .await
        .expect("settings");
    let (_p, v) = h.product(&s, "SKU-1", 1000, 100).await;
    let (_p2, v2) = h.product(&s, "SKU-2", 250, 10).await;
    h.agora
        .create_product(
            &s.admin,
            s.id,
            NewProduct {
                title: "Hidden".into(),
                currency: "EUR".into(),
                status: Some("draft".into()),
                variants: vec![NewVariant { sku: "SKU-D".into(), name: "d".into(), price_minor: 5 }],
            },
        )
        .await
        .expect("draft product");
    h.clock.advance(Duration::seconds(1));
    let owner = h.customer_at("owner", "1 Main St", Some("+4915100000001")).await;
    let helper = h.customer_at("helper", "9 Elm St", None).await;
    let _open = h.order(&owner, &s, &[(v, 2), (v2, 1)]).await.expect("open order");
    let paid = h.order(&owner, &s, &[(v, 1)]).await.expect("paid order");
    h.pay(&owner, &paid).await;
    let task = h.agora.create_task(&owner.actor, NewTask { order_id: paid.id }).await.expect("task");
    h.clock.advance(Duration::seconds(1));
    let help = h.order_with_key(&helper, &s, &[(v, 1)], "help-1", Some(&task.task_no)).await.expect("help").order;
    h.pay(&helper, &help).await;
    h.agora.ship_order(&s.admin, OrderId(help.id)).await.expect("ship");
    h.agora.receive_order(&helper.actor, OrderId(help.id)).await.expect("receive");
    h.clock.advance(Duration::seconds(604_800));
    h.agora.settle_due_payouts(s.id, 100).await.expect("payout");
    let cancelled = h.order(&helper, &s, &[(v2, 2)]).await.expect("to cancel");
    h.agora.cancel_order(&helper.actor, OrderId(cancelled.id)).await.expect("cancel");
    h.agora
        .request_export(&s.admin, s.id, NewExport { kind: "orders".into(), format: "jsonl".into() })
        .await
        .expect("export");
    h.agora.run_queued_exports(10, &|_, _| {}).await.expect("run export");
    h.agora.sequence_events(s.id).await.expect("sequence");
    h.clock.advance(Duration::seconds(1));
    h.order(&helper, &s, &[(v, 1)]).await.expect("unsequenced order");
    h
}

/// A store that refuses every changeset after the first `allow` (a crash
/// part-way through a copy).
pub struct Flaky {
    pub inner: Arc<dyn Store>,
    pub allow: u64,
    pub seen: AtomicU64,
}

macro_rules! forward {
    ($( $tr:ident { $( fn $name:ident( $($arg:ident : $aty:ty),* ) -> $ret:ty; )* } )*) => {
        $(
            #[async_trait]
            impl $tr for Flaky {
                $( async fn $name(&self, $($arg: $aty),*) -> StoreResult<$ret> { self.inner.$name($($arg),*).await } )*
            }
        )*
    };
}

forward! {
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
        fn list_expired_sessions(now: time::OffsetDateTime, limit: u32) -> Vec<Session>;
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
        fn list_orders_by_store(store_id: StoreId, status: Option<OrderStatus>, page: Page) -> Vec<CustomerOrder>;
        fn list_unpaid_expired(store_id: StoreId, now: time::OffsetDateTime, limit: u32) -> Vec<CustomerOrder>;
        fn list_shipped_before(store_id: StoreId, cutoff: time::OffsetDateTime, limit: u32) -> Vec<CustomerOrder>;
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
        fn list_tasks_expired(store_id: StoreId, now: time::OffsetDateTime, limit: u32) -> Vec<HelpTask>;
        fn list_tasks_payout_due(store_id: StoreId, now: time::OffsetDateTime, limit: u32) -> Vec<HelpTask>;
        fn get_payout(id: PayoutId) -> Option<PayoutLedger>;
        fn get_payout_by_task(task_id: TaskId) -> Option<PayoutLedger>;
        fn list_payouts(store_id: StoreId, status: Option<PayoutStatus>, page: Page) -> Vec<PayoutLedger>;
    }
    IdempotencyRepository {
        fn get_idempotency(scope: &str, key: &str) -> Option<IdempotencyRecord>;
        fn list_expired_idempotency(now: time::OffsetDateTime, limit: u32) -> Vec<IdempotencyRecord>;
    }
    EventRepository {
        fn list_events(store_id: StoreId, after: i64, limit: u32) -> Vec<ActivityEvent>;
        fn list_unsequenced_events(store_id: StoreId, limit: u32) -> Vec<ActivityEvent>;
        fn last_event_seq(store_id: StoreId) -> i64;
    }
    ExportRepository {
        fn get_export(id: ExportId) -> Option<ExportJob>;
        fn list_exports_by_status(status: ExportStatus, limit: u32) -> Vec<ExportJob>;
        fn list_exports_expired(now: time::OffsetDateTime, limit: u32) -> Vec<ExportJob>;
        fn list_export_audit(export_id: ExportId) -> Vec<ExportAuditRecord>;
    }
}

#[async_trait]
impl Store for Flaky {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.allow {
            return Err(StoreError::Unavailable("flaky: connection lost".into()));
        }
        self.inner.apply(changeset).await
    }
    async fn snapshot(&self) -> StoreResult<Snapshot> {
        self.inner.snapshot().await
    }
    async fn health(&self) -> StoreResult<()> {
        self.inner.health().await
    }
    fn backend(&self) -> &'static str {
        "flaky"
    }
}

/// Panics naming the first difference when two snapshots differ.
pub fn assert_same(a: &Snapshot, b: &Snapshot, what: &str) {
    if a != b {
        panic!("{what}: snapshots differ: {}", agora_testkit::model::first_difference(a, b));
    }
}
