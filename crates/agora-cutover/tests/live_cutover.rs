//! The whole path under live traffic: orders keep arriving (and some are
//! paid, and the event feed is sequenced) while the deployment moves
//! memory -> SQLite -> PostgreSQL through copy, dual_write, shadow_read and
//! the switch. It ends with `verify` reporting zero differences and every
//! acknowledged order present in PostgreSQL.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_core::secrets::{Keyring, sign_webhook};
use agora_core::views::*;
use agora_core::*;
use agora_cutover::{CopyOptions, DualWriteStore, NoProgress, ShadowReadStore, copy, verify};
use agora_testkit::harness::{SUPER_KEY, WEBHOOK_SECRET, agora_builder};
use uuid::Uuid;

fn agora_over(store: Arc<dyn Store>, keyring: &Keyring) -> Agora {
    agora_builder(store).clock(Arc::new(SystemClock)).keyring(keyring.clone()).build()
}

/// What the traffic needs to place orders.
#[derive(Clone)]
struct Shop {
    store_id: StoreId,
    variants: Vec<Uuid>,
    customers: Vec<(Actor, Uuid)>,
}

/// The running deployment: each request holds the current service for its
/// duration; a "restart" with a new configuration waits for the requests in
/// flight (the old instances stop) and then swaps it, so two configurations
/// never serve at once.
type Deployment = Arc<tokio::sync::RwLock<Agora>>;

