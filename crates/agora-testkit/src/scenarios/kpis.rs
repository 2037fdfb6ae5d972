//! The KPI cache: the `kpis` job's figures equal a recount from the orders,
//! for fixed and for random workloads, and two workers write each stretch
//! of the feed once.

use std::collections::BTreeMap;

use agora_core::usecases::{Sweep, day_key};
use agora_core::views::*;
use agora_core::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::Harness;

// This module's scenarios, for `crate::conformance_tests!`.
crate::__scenario_list!($ __scenarios_kpis:
    kpis_count_created_paid_and_closed_per_day, kpis_refuse_bad_spans_and_strangers, kpis_ask_for_a_currency_when_several,
    kpi_job_writes_each_stretch_once, kpis_equal_a_recount_for_random_workloads,
);

/// Sequences the store's events and runs the KPI job until it has nothing
/// left to do.
async fn run_kpi_job(h: &Harness, store: StoreId) {
    for _ in 0..100 {
        h.agora.sequence_events(store).await.unwrap();
        if !h.agora.has_due(Sweep::Kpis, store).await.unwrap() {
            return;
        }
        h.agora.run_sweep(Sweep::Kpis, store, 50).await.unwrap();
    }
    panic!("the KPI job never ran dry");
}

/// The figures of one day, recounted here from a snapshot: the reference
/// the job is checked against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Recount {
    created: i64,
    paid: i64,
    closed: i64,
    revenue: i64,
    units: i64,
}

async fn recount(h: &Harness, store: StoreId, currency: &str) -> BTreeMap<String, Recount> {
    let snap = h.snapshot().await;
    let orders: Vec<&CustomerOrder> = snap
        .rows::<CustomerOrder>()
        .into_iter()
        .filter(|o| o.store_id == store && o.currency.as_str() == currency)
        .collect();
    let items = snap.rows::<OrderItem>();
    let mut days: BTreeMap<String, Recount> = BTreeMap::new();
    for o in orders {
        days.entry(day_key(o.created_at.date())).or_default().created += 1;
        if let Some(t) = o.paid_at {
            let d = days.entry(day_key(t.date())).or_default();
            d.paid += 1;
            d.revenue += o.pay_amount_minor;
            d.units += items.iter().filter(|i| i.order_id == o.id).map(|i| i.qty).sum::<i64>();
        }
        if let Some(t) = o.closed_at {
            days.entry(day_key(t.date())).or_default().closed += 1;
        }
    }
    days
}

async fn kpis(h: &Harness, s: &StoreFixture, from: &str, to: &str) -> KpiView {
    let q = KpiQuery { from: Some(from.into()), to: Some(to.into()), currency: None };
    h.agora.get_kpis(&s.admin, s.id, &q).await.unwrap()
}

/// Checks the served figures of `from..=to` against the recount.
fn assert_matches(view: &KpiView, reference: &BTreeMap<String, Recount>) -> Result<(), String> {
    let mut total = Recount::default();
    for day in &view.days {
        let want = reference.get(&day.date).cloned().unwrap_or_default();
        let got = (day.orders_created, day.orders_paid, day.revenue_minor, day.units_sold);
        if got != (want.created, want.paid, want.revenue, want.units) {
            return Err(format!("{}: served {got:?}, recount {want:?}", day.date));
        }
        total.created += want.created;
        total.paid += want.paid;
        total.closed += want.closed;
        total.revenue += want.revenue;
        total.units += want.units;
    }
    let served = (view.orders_created, view.orders_paid, view.orders_closed, view.revenue_minor, view.units_sold);
    if served != (total.created, total.paid, total.closed, total.revenue, total.units) {
        return Err(format!("totals: served {served:?}, recount {total:?}"));
    }
    let average = if total.paid > 0 { total.revenue / total.paid } else { 0 };
    if view.average_order_minor != average {
        return Err(format!("average: served {}, recount {average}", view.average_order_minor));
    }
    Ok(())
}

