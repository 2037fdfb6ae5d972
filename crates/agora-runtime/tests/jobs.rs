//! The scheduler: fairness between stores, several workers on one database,
//! stale export claims, shutdown. What each job does to the data is covered
//! by the testkit conformance scenarios on every adapter; these tests cover
//! how the jobs are scheduled. PostgreSQL tests need `AGORA_TEST_POSTGRES_URL`
//! (default `postgres://root@127.0.0.1:5432/postgres`) and fail without it.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_core::usecases::day_key;
use agora_core::*;
use agora_runtime::jobs::{Job, JobStats, Scheduler};
use support::*;

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name("memory").await })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name("sqlite").await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name("postgres").await })*
        }
    };
}

on_every_backend!(
    a_backlog_does_not_starve_other_stores,
    every_job_runs_and_leaves_the_data_exact,
    stale_running_exports_are_requeued_and_written,
    shutdown_finishes_the_batch_in_hand
);

fn settled_per_store(snap: &Snapshot) -> HashMap<StoreId, usize> {
    let mut m = HashMap::new();
    for t in snap.rows::<agora_core::HelpTask>().into_iter().filter(|t| t.status == TaskStatus::Settled) {
        *m.entry(t.store_id).or_default() += 1;
    }
    m
}

fn total(stats: &[std::collections::BTreeMap<Job, JobStats>], job: Job) -> JobStats {
    let mut t = JobStats::default();
    for s in stats.iter().filter_map(|s| s.get(&job)) {
        t += *s;
    }
    t
}

async fn a_backlog_does_not_starve_other_stores(backend: &str) {
    let (_db, rt) = TestDatabase::with_runtime(backend).await;
    let store = rt.store.as_ref();
    let past = now() - time::Duration::hours(1);
    let [big, small1, small2] = seed_stores(store, ["big", "small1", "small2"]).await;
    seed_due_tasks(store, big, 300, |_| past).await;
    seed_due_tasks(store, small1, 4, |_| past).await;
    seed_due_tasks(store, small2, 5, |_| past).await;

    let scheduler = Scheduler::new(&rt).with_jobs(&[Job::Payouts]).with_batch_size(30);
    let first = scheduler.tick().await;
    assert_eq!(first.report.changed, 30, "one pass moves one batch");
    assert!(first.more_work, "a backlog asks for the next tick at once");
    let per_store = settled_per_store(&agora_core::Snapshot::read(&*rt.store).await.unwrap());
    assert_eq!(per_store.get(&small1), Some(&4), "small stores are served in the first pass: {per_store:?}");
    assert_eq!(per_store.get(&small2), Some(&5), "small stores are served in the first pass: {per_store:?}");
    assert_eq!(per_store.get(&big), Some(&21), "the backlog gets what is left of the batch");

    // Small stores that get new work keep being served while the backlog drains.
    seed_due_tasks(store, small1, 3, |_| past).await;
    scheduler.tick().await;
    let per_store = settled_per_store(&agora_core::Snapshot::read(&*rt.store).await.unwrap());
    assert_eq!(per_store.get(&small1), Some(&7), "{per_store:?}");
    assert_eq!(per_store.get(&big), Some(&48), "{per_store:?}");

    let rest = scheduler.run_until_idle().await;
    assert_eq!(rest.errors, 0);
    let snap = agora_core::Snapshot::read(&*rt.store).await.unwrap();
    assert_payouts_exact(&snap, 312);
    let stats = scheduler.stats()[&Job::Payouts];
    assert_eq!((stats.changed, stats.conflicts, stats.errors), (312, 0, 0), "{stats:?}");
    assert!(stats.saturated >= 9, "{stats:?}");
}

