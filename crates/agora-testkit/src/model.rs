//! The differential model test: random command sequences are driven
//! through core against the adapter under test and against the memory
//! model; outcomes and canonical snapshots must be equal after every step.
//! Both sides use the same seeded randomness and manual clock, so the same
//! history yields the same ids, tokens and timestamps.

use std::future::Future;
use std::sync::Arc;

use agora_core::views::*;
use agora_core::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use time::Duration;
use uuid::Uuid;

use crate::harness::{Customer, Harness, StoreFixture, TestStore};

/// One step of a random history. Indices pick existing entities modulo
/// their count, so every sequence is meaningful.
#[derive(Clone, Debug)]
pub enum Command {
    /// Create a store (with admin key and warehouse).
    NewStore,
    /// Create a product in a store with stock.
    NewProduct { store: usize, price: i64, stock: i64 },
    /// Register and log in a customer.
    NewCustomer,
    /// Place an order; `key` picks one of a few idempotency keys so replays and reuse happen.
    PlaceOrder { customer: usize, product: usize, qty: i64, key: u8, help: bool },
    /// Cancel an order.
    Cancel { order: usize },
    /// Pay an order, in full or not.
    Pay { order: usize, exact: bool },
    /// Ship an order.
    Ship { order: usize },
    /// Receive an order.
    Receive { order: usize },
    /// Open a help task for an order.
    OpenTask { order: usize },
    /// Change a store's settings.
    PatchSettings { store: usize, ttl: i64, helpers: i64 },
    /// Set a product's on-hand stock.
    SetStock { product: usize, on_hand: i64 },
    /// Let time pass.
    Advance { seconds: i64 },
    /// Run every sweep for every store.
    Sweep,
    /// Read the event feed (runs the sequencer).
    Events { store: usize },
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        1 => Just(Command::NewStore),
        2 => (0..4usize, 1..5000i64, 0..20i64).prop_map(|(store, price, stock)| Command::NewProduct { store, price, stock }),
        2 => Just(Command::NewCustomer),
        8 => (0..8usize, 0..8usize, 1..4i64, 0..6u8, any::<bool>())
            .prop_map(|(customer, product, qty, key, help)| Command::PlaceOrder { customer, product, qty, key, help }),
        2 => (0..32usize).prop_map(|order| Command::Cancel { order }),
        4 => (0..32usize, prop::bool::weighted(0.85)).prop_map(|(order, exact)| Command::Pay { order, exact }),
        3 => (0..32usize).prop_map(|order| Command::Ship { order }),
        3 => (0..32usize).prop_map(|order| Command::Receive { order }),
        2 => (0..32usize).prop_map(|order| Command::OpenTask { order }),
        1 => (0..4usize, 60..4000i64, 1..3i64).prop_map(|(store, ttl, helpers)| Command::PatchSettings { store, ttl, helpers }),
        1 => (0..8usize, 0..30i64).prop_map(|(product, on_hand)| Command::SetStock { product, on_hand }),
        2 => prop_oneof![Just(60i64), Just(1800), Just(86_400), Just(700_000)].prop_map(|seconds| Command::Advance { seconds }),
        2 => Just(Command::Sweep),
        1 => (0..4usize).prop_map(|store| Command::Events { store }),
    ]
}

/// What one side has created so far.
#[derive(Default)]
struct World {
    stores: Vec<StoreFixture>,
    products: Vec<(usize, Uuid, Uuid)>,
    customers: Vec<Customer>,
    orders: Vec<(usize, usize, Uuid)>,
    tasks: Vec<String>,
}

fn outcome<T>(r: Result<T, AgoraError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().into(),
    }
}

