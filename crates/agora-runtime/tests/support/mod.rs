//! Shared by the job tests of agora-runtime and agora-worker: runtimes over a
//! tempdir, and rows written straight through `Store::apply` (much faster
//! than the HTTP flow) that the jobs will find due.
#![allow(dead_code)]

use std::path::Path;

use agora_core::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A test configuration over `database_url` with `dir` as its data dir.
pub fn config(dir: &Path, database_url: &str) -> agora_runtime::Config {
    let mut c = agora_runtime::Config::load_from(None, Vec::new()).expect("default configuration");
    c.database_url = database_url.to_owned();
    c.data_dir = dir.to_path_buf();
    c.job_interval_ms = 20;
    c.jobs.batch_size = 50;
    c.postgres.max_connections = 4;
    c
}

/// A runtime at the cheapest password cost.
pub async fn runtime(config: agora_runtime::Config) -> agora_runtime::Runtime {
    agora_runtime::Runtime::build_with(config, agora_core::secrets::Argon2Cost::TESTING).await.expect("runtime builds")
}

/// The database URL of `backend` ("memory", "sqlite" or "postgres") for a
/// test in `dir`, and what keeps it alive.
pub async fn database(backend: &str, dir: &Path) -> (String, Option<agora_postgres::testing::DropGuard>) {
    match backend {
        "memory" => ("memory:".to_owned(), None),
        "sqlite" => (format!("sqlite://{}", dir.join("agora.db").display()), None),
        "postgres" => {
            let (cfg, guard) = agora_postgres::testing::throwaway_database().await;
            (cfg.url.clone(), Some(guard))
        }
        other => panic!("unknown backend {other}"),
    }
}

/// A fresh database of one backend in a tempdir of its own (which is also
/// the data dir of runtimes over it), kept while this lives.
pub struct TestDatabase {
    _guard: Option<agora_postgres::testing::DropGuard>,
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl TestDatabase {
    /// A fresh `backend` ("memory", "sqlite" or "postgres") database.
    pub async fn new(backend: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, guard) = database(backend, dir.path()).await;
        Self { _guard: guard, dir, url }
    }

    /// A fresh database and a runtime over it with the test configuration.
    pub async fn with_runtime(backend: &str) -> (Self, agora_runtime::Runtime) {
        let db = Self::new(backend).await;
        let rt = runtime(config(db.dir.path(), &db.url)).await;
        (db, rt)
    }
}

/// Each store's feed is numbered 1..=n without gaps, every event numbered.
pub fn assert_feeds_gapless(snap: &Snapshot) {
    let mut seqs: std::collections::HashMap<StoreId, Vec<i64>> = std::collections::HashMap::new();
    for e in &snap.rows::<ActivityEvent>() {
        seqs.entry(e.store_id).or_default().push(e.seq.expect("every event sequenced"));
    }
    for (store, mut s) in seqs {
        s.sort_unstable();
        let expected: Vec<i64> = (1..=s.len() as i64).collect();
        assert_eq!(s, expected, "feed of {store} has gaps or duplicates");
    }
}

/// Now, truncated to microseconds like core's clocks.
pub fn now() -> OffsetDateTime {
    SystemClock.now()
}

fn id() -> Uuid {
    Uuid::now_v7()
}

fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR")
}

/// A store with default settings.
pub async fn seed_store(store: &dyn Store, name: &str) -> StoreId {
    let at = now();
    let store_id = StoreId(id());
    let mut cs = Changeset::new();
    cs.insert(Record::Store(Shop {
        id: store_id,
        name: name.to_owned(),
        domain: format!("{name}-{}.example", store_id.0.simple()),
        plan: "basic".into(),
        status: StoreStatus::Active,
        access_token: None,
        onboarding: serde_json::json!({}),
        version: 1,
        created_at: at,
        updated_at: at,
    }))
    .insert(Record::StoreSettings(StoreSettings { help_payout_percent: 10, ..StoreSettings::defaults(store_id, at) }));
    store.apply(cs).await.expect("store seeded");
    store_id
}

/// A store with default settings per name.
pub async fn seed_stores<const N: usize>(store: &dyn Store, names: [&str; N]) -> [StoreId; N] {
    let mut ids = [StoreId(Uuid::nil()); N];
    for (id, name) in ids.iter_mut().zip(names) {
        *id = seed_store(store, name).await;
    }
    ids
}

fn owner(cs: &mut Changeset, tag: &str, at: OffsetDateTime) -> (UserId, AddressId) {
    let user_id = UserId(id());
    let address_id = AddressId(id());
    cs.insert(Record::User(AppUser {
        id: user_id,
        name: format!("owner {tag}"),
        email: format!("{}@example.com", user_id.0.simple()),
        phone: None,
        password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        created_at: at,
    }))
    .insert(Record::Address(UserAddress {
        id: address_id,
        user_id,
        line1: format!("{tag} Main St"),
        city: "Berlin".into(),
        postal_code: "10115".into(),
        country: "DE".into(),
        address_hash: format!("hash-{}", user_id.0.simple()),
        created_at: at,
    }));
    (user_id, address_id)
}

fn order(
    store_id: StoreId,
    user_id: UserId,
    address_id: AddressId,
    status: OrderStatus,
    at: OffsetDateTime,
) -> CustomerOrder {
    let order_id = OrderId(id());
    CustomerOrder {
        id: order_id,
        order_number: format!("O{}", order_id.0.simple()),
        store_id,
        user_id,
        address_id,
        address_hash: format!("hash-{}", user_id.0.simple()),
        status,
        amount_minor: 10_000,
        pay_amount_minor: 10_000,
        currency: eur(),
        help_task_no: None,
        created_at: at,
        paid_at: (status != OrderStatus::Created).then_some(at),
        shipped_at: None,
        received_at: None,
        closed_at: None,
        close_reason: None,
        reservation_expires_at: at + Duration::minutes(30),
        updated_at: at,
    }
}

