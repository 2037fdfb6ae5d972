//! The read-through catalog cache against a real redis-server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_core::views::ProductPatch;
use agora_core::*;
use agora_memory::MemoryStore;
use agora_redis::{CachedStore, RedisClient};
use common::{TestRedis, World};

const TTL: Duration = Duration::from_secs(60);

fn cached(inner: Arc<MemoryStore>, client: RedisClient) -> Arc<CachedStore> {
    Arc::new(CachedStore::new(inner, client, TTL))
}

/// A cache over a fresh memory store, a world written through it, and its product.
struct Setup {
    t: TestRedis,
    inner: Arc<MemoryStore>,
    store: Arc<CachedStore>,
    w: World,
    pid: ProductId,
}

async fn setup() -> Setup {
    let t = TestRedis::new().await;
    let inner = Arc::new(MemoryStore::new());
    let store = cached(inner.clone(), t.client.clone());
    let w = World::new(store.clone(), None, 5).await;
    let pid = ProductId(w.product.id);
    Setup { t, inner, store, w, pid }
}

fn retitle(title: &str) -> ProductPatch {
    ProductPatch { title: Some(title.into()), status: None }
}

#[tokio::test]
async fn reads_are_served_from_redis() {
    let Setup { t, inner, store, w, pid } = setup().await;

    let p = store.get_product(pid).await.unwrap().expect("product");
    let listing = store.list_products(w.store_id, Some(ProductStatus::Active), Page::first(10)).await.unwrap();
    let variants = store.list_variants(&[pid]).await.unwrap();
    assert_eq!(listing.len(), 1);
    assert_eq!(variants.len(), 1);
    assert!(t.keys().await.iter().any(|k| k.contains(":cache:product:")), "{:?}", t.keys().await);

    // A change made behind the cache's back (never done in agora) is not
    // seen: proof the reads above are cached.
    let mut changed = p.clone();
    changed.title = "changed behind the cache".into();
    let mut cs = Changeset::new();
    cs.update(Record::Product(changed));
    inner.apply(cs).await.unwrap();
    assert_eq!(store.get_product(pid).await.unwrap().unwrap().title, p.title);
    assert_eq!(store.list_products(w.store_id, Some(ProductStatus::Active), Page::first(10)).await.unwrap(), listing);

    // A write through the cache invalidates.
    let mut again = p.clone();
    again.title = "through the cache".into();
    let mut cs = Changeset::new();
    cs.update(Record::Product(again));
    store.apply(cs).await.unwrap();
    assert_eq!(store.get_product(pid).await.unwrap().unwrap().title, "through the cache");
    assert_eq!(t.client.errors(), 0);
}

#[tokio::test]
async fn a_write_followed_by_a_read_never_returns_the_old_value() {
    let Setup { t, inner: _, store: _, w, pid } = setup().await;
    let public = Actor::Anonymous;

    for i in 0..20 {
        // Warm every cached read, then write, then read.
        assert_eq!(
            w.agora.get_product(&public, pid).await.unwrap().title,
            if i == 0 { "Kettle".into() } else { format!("v{}", i - 1) }
        );
        w.agora.list_products(w.store_id, &ListQuery::default()).await.unwrap();
        w.agora.patch_product(&w.admin, pid, retitle(&format!("v{i}"))).await.unwrap();
        assert_eq!(w.agora.get_product(&public, pid).await.unwrap().title, format!("v{i}"));
        let page = w.agora.list_products(w.store_id, &ListQuery::default()).await.unwrap();
        assert_eq!(page.items[0].title, format!("v{i}"), "listing is fresh too");
    }

    // A new product shows in the listing at once; a product made draft leaves it.
    let before = w.agora.list_products(w.store_id, &ListQuery::default()).await.unwrap().items.len();
    let second = w
        .agora
        .create_product(
            &w.admin,
            w.store_id,
            views::NewProduct {
                title: "Teapot".into(),
                currency: "EUR".into(),
                status: None,
                variants: vec![views::NewVariant { sku: "T-1".into(), name: "default".into(), price_minor: 500 }],
            },
        )
        .await
        .unwrap();
    let page = w.agora.list_products(w.store_id, &ListQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), before + 1);
    w.agora
        .patch_product(&w.admin, ProductId(second.id), ProductPatch { title: None, status: Some("draft".into()) })
        .await
        .unwrap();
    let page = w.agora.list_products(w.store_id, &ListQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), before);
    assert!(matches!(w.agora.get_product(&public, ProductId(second.id)).await, Err(AgoraError::NotFound(_))));
    assert_eq!(t.client.errors(), 0);
}

#[tokio::test]
async fn a_new_variant_is_seen_at_once() {
    let Setup { t: _t, inner: _, store, w, pid } = setup().await;
    let first = store.list_variants(&[pid]).await.unwrap();
    assert_eq!(first.len(), 1);

    let mut v = first[0].clone();
    v.id = VariantId(uuid::Uuid::now_v7());
    v.sku = "K-2".into();
    let mut cs = Changeset::new();
    cs.guard(agora_core::guards::sku_free(w.store_id, "K-2")).insert(Record::Variant(v.clone()));
    store.apply(cs).await.unwrap();

    let after = store.list_variants(&[pid, pid]).await.unwrap();
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[1], v);
}