struct Traffic {
    acked: Arc<Mutex<Vec<OrderId>>>,
    errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start_traffic(dep: Deployment, shop: Shop, workers: usize) -> Traffic {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (dep, shop, acked, errors, stop) = (dep.clone(), shop.clone(), acked.clone(), errors.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let agora = dep.read().await;
                let (actor, address_id) = &shop.customers[(i + w) % shop.customers.len()];
                let req = PlaceOrder {
                    store_id: shop.store_id.0,
                    address_id: *address_id,
                    items: vec![OrderLine { variant_id: shop.variants[i % shop.variants.len()], qty: 1 }],
                    help_task_no: None,
                };
                let key = Uuid::now_v7().to_string();
                match agora.place_order(actor, Some(&key), req).await {
                    Ok(placed) => {
                        acked.lock().unwrap().push(OrderId(placed.order.id));
                        if i.is_multiple_of(3)
                            && let Err(e) = pay(&agora, actor, placed.order.id).await
                        {
                            errors.lock().unwrap().push(format!("pay: {e}"));
                        }
                    }
                    Err(e) => errors.lock().unwrap().push(format!("place_order: {e}")),
                }
                if i.is_multiple_of(7) {
                    if let Err(e) = agora.sequence_events(shop.store_id).await {
                        errors.lock().unwrap().push(format!("sequence_events: {e}"));
                    }
                    let _ = agora.list_my_orders(actor, &ListQuery::default()).await;
                }
                drop(agora);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    Traffic { acked, errors, stop, tasks }
}

async fn pay(agora: &Agora, actor: &Actor, order: Uuid) -> Result<(), AgoraError> {
    let p = agora.create_payment(actor, OrderId(order)).await?;
    let body = serde_json::to_vec(&serde_json::json!({
        "event_id": format!("evt-{}", p.id), "type": "payment.succeeded", "payment_id": p.id, "amount_minor": p.amount_minor
    }))
    .unwrap();
    let sig = sign_webhook(WEBHOOK_SECRET, &body);
    agora.receive_payment_webhook(&body, Some(&sig)).await.map(|_| ())
}

async fn restart(dep: &Deployment, store: Arc<dyn Store>, keyring: &Keyring) {
    *dep.write().await = agora_over(store, keyring);
}

async fn run_for(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Backfill passes under traffic until one has nothing left to do.
async fn backfill(from: &dyn Store, to: &dyn Store, hop: &str) -> u64 {
    let opts = CopyOptions { batch_rows: 50, deletes: true };
    let mut total = 0;
    for pass in 1..=6 {
        let r = copy(from, to, &opts, &NoProgress).await.expect("copy");
        total += r.changed();
        let conflicts: Vec<String> =
            r.tables.iter().filter(|t| t.conflicts > 0).map(|t| format!("{} {}", t.table, t.conflicts)).collect();
        eprintln!("{hop} copy pass {pass}: {} ({})", r.summary(), conflicts.join(", "));
        if r.converged() {
            break;
        }
        run_for(20).await;
    }
    total
}

/// One hop: dual_write + copy, shadow_read, the switch (URLs swapped, still
/// dual writing back to the old store for rollback), returns that config's
/// shadow store.
async fn hop(
    dep: &Deployment,
    keyring: &Keyring,
    old: Arc<dyn Store>,
    new: Arc<dyn Store>,
    name: &str,
) -> ShadowReadStore {
    // Phase 1: dual_write, then backfill while orders keep arriving.
    let dual = DualWriteStore::new(old.clone(), new.clone());
    restart(dep, Arc::new(dual.clone()), keyring).await;
    run_for(150).await;
    let copied = backfill(old.as_ref(), new.as_ref(), name).await;
    assert!(copied > 0, "{name}: the backfill copied the history");
    run_for(150).await;
    // Phase 2: shadow_read over the same dual writer.
    let shadow = ShadowReadStore::over(dual.clone()).with_limits(512, Duration::from_millis(20));
    restart(dep, Arc::new(shadow.clone()), keyring).await;
    run_for(400).await;
    shadow.drain().await;
    let st = shadow.stats();
    eprintln!(
        "{name} shadow_read: {} compared, {} mismatches, {} transient, {} errors; dual-write failures {}",
        st.compared(),
        st.mismatches(),
        st.transient.load(Ordering::Relaxed),
        st.errors.load(Ordering::Relaxed),
        dual.stats().failures()
    );
    assert!(st.compared() > 0, "{name}: reads were compared");
    // Phase 3: the switch: the new store becomes primary; the old one keeps
    // receiving writes so a rollback is just swapping back.
    let switched = ShadowReadStore::new(new.clone(), old.clone()).with_limits(512, Duration::from_millis(20));
    restart(dep, Arc::new(switched.clone()), keyring).await;
    run_for(300).await;
    switched
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_to_sqlite_to_postgres_under_live_traffic() {
    let keyring = Keyring::generate(&OsEntropy::default());
    let memory = common::fresh("memory").await;
    let sqlite = common::fresh("sqlite").await;
    let postgres = common::fresh("postgres").await;

    // Single mode on memory: a store, stock and customers.
    let dep: Deployment = Arc::new(tokio::sync::RwLock::new(agora_over(memory.store.clone(), &keyring)));
    let agora = dep.read().await.clone();
    let sa = agora.authenticate_admin(SUPER_KEY).await.unwrap();
    let store = agora
        .create_store(&sa, NewStore { name: "Live".into(), domain: "live.example.com".into(), access_token: None })
        .await
        .unwrap();
    let store_id = StoreId(store.id);
    let wh = agora.create_warehouse(&sa, store_id, NewWarehouse { name: "main".into() }).await.unwrap();
    let mut variants = Vec::new();
    for sku in ["LIVE-1", "LIVE-2", "LIVE-3"] {
        let p = agora
            .create_product(
                &sa,
                store_id,
                NewProduct {
                    title: sku.into(),
                    currency: "EUR".into(),
                    status: None,
                    variants: vec![NewVariant { sku: sku.into(), name: "default".into(), price_minor: 500 }],
                },
            )
            .await
            .unwrap();
        let v = p.variants[0].id;
        agora
            .set_inventory(&sa, store_id, SetInventory { variant_id: v, warehouse_id: wh.id, on_hand: 1_000_000 })
            .await
            .unwrap();
        variants.push(v);
    }
    let mut customers = Vec::new();
    for i in 0..4 {
        let c = agora_testkit::harness::new_customer(&agora, &format!("live{i}"), &format!("{i} Live St"), None).await;
        customers.push((c.actor, c.address_id));
    }
    let traffic = start_traffic(dep.clone(), Shop { store_id, variants, customers }, 3);
    run_for(300).await;

    // memory -> SQLite, then SQLite -> PostgreSQL.
    let _on_sqlite = hop(&dep, &keyring, memory.store.clone(), sqlite.store.clone(), "memory->sqlite").await;
    restart(&dep, sqlite.store.clone(), &keyring).await; // single mode on SQLite
    run_for(200).await;
    let on_postgres = hop(&dep, &keyring, sqlite.store.clone(), postgres.store.clone(), "sqlite->postgres").await;

    // Traffic stops (it never did during the move).
    traffic.stop.store(true, Ordering::Relaxed);
    for t in traffic.tasks {
        t.await.unwrap();
    }
    on_postgres.drain().await;
    let errors = traffic.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "no request failed during the move: {errors:?}");
    let acked = traffic.acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "orders kept arriving: {}", acked.len());

    // Dual writes kept the old store exactly in step since the switch.
    let failures = on_postgres.write_stats().failures();
    let report = verify(postgres.store.as_ref(), sqlite.store.as_ref(), &NoProgress).await.unwrap();
    eprintln!("verify: {}; dual-write failures since the switch: {failures}", report.summary());
    assert!(report.is_clean(), "verify found differences: {:#?}", report.differences);
    assert!(report.list_reads > 100 && report.idempotency_replays as usize >= acked.len());
    let pg = Snapshot::read(postgres.store.as_ref()).await.unwrap();
    let orders = pg.rows::<CustomerOrder>();
    let ids: std::collections::BTreeSet<OrderId> = orders.iter().map(|o| o.id).collect();
    let missing: Vec<_> = acked.iter().filter(|id| !ids.contains(id)).collect();
    assert!(missing.is_empty(), "{} acknowledged orders missing from PostgreSQL: {missing:?}", missing.len());
    eprintln!("{} acknowledged orders, all in PostgreSQL ({} orders there)", acked.len(), orders.len());
}