#[tokio::test]
async fn a_batch_smaller_than_the_store_count_rotates_over_the_stores() {
    let (_db, rt) = TestDatabase::with_runtime("memory").await;
    let store = rt.store.as_ref();
    let past = now() - time::Duration::hours(1);
    let mut stores = Vec::new();
    for i in 0..6 {
        let s = seed_store(store, &format!("s{i}")).await;
        seed_due_tasks(store, s, 5, |_| past).await;
        stores.push(s);
    }
    let scheduler = Scheduler::new(&rt).with_jobs(&[Job::Payouts]).with_batch_size(2);
    for _ in 0..3 {
        assert_eq!(scheduler.tick().await.report.changed, 2);
    }
    let per_store = settled_per_store(&agora_core::Snapshot::read(&*rt.store).await.unwrap());
    for s in &stores {
        assert_eq!(per_store.get(s), Some(&1), "every store served once in three passes of two: {per_store:?}");
    }
}

async fn every_job_runs_and_leaves_the_data_exact(backend: &str) {
    let (_db, rt) = TestDatabase::with_runtime(backend).await;
    let store = rt.store.as_ref();
    let past = now() - time::Duration::hours(1);
    let [a, b] = seed_stores(store, ["a", "b"]).await;
    let expired = seed_expired_orders(store, a, 120).await;
    seed_due_tasks(store, a, 70, |_| past).await;
    seed_due_tasks(store, b, 70, |i| if i < 50 { past } else { now() + time::Duration::days(1) }).await;
    // Drift the reconcile job must correct and audit: 2 units reserved by nothing.
    let mut cs = Changeset::new();
    cs.stock(expired.variant_id, expired.warehouse_id, now(), StockChange::Adjust { on_hand: 0, reserved: 2 });
    store.apply(cs).await.unwrap();

    let scheduler = Scheduler::new(&rt);
    assert_eq!(scheduler.jobs(), Job::ALL, "all jobs by default");
    let summary = scheduler.run_until_idle().await;
    assert_eq!(summary.errors, 0, "{:?}", scheduler.stats());

    let snap = agora_core::Snapshot::read(&*rt.store).await.unwrap();
    assert_payouts_exact(&snap, 120);
    let closed =
        snap.rows::<agora_core::CustomerOrder>().into_iter().filter(|o| o.status == OrderStatus::Closed).count();
    assert_eq!(closed, 120);
    assert!(
        snap.rows::<agora_core::CustomerOrder>()
            .iter()
            .filter(|o| o.status == OrderStatus::Closed)
            .all(|o| o.close_reason == Some(CloseReason::Timeout))
    );
    assert!(
        snap.rows::<agora_core::InventoryReservation>().into_iter().all(|r| r.status == ReservationStatus::Released)
    );
    let row = snap.rows::<agora_core::Inventory>().into_iter().find(|r| r.variant_id == expired.variant_id).unwrap();
    assert_eq!((row.on_hand, row.reserved), (expired.on_hand, 0), "stock released exactly once");
    let audits: Vec<&AuditLog> =
        snap.rows::<agora_core::AuditLog>().into_iter().filter(|l| l.key.starts_with("inventory_reserved:")).collect();
    // The reconcile pass ran before or after the expiry: either way one audited correction of the 2 units.
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_feeds_gapless(&snap);
    // The derived jobs ran once more after the backlog drained, so one
    // catch-up leaves the KPI cache up to date with everything it did.
    for s in [a, b] {
        let read =
            snap.rows::<JobCursor>().into_iter().find(|c| c.store_id == s && c.job == "kpis").map(|c| c.last_seq);
        assert_eq!(read, Some(store.last_event_seq(s).await.unwrap()), "the KPI job read the whole feed");
    }
    let stats = scheduler.stats();
    assert_eq!(stats[&Job::ExpireOrders].changed, 120);
    assert_eq!(stats[&Job::Payouts].changed, 120);
    assert_eq!(stats[&Job::Reconcile].changed, 1);
    assert!(stats.values().all(|s| s.errors == 0 && s.conflicts == 0), "{stats:?}");

    // Nothing is due any more: another catch-up changes nothing.
    let again = scheduler.run_until_idle().await;
    assert_eq!((again.report.changed, again.errors), (0, 0));
    assert_eq!(agora_core::Snapshot::read(&*rt.store).await.unwrap(), snap);
}