pub async fn kpis_count_created_paid_and_closed_per_day(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "KPI-1", 1000, 100).await;
    let day1 = h.clock.now().date();
    let a = h.order(&c, &s, &[(v, 2)]).await.unwrap();
    let b = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let cancelled = h.order(&c, &s, &[(v, 5)]).await.unwrap();
    h.agora.cancel_order(&c.actor, OrderId(cancelled.id)).await.unwrap();
    let before_job = h.snapshot().await.rows::<ActivityEvent>().len();
    let q = KpiQuery { from: Some(day_key(day1)), to: Some(day_key(day1)), currency: None };
    let empty = h.agora.get_kpis(&s.admin, s.id, &q).await.unwrap();
    assert_eq!((empty.orders_created, empty.computed_at, empty.currency), (0, None, None), "nothing before the job");
    run_kpi_job(&h, s.id).await;
    let first = h.agora.get_kpis(&s.admin, s.id, &q).await.unwrap();
    assert_eq!((first.orders_created, first.orders_paid, first.orders_closed), (3, 0, 1));
    assert_eq!(first.currency.as_deref(), Some("EUR"));
    assert_eq!(first.computed_at, Some(h.clock.now()));
    h.agora.sequence_events(s.id).await.unwrap();
    assert_eq!(h.snapshot().await.rows::<ActivityEvent>().len(), before_job, "the job writes no event");

    // The next day: a is paid (its day-1 row stays), b is paid the day after.
    h.clock.advance(Duration::days(1));
    h.pay(&c, &a).await;
    run_kpi_job(&h, s.id).await;
    h.clock.advance(Duration::days(1));
    h.pay(&c, &b).await;
    let day3 = h.clock.now().date();
    // The job runs only the day after: day 3 is recounted because b (made
    // on day 1) was paid then, not because it is today.
    h.clock.advance(Duration::days(1));
    let late = h.order(&c, &s, &[(v, 4)]).await.unwrap();
    run_kpi_job(&h, s.id).await;
    let view = kpis(&h, &s, &day_key(day1), &day_key(day3)).await;
    let days: Vec<(i64, i64, i64, i64)> =
        view.days.iter().map(|d| (d.orders_created, d.orders_paid, d.revenue_minor, d.units_sold)).collect();
    assert_eq!(days, [(3, 0, 0, 0), (0, 1, 2000, 2), (0, 1, 1000, 1)]);
    assert_eq!(
        (view.orders_created, view.orders_paid, view.revenue_minor, view.average_order_minor),
        (3, 2, 3000, 1500)
    );
    assert_eq!(
        view.days.iter().map(|d| d.date.clone()).collect::<Vec<_>>(),
        [day_key(day1), day_key(day1.next_day().unwrap()), day_key(day3)]
    );
    assert_matches(&view, &recount(&h, s.id, "EUR").await).unwrap();
    assert_eq!(late.amount_minor, 4000);
    // Nothing new: the job is not due until the next day.
    assert!(!h.agora.has_due(Sweep::Kpis, s.id).await.unwrap());
    h.clock.advance(Duration::days(1));
    assert!(h.agora.has_due(Sweep::Kpis, s.id).await.unwrap(), "a new day is due");
}

