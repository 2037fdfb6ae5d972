//! `search`: product search latency on a store of many products.
//!
//! One store gets `--products` products (default 100,000), one variant
//! each, written straight through `Store::apply` in changesets of
//! [`SEED_BATCH`] products (product, variant and the search row core makes
//! of them: what `create_product` writes, without a use case call per
//! product). Titles are three words of small vocabularies, so a word or
//! prefix matches from a handful to tens of thousands of products. Then
//! `--clients` tasks run the public search use case
//! (`Agora::search_products`: the store's search, then the products,
//! variants and stock of the page in batch) with a mix of queries, and
//! each query alone.

use std::sync::Arc;
use std::time::Instant;

use agora_core::views::NewStore;
use agora_core::{
    Actor, Agora, Changeset, Currency, ListQuery, Product, ProductId, ProductSearch, ProductStatus, ProductVariant,
    Record, Store, StoreId, VariantId,
};
use anyhow::Context;
use clap::Parser;
use uuid::Uuid;

use crate::measure::{Outcome, Plan, Tally, run_tasks};
use crate::target::Target;

/// Products per seeding changeset.
pub const SEED_BATCH: usize = 1000;

const ADJECTIVES: &[&str] = &[
    "Red",
    "Blue",
    "Green",
    "Black",
    "White",
    "Large",
    "Small",
    "Classic",
    "Modern",
    "Rustic",
    "Élégant",
    "Crème",
    "Vintage",
    "Deluxe",
    "Compact",
    "Bright",
    "Soft",
    "Heavy",
    "Light",
    "Smart",
];
const MATERIALS: &[&str] = &[
    "ceramic",
    "wooden",
    "steel",
    "glass",
    "cotton",
    "linen",
    "leather",
    "bamboo",
    "copper",
    "stone",
    "wool",
    "porcelain",
    "marble",
    "silk",
    "brass",
];
const NOUNS: &[&str] = &[
    "mug",
    "teapot",
    "bowl",
    "plate",
    "lamp",
    "chair",
    "table",
    "shelf",
    "towel",
    "blanket",
    "basket",
    "vase",
    "clock",
    "mirror",
    "candle",
    "kettle",
    "spoon",
    "knife",
    "jar",
    "tray",
    "cushion",
    "rug",
    "frame",
    "box",
    "bottle",
    "glassware",
    "stool",
    "desk",
    "bench",
    "crate",
    "pitcher",
    "saucer",
    "ladle",
    "grater",
    "whisk",
    "sieve",
    "napkin",
    "coaster",
    "hook",
    "brûlée",
];
const SIZES: &[&str] = &["xs", "s", "m", "l", "xl"];

/// The queries measured, each alone and all in a mix: (label, `q`).
pub const QUERIES: &[(&str, &str)] = &[
    ("a title word of 1 product in 40", "mug"),
    ("a one-letter prefix", "c"),
    ("a two-letter prefix", "te"),
    ("two words", "blue mug"),
    ("accents folded, 1 product in 800", "CREME brulee"),
    ("a SKU", "mug-00040"),
    ("a variant word of 1 product in 5 (tier 2)", "xl"),
    ("no match", "zzzz"),
];

