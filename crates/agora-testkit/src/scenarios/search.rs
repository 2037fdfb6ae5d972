//! Product search: what a query finds, in which order, page by page, as
//! the catalog changes; the same on every store (each scenario runs on
//! each, and `search_matches_the_reference_evaluation` holds every store's
//! answers to core's reference evaluation).

use agora_core::search::{MAX_QUERY_CHARS, MAX_TERMS};
use agora_core::views::*;
use agora_core::*;
use uuid::Uuid;

use super::*;
use crate::harness::{Harness, StoreFixture, TestStore};

// This module's scenarios, for `crate::conformance_tests!`.
crate::__scenario_list!($ __scenarios_search:
    search_folds_accents_case_and_finds_prefixes_skus_and_variant_names,
    search_hides_drafts_from_the_public_and_filters_them_for_admins,
    search_ranks_by_tier_then_newest_and_pages_without_repeats,
    search_follows_title_and_status_changes_in_the_same_commit,
    search_checks_queries_pages_and_who_may_search,
    search_matches_the_reference_evaluation,
    search_index_catches_up_with_products_written_without_it,
);

/// Creates a product of `s` with `variants` as (name, sku), price 100.
async fn product(h: &Harness, s: &StoreFixture, title: &str, status: &str, variants: &[(&str, &str)]) -> Uuid {
    let req = NewProduct {
        title: title.into(),
        currency: "EUR".into(),
        status: Some(status.into()),
        variants: variants
            .iter()
            .map(|(name, sku)| NewVariant { sku: (*sku).into(), name: (*name).into(), price_minor: 100 })
            .collect(),
    };
    h.agora.create_product(&s.admin, s.id, req).await.expect("create product").id
}

/// The ids the public search of `q` finds (first page of 200).
async fn public(h: &Harness, s: &StoreFixture, q: &str) -> Vec<Uuid> {
    let page = ListQuery { limit: Some(200), cursor: None };
    let found = h.agora.search_products(&Actor::Anonymous, s.id, q, &page).await.expect("search");
    assert!(found.next_cursor.is_none());
    found.items.into_iter().map(|p| p.id).collect()
}

/// The ids the admin search of `q` (of `status`, if any) finds.
async fn admin(h: &Harness, s: &StoreFixture, q: &str, status: Option<&str>) -> Vec<Uuid> {
    let page = ListQuery { limit: Some(200), cursor: None };
    let found = h.agora.search_all_products(&s.admin, s.id, Some(q), status, &page).await.expect("admin search");
    found.items.into_iter().map(|p| p.id).collect()
}

/// A small catalog: a dessert, a mug, a music box, a plate sold with a mug
/// saucer, in that order (so newest first is the reverse).
struct Corpus {
    creme: Uuid,
    mug: Uuid,
    music: Uuid,
    plate: Uuid,
}

async fn corpus(h: &Harness, s: &StoreFixture) -> Corpus {
    Corpus {
        creme: product(h, s, "Crème brûlée", "active", &[("Ramekin", "DES-CB-01")]).await,
        mug: product(h, s, "Mug", "active", &[("Red mug", "MUG-RED-01"), ("Blue mug", "MUG-BLU-02")]).await,
        music: product(h, s, "Music box", "active", &[("Walnut", "MB-7")]).await,
        plate: product(h, s, "Plate", "active", &[("Mug saucer", "PL-9")]).await,
    }
}