async fn stale_running_exports_are_requeued_and_written(backend: &str) {
    let (db, rt) = TestDatabase::with_runtime(backend).await;
    let store = rt.store.as_ref();
    let s = seed_store(store, "exp").await;
    seed_due_tasks(store, s, 30, |_| now() + time::Duration::days(1)).await;
    let admin = Actor::SuperAdmin { masked: "agora_ad...".into() };
    let queued = rt
        .agora
        .request_export(&admin, s, views::NewExport { kind: "orders".into(), format: "csv".into() })
        .await
        .unwrap();
    // A claim whose worker died an hour ago, and a fresh one of a live worker.
    let at = now();
    let mk = |started: time::OffsetDateTime| ExportJob {
        id: ExportId(uuid::Uuid::now_v7()),
        store_id: s,
        kind: ExportKind::Orders,
        format: ExportFormat::Jsonl,
        status: ExportStatus::Running,
        rows: 0,
        bytes: 0,
        blob_key: None,
        error: None,
        requested_by: "agora_ad...".into(),
        created_at: started,
        started_at: Some(started),
        finished_at: None,
        expires_at: None,
    };
    let (dead, live) = (mk(at - time::Duration::hours(1)), mk(at));
    let mut cs = Changeset::new();
    cs.insert(Record::Export(dead.clone())).insert(Record::Export(live.clone()));
    store.apply(cs).await.unwrap();

    let scheduler = Scheduler::new(&rt).with_jobs(&[Job::Exports]).with_export_stale_after(Duration::from_secs(600));
    let summary = scheduler.run_until_idle().await;
    assert_eq!(summary.errors, 0, "{:?}", scheduler.stats());
    for id in [queued.id, dead.id.0] {
        let job = store.get_export(ExportId(id)).await.unwrap().unwrap();
        assert_eq!(job.status, ExportStatus::Ready, "{job:?}");
        assert_eq!(job.rows, 30);
        let key = job.blob_key.unwrap();
        let file = db.dir.path().join("blobs").join(&key);
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("export file {}: {e}", file.display()));
        assert_eq!(bytes.len() as i64, job.bytes);
    }
    let live_now = store.get_export(live.id).await.unwrap().unwrap();
    assert_eq!(live_now.status, ExportStatus::Running, "a fresh claim is left to its worker");
}

async fn shutdown_finishes_the_batch_in_hand(backend: &str) {
    let (_db, rt) = TestDatabase::with_runtime(backend).await;
    let store = rt.store.as_ref();
    let past = now() - time::Duration::hours(1);
    for i in 0..3 {
        let s = seed_store(store, &format!("s{i}")).await;
        seed_due_tasks(store, s, 400, |_| past).await;
    }
    let scheduler = Scheduler::new(&rt).with_jobs(&[Job::Payouts, Job::SequenceEvents]).with_batch_size(20);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(scheduler.clone().run(rx));
    let deadline = Instant::now() + Duration::from_secs(60);
    while scheduler.stats().get(&Job::Payouts).is_none_or(|s| s.changed == 0) {
        assert!(Instant::now() < deadline, "the scheduler never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), handle).await.expect("stops promptly").unwrap();
    let stats = scheduler.stats()[&Job::Payouts];
    let snap = agora_core::Snapshot::read(&*rt.store).await.unwrap();
    // Whatever was done is whole: every settled task has its one payout row.
    assert_payouts_exact(&snap, stats.changed as usize);
    assert!(stats.changed < 1200, "stopped before the backlog was done ({stats:?})");

    // Dropping the sender also stops a scheduler.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(Scheduler::new(&rt).with_jobs(&[Job::Retention]).run(rx));
    drop(tx);
    tokio::time::timeout(Duration::from_secs(10), handle).await.expect("stops when the sender is gone").unwrap();
}

/// Three workers (three runtimes, three pools, three lock managers) on one
/// PostgreSQL database while 1,000 tasks come due: exactly 1,000 payout
/// rows, each task settled once, and the leases kept them from ever
/// working on the same store at the same time (no lost guard at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_on_one_postgres_database_pay_each_task_exactly_once() {
    let db = TestDatabase::new("postgres").await;
    three_workers(db.dir.path(), &db.url, true).await;
}

/// The same on one SQLite file with in-process lock managers that cannot see
/// each other: no claims at all, so workers do race; the guards alone keep
/// every task to one payout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_on_one_sqlite_file_without_shared_locks_still_pay_once() {
    let db = TestDatabase::new("sqlite").await;
    three_workers(db.dir.path(), &db.url, false).await;
}