/// Arguments of `search`.
#[derive(Parser, Clone, Debug)]
pub struct SearchArgs {
    /// As for `place-orders`.
    #[arg(long, default_value = "sqlite://?synchronous=normal")]
    pub db: String,
    /// Products in the searched store.
    #[arg(long, default_value_t = 100_000)]
    pub products: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Measured seconds of the mix (each query alone gets a fifth of it).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Results per page (`limit`).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// The result of one `search` run.
#[derive(Clone, Debug)]
pub struct SearchReport {
    /// Seconds the seeding took.
    pub seed_seconds: f64,
    /// The mix of [`QUERIES`].
    pub mix: Outcome,
    /// Each query alone, in [`QUERIES`] order.
    pub each: Vec<Outcome>,
}

/// Runs `search` and prints its report.
pub async fn run(args: &SearchArgs) -> anyhow::Result<SearchReport> {
    let target = Target::prepare(&args.db).await?;
    let result = run_on(&target, args).await;
    target.cleanup().await;
    result
}

async fn run_on(target: &Target, args: &SearchArgs) -> anyhow::Result<SearchReport> {
    let clients = args.clients.max(1);
    let label = target.label();
    println!("search db={label} products={} clients={clients} limit={}", args.products, args.limit);
    let handle = crate::open_store(target, clients).await?;
    let store = handle.store();
    let agora = crate::inproc::agora_over(store.clone());
    let admin = Actor::SuperAdmin { masked: "bench".into() };
    let tag = Uuid::new_v4().simple().to_string();
    let shop = agora
        .create_store(
            &admin,
            NewStore { name: "search".into(), domain: format!("search-{tag}.example"), access_token: None },
        )
        .await
        .context("create_store")?;
    let store_id = StoreId(shop.id);
    let started = Instant::now();
    seed(store.as_ref(), store_id, args.products).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    println!("  seeded {} products in {seed_seconds:.1} s", args.products);
    let queries: Vec<&'static str> = QUERIES.iter().map(|(_, q)| *q).collect();
    let mix = measure(&agora, store_id, &queries, clients, args.limit, Plan::timed(args.seconds, None)).await;
    println!("  mix:   {}", mix.line());
    let mut each = Vec::with_capacity(QUERIES.len());
    for (name, q) in QUERIES {
        let out = measure(&agora, store_id, &[q], clients, args.limit, Plan::timed(args.seconds / 5.0, None)).await;
        println!("  {name} (q={q:?}): {}", out.line());
        each.push(out);
    }
    drop(agora);
    drop(store);
    handle.close().await;
    Ok(SearchReport { seed_seconds, mix, each })
}

/// `n` products of `store_id`, [`SEED_BATCH`] per changeset.
async fn seed(store: &dyn Store, store_id: StoreId, n: usize) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).context("time")?;
    let eur = Currency::parse("EUR").map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut i = 0;
    while i < n {
        let mut cs = Changeset::new();
        for j in i..(i + SEED_BATCH).min(n) {
            let noun = NOUNS[j % NOUNS.len()];
            let title = format!(
                "{} {} {noun}",
                ADJECTIVES[(j / NOUNS.len()) % ADJECTIVES.len()],
                MATERIALS[(j / 7) % MATERIALS.len()]
            );
            let product = Product {
                id: ProductId(Uuid::now_v7()),
                store_id,
                title,
                status: ProductStatus::Active,
                currency: eur,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let variant = ProductVariant {
                id: VariantId(Uuid::now_v7()),
                product_id: product.id,
                store_id,
                sku: format!("{}-{j:05}", noun.to_uppercase()),
                name: format!("{} size", SIZES[j % SIZES.len()]),
                price_minor: 1000,
                status: ProductStatus::Active,
                created_at: now,
            };
            cs.insert(Record::ProductSearch(ProductSearch::of(&product, std::slice::from_ref(&variant))));
            cs.insert(Record::Product(product)).insert(Record::Variant(variant));
        }
        store.apply(cs).await.with_context(|| format!("seeding products {i}.."))?;
        i += SEED_BATCH;
    }
    Ok(())
}

/// `clients` tasks searching `queries` in turn, the first page of each.
async fn measure(
    agora: &Agora,
    store_id: StoreId,
    queries: &[&'static str],
    clients: usize,
    limit: u32,
    plan: Plan,
) -> Outcome {
    let queries: Arc<Vec<&'static str>> = Arc::new(queries.to_vec());
    run_tasks(plan, clients, |c, window| {
        let (agora, queries) = (agora.clone(), queries.clone());
        async move {
            let mut tally = Tally::default();
            let page = ListQuery { limit: Some(limit), cursor: None };
            let mut k = c;
            while window.running() {
                let q = queries[k % queries.len()];
                k += 1;
                let t0 = Instant::now();
                let r = agora
                    .search_products(&Actor::Anonymous, store_id, q, &page)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                window.record(t0, r, &mut tally);
            }
            tally
        }
    })
    .await
}