pub async fn search_folds_accents_case_and_finds_prefixes_skus_and_variant_names(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let c = corpus(&h, &s).await;
    // Accents and case fold away, on both sides.
    assert_eq!(public(&h, &s, "creme").await, [c.creme]);
    assert_eq!(public(&h, &s, "BRÛL").await, [c.creme]);
    assert_eq!(public(&h, &s, "crème BRULÉE").await, [c.creme]);
    // Word prefixes: "mu" begins Mug and Music; Plate only has "mug" in a
    // variant name, so it ranks after the title matches.
    assert_eq!(public(&h, &s, "mu").await, [c.music, c.mug, c.plate]);
    // A whole title word ranks first.
    assert_eq!(public(&h, &s, "mug").await, [c.mug, c.plate]);
    // SKUs are split into words: "mug-red" is `mug` AND `red`.
    assert_eq!(public(&h, &s, "mug-red").await, [c.mug]);
    assert_eq!(public(&h, &s, "MUG-RED-01").await, [c.mug]);
    assert_eq!(public(&h, &s, "01").await, [c.mug, c.creme]);
    assert_eq!(public(&h, &s, "blu").await, [c.mug]);
    // Variant names.
    assert_eq!(public(&h, &s, "walnut").await, [c.music]);
    assert_eq!(public(&h, &s, "ramekin brulee").await, [c.creme]);
    // Every term must match; none of these do.
    assert!(public(&h, &s, "mug walnut").await.is_empty());
    assert!(public(&h, &s, "mugs").await.is_empty());
    assert!(public(&h, &s, "rème").await.is_empty(), "a term matches the start of a word only");
    // Another store's products are not found.
    let other = h.store_fixture("other.example.com").await;
    product(&h, &other, "Mug", "active", &[("Mug", "OTHER-MUG")]).await;
    assert_eq!(public(&h, &s, "mug").await, [c.mug, c.plate]);
    // Results are the list's product views, variants and availability included.
    let page = h.agora.search_products(&Actor::Anonymous, s.id, "red", &ListQuery::default()).await.unwrap();
    let listed = h.agora.get_product(&Actor::Anonymous, ProductId(c.mug)).await.unwrap();
    assert_eq!(page.items, [listed]);
}

pub async fn search_hides_drafts_from_the_public_and_filters_them_for_admins(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let c = corpus(&h, &s).await;
    let draft = product(&h, &s, "Mug prototype", "draft", &[("Prototype", "MUG-PROTO")]).await;
    assert_eq!(public(&h, &s, "mug").await, [c.mug, c.plate]);
    assert!(public(&h, &s, "prototype").await.is_empty());
    // Its admins' public search shows active products only, as the list
    // does; their admin search shows drafts, or one status.
    let page = ListQuery::default();
    let own = h.agora.search_products(&s.admin, s.id, "prototype", &page).await.unwrap();
    assert!(own.items.is_empty());
    assert_eq!(admin(&h, &s, "mug", None).await, [draft, c.mug, c.plate]);
    assert_eq!(admin(&h, &s, "mug", Some("draft")).await, [draft]);
    assert_eq!(admin(&h, &s, "mug", Some("active")).await, [c.mug, c.plate]);
    let sa = h.super_admin().await;
    let found = h.agora.search_all_products(&sa, s.id, Some("proto"), Some("draft"), &page).await.unwrap();
    assert_eq!(found.items.iter().map(|p| p.id).collect::<Vec<_>>(), [draft]);
    assert_eq!(found.items[0].status, "draft");
}