async fn step(h: &Harness, w: &mut World, cmd: &Command) -> String {
    match cmd {
        Command::NewStore => {
            let n = w.stores.len();
            let s = h.store_fixture(&format!("s{n}.example.com")).await;
            w.stores.push(s);
            "ok".into()
        }
        Command::NewProduct { store, price, stock } => {
            if w.stores.is_empty() {
                return "skip".into();
            }
            let si = store % w.stores.len();
            let sku = format!("SKU-{}", w.products.len());
            let (p, v) = h.product(&w.stores[si], &sku, *price, *stock).await;
            w.products.push((si, p.id, v));
            "ok".into()
        }
        Command::NewCustomer => {
            let n = w.customers.len();
            let c = h
                .customer_at(
                    &format!("c{n}"),
                    &format!("{} Street", n % 3),
                    n.is_multiple_of(2).then_some("+4915100000000"),
                )
                .await;
            w.customers.push(c);
            "ok".into()
        }
        Command::PlaceOrder { customer, product, qty, key, help } => {
            place_order(h, w, *customer, *product, *qty, *key, *help).await
        }
        Command::Cancel { order }
        | Command::Pay { order, .. }
        | Command::Ship { order }
        | Command::Receive { order }
        | Command::OpenTask { order } => move_order(h, w, cmd, *order).await,
        Command::PatchSettings { store, ttl, helpers } => {
            if w.stores.is_empty() {
                return "skip".into();
            }
            let s = &w.stores[store % w.stores.len()];
            let patch = SettingsPatch {
                order_ttl_seconds: Some(*ttl),
                required_helpers: Some(*helpers),
                payout_cooling_seconds: Some(3600),
                ..Default::default()
            };
            outcome(h.agora.patch_settings(&s.admin, s.id, patch, Some("192.0.2.1")).await)
        }
        Command::SetStock { product, on_hand } => {
            if w.products.is_empty() {
                return "skip".into();
            }
            let (si, _, v) = w.products[product % w.products.len()];
            let s = &w.stores[si];
            outcome(
                h.agora
                    .set_inventory(
                        &s.admin,
                        s.id,
                        SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: *on_hand },
                    )
                    .await,
            )
        }
        Command::Advance { seconds } => {
            h.clock.advance(Duration::seconds(*seconds));
            "ok".into()
        }
        Command::Sweep => sweep_all(h, w).await,
        Command::Events { store } => {
            if w.stores.is_empty() {
                return "skip".into();
            }
            let s = &w.stores[store % w.stores.len()];
            match h.agora.list_events(&s.admin, s.id, 0, Some(200)).await {
                Ok(p) => format!("ok {}", p.items.len()),
                Err(e) => e.code().into(),
            }
        }
    }
}

async fn place_order(
    h: &Harness,
    w: &mut World,
    customer: usize,
    product: usize,
    qty: i64,
    key: u8,
    help: bool,
) -> String {
    if w.customers.is_empty() || w.products.is_empty() {
        return "skip".into();
    }
    let ci = customer % w.customers.len();
    let (si, _, v) = w.products[product % w.products.len()];
    let task = if help { w.tasks.last().cloned() } else { None };
    let r = h.order_with_key(&w.customers[ci], &w.stores[si], &[(v, qty)], &format!("k{key}"), task.as_deref()).await;
    if let Ok(p) = &r
        && !p.replayed
    {
        w.orders.push((ci, si, p.order.id));
    }
    match r {
        Ok(p) => format!("ok replayed={}", p.replayed),
        Err(e) => e.code().into(),
    }
}

/// Cancel, pay, ship, receive or open a task on one of the orders so far.
async fn move_order(h: &Harness, w: &mut World, cmd: &Command, order: usize) -> String {
    if w.orders.is_empty() {
        return "skip".into();
    }
    let (ci, si, oid) = w.orders[order % w.orders.len()];
    let c = &w.customers[ci];
    let id = OrderId(oid);
    match cmd {
        Command::Cancel { .. } => outcome(h.agora.cancel_order(&c.actor, id).await),
        Command::Ship { .. } => outcome(h.agora.ship_order(&w.stores[si].admin, id).await),
        Command::Receive { .. } => outcome(h.agora.receive_order(&c.actor, id).await),
        Command::OpenTask { .. } => {
            let r = h.agora.create_task(&c.actor, NewTask { order_id: oid }).await;
            if let Ok(t) = &r {
                w.tasks.push(t.task_no.clone());
            }
            outcome(r)
        }
        Command::Pay { exact, .. } => match h.agora.create_payment(&c.actor, id).await {
            Ok(p) => {
                let amount = if *exact { p.amount_minor } else { p.amount_minor + 1 };
                outcome(h.webhook(&format!("evt-{}", p.id), "payment.succeeded", p.id, amount).await)
            }
            Err(e) => e.code().into(),
        },
        _ => unreachable!("matched above"),
    }
}

