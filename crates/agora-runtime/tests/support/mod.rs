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
    seed_store_with(store, name, |_| {}).await
}

/// A store whose settings are [`seed_store`]'s as changed by `adjust`.
pub async fn seed_store_with(store: &dyn Store, name: &str, adjust: impl FnOnce(&mut StoreSettings)) -> StoreId {
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
    .insert(Record::StoreSettings({
        let mut settings = StoreSettings { help_payout_percent: 10, ..StoreSettings::defaults(store_id, at) };
        adjust(&mut settings);
        settings
    }));
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
        refunded_minor: 0,
        refund_pending_minor: 0,
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

/// What [`seed_variant`] wrote: an active product with one variant and its
/// one stock row.
pub struct StockedVariant {
    /// The product.
    pub product_id: ProductId,
    /// Its variant.
    pub variant_id: VariantId,
    /// Its SKU.
    pub sku: String,
    /// The warehouse of its stock row.
    pub warehouse_id: WarehouseId,
    /// The stock row's on-hand figure (nothing reserved).
    pub on_hand: i64,
}

/// An active product `title` with one variant priced 25.00 EUR and a stock
/// row of `on_hand` units in a warehouse of its own.
pub async fn seed_variant(store: &dyn Store, store_id: StoreId, title: &str, on_hand: i64) -> StockedVariant {
    let at = now() - Duration::days(30);
    let (product_id, variant_id, warehouse_id) = (ProductId(id()), VariantId(id()), WarehouseId(id()));
    let sku = format!("{title}-{}", variant_id.0.simple());
    let mut cs = Changeset::new();
    cs.insert(Record::Product(Product {
        id: product_id,
        store_id,
        title: title.to_owned(),
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
        sku: sku.clone(),
        name: title.to_owned(),
        price_minor: 2_500,
        status: ProductStatus::Active,
        created_at: at,
    }))
    .insert(Record::Warehouse(Warehouse { id: warehouse_id, store_id, name: title.to_owned(), created_at: at }))
    .stock(variant_id, warehouse_id, at, StockChange::SetOnHand { store_id, on_hand });
    store.apply(cs).await.expect("variant seeded");
    StockedVariant { product_id, variant_id, sku, warehouse_id, on_hand }
}

/// `n` OPEN tasks (each with its owner and paid order) whose `expires_at`
/// passed an hour ago: due for the `expire_tasks` job.
pub async fn seed_expired_open_tasks(store: &dyn Store, store_id: StoreId, n: usize) -> Vec<TaskId> {
    let at = now() - Duration::days(2);
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(100) {
        let mut cs = Changeset::new();
        for i in start..(start + 100).min(n) {
            let (user_id, address_id) = owner(&mut cs, &format!("x{i}"), at);
            let o = order(store_id, user_id, address_id, OrderStatus::Paid, at);
            let task_id = TaskId(id());
            cs.insert(Record::Order(o.clone())).insert(Record::Task(HelpTask {
                id: task_id,
                task_no: format!("T{}", task_id.0.simple()),
                store_id,
                order_id: o.id,
                user_id,
                status: TaskStatus::Open,
                required_helpers: 3,
                helps_valid: 0,
                created_at: at,
                expires_at: now() - Duration::hours(1),
                qualified_at: None,
                payout_at: None,
                closed_at: None,
                updated_at: at,
            }));
            ids.push(task_id);
        }
        store.apply(cs).await.expect("open tasks seeded");
    }
    ids
}

/// What [`seed_shipped_orders`] wrote.
pub struct ShippedOrders {
    /// The orders.
    pub orders: Vec<OrderId>,
    /// The variant each order has one line of.
    pub variant: StockedVariant,
    /// Units per line.
    pub qty: i64,
}

/// `n` SHIPPED orders, paid an hour before `shipped_at`, each of one line of
/// `qty` units of a variant of their own (with `on_hand` units left in
/// stock): due for the `auto_receive` job once the store's
/// `auto_receive_seconds` passed since `shipped_at`.
pub async fn seed_shipped_orders(
    store: &dyn Store,
    store_id: StoreId,
    n: usize,
    qty: i64,
    on_hand: i64,
    shipped_at: OffsetDateTime,
) -> ShippedOrders {
    let variant = seed_variant(store, store_id, "Seller", on_hand).await;
    let paid_at = shipped_at - Duration::hours(1);
    let mut orders = Vec::with_capacity(n);
    for start in (0..n).step_by(100) {
        let mut cs = Changeset::new();
        for i in start..(start + 100).min(n) {
            let (user_id, address_id) = owner(&mut cs, &format!("s{i}"), paid_at);
            let mut o = order(store_id, user_id, address_id, OrderStatus::Shipped, paid_at);
            o.amount_minor = 2_500 * qty;
            o.pay_amount_minor = 2_500 * qty;
            o.shipped_at = Some(shipped_at);
            cs.insert(Record::Order(o.clone())).insert(Record::OrderItem(OrderItem {
                id: OrderItemId(id()),
                order_id: o.id,
                line_no: 1,
                variant_id: variant.variant_id,
                sku: variant.sku.clone(),
                qty,
                unit_price_minor: 2_500,
            }));
            orders.push(o.id);
        }
        store.apply(cs).await.expect("shipped orders seeded");
    }
    ShippedOrders { orders, variant, qty }
}

/// `n` OPEN tasks created two days ago that need one help each, each with a
/// PENDING help whose helper's order was SHIPPED at `shipped_at`: when
/// `auto_receive` receives that order the help turns VALID and the task
/// QUALIFIED, due for payout after the store's `payout_cooling_seconds`.
/// The helpers `younger(i)` names signed up after their task (the risk
/// rules hold their payout); the others long before.
pub async fn seed_helped_tasks(
    store: &dyn Store,
    store_id: StoreId,
    n: usize,
    shipped_at: OffsetDateTime,
    younger: impl Fn(usize) -> bool,
) -> Vec<TaskId> {
    let task_at = now() - Duration::days(2);
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(50) {
        let mut cs = Changeset::new();
        for i in start..(start + 50).min(n) {
            let (owner_id, owner_address) = owner(&mut cs, &format!("h{i}"), task_at - Duration::days(10));
            let owner_order = order(store_id, owner_id, owner_address, OrderStatus::Paid, task_at);
            let task_id = TaskId(id());
            let task_no = format!("T{}", task_id.0.simple());
            let helper_at = if younger(i) { task_at + Duration::hours(1) } else { task_at - Duration::days(10) };
            let (helper_id, helper_address) = owner(&mut cs, &format!("helper{i}"), helper_at);
            let mut helper_order =
                order(store_id, helper_id, helper_address, OrderStatus::Shipped, task_at + Duration::hours(2));
            helper_order.help_task_no = Some(task_no.clone());
            helper_order.shipped_at = Some(shipped_at);
            cs.insert(Record::Order(owner_order.clone()))
                .insert(Record::Task(HelpTask {
                    id: task_id,
                    task_no,
                    store_id,
                    order_id: owner_order.id,
                    user_id: owner_id,
                    status: TaskStatus::Open,
                    required_helpers: 1,
                    helps_valid: 0,
                    created_at: task_at,
                    expires_at: now() + Duration::days(1),
                    qualified_at: None,
                    payout_at: None,
                    closed_at: None,
                    updated_at: task_at,
                }))
                .insert(Record::Order(helper_order.clone()))
                .insert(Record::Help(Help {
                    id: HelpId(id()),
                    task_id,
                    helper_user_id: helper_id,
                    order_id: helper_order.id,
                    status: HelpStatus::Pending,
                    created_at: task_at + Duration::hours(2),
                    received_at: None,
                }));
            ids.push(task_id);
        }
        store.apply(cs).await.expect("helped tasks seeded");
    }
    ids
}

/// What [`seed_retention_backlog`] wrote: per kind, the rows past the
/// store's retention periods (`old`, due) and those within them (`kept`).
#[derive(Debug, Default)]
pub struct RetentionBacklog {
    /// Feed events of 90 days ago.
    pub old_events: Vec<EventId>,
    /// Feed events of a day ago.
    pub kept_events: Vec<EventId>,
    /// Audit rows of 90 days ago.
    pub old_audit: Vec<AuditId>,
    /// Audit rows of a day ago.
    pub kept_audit: Vec<AuditId>,
    /// Connection checks of 100 days ago.
    pub old_checks: Vec<ConnectionCheckId>,
    /// Connection checks of a day ago.
    pub kept_checks: Vec<ConnectionCheckId>,
    /// Unsent reply drafts of 200 days ago.
    pub old_drafts: Vec<DraftId>,
    /// Reply drafts of 200 days ago that were sent, and unsent ones of a day ago.
    pub kept_drafts: Vec<DraftId>,
}

/// `old` rows of each kind the `retention` job deletes and `kept` ones it
/// must keep: unsequenced feed events of 90 days ago (then the kept ones, of
/// a day ago), audit rows of 90 days ago, connection checks of 100 days ago
/// (the default period is 90 days), unsent reply drafts of 200 days ago (the
/// default is 180; sent ones stay whatever their age). Events and audit rows
/// are due only with the store's `retention_events_days` and
/// `retention_audit_logs_days` set between 2 and 89. Written oldest first
/// and before anything else writes events for the store, so the old events
/// are the bottom of its feed once sequenced.
pub async fn seed_retention_backlog(store: &dyn Store, store_id: StoreId, old: usize, kept: usize) -> RetentionBacklog {
    let t = now();
    let mut out = RetentionBacklog::default();
    let event = |at: OffsetDateTime, kind: &str| ActivityEvent {
        id: EventId(id()),
        store_id,
        seq: None,
        entity_type: "store".into(),
        entity_id: store_id.0,
        kind: kind.into(),
        payload: serde_json::json!({"seeded": true}),
        at,
    };
    let audit = |at: OffsetDateTime, i: usize| AuditLog {
        id: AuditId(id()),
        store_id,
        at,
        actor_masked: "test".into(),
        ip: None,
        key: format!("test_setting:{i}"),
        from: Some("a".into()),
        to: Some("b".into()),
    };
    let check = |at: OffsetDateTime| ConnectionCheck {
        id: ConnectionCheckId(id()),
        store_id,
        target: ConnectionTarget::Database,
        ok: true,
        latency_ms: 1,
        detail: "ok".into(),
        at,
    };
    let mut cs = Changeset::new();
    for _ in 0..old {
        let e = event(t - Duration::days(90), "test.old");
        out.old_events.push(e.id);
        cs.insert(Record::Event(e));
    }
    store.apply(cs).await.expect("old events seeded");
    let mut cs = Changeset::new();
    for _ in 0..kept {
        let e = event(t - Duration::days(1), "test.kept");
        out.kept_events.push(e.id);
        cs.insert(Record::Event(e));
    }
    for i in 0..old {
        let a = audit(t - Duration::days(90), i);
        out.old_audit.push(a.id);
        cs.insert(Record::Audit(a));
    }
    for _ in 0..old {
        let c = check(t - Duration::days(100));
        out.old_checks.push(c.id);
        cs.insert(Record::ConnectionCheck(c));
    }
    store.apply(cs).await.expect("old rows seeded");
    let mut cs = Changeset::new();
    for i in 0..kept {
        let a = audit(t - Duration::days(1), old + i);
        out.kept_audit.push(a.id);
        cs.insert(Record::Audit(a));
        let c = check(t - Duration::days(1));
        out.kept_checks.push(c.id);
        cs.insert(Record::ConnectionCheck(c));
    }
    let (user_id, _) = owner(&mut cs, "ticket", t - Duration::days(300));
    let ticket_id = TicketId(id());
    let long_ago = t - Duration::days(250);
    cs.insert(Record::Ticket(Ticket {
        id: ticket_id,
        number: format!("TK{}", ticket_id.0.simple()),
        store_id,
        user_id,
        order_id: None,
        subject: "where is my order".into(),
        status: TicketStatus::Open,
        priority: TicketPriority::Normal,
        unread_for_customer: 0,
        unread_for_store: 0,
        last_message_at: long_ago,
        version: 1,
        created_at: long_ago,
        updated_at: long_ago,
    }));
    let draft = |at: OffsetDateTime, status: DraftStatus| ReplyDraft {
        id: DraftId(id()),
        ticket_id,
        store_id,
        body: "on its way".into(),
        source: DraftSource::Template,
        model: None,
        model_version: None,
        status,
        final_body: None,
        approved: None,
        reward_milli: None,
        feedback: None,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    for i in 0..old {
        let status = if i % 2 == 0 { DraftStatus::Proposed } else { DraftStatus::Discarded };
        let d = draft(t - Duration::days(200), status);
        out.old_drafts.push(d.id);
        cs.insert(Record::Draft(d));
    }
    for i in 0..kept {
        let d = if i % 2 == 0 {
            draft(t - Duration::days(200), DraftStatus::Sent)
        } else {
            draft(t - Duration::days(1), DraftStatus::Proposed)
        };
        out.kept_drafts.push(d.id);
        cs.insert(Record::Draft(d));
    }
    store.apply(cs).await.expect("retention backlog seeded");
    out
}

/// What [`seed_expiring_records`] wrote.
#[derive(Debug, Default)]
pub struct ExpiringRecords {
    /// Idempotency records past their lifetime (scope, key).
    pub expired_idempotency: Vec<(String, String)>,
    /// Idempotency records within it.
    pub live_idempotency: Vec<(String, String)>,
    /// Sessions past their expiry.
    pub expired_sessions: Vec<SessionId>,
    /// Sessions within it.
    pub live_sessions: Vec<SessionId>,
}

/// `expired` idempotency records and sessions past their lifetime (due for
/// the `retention` job) and `live` ones within it.
pub async fn seed_expiring_records(store: &dyn Store, expired: usize, live: usize) -> ExpiringRecords {
    let t = now();
    let mut out = ExpiringRecords::default();
    let mut cs = Changeset::new();
    let (user_id, _) = owner(&mut cs, "sessions", t - Duration::days(30));
    for i in 0..expired + live {
        let (created_at, expires_at) = if i < expired {
            (t - Duration::days(3), t - Duration::days(2))
        } else {
            (t - Duration::hours(1), t + Duration::hours(23))
        };
        let r = IdempotencyRecord {
            scope: format!("test:{}", id().simple()),
            key: format!("key-{i}"),
            fingerprint: "fingerprint".into(),
            response_status: 201,
            response_body: "{}".into(),
            resource_id: None,
            created_at,
            expires_at,
        };
        let s = Session {
            id: SessionId(id()),
            user_id,
            token_hash: format!("hash-{}", id().simple()),
            created_at,
            expires_at,
        };
        if i < expired {
            out.expired_idempotency.push((r.scope.clone(), r.key.clone()));
            out.expired_sessions.push(s.id);
        } else {
            out.live_idempotency.push((r.scope.clone(), r.key.clone()));
            out.live_sessions.push(s.id);
        }
        cs.insert(Record::Idempotency(r)).insert(Record::Session(s));
    }
    store.apply(cs).await.expect("idempotency records and sessions seeded");
    out
}

fn export_job(store_id: StoreId, format: ExportFormat, at: OffsetDateTime) -> ExportJob {
    ExportJob {
        id: ExportId(id()),
        store_id,
        kind: ExportKind::Orders,
        format,
        status: ExportStatus::Queued,
        rows: 0,
        bytes: 0,
        blob_key: None,
        error: None,
        requested_by: "agora_ad...test".into(),
        created_at: at,
        started_at: None,
        finished_at: None,
        expires_at: None,
    }
}

/// `n` queued exports of a store's orders (CSV and JSON lines by turns),
/// each with its `requested` audit record as the api writes it.
pub async fn seed_queued_exports(store: &dyn Store, store_id: StoreId, n: usize) -> Vec<ExportId> {
    let at = now();
    let mut cs = Changeset::new();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let format = if i % 2 == 0 { ExportFormat::Csv } else { ExportFormat::Jsonl };
        let job = export_job(store_id, format, at);
        ids.push(job.id);
        cs.insert(Record::ExportAudit(ExportAuditRecord {
            id: ExportAuditId(id()),
            export_id: job.id,
            store_id,
            action: ExportAction::Requested,
            actor_masked: job.requested_by.clone(),
            at,
        }))
        .insert(Record::Export(job));
    }
    store.apply(cs).await.expect("queued exports seeded");
    ids
}

/// `n` READY exports of a store whose files expired an hour ago (due for the
/// `retention` job), with their files written under `blob_dir` (the object
/// store's root).
pub async fn seed_expired_exports(store: &dyn Store, store_id: StoreId, n: usize, blob_dir: &Path) -> Vec<ExportId> {
    let at = now() - Duration::days(2);
    let mut cs = Changeset::new();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let mut job = export_job(store_id, ExportFormat::Csv, at);
        let key = format!("exports/{store_id}/{}.csv", job.id);
        let file = blob_dir.join(&key);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("blob dir");
        std::fs::write(&file, b"id\n").expect("export file written");
        job.status = ExportStatus::Ready;
        job.rows = 0;
        job.bytes = 3;
        job.blob_key = Some(key);
        job.started_at = Some(at);
        job.finished_at = Some(at);
        job.expires_at = Some(now() - Duration::hours(1));
        ids.push(job.id);
        cs.insert(Record::Export(job));
    }
    store.apply(cs).await.expect("expired exports seeded");
    ids
}