pub async fn search_ranks_by_tier_then_newest_and_pages_without_repeats(ts: TestStore) {
    let (h, s) = setup(ts).await;
    // Oldest first; the comment says the tier "tea" finds each at.
    let a = product(&h, &s, "Tea", "active", &[("Loose", "T-1")]).await; // 0
    let b = product(&h, &s, "Teapot", "active", &[("Clay", "T-2")]).await; // 1
    let c = product(&h, &s, "Cup", "active", &[("Tea cup", "C-1")]).await; // 2
    let d = product(&h, &s, "Green tea", "active", &[("Sencha", "T-3")]).await; // 0
    let e = product(&h, &s, "Kettle", "active", &[("Steel", "TEA-KETTLE")]).await; // 2
    let f = product(&h, &s, "Teaspoon set", "active", &[("Silver", "T-4")]).await; // 1
    let g = product(&h, &s, "Tea towel", "active", &[("Linen", "T-5")]).await; // 0
    product(&h, &s, "Coffee", "active", &[("Beans", "C-2")]).await; // no match
    let ranked = [g, d, a, f, b, e, c];
    assert_eq!(public(&h, &s, "tea").await, ranked);
    // Two terms: both must be whole title words for tier 0.
    assert_eq!(public(&h, &s, "tea gre").await, [d]);
    assert_eq!(public(&h, &s, "green tea").await, [d]);
    // Every page size walks the same ranking, each product once, across
    // the tiers' boundaries; a full last page still has a cursor, and the
    // page after it is empty.
    for limit in 1..=8u32 {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = ListQuery { limit: Some(limit), cursor: cursor.clone() };
            let got = h.agora.search_products(&Actor::Anonymous, s.id, "tea", &page).await.expect("page");
            assert!(got.items.len() <= limit as usize);
            seen.extend(got.items.iter().map(|p| p.id));
            pages += 1;
            match got.next_cursor {
                Some(next) => {
                    assert_eq!(got.items.len(), limit as usize, "only a full page has a cursor");
                    assert_eq!(next.len(), 23, "{next}");
                    cursor = Some(next);
                }
                None => break,
            }
            assert!(pages <= 8, "pages never end");
        }
        assert_eq!(seen, ranked, "limit {limit}");
    }
    // The product list of the store still pages by id, newest first.
    let listed = h.agora.list_products(s.id, &ListQuery { limit: Some(3), cursor: None }).await.unwrap();
    assert_eq!(listed.items.len(), 3);
}

pub async fn search_follows_title_and_status_changes_in_the_same_commit(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let c = corpus(&h, &s).await;
    let retitle = ProductPatch { title: Some("Espresso cup".into()), status: None };
    h.agora.patch_product(&s.admin, ProductId(c.mug), retitle).await.unwrap();
    // The next read sees it: no job, no delay.
    assert_eq!(public(&h, &s, "espresso").await, [c.mug]);
    assert_eq!(public(&h, &s, "mug").await, [c.plate, c.mug], "only variant names say mug now: newest first");
    assert_eq!(public(&h, &s, "cup").await, [c.mug]);
    let hide = ProductPatch { title: None, status: Some("draft".into()) };
    h.agora.patch_product(&s.admin, ProductId(c.music), hide).await.unwrap();
    assert!(public(&h, &s, "music").await.is_empty());
    assert_eq!(admin(&h, &s, "music", Some("draft")).await, [c.music]);
    let show = ProductPatch { title: Some("Music box deluxe".into()), status: Some("active".into()) };
    h.agora.patch_product(&s.admin, ProductId(c.music), show).await.unwrap();
    assert_eq!(public(&h, &s, "deluxe music").await, [c.music]);
    // Every product has exactly the search row core makes of it.
    let snap = h.snapshot().await;
    let variants: Vec<ProductVariant> = snap.rows::<ProductVariant>().into_iter().cloned().collect();
    let products = snap.rows::<Product>();
    let mut rows: Vec<ProductSearch> = snap.rows::<ProductSearch>().into_iter().cloned().collect();
    rows.sort_by_key(|r| r.product_id);
    let mut expected: Vec<ProductSearch> = products.iter().map(|p| ProductSearch::of(p, &variants)).collect();
    expected.sort_by_key(|r| r.product_id);
    assert_eq!(rows, expected);
    // The change and its search row are one commit: an event per patch.
    assert_eq!(event_kinds(&h, c.music).await, ["product.created", "product.updated", "product.updated"]);
}

