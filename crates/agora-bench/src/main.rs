//! `agora-bench`: how close agora gets to the raw database, measured in one run.
//!
//! * `place-orders --db URL --clients N --seconds S --skus K [--hot]`: the
//!   place-order use case through core and the adapter, then the same
//!   transaction written by hand on the same database; orders/s of both and
//!   their ratio. `--http URL` drives a running agora-api instead.
//! * `read-product --db URL [--redis URL]`: the product page with and
//!   without the Redis read cache.
//! * `search --db URL --products N`: product search latency on a store of
//!   N products (default 100,000).
//! * `suite`: the whole set of docs/performance.md, as a Markdown table.
//! * `seed-orders --db URL --orders N`: a store holding N realistic orders,
//!   for measuring copy, verify and export at scale.

mod http;
mod inproc;
mod measure;
mod raw;
mod search;
mod seed;
mod suite;
mod target;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::measure::{Outcome, Plan};
use crate::target::Target;

#[derive(Parser)]
#[command(name = "agora-bench", version, about = "agora benchmarks: core vs hand-written SQL, HTTP, read cache")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Orders per second through core and as raw SQL, and their ratio.
    PlaceOrders(PlaceArgs),
    /// Product page reads per second with and without the Redis cache.
    ReadProduct(ReadArgs),
    /// Product search latency on a store of many products.
    Search(search::SearchArgs),
    /// Runs the whole set and prints the results table.
    Suite(suite::SuiteArgs),
    /// Fills a store with realistic orders (fixtures through core, orders in large changesets).
    SeedOrders(seed::SeedArgs),
}

/// Which side(s) of a comparison to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Side {
    /// Core, then raw SQL.
    Both,
    /// Only core (for profiling).
    Agora,
    /// Only the hand-written SQL.
    Raw,
}

/// Arguments of `place-orders`.
#[derive(Parser, Clone, Debug)]
pub struct PlaceArgs {
    /// `memory:`, `sqlite://PATH?synchronous=full|normal` (`sqlite://?synchronous=..` = temp file),
    /// `postgres` or `postgres://...` (a throwaway database is created on that server).
    #[arg(long, default_value = "sqlite://?synchronous=full")]
    pub db: String,
    /// Drive a running agora-api at this base URL instead (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    pub http: Option<String>,
    /// Super admin key of the api (for `--http` fixtures).
    #[arg(long, env = "AGORA_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// Measured seconds per side (after a warm-up of a fifth of it, at most 1 s).
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Variants to order from (one product each).
    #[arg(long, default_value_t = 100)]
    pub skus: usize,
    /// Every client orders the same single variant.
    #[arg(long)]
    pub hot: bool,
    /// Stop each side after this many orders (for profiling; no warm-up).
    #[arg(long)]
    pub max_orders: Option<u64>,
    /// Which side to run.
    #[arg(long, value_enum, default_value_t = Side::Both)]
    pub side: Side,
    /// Alternate the sides this many times (agora, raw, agora, raw, ...),
    /// `--seconds` split between the rounds, so both see the same machine.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
}

/// Arguments of `read-product`.
#[derive(Parser, Clone, Debug)]
pub struct ReadArgs {
    /// As for `place-orders`.
    #[arg(long, default_value = "sqlite://?synchronous=full")]
    pub db: String,
    /// Redis URL; without it only the uncached figure is measured.
    #[arg(long, env = "AGORA_BENCH_REDIS_URL")]
    pub redis: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Measured seconds per side.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Products to read (one variant each).
    #[arg(long, default_value_t = 100)]
    pub skus: usize,
}

/// The result of one `place-orders` run.
#[derive(Clone, Debug)]
pub struct PlaceReport {
    /// Database label.
    pub label: String,
    /// Core (or HTTP) side.
    pub agora: Option<Outcome>,
    /// Hand-written side, where there is one.
    pub raw: Option<Outcome>,
}

impl PlaceReport {
    /// agora / raw.
    pub fn ratio(&self) -> Option<f64> {
        match (&self.agora, &self.raw) {
            (Some(a), Some(r)) if r.per_second > 0.0 => Some(a.per_second / r.per_second),
            _ => None,
        }
    }
}

/// Runs `place-orders` and prints its report.
pub async fn place_orders(args: &PlaceArgs) -> anyhow::Result<PlaceReport> {
    let clients = args.clients.max(1);
    let rounds = if args.max_orders.is_some() { 1 } else { args.rounds.max(1) };
    let plan = Plan::timed(args.seconds / rounds as f64, args.max_orders);
    if let Some(base) = &args.http {
        let key = args.admin_key.clone().context("--http needs --admin-key or AGORA_ADMIN_KEY")?;
        let api = http::Api::new(base)?;
        api.wait_ready(Duration::from_secs(30)).await?;
        let fx = api.create_fixture(&key, args.skus, clients).await.context("creating fixtures over HTTP")?;
        println!("place-orders http={base} clients={clients} skus={} hot={}", args.skus, args.hot);
        let out = api.run_orders(&fx, clients, args.hot, Plan::timed(args.seconds, args.max_orders)).await;
        println!("  http:  {}", out.line());
        return Ok(PlaceReport { label: "HTTP".into(), agora: Some(out), raw: None });
    }
    let target = Target::prepare(&args.db).await?;
    let result = place_orders_on(&target, args, clients, plan, rounds).await;
    target.cleanup().await;
    result
}