pub async fn kpis_refuse_bad_spans_and_strangers(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let q = |from: &str, to: &str| KpiQuery { from: Some(from.into()), to: Some(to.into()), currency: None };
    for (from, to, field) in [
        ("2026-13-01", "2026-12-01", "from"),
        ("2026-01-01", "tomorrow", "to"),
        ("2026-02-01", "2026-01-01", "from"),
        ("2025-01-01", "2026-01-02", "to"),
        ("2026-01-01", "-9999-01-05", "to"),
        ("+2026-01-01", "2026-01-05", "from"),
    ] {
        match h.agora.get_kpis(&s.admin, s.id, &q(from, to)).await {
            Err(AgoraError::Validation(errs)) => assert_eq!(errs[0].field, field, "{from}..{to}: {errs:?}"),
            other => panic!("{from}..{to}: expected validation, got {other:?}"),
        }
    }
    let span = h.agora.get_kpis(&s.admin, s.id, &q("2025-01-01", "2026-01-01")).await.unwrap();
    assert_eq!(span.days.len(), 366, "366 days is the longest span");
    let default = h.agora.get_kpis(&s.admin, s.id, &KpiQuery::default()).await.unwrap();
    assert_eq!((default.days.len(), default.to.clone()), (30, day_key(h.clock.now().date())));
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.get_kpis(&other.admin, s.id, &KpiQuery::default()).await), "not_found");
    assert_eq!(code(h.agora.get_kpis(&Actor::Anonymous, s.id, &KpiQuery::default()).await), "unauthorized");
    let bad = KpiQuery { currency: Some("euro".into()), ..Default::default() };
    assert_eq!(code(h.agora.get_kpis(&s.admin, s.id, &bad).await), "validation");
}

pub async fn kpis_ask_for_a_currency_when_several(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "KPI-EUR", 700, 10).await;
    let np = NewProduct {
        title: "Dollar thing".into(),
        currency: "USD".into(),
        status: None,
        variants: vec![NewVariant { sku: "KPI-USD".into(), name: "u".into(), price_minor: 300 }],
    };
    let usd = h.agora.create_product(&s.admin, s.id, np).await.unwrap().variants[0].id;
    let stock = SetInventory { variant_id: usd, warehouse_id: s.warehouse, on_hand: 10 };
    h.agora.set_inventory(&s.admin, s.id, stock).await.unwrap();
    h.order(&c, &s, &[(v, 1)]).await.unwrap();
    h.order(&c, &s, &[(usd, 2)]).await.unwrap();
    run_kpi_job(&h, s.id).await;
    let today = day_key(h.clock.now().date());
    let q = |currency: Option<&str>| KpiQuery {
        from: Some(today.clone()),
        to: Some(today.clone()),
        currency: currency.map(str::to_owned),
    };
    assert_eq!(code(h.agora.get_kpis(&s.admin, s.id, &q(None)).await), "validation");
    let eur = h.agora.get_kpis(&s.admin, s.id, &q(Some("EUR"))).await.unwrap();
    let usd = h.agora.get_kpis(&s.admin, s.id, &q(Some("USD"))).await.unwrap();
    assert_eq!((eur.orders_created, usd.orders_created), (1, 1));
    assert_eq!(usd.currency.as_deref(), Some("USD"));
    let gbp = h.agora.get_kpis(&s.admin, s.id, &q(Some("GBP"))).await.unwrap();
    assert_eq!(gbp.orders_created, 0);
}

pub async fn kpi_job_writes_each_stretch_once(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "KPI-2", 1000, 100).await;
    for qty in 1..=4 {
        let o = h.order(&c, &s, &[(v, qty)]).await.unwrap();
        if qty % 2 == 0 {
            h.pay(&c, &o).await;
        }
    }
    h.agora.sequence_events(s.id).await.unwrap();
    let (a, b) = tokio::join!(h.agora.refresh_kpis(s.id, 1000), h.agora.refresh_kpis(s.id, 1000));
    let (a, b) = (a.unwrap(), b.unwrap());
    let rows = h.snapshot().await.rows::<KpiDay>().len() as u64;
    assert_eq!(rows, 1, "one day, one currency");
    // Each run that committed also moved the cursor (one more changed row);
    // a run that lost the race wrote nothing.
    let commits = u64::from(a.conflicts == 0) + u64::from(b.conflicts == 0);
    assert_eq!(a.changed + b.changed - commits, rows, "each row written once: {a:?} {b:?}");
    let cursors = h.snapshot().await.rows::<JobCursor>().into_iter().filter(|c| c.store_id == s.id).count();
    assert_eq!(cursors, 1);
    // Whoever lost saw the cursor move: running again writes nothing.
    let again = h.agora.refresh_kpis(s.id, 1000).await.unwrap();
    assert_eq!((again.scanned, again.changed), (0, 1), "only the cursor's run time moves");
    assert_eq!(h.snapshot().await.rows::<KpiDay>().len() as u64, rows);
    let today = day_key(h.clock.now().date());
    assert_matches(&kpis(&h, &s, &today, &today).await, &recount(&h, s.id, "EUR").await).unwrap();
}