pub async fn search_checks_queries_pages_and_who_may_search(ts: TestStore) {
    let (h, s) = setup(ts).await;
    corpus(&h, &s).await;
    let page = ListQuery::default();
    let anon = Actor::Anonymous;
    let fields = |r: Result<ListPage<ProductView>, AgoraError>| match r {
        Err(AgoraError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect::<Vec<_>>(),
        other => panic!("expected validation, got {other:?}"),
    };
    assert_eq!(fields(h.agora.search_products(&anon, s.id, "", &page).await), ["q"]);
    assert_eq!(fields(h.agora.search_products(&anon, s.id, " -!- ", &page).await), ["q"]);
    let long = "a".repeat(MAX_QUERY_CHARS + 1);
    assert_eq!(fields(h.agora.search_products(&anon, s.id, &long, &page).await), ["q"]);
    let many: Vec<String> = (0..=MAX_TERMS).map(|i| format!("w{i}")).collect();
    assert_eq!(fields(h.agora.search_products(&anon, s.id, &many.join(" "), &page).await), ["q"]);
    let at_most = &many[..MAX_TERMS].join(" ");
    assert!(h.agora.search_products(&anon, s.id, at_most, &page).await.unwrap().items.is_empty());
    let bad = ListQuery { limit: Some(0), cursor: Some("nope".into()) };
    assert_eq!(fields(h.agora.search_products(&anon, s.id, "!", &bad).await), ["q", "limit", "cursor"]);
    let tier9 = ListQuery { limit: None, cursor: Some(format!("9{}", encode_cursor(Uuid::nil()))) };
    assert_eq!(fields(h.agora.search_products(&anon, s.id, "mug", &tier9).await), ["cursor"]);
    // A plain list cursor is a place in the first tier; a search cursor
    // given to the product list is a place in the list.
    let plain = ListQuery { limit: None, cursor: Some(encode_cursor(Uuid::max())) };
    assert_eq!(h.agora.search_products(&anon, s.id, "mug", &plain).await.unwrap().items.len(), 2);
    let searched = ListQuery { limit: None, cursor: Some(format!("1{}", encode_cursor(Uuid::max()))) };
    assert_eq!(h.agora.list_products(s.id, &searched).await.unwrap().items.len(), 4);
    assert_eq!(fields(h.agora.search_all_products(&s.admin, s.id, Some("mug"), Some("gone"), &page).await), ["status"]);
    // Who may search: the public store's products, not a missing one's;
    // admin search is the store's admins' (and the super admin's).
    assert_eq!(code(h.agora.search_products(&anon, StoreId(Uuid::now_v7()), "mug", &page).await), "not_found");
    assert_eq!(fields(h.agora.search_all_products(&s.admin, s.id, None, Some("x"), &page).await), ["q", "status"]);
    assert_eq!(code(h.agora.search_all_products(&anon, s.id, Some("mug"), None, &page).await), "unauthorized");
    assert_eq!(code(h.agora.search_all_products(&anon, s.id, None, None, &page).await), "unauthorized");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.search_all_products(&other.admin, s.id, Some("mug"), None, &page).await), "not_found");
    let c = h.customer("ann").await;
    assert_eq!(code(h.agora.search_all_products(&c.actor, s.id, Some("mug"), None, &page).await), "not_found");
    let sa = h.super_admin().await;
    let nowhere = StoreId(Uuid::now_v7());
    assert_eq!(code(h.agora.search_all_products(&sa, nowhere, Some("mug"), None, &page).await), "not_found");
    // A suspended store's products vanish from the public search; its
    // admins still find them.
    let suspend = StorePatch { status: Some("suspended".into()), ..Default::default() };
    h.agora.patch_store(&sa, s.id, suspend, None).await.unwrap();
    assert_eq!(code(h.agora.search_products(&anon, s.id, "mug", &page).await), "not_found");
    assert_eq!(h.agora.search_products(&s.admin, s.id, "mug", &page).await.unwrap().items.len(), 2);
    assert_eq!(h.agora.search_all_products(&s.admin, s.id, Some("mug"), None, &page).await.unwrap().items.len(), 2);
}

/// Titles and variants made of a few words with accents, cases and
/// punctuation, so prefixes collide across products, title and SKU.
const VOCABULARY: &[&str] = &["Mug", "MÜSLI", "music", "mu-9", "Tea", "téa", "tea_pot", "Cup", "cúp7", "2cups", "Ça"];

fn pick(seed: &mut u64, n: usize) -> usize {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 33) % n as u64) as usize
}