async fn three_workers(dir: &std::path::Path, url: &str, shared_locks: bool) {
    let mut runtimes = Vec::new();
    for _ in 0..3 {
        runtimes.push(runtime(config(dir, url)).await);
    }
    let store: Arc<dyn Store> = runtimes[0].store.clone();
    let mut shops = Vec::new();
    for i in 0..4 {
        shops.push(seed_store(store.as_ref(), &format!("shop{i}")).await);
    }
    let schedulers: Vec<Scheduler> = runtimes
        .iter()
        .enumerate()
        .map(|(i, rt)| Scheduler::new(rt).with_name(format!("w{i}")).with_batch_size(40))
        .collect();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handles: Vec<_> = schedulers.iter().map(|s| tokio::spawn(s.clone().run(rx.clone()))).collect();

    // 1,000 tasks come due over about two seconds while the workers run.
    let start = now();
    for (n, shop) in shops.iter().enumerate() {
        seed_due_tasks(store.as_ref(), *shop, 250, |i| {
            start + time::Duration::milliseconds(((i + n * 250) % 20) as i64 * 100 - 500)
        })
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let settled = total(&schedulers.iter().map(Scheduler::stats).collect::<Vec<_>>(), Job::Payouts).changed;
        if settled >= 1000 {
            break;
        }
        assert!(Instant::now() < deadline, "only {settled} of 1000 tasks settled in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tx.send(true).unwrap();
    for h in handles {
        tokio::time::timeout(Duration::from_secs(60), h).await.expect("workers stop").unwrap();
    }
    // Number the last events, then check everything.
    let tail = Scheduler::new(&runtimes[0]).with_jobs(&[Job::SequenceEvents, Job::Payouts]).run_until_idle().await;
    assert_eq!(tail.errors, 0);
    let snap = agora_core::Snapshot::read(&*store).await.unwrap();
    assert_payouts_exact(&snap, 1000);
    assert_eq!(snap.rows::<agora_core::HelpTask>().len(), 1000);
    assert_feeds_gapless(&snap);

    let stats: Vec<_> = schedulers.iter().map(Scheduler::stats).collect();
    let payouts = total(&stats, Job::Payouts);
    eprintln!("payout stats per worker: {:?}", stats.iter().map(|s| s.get(&Job::Payouts)).collect::<Vec<_>>());
    assert_eq!(payouts.changed, 1000, "{payouts:?}");
    assert_eq!(payouts.errors, 0, "{payouts:?}");
    if shared_locks {
        assert_eq!(payouts.conflicts, 0, "leases kept workers off each other's batches: {payouts:?}");
    }
}

/// Two workers and an api (a third runtime placing and paying orders
/// through the use cases) on one PostgreSQL database, the `kpis`,
/// `velocity` and `insights` jobs on every tick of both workers: the KPI
/// cache ends with each (store, day, currency) once, equal to a recount
/// from the orders, each store's cursor at its last event, one velocity row
/// per variant and one live insight per (kind, resource).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_and_the_api_on_one_postgres_database_keep_each_kpi_day_once() {
    let db = TestDatabase::new("postgres").await;
    let mut runtimes = Vec::new();
    for _ in 0..3 {
        let mut c = config(db.dir.path(), &db.url);
        c.webhook_secret = Some("kpi-test-webhook-secret".into());
        runtimes.push(runtime(c).await);
    }
    let api = runtimes[2].agora.clone();
    let sa = Actor::SuperAdmin { masked: "test".into() };
    let mut shops = Vec::new();
    for i in 0..3 {
        let st = api
            .create_store(
                &sa,
                views::NewStore { name: format!("K{i}"), domain: format!("k{i}.example"), access_token: None },
            )
            .await
            .unwrap();
        let store_id = StoreId(st.id);
        let admin = Actor::StoreAdmin { store_id, masked: "test".into() };
        let wh = api.create_warehouse(&admin, store_id, views::NewWarehouse { name: "w".into() }).await.unwrap();
        let np = views::NewProduct {
            title: "p".into(),
            currency: "EUR".into(),
            status: None,
            variants: vec![views::NewVariant { sku: format!("K{i}"), name: "v".into(), price_minor: 100 + i }],
        };
        let variant = api.create_product(&admin, store_id, np).await.unwrap().variants[0].id;
        let stock = views::SetInventory { variant_id: variant, warehouse_id: wh.id, on_hand: 100_000 };
        api.set_inventory(&admin, store_id, stock).await.unwrap();
        shops.push((store_id, variant));
    }
    let user = api
        .register_user(views::NewUser {
            name: "k".into(),
            email: "k@example.com".into(),
            password: "long enough".into(),
            phone: None,
        })
        .await
        .unwrap();
    let customer = Actor::Customer { user_id: UserId(user.id) };
    let address =
        views::NewAddress { line1: "1 St".into(), city: "C".into(), postal_code: "1".into(), country: "DE".into() };
    let address = api.add_address(&customer, address).await.unwrap().id;

    let schedulers: Vec<Scheduler> = runtimes[..2]
        .iter()
        .enumerate()
        .map(|(i, rt)| {
            Scheduler::new(rt)
                .with_name(format!("k{i}"))
                .with_jobs(&[Job::SequenceEvents, Job::Kpis, Job::Velocity, Job::Insights])
                .with_min_period(Job::Kpis, Duration::ZERO)
                .with_min_period(Job::Velocity, Duration::ZERO)
                .with_min_period(Job::Insights, Duration::ZERO)
                .with_batch_size(20)
        })
        .collect();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let handles: Vec<_> = schedulers.iter().map(|s| tokio::spawn(s.clone().run(rx.clone()))).collect();
    for n in 0..90usize {
        let (store_id, variant) = shops[n % shops.len()];
        let req = views::PlaceOrder {
            store_id: store_id.0,
            address_id: address,
            items: vec![views::OrderLine { variant_id: variant, qty: 1 + (n % 3) as i64 }],
            help_task_no: None,
        };
        let placed = api.place_order(&customer, Some(&format!("k-{n}")), req).await.unwrap();
        if n % 2 == 0 {
            let p = api.create_payment(&customer, OrderId(placed.order.id)).await.unwrap();
            let body = serde_json::to_vec(&serde_json::json!({
                "event_id": format!("evt-{n}"), "type": "payment.succeeded", "payment_id": p.id, "amount_minor": p.amount_minor
            }))
            .unwrap();
            let sig = agora_core::secrets::sign_webhook(b"kpi-test-webhook-secret", &body);
            api.receive_payment_webhook(&body, Some(&sig)).await.unwrap();
        } else if n % 5 == 0 {
            api.cancel_order(&customer, OrderId(placed.order.id)).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Under load (the whole suite on two cores) the workers may not have
    // reached the derived jobs yet: wait (bounded) until they have, so the
    // checks below are about what the jobs did, not about timing.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stats: Vec<_> = schedulers.iter().map(Scheduler::stats).collect();
        let ran = |job| total(&stats, job).batches > 0;
        if (ran(Job::Velocity) && ran(Job::Insights)) || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tx.send(true).unwrap();
    for h in handles {
        tokio::time::timeout(Duration::from_secs(60), h).await.expect("workers stop").unwrap();
    }
    let tail = Scheduler::new(&runtimes[0])
        .with_jobs(&[Job::SequenceEvents, Job::Kpis])
        .with_min_period(Job::Kpis, Duration::ZERO)
        .run_until_idle()
        .await;
    assert_eq!(tail.errors, 0);

    let store = runtimes[0].store.clone();
    let snap = agora_core::Snapshot::read(&*store).await.unwrap();
    assert_feeds_gapless(&snap);
    let mut want: HashMap<(StoreId, String), (i64, i64, i64, i64)> = HashMap::new();
    for o in snap.rows::<CustomerOrder>() {
        let units: i64 = snap.rows::<OrderItem>().iter().filter(|i| i.order_id == o.id).map(|i| i.qty).sum();
        want.entry((o.store_id, day_key(o.created_at.date()))).or_default().0 += 1;
        if let Some(t) = o.paid_at {
            let e = want.entry((o.store_id, day_key(t.date()))).or_default();
            e.1 += 1;
            e.2 += o.pay_amount_minor;
            e.3 += units;
        }
        if let Some(t) = o.closed_at {
            want.entry((o.store_id, day_key(t.date()))).or_default();
        }
    }
    let rows = snap.rows::<KpiDay>();
    let got: HashMap<(StoreId, String), (i64, i64, i64, i64)> = rows
        .iter()
        .map(|k| ((k.store_id, k.day.clone()), (k.orders_created, k.orders_paid, k.revenue_minor, k.units_sold)))
        .collect();
    assert_eq!(got.len(), rows.len(), "each (store, day) once");
    assert_eq!(got, want);
    for (store_id, _) in &shops {
        let cursor = snap.rows::<JobCursor>().into_iter().find(|c| c.store_id == *store_id).expect("cursor");
        assert_eq!(cursor.last_seq, store.last_event_seq(*store_id).await.unwrap());
    }
    let stats: Vec<_> = schedulers.iter().map(Scheduler::stats).collect();
    let kpis = total(&stats, Job::Kpis);
    eprintln!("kpi stats per worker: {:?}", stats.iter().map(|s| s.get(&Job::Kpis)).collect::<Vec<_>>());
    assert_eq!(kpis.errors, 0, "{kpis:?}");
    assert!(kpis.batches > 0, "{kpis:?}");
    let (velocity, insights) = (total(&stats, Job::Velocity), total(&stats, Job::Insights));
    assert_eq!((velocity.errors, insights.errors), (0, 0), "{velocity:?} {insights:?}");
    assert!(velocity.batches > 0 && insights.batches > 0, "{velocity:?} {insights:?}");
    assert_eq!(snap.rows::<ProductVelocity>().len(), shops.len(), "one velocity row per variant");
    let live: Vec<_> =
        snap.rows::<Insight>().into_iter().filter_map(|i| i.live_key.clone().map(|k| (i.store_id, k))).collect();
    let distinct: std::collections::HashSet<_> = live.iter().cloned().collect();
    assert_eq!(distinct.len(), live.len(), "one live insight per (kind, resource)");
    assert!(live.iter().any(|(_, k)| k.starts_with("product_without_image:")), "{live:?}");
}

/// The search migration leaves existing products a row without words
/// (`words_version` 0); a runtime fills them before it serves anything.
async fn a_start_fills_the_search_rows_the_migration_left_empty(backend: &str) {
    let db = TestDatabase::new(backend).await;
    let rt = runtime(config(db.dir.path(), &db.url)).await;
    let store_id = seed_store(&*rt.store, "shop").await;
    let v = seed_variant(&*rt.store, store_id, "Teapot", 1).await;
    let mut cs = Changeset::new();
    cs.insert(ProductSearch {
        product_id: v.product_id,
        store_id,
        status: ProductStatus::Active,
        title_words: String::new(),
        other_words: String::new(),
        words_version: 0,
    });
    rt.store.apply(cs).await.expect("a row as the migration writes it");
    rt.close().await;
    drop(rt);
    let rt = runtime(config(db.dir.path(), &db.url)).await;
    let row = rt.store.get::<ProductSearch, _>(v.product_id).await.unwrap().expect("row");
    assert_eq!((row.words_version, row.title_words.as_str()), (agora_core::search::WORDS_VERSION, "teapot"));
    let all = ListQuery::default();
    let found = rt.agora.search_products(&Actor::Anonymous, store_id, "tea", &all).await.unwrap();
    assert_eq!(found.items.iter().map(|p| p.id).collect::<Vec<_>>(), [v.product_id.0]);
    rt.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_fills_the_search_rows_the_migration_left_empty_on_sqlite() {
    a_start_fills_the_search_rows_the_migration_left_empty("sqlite").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_fills_the_search_rows_the_migration_left_empty_on_postgres() {
    a_start_fills_the_search_rows_the_migration_left_empty("postgres").await
}