/// `n` QUALIFIED tasks (each with its owner, address and paid order) whose
/// `payout_at` is `payout_at(i)`, written `chunk` per changeset.
pub async fn seed_due_tasks(
    store: &dyn Store,
    store_id: StoreId,
    n: usize,
    payout_at: impl Fn(usize) -> OffsetDateTime,
) -> Vec<TaskId> {
    let mut ids = Vec::with_capacity(n);
    let at = now() - Duration::days(8);
    for start in (0..n).step_by(100) {
        let mut cs = Changeset::new();
        for i in start..(start + 100).min(n) {
            let (user_id, address_id) = owner(&mut cs, &format!("t{i}"), at);
            let o = order(store_id, user_id, address_id, OrderStatus::Paid, at);
            let task_id = TaskId(id());
            cs.insert(Record::Order(o.clone())).insert(Record::Task(HelpTask {
                id: task_id,
                task_no: format!("T{}", task_id.0.simple()),
                store_id,
                order_id: o.id,
                user_id,
                status: TaskStatus::Qualified,
                required_helpers: 0,
                helps_valid: 0,
                created_at: at,
                expires_at: at + Duration::days(1),
                qualified_at: Some(at),
                payout_at: Some(payout_at(i)),
                closed_at: None,
                updated_at: at,
            }));
            ids.push(task_id);
        }
        store.apply(cs).await.expect("tasks seeded");
    }
    ids
}

/// What [`seed_expired_orders`] wrote.
pub struct ExpiredOrders {
    /// The orders.
    pub orders: Vec<OrderId>,
    /// The one stock row they all hold one unit of.
    pub variant_id: VariantId,
    /// Its warehouse.
    pub warehouse_id: WarehouseId,
    /// Its on-hand figure.
    pub on_hand: i64,
}

/// `n` CREATED orders whose reservations expired, each holding one unit of
/// one stock row (`reserved == n`).
pub async fn seed_expired_orders(store: &dyn Store, store_id: StoreId, n: usize) -> ExpiredOrders {
    let at = now() - Duration::hours(2);
    let (product_id, variant_id, warehouse_id) = (ProductId(id()), VariantId(id()), WarehouseId(id()));
    let on_hand = n as i64 + 10;
    let mut cs = Changeset::new();
    cs.insert(Record::Product(Product {
        id: product_id,
        store_id,
        title: "Widget".into(),
        status: ProductStatus::Active,
        currency: eur(),
        version: 1,
        created_at: at,
        updated_at: at,
    }))
    .insert(Record::Variant(ProductVariant {
        id: variant_id,
        product_id,
        store_id,
        sku: format!("W-{}", variant_id.0.simple()),
        name: "Widget".into(),
        price_minor: 10_000,
        status: ProductStatus::Active,
        created_at: at,
    }))
    .insert(Record::Warehouse(Warehouse { id: warehouse_id, store_id, name: "main".into(), created_at: at }))
    .stock(variant_id, warehouse_id, at, StockChange::SetOnHand { store_id, on_hand });
    store.apply(cs).await.expect("catalog seeded");
    let mut orders = Vec::with_capacity(n);
    for start in (0..n).step_by(100) {
        let mut cs = Changeset::new();
        let count = (start + 100).min(n) - start;
        for i in start..start + count {
            let (user_id, address_id) = owner(&mut cs, &format!("o{i}"), at);
            let mut o = order(store_id, user_id, address_id, OrderStatus::Created, at);
            o.reservation_expires_at = at + Duration::minutes(30);
            cs.insert(Record::Order(o.clone())).insert(Record::Reservation(InventoryReservation {
                id: ReservationId(id()),
                order_id: o.id,
                store_id,
                variant_id,
                warehouse_id,
                qty: 1,
                status: ReservationStatus::Active,
                expires_at: o.reservation_expires_at,
                created_at: at,
                updated_at: at,
            }));
            orders.push(o.id);
        }
        cs.stock(variant_id, warehouse_id, at, StockChange::Adjust { on_hand: 0, reserved: count as i64 });
        store.apply(cs).await.expect("orders seeded");
    }
    ExpiredOrders { orders, variant_id, warehouse_id, on_hand }
}

/// Checks the ledger invariants: exactly one payout per settled task, none
/// for others, and one `payout.created` event per payout.
pub fn assert_payouts_exact(snap: &Snapshot, expected: usize) {
    let settled: Vec<&HelpTask> =
        snap.rows::<agora_core::HelpTask>().into_iter().filter(|t| t.status == TaskStatus::Settled).collect();
    assert_eq!(snap.rows::<agora_core::PayoutLedger>().len(), expected, "payout rows");
    assert_eq!(settled.len(), expected, "settled tasks");
    let mut per_task: std::collections::HashMap<TaskId, usize> = std::collections::HashMap::new();
    for p in &snap.rows::<agora_core::PayoutLedger>() {
        *per_task.entry(p.task_id).or_default() += 1;
    }
    assert!(per_task.values().all(|n| *n == 1), "a task has two payout rows");
    assert!(settled.iter().all(|t| per_task.contains_key(&t.id)), "a settled task has no payout row");
    let events = snap.rows::<agora_core::ActivityEvent>().into_iter().filter(|e| e.kind == "payout.created").count();
    assert_eq!(events, expected, "payout.created events");
}