pub async fn search_matches_the_reference_evaluation(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    let mut seed = 7u64;
    let word = |seed: &mut u64| VOCABULARY[pick(seed, VOCABULARY.len())];
    for i in 0..36 {
        let title = (0..1 + pick(&mut seed, 3)).map(|_| word(&mut seed)).collect::<Vec<_>>().join(" ");
        let name = format!("{} {}", word(&mut seed), word(&mut seed));
        let sku = format!("{}-{i}", word(&mut seed).replace(' ', ""));
        let status = if i % 5 == 4 { "draft" } else { "active" };
        let store = if i % 7 == 6 { &other } else { &s };
        product(&h, store, &title, status, &[(&name, &sku)]).await;
    }
    let snap = h.snapshot().await;
    let rows = snap.rows::<ProductSearch>();
    let mut queries: Vec<String> = Vec::new();
    for w in VOCABULARY {
        for t in agora_core::search::words(w) {
            for end in 1..=t.chars().count() {
                queries.push(t.chars().take(end).collect());
            }
        }
    }
    queries.extend(["mu tea", "tea mu", "c 2", "cup cups", "ça mug", "m t c", "pot 9", "zzz"].map(String::from));
    for q in &queries {
        let terms = SearchTerms::parse(q).expect("terms");
        for status in [None, Some(ProductStatus::Active), Some(ProductStatus::Draft)] {
            // Every page size, so every cursor position is compared too.
            for limit in [1u32, 3, 200] {
                let mut after = None;
                loop {
                    let query = ProductSearchQuery { store_id: s.id, status, terms: &terms, after, limit };
                    let got = h.store.search_products(&query).await.expect("search");
                    assert_eq!(
                        got,
                        query.evaluate(rows.iter().copied()),
                        "q={q:?} status={status:?} limit={limit} after={after:?}"
                    );
                    match got.last() {
                        Some(last) if got.len() == limit as usize => after = Some(*last),
                        _ => break,
                    }
                }
            }
        }
    }
}

pub async fn search_index_catches_up_with_products_written_without_it(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let known = product(&h, &s, "Teapot", "active", &[("Clay", "TP-1")]).await;
    // Products as an old import or a hand-written changeset leaves them:
    // one without a search row, one with the row the search migration
    // writes for existing products (no words, version 0).
    let raw = |title: &str, sku: &str| {
        let now = h.clock.now();
        let product = Product {
            id: ProductId(Uuid::now_v7()),
            store_id: s.id,
            title: title.into(),
            status: ProductStatus::Active,
            currency: Currency::parse("EUR").unwrap(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let variant = ProductVariant {
            id: VariantId(Uuid::now_v7()),
            product_id: product.id,
            store_id: s.id,
            sku: sku.into(),
            name: "Glass".into(),
            price_minor: 100,
            status: ProductStatus::Active,
            created_at: now,
        };
        (product, variant)
    };
    let (bare, bare_variant) = raw("Tea glass", "TG-1");
    let (stale, stale_variant) = raw("Tea cup", "TC-1");
    let mut cs = Changeset::new();
    cs.insert(bare.clone()).insert(bare_variant).insert(stale.clone()).insert(stale_variant);
    cs.insert(ProductSearch {
        product_id: stale.id,
        store_id: s.id,
        status: ProductStatus::Active,
        title_words: String::new(),
        other_words: String::new(),
        words_version: 0,
    });
    h.store.apply(cs).await.expect("raw products");
    assert_eq!(public(&h, &s, "tea").await, [known]);
    // The start-up pass rewrites the stale row (and only it) ...
    assert_eq!(h.agora.refresh_search_index(1).await.unwrap(), 1);
    assert_eq!(h.agora.refresh_search_index(100).await.unwrap(), 0);
    assert_eq!(public(&h, &s, "tea").await, [stale.id.0, known]);
    // ... the full pass adds the missing one, in pages.
    assert_eq!(h.agora.rebuild_search_index(1).await.unwrap(), 1);
    assert_eq!(h.agora.rebuild_search_index(100).await.unwrap(), 0);
    assert_eq!(public(&h, &s, "tea").await, [stale.id.0, bare.id.0, known]);
    assert_eq!(public(&h, &s, "glass").await, [bare.id.0, stale.id.0]);
}
