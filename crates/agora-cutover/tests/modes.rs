//! Dual writes and shadow reads.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_core::*;
use agora_cutover::{CopyOptions, DualWriteStore, NoProgress, ShadowReadStore, copy, verify};
use agora_testkit::harness::{Customer, StoreFixture};
use agora_testkit::probe::{ProbeStore, assert_forwards_every_call};
use agora_testkit::{Harness, TestStore};
use common::{Flaky, Recorder, assert_same, populate};
use std::sync::atomic::Ordering::SeqCst;
use uuid::Uuid;

/// A populated memory primary selling one product (100, 50 in stock) to
/// one customer, and an empty memory secondary.
struct Selling {
    primary: Arc<dyn Store>,
    secondary: Arc<dyn Store>,
    h: Harness,
    shop: StoreFixture,
    v: Uuid,
    c: Customer,
}

async fn selling(domain: &str, sku: &str, customer: &str) -> Selling {
    let primary: Arc<dyn Store> = Arc::new(agora_memory::MemoryStore::new());
    let secondary: Arc<dyn Store> = Arc::new(agora_memory::MemoryStore::new());
    let h = populate(primary.clone()).await;
    let shop = h.store_fixture(domain).await;
    let (_, v) = h.product(&shop, sku, 100, 50).await;
    let c = h.customer(customer).await;
    Selling { primary, secondary, h, shop, v, c }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_failure_is_counted_never_raised_and_copy_repairs_it() {
    let Selling { primary, secondary, shop, v, c, .. } = selling("dual.example.com", "DW-1", "dana").await;
    // The secondary is down: every replay fails.
    let down = Flaky::new(secondary.clone(), 0);
    let dual = DualWriteStore::new(primary.clone(), Arc::new(down));
    let stats = dual.stats();
    let hd = Harness::new(TestStore::new(Arc::new(dual), ()));
    let order = hd.order(&c, &shop, &[(v, 1)]).await.expect("the request succeeds");
    assert_eq!(stats.failures(), 1, "the replay failed on the secondary and was counted");
    assert!(primary.get_order(OrderId(order.id)).await.unwrap().is_some());
    assert!(secondary.get_order(OrderId(order.id)).await.unwrap().is_none());
    // The backfill repairs it; afterwards dual writes keep both equal.
    let report = copy(primary.as_ref(), secondary.as_ref(), &CopyOptions::default(), &NoProgress).await.unwrap();
    assert!(report.inserted() > 0 && report.conflicts() == 0, "{report:?}");
    let dual = DualWriteStore::new(primary.clone(), secondary.clone());
    let stats = dual.stats();
    let hd = Harness::new(TestStore::new(Arc::new(dual), ()));
    hd.order(&c, &shop, &[(v, 2)]).await.unwrap();
    assert_eq!(stats.failures(), 0);
    assert_same(primary.as_ref(), secondary.as_ref(), "dual").await;
    assert!(verify(primary.as_ref(), secondary.as_ref(), &NoProgress).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_upserts_rows_the_backfill_has_not_brought_yet() {
    let Selling { primary, secondary, h, shop, v, c } = selling("early.example.com", "UP-1", "erin").await;
    let order = h.order(&c, &shop, &[(v, 1)]).await.unwrap();
    // Dual writes start before the backfill: paying the order updates rows
    // (order, payment, stock) the secondary does not have yet.
    let dual = DualWriteStore::new(primary.clone(), secondary.clone());
    let stats = dual.stats();
    let hd = Harness::new(TestStore::new(Arc::new(dual), ()));
    hd.pay(&c, &order).await;
    assert_eq!(stats.failures(), 0, "updates of missing rows became inserts");
    let paid = secondary.get_order(OrderId(order.id)).await.unwrap().expect("order upserted");
    assert_eq!(paid.status, OrderStatus::Paid);
    let stock = secondary.list_inventory(&[VariantId(v)]).await.unwrap();
    assert_eq!(stock, primary.list_inventory(&[VariantId(v)]).await.unwrap(), "stock set to the primary's figures");
    // The backfill then brings the rest; the rows the replay wrote are left alone.
    let report = copy(primary.as_ref(), secondary.as_ref(), &CopyOptions::default(), &NoProgress).await.unwrap();
    assert_eq!(report.conflicts(), 0, "{report:?}");
    assert_same(primary.as_ref(), secondary.as_ref(), "after backfill").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_dual_writes_keep_rows_in_primary_order() {
    let primary: Arc<dyn Store> = Arc::new(agora_memory::MemoryStore::new());
    let secondary: Arc<dyn Store> = Arc::new(agora_memory::MemoryStore::new());
    let dual = DualWriteStore::new(primary.clone(), secondary.clone());
    let stats = dual.stats();
    let h = Arc::new(Harness::new(TestStore::new(Arc::new(dual), ())));
    let shop = h.store_fixture("race.example.com").await;
    let (_, v) = h.product(&shop, "RACE-1", 100, 10_000).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (h, shop) = (h.clone(), shop.clone());
        tasks.push(tokio::spawn(async move {
            let c = h.customer(&format!("racer{i}")).await;
            for _ in 0..12 {
                h.clock.advance(time::Duration::microseconds(7));
                h.order(&c, &shop, &[(v, 1)]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(stats.failures(), 0);
    assert_same(primary.as_ref(), secondary.as_ref(), "after the race").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_reads_count_matches_and_report_mismatches() {
    let primary: Arc<dyn Store> = Arc::new(agora_memory::MemoryStore::new());
    let secondary: Arc<dyn Store> = Arc::new(agora_memory::MemoryStore::new());
    let h = populate(primary.clone()).await;
    copy(primary.as_ref(), secondary.as_ref(), &CopyOptions::default(), &NoProgress).await.unwrap();
    let shadow = ShadowReadStore::new(primary.clone(), secondary.clone()).with_limits(64, Duration::from_millis(5));
    let stats = shadow.stats();
    let stores = shadow.list_stores(Page::first(10)).await.unwrap();
    assert_eq!(stores.len(), 2);
    let shop = stores.iter().find(|s| s.domain == "shop.example.com").unwrap().id;
    let orders = shadow.list_orders_by_store(shop, None, Page::first(50)).await.unwrap();
    shadow.get_user_by_email("owner@example.com").await.unwrap().expect("owner");
    shadow.drain().await;
    assert_eq!(stats.compared(), 3);
    assert_eq!(stats.mismatches(), 0);
    // The secondary drifts: an order's amount differs there.
    let mut drifted = orders[0].clone();
    drifted.pay_amount_minor += 5;
    let mut cs = Changeset::new();
    cs.update(Record::Order(drifted));
    secondary.apply(cs).await.unwrap();
    let served = shadow.get_order(orders[0].id).await.unwrap().unwrap();
    assert_eq!(served, orders[0], "reads are served by the primary");
    shadow.drain().await;
    assert_eq!(stats.mismatches(), 1);
    let fields = agora_cutover::shadow::differing_fields(
        &Some(orders[0].clone()),
        &secondary.get_order(orders[0].id).await.unwrap(),
    );
    assert_eq!(fields, ["pay_amount_minor"]);
    // Writes through the shadow store reach both.
    let before = stats.compared();
    let c = h.customer("late").await;
    let hs = Harness::new(TestStore::new(Arc::new(shadow.clone()), ()));
    let variant = primary.list_store_inventory(shop).await.unwrap()[0].variant_id;
    let fixture = h.store_fixture("other.example.com").await;
    let (_, v) = hs.product(&fixture, "SH-1", 10, 10).await;
    hs.order(&c, &fixture, &[(v, 1)]).await.unwrap();
    shadow.drain().await;
    assert!(stats.compared() > before, "the order's reads were compared");
    assert_eq!(shadow.write_stats().failures(), 0);
    let _ = variant;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_wrappers_and_the_test_forwarders_forward_every_call() {
    let other = || -> Arc<dyn Store> { Arc::new(agora_memory::MemoryStore::new()) };
    assert_forwards_every_call(|inner| Arc::new(DualWriteStore::new(inner, other()))).await;
    assert_forwards_every_call(|inner| Arc::new(ShadowReadStore::new(inner, other()))).await;
    assert_forwards_every_call(|inner| Arc::new(Flaky::new(inner, u64::MAX))).await;
    assert_forwards_every_call(|inner| Arc::new(Recorder::new(inner))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_reads_compare_the_order_read_as_one_call() {
    let primary: Arc<dyn Store> = Arc::new(agora_memory::MemoryStore::new());
    let probe = Arc::new(ProbeStore::new(Arc::new(agora_memory::MemoryStore::new())));
    let asked = probe.counts.clone();
    let shadow = ShadowReadStore::new(primary.clone(), probe.clone()).with_limits(64, Duration::from_millis(5));
    let stats = shadow.stats();
    let h = Harness::new(TestStore::new(Arc::new(shadow.clone()), ()));
    let shop = h.store_fixture("oc.example.com").await;
    let (product, v) = h.product(&shop, "OC-1", 100, 50).await;
    let c = h.customer("olga").await;
    h.order(&c, &shop, &[(v, 1)]).await.unwrap();
    shadow.drain().await;
    // Asked once, and again for each re-read of a comparison the order's own writes made differ.
    let first = asked.order_context.load(SeqCst);
    assert!(first >= 1, "the secondary was asked the order read as one call");
    assert_eq!(stats.mismatches(), 0);
    // The secondary's product drifts: the next order read differs there.
    let mut drifted = probe.get_product(ProductId(product.id)).await.unwrap().expect("product");
    drifted.title.push_str(" (drifted)");
    let mut cs = Changeset::new();
    cs.update(drifted);
    probe.apply(cs).await.unwrap();
    let variants = [VariantId(v)];
    let q = OrderContextQuery {
        idempotency_scope: "orders:x",
        idempotency_key: "k",
        store_id: shop.id,
        address_id: AddressId(c.address_id),
        variant_ids: &variants,
        task_no: None,
    };
    let served = shadow.order_context(&q).await.unwrap();
    assert_eq!(served, primary.order_context(&q).await.unwrap(), "served by the primary");
    shadow.drain().await;
    assert!(asked.order_context.load(SeqCst) > first);
    assert_eq!(stats.mismatches(), 1, "the drifted product was seen in the order read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_reads_compare_searches_as_one_call() {
    let primary: Arc<dyn Store> = Arc::new(agora_memory::MemoryStore::new());
    let probe = Arc::new(ProbeStore::new(Arc::new(agora_memory::MemoryStore::new())));
    let asked = probe.counts.clone();
    let shadow = ShadowReadStore::new(primary.clone(), probe.clone()).with_limits(64, Duration::from_millis(5));
    let stats = shadow.stats();
    let h = Harness::new(TestStore::new(Arc::new(shadow.clone()), ()));
    let shop = h.store_fixture("search.example.com").await;
    let (product, _) = h.product(&shop, "MUG-1", 100, 5).await;
    let all = ListQuery::default();
    let found = h.agora.search_products(&Actor::Anonymous, shop.id, "mug", &all).await.unwrap();
    assert_eq!(found.items.len(), 1);
    shadow.drain().await;
    assert_eq!(asked.search_products.load(SeqCst), 1, "the secondary was asked the search as one call");
    assert_eq!(stats.mismatches(), 0);
    // The secondary's search row drifts (its product is a draft there).
    let mut drifted = probe.get::<ProductSearch, _>(ProductId(product.id)).await.unwrap().expect("row");
    drifted.status = ProductStatus::Draft;
    let mut cs = Changeset::new();
    cs.update(drifted);
    probe.apply(cs).await.unwrap();
    let found = h.agora.search_products(&Actor::Anonymous, shop.id, "mug", &all).await.unwrap();
    assert_eq!(found.items.len(), 1, "served by the primary");
    shadow.drain().await;
    assert_eq!(stats.mismatches(), 1, "the secondary's search answered differently");
}