async fn place_orders_on(
    target: &Target,
    args: &PlaceArgs,
    clients: usize,
    plan: Plan,
    rounds: usize,
) -> anyhow::Result<PlaceReport> {
    let label = target.label();
    println!("place-orders db={label} clients={clients} skus={} hot={} seconds={}", args.skus, args.hot, args.seconds);
    let handle = open_store(target, clients).await?;
    let agora = inproc::agora_over(handle.store());
    let fx = inproc::create_fixture(&agora, handle.store().as_ref(), args.skus, clients)
        .await
        .context("creating fixtures")?;
    let (mut agora_rounds, mut raw_rounds) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        if args.side != Side::Raw {
            agora_rounds.push(inproc::run_agora(&agora, &fx, clients, args.hot, plan).await);
        }
        if args.side != Side::Agora {
            match target {
                Target::Memory => {}
                Target::Sqlite { path, synchronous, .. } => {
                    raw_rounds.push(raw::run_sqlite(path.clone(), synchronous, &fx, clients, args.hot, plan).await?)
                }
                Target::Postgres { url, .. } => raw_rounds.push(raw::run_pg(url, &fx, clients, args.hot, plan).await?),
            }
        }
    }
    let report = PlaceReport { label, agora: Outcome::combine(&agora_rounds), raw: Outcome::combine(&raw_rounds) };
    if let Some(o) = &report.agora {
        println!("  agora: {}", o.line());
        if let Some(w) = handle.write_stats() {
            println!(
                "         {} group commit: {} changesets in {} commits ({:.1} per commit, fixtures included)",
                handle.store().backend(),
                w.changesets,
                w.commits,
                w.changesets as f64 / w.commits.max(1) as f64
            );
        }
    }
    match (&report.raw, target) {
        (Some(o), _) => println!("  raw:   {}", o.line()),
        (None, Target::Memory) => println!("  raw:   n/a (no SQL behind the memory adapter)"),
        (None, _) => {}
    }
    if let Some(r) = report.ratio() {
        println!("  ratio agora/raw: {r:.2}");
    }
    drop(agora);
    handle.close().await;
    Ok(report)
}

/// Opens the target's store through the runtime's registry, with a
/// PostgreSQL pool sized for `clients`.
pub async fn open_store(target: &Target, clients: usize) -> anyhow::Result<Arc<dyn agora_core::StoreHandle>> {
    let mut config = agora_runtime::Config::default();
    config.postgres.max_connections = u32::try_from(clients.max(2)).unwrap_or(u32::MAX);
    agora_runtime::open_store(&config, target.url(), true).await.context("opening the store")
}

/// The result of one `read-product` run.
#[derive(Clone, Debug)]
pub struct ReadReport {
    /// Database label.
    pub label: String,
    /// Straight from the store.
    pub plain: Outcome,
    /// Through `agora_redis::CachedStore`.
    pub cached: Option<Outcome>,
}

/// Runs `read-product` and prints its report.
pub async fn read_product(args: &ReadArgs) -> anyhow::Result<ReadReport> {
    let target = Target::prepare(&args.db).await?;
    let result = read_product_on(&target, args).await;
    target.cleanup().await;
    result
}

async fn read_product_on(target: &Target, args: &ReadArgs) -> anyhow::Result<ReadReport> {
    let clients = args.clients.max(1);
    let plan = Plan::timed(args.seconds, None);
    let label = target.label();
    println!("read-product db={label} clients={clients} products={}", args.skus);
    let handle = open_store(target, clients).await?;
    let store = handle.store();
    let agora = inproc::agora_over(store.clone());
    let fx = inproc::create_fixture(&agora, store.as_ref(), args.skus, 1).await.context("creating fixtures")?;
    let plain = inproc::run_product_page(&agora, &fx, clients, plan).await;
    println!("  store:       {}", plain.line());
    let mut cached = None;
    if let Some(url) = &args.redis {
        let prefix = format!("agora-bench-{}:", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let client = agora_redis::RedisClient::connect(agora_redis::RedisConfig::new(url.clone()).with_prefix(prefix))
            .await
            .map_err(|e| anyhow::anyhow!("redis {}: {e}", agora_redis::redact_url(url)))?;
        let cs = Arc::new(agora_redis::CachedStore::new(store.clone(), client.clone(), Duration::from_secs(300)));
        let agora_cached = inproc::agora_over(cs);
        let out = inproc::run_product_page(&agora_cached, &fx, clients, plan).await;
        println!("  redis cache: {}", out.line());
        println!("  ratio cached/store: {:.2}", out.per_second / plain.per_second.max(1e-9));
        let _ = client.purge_prefix().await;
        cached = Some(out);
    }
    drop(agora);
    drop(store);
    handle.close().await;
    Ok(ReadReport { label, plain, cached })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        match cli.cmd {
            Cmd::PlaceOrders(a) => place_orders(&a).await.map(|_| ()),
            Cmd::ReadProduct(a) => read_product(&a).await.map(|_| ()),
            Cmd::Search(a) => search::run(&a).await.map(|_| ()),
            Cmd::Suite(a) => suite::run(a).await,
            Cmd::SeedOrders(a) => seed::run(&a).await,
        }
    })
}