#[tokio::test]
async fn a_deleted_variant_is_gone_at_once() {
    let Setup { t, inner: _, store, w: _, pid } = setup().await;
    let mut extra = store.list_variants(&[pid]).await.unwrap().remove(0);
    extra.id = VariantId(uuid::Uuid::now_v7());
    extra.sku = "K-3".into();
    let mut cs = Changeset::new();
    cs.insert(extra.clone());
    store.apply(cs).await.unwrap();
    assert_eq!(store.list_variants(&[pid]).await.unwrap().len(), 2, "warm");
    // A delete names only the row's key: the cache reads the row to learn its product.
    let mut cs = Changeset::new();
    cs.delete::<ProductVariant>(extra.id);
    store.apply(cs).await.unwrap();
    assert_eq!(store.list_variants(&[pid]).await.unwrap().len(), 1);
    assert_eq!(t.client.errors(), 0);
}

#[tokio::test]
async fn list_variants_mixes_hits_and_misses_in_the_stores_order() {
    let Setup { t: _t, inner, store, w, pid } = setup().await;
    let mut ids = vec![pid];
    for i in 0..4 {
        let p = w
            .agora
            .create_product(
                &w.admin,
                w.store_id,
                views::NewProduct {
                    title: format!("P{i}"),
                    currency: "EUR".into(),
                    status: None,
                    variants: vec![
                        views::NewVariant { sku: format!("A-{i}"), name: "a".into(), price_minor: 100 },
                        views::NewVariant { sku: format!("B-{i}"), name: "b".into(), price_minor: 200 },
                    ],
                },
            )
            .await
            .unwrap();
        ids.push(ProductId(p.id));
    }
    // Warm some of them.
    store.list_variants(&ids[1..3]).await.unwrap();
    let mut shuffled = ids.clone();
    shuffled.reverse();
    let got = store.list_variants(&shuffled).await.unwrap();
    assert_eq!(got, inner.list_variants(&shuffled).await.unwrap());
    assert_eq!(store.list_variants(&shuffled).await.unwrap(), got, "all hits now");
    assert!(store.list_variants(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn stock_is_never_cached() {
    let Setup { t: _t, inner: _, store: _, w, pid } = setup().await;
    let available = |p: views::ProductView| p.variants[0].available;
    assert_eq!(available(w.agora.get_product(&Actor::Anonymous, pid).await.unwrap()), 5);
    w.agora.place_order(&w.customer, Some("o1"), w.order_request(2)).await.unwrap();
    assert_eq!(available(w.agora.get_product(&Actor::Anonymous, pid).await.unwrap()), 3);
    w.agora.place_order(&w.customer, Some("o2"), w.order_request(3)).await.unwrap();
    assert_eq!(available(w.agora.get_product(&Actor::Anonymous, pid).await.unwrap()), 0);
    let err = w.agora.place_order(&w.customer, Some("o3"), w.order_request(1)).await.unwrap_err();
    assert!(matches!(err, AgoraError::OutOfStock(_)), "{err:?}");
}

#[tokio::test]
async fn concurrent_readers_never_see_an_older_value_after_a_write() {
    let Setup { t, inner, store, w, pid } = setup().await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Readers on other "instances" keep populating the cache while we write.
    let mut readers = Vec::new();
    for _ in 0..4 {
        let reader = cached(inner.clone(), t.another().await);
        let stop = stop.clone();
        let sid = w.store_id;
        readers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                reader.get_product(pid).await.unwrap().expect("product");
                reader.list_products(sid, None, Page::first(10)).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    for i in 1..=60 {
        let mut p = store.get_product(pid).await.unwrap().unwrap();
        p.version += 1;
        p.title = format!("t{i}");
        let mut cs = Changeset::new();
        cs.update(Record::Product(p.clone()));
        store.apply(cs).await.unwrap();
        let seen = store.get_product(pid).await.unwrap().unwrap();
        assert_eq!(seen.title, format!("t{i}"), "read after write");
        let listed = store.list_products(w.store_id, None, Page::first(10)).await.unwrap();
        assert_eq!(listed[0].title, format!("t{i}"), "listing after write");
        tokio::task::yield_now().await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    assert!(reads > 0);
    // After the dust settles every instance sees the last write.
    let fresh = cached(inner.clone(), t.another().await);
    assert_eq!(fresh.get_product(pid).await.unwrap().unwrap().title, "t60");
    assert_eq!(store.get_product(pid).await.unwrap().unwrap().title, "t60");
    assert_eq!(fresh.list_products(w.store_id, None, Page::first(10)).await.unwrap()[0].title, "t60");
}

#[tokio::test]
async fn with_redis_unreachable_reads_fall_back_and_errors_rise() {
    let client = common::unreachable_client();
    let store = cached(Arc::new(MemoryStore::new()), client.clone());
    let started = std::time::Instant::now();
    let w = World::new(store.clone(), None, 5).await;
    let pid = ProductId(w.product.id);

    assert_eq!(w.agora.get_product(&Actor::Anonymous, pid).await.unwrap().title, "Kettle");
    let before = client.errors();
    assert!(before >= 1, "failures are counted");
    w.agora.patch_product(&w.admin, pid, retitle("fresh")).await.unwrap();
    assert_eq!(w.agora.get_product(&Actor::Anonymous, pid).await.unwrap().title, "fresh");
    assert_eq!(w.agora.list_products(w.store_id, &ListQuery::default()).await.unwrap().items.len(), 1);
    assert_eq!(store.list_variants(&[pid]).await.unwrap().len(), 1);
    w.agora.place_order(&w.customer, Some("k"), w.order_request(1)).await.unwrap();
    assert!(client.errors() > before, "errors keep rising: {} -> {}", before, client.errors());
    assert_eq!(store.errors(), client.errors());
    assert!(started.elapsed() < Duration::from_secs(20), "a dead Redis must not make reads slow");
}