/// One step of a random KPI workload.
#[derive(Clone, Debug)]
enum Step {
    Place(i64),
    Pay(usize),
    Cancel(usize),
    ExpireUnpaid,
    Advance(i64),
    RunJob,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1..=3i64).prop_map(Step::Place),
        3 => any::<usize>().prop_map(Step::Pay),
        1 => any::<usize>().prop_map(Step::Cancel),
        1 => Just(Step::ExpireUnpaid),
        3 => (1..=30i64).prop_map(Step::Advance),
        2 => Just(Step::RunJob),
    ]
}

async fn run_workload(h: &Harness, case: usize, steps: &[Step]) -> Result<(), String> {
    let s = h.store_fixture(&format!("kpi{case}-{}.example.com", Uuid::now_v7().simple())).await;
    let (_, v) = h.product(&s, &format!("KPI-P-{}", Uuid::now_v7().simple()), 250, 100_000).await;
    let c = h.customer(&format!("kpi-{}", Uuid::now_v7().simple())).await;
    let first_day = h.clock.now().date();
    let mut orders: Vec<OrderView> = Vec::new();
    for step in steps {
        match step {
            Step::Place(qty) => orders.push(h.order(&c, &s, &[(v, *qty)]).await.map_err(|e| e.to_string())?),
            Step::Pay(i) if !orders.is_empty() => {
                let o = &orders[i % orders.len()];
                let now = h.agora.get_order(&c.actor, OrderId(o.id)).await.map_err(|e| e.to_string())?;
                if now.status == "CREATED" {
                    h.pay(&c, o).await;
                }
            }
            Step::Cancel(i) if !orders.is_empty() => {
                let o = &orders[i % orders.len()];
                let _ = h.agora.cancel_order(&c.actor, OrderId(o.id)).await;
            }
            Step::ExpireUnpaid => {
                h.agora.expire_unpaid_orders(s.id, 100).await.map_err(|e| e.to_string())?;
            }
            Step::Advance(hours) => h.clock.advance(Duration::hours(*hours)),
            Step::RunJob => run_kpi_job(h, s.id).await,
            _ => {}
        }
    }
    run_kpi_job(h, s.id).await;
    let view = kpis(h, &s, &day_key(first_day), &day_key(h.clock.now().date())).await;
    assert_matches(&view, &recount(h, s.id, "EUR").await)
}

/// Random workloads (orders, payments, cancellations, expiries, days
/// passing, the job run at random points), each on a new shop of the same
/// store; after a last run the served figures equal a recount.
/// `AGORA_KPI_CASES` sets the number of workloads (default 16).
pub async fn kpis_equal_a_recount_for_random_workloads(ts: TestStore) {
    let h = Harness::new(ts);
    let cases = std::env::var("AGORA_KPI_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let mut runner =
        TestRunner::new(Config { cases, max_shrink_iters: 32, failure_persistence: None, ..Config::default() });
    let handle = tokio::runtime::Handle::current();
    let case = std::sync::atomic::AtomicUsize::new(0);
    let result = tokio::task::block_in_place(|| {
        runner.run(&prop::collection::vec(step(), 1..60), |steps| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            handle.block_on(run_workload(&h, n, &steps)).map_err(TestCaseError::fail)
        })
    });
    if let Err(e) = result {
        panic!("the KPI cache differs from a recount: {e}");
    }
}