/// An image for `with_image` (so it is not `product_without_image`), and
/// three flags on `order`: one open for two days (an insight
/// `flag_open_over_24h`), one open for an hour and one resolved two days
/// ago (neither is). Returns the first.
pub async fn seed_flags_and_image(
    store: &dyn Store,
    store_id: StoreId,
    with_image: ProductId,
    order: OrderId,
) -> FlagId {
    let t = now();
    let flag = |created_at: OffsetDateTime, status: FlagStatus| OrderFlag {
        id: FlagId(id()),
        order_id: order,
        store_id,
        reason: FlagReason::AddressIssue,
        status,
        note: None,
        resolution: (status == FlagStatus::Resolved).then(|| "checked".to_owned()),
        created_at,
        updated_at: created_at,
        resolved_at: (status == FlagStatus::Resolved).then_some(created_at),
    };
    let old = flag(t - Duration::days(2), FlagStatus::Open);
    let old_id = old.id;
    let mut cs = Changeset::new();
    cs.insert(Record::Image(ProductImage {
        id: ImageId(id()),
        product_id: with_image,
        url: "https://img.example/1.png".into(),
        position: 0,
        created_at: t,
        attachment_id: None,
        alt: None,
    }))
    .insert(Record::Flag(old))
    .insert(Record::Flag(flag(t - Duration::hours(1), FlagStatus::Open)))
    .insert(Record::Flag(flag(t - Duration::days(2), FlagStatus::Resolved)));
    store.apply(cs).await.expect("flags and image seeded");
    old_id
}

/// `n` unsequenced feed events of a store, written now.
pub async fn seed_events(store: &dyn Store, store_id: StoreId, n: usize) -> Vec<EventId> {
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(500) {
        let mut cs = Changeset::new();
        for i in start..(start + 500).min(n) {
            let e = ActivityEvent {
                id: EventId(id()),
                store_id,
                seq: None,
                entity_type: "store".into(),
                entity_id: store_id.0,
                kind: "test.event".into(),
                payload: serde_json::json!({"i": i}),
                at: now(),
            };
            ids.push(e.id);
            cs.insert(Record::Event(e));
        }
        store.apply(cs).await.expect("events seeded");
    }
    ids
}