/// Every sweep for every store, then the global ones.
async fn sweep_all(h: &Harness, w: &World) -> String {
    let mut out = Vec::new();
    for s in &w.stores {
        let mut r = SweepReport::default();
        r.add(h.agora.expire_unpaid_orders(s.id, 100).await.expect("expire"));
        r.add(h.agora.auto_receive_orders(s.id, 100).await.expect("receive"));
        r.add(h.agora.expire_tasks(s.id, 100).await.expect("tasks"));
        r.add(h.agora.settle_due_payouts(s.id, 100).await.expect("payouts"));
        r.add(h.agora.reconcile_inventory(s.id).await.expect("reconcile"));
        out.push(format!("{r:?}"));
    }
    let mut r = h.agora.purge_expired_idempotency(100).await.expect("purge keys");
    r.add(h.agora.purge_expired_sessions(100).await.expect("purge sessions"));
    out.push(format!("{r:?}"));
    out.join(";")
}

async fn run_history<F, Fut>(factory: &F, commands: &[Command], seed: u64) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: Future<Output = TestStore>,
{
    let subject = Harness::with_entropy(factory().await, Arc::new(SeededEntropy::new(seed)));
    let model = Harness::with_entropy(TestStore::memory(), Arc::new(SeededEntropy::new(seed)));
    let (mut ws, mut wm) = (World::default(), World::default());
    for (i, cmd) in commands.iter().enumerate() {
        let got = step(&subject, &mut ws, cmd).await;
        let want = step(&model, &mut wm, cmd).await;
        if got != want {
            return Err(format!("step {i} {cmd:?}: adapter said {got:?}, model said {want:?}"));
        }
        let a = Snapshot::read(&*subject.store).await.map_err(|e| e.to_string())?;
        let b = Snapshot::read(&*model.store).await.map_err(|e| e.to_string())?;
        if a != b {
            return Err(format!("step {i} {cmd:?}: snapshots differ: {}", first_difference(&a, &b)));
        }
    }
    Ok(())
}

/// Names the first table whose rows differ, with the first differing row.
pub fn first_difference(a: &Snapshot, b: &Snapshot) -> String {
    for (table, ra) in &a.tables {
        let rb = b.table(table);
        if ra.len() != rb.len() {
            return format!("table {table}: {} rows vs {} rows in the model", ra.len(), rb.len());
        }
        if let Some((x, y)) = ra.iter().zip(rb).find(|(x, y)| x != y) {
            return format!("table {table}: adapter row {x:?} vs model row {y:?}");
        }
    }
    "no difference found".into()
}

/// Runs `AGORA_MODEL_CASES` (default 24) random histories on fresh stores
/// from `factory`, each against the memory model.
pub fn run_model_test<F, Fut>(factory: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = TestStore>,
{
    let cases = std::env::var("AGORA_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut runner =
        TestRunner::new(Config { cases, max_shrink_iters: 64, failure_persistence: None, ..Config::default() });
    let strategy = (
        any::<u64>(),
        prop::collection::vec(command(), 1..60).prop_map(|mut cmds| {
            // Every history starts with something to work on.
            let mut prefix = vec![
                Command::NewStore,
                Command::NewProduct { store: 0, price: 500, stock: 10 },
                Command::NewCustomer,
                Command::NewCustomer,
            ];
            prefix.append(&mut cmds);
            prefix
        }),
    );
    let result = runner.run(&strategy, |(seed, commands)| {
        rt.block_on(run_history(&factory, &commands, seed)).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("the adapter diverged from the memory model: {e}");
    }
}
