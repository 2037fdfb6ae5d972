//! The whole set of docs/performance.md in one command, printed as a
//! Markdown table: memory; SQLite FULL and NORMAL with 1 and 8 clients;
//! PostgreSQL with 1, 8 and 32 clients and a hot SKU with 32; HTTP end to
//! end against an agora-api started here (SQLite in a temp dir); the
//! product page with and without the Redis cache; and product search on a
//! store of 100,000 products on each store.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::measure::Outcome;
use crate::{PlaceArgs, PlaceReport, ReadArgs, Side};

/// Arguments of `suite`.
#[derive(Parser, Clone, Debug)]
pub struct SuiteArgs {
    /// Measured seconds per side of each row.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Variants to order from.
    #[arg(long, default_value_t = 100)]
    pub skus: usize,
    /// PostgreSQL server (a database is created and dropped per row).
    #[arg(long, env = "AGORA_TEST_POSTGRES_URL", default_value = crate::target::PG_DEFAULT)]
    pub pg: String,
    /// Redis for the product-page rows.
    #[arg(long, env = "AGORA_TEST_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// The agora-api binary for the HTTP row (default: next to this binary).
    #[arg(long)]
    pub api_bin: Option<PathBuf>,
    /// Clients of the HTTP row (compared with in-process SQLite FULL at the same count).
    #[arg(long, default_value_t = 8)]
    pub http_clients: usize,
    /// Only rows whose name contains one of these (comma-separated), e.g. `sqlite,http`.
    #[arg(long)]
    pub only: Option<String>,
    /// Products in the store of the search rows.
    #[arg(long, default_value_t = 100_000)]
    pub search_products: usize,
}

struct Row {
    name: String,
    repro: String,
    agora: Option<Outcome>,
    raw: Option<Outcome>,
    ratio: Option<f64>,
    note: String,
}

fn fmt_rate(o: &Option<Outcome>) -> String {
    match o {
        Some(o) if o.errors > 0 => format!("{:.0} ({} errors)", o.per_second, o.errors),
        Some(o) => format!("{:.0}", o.per_second),
        None => "n/a".into(),
    }
}

impl Row {
    fn failed(name: String, repro: String, e: &anyhow::Error) -> Self {
        eprintln!("{name}: FAILED: {e:#}");
        Row { name, repro, agora: None, raw: None, ratio: None, note: format!("failed: {e:#}") }
    }
}

/// A product-page row: its name, how to reproduce it, the outcome or why it failed.
type ReadRow = (&'static str, String, Option<crate::ReadReport>, String);

impl SuiteArgs {
    /// Whether the row `name` is selected by `--only`.
    fn wanted(&self, name: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|o| o.split(',').any(|w| name.to_lowercase().contains(&w.trim().to_lowercase())))
    }

    fn place(&self, db: &str, clients: usize, hot: bool) -> PlaceArgs {
        PlaceArgs {
            db: db.to_owned(),
            http: None,
            admin_key: None,
            clients,
            seconds: self.seconds,
            skus: self.skus,
            hot,
            max_orders: None,
            side: Side::Both,
            rounds: 2,
        }
    }
}

/// Runs the set and prints the table.
pub async fn run(args: SuiteArgs) -> anyhow::Result<()> {
    let (mut rows, sqlite_full_8) = order_rows(&args).await;
    if let Some(row) = http_row_entry(&args, sqlite_full_8).await {
        rows.push(row);
    }
    let reads = read_rows(&args).await;
    let searches = search_rows(&args).await;
    print_tables(&args, &rows, &reads);
    print_search_table(&args, &searches);
    Ok(())
}

/// A search row: its name, how to reproduce it, the report or why it failed.
type SearchRow = (String, String, Result<crate::search::SearchReport, String>);

/// The search rows, one per store, one client each.
async fn search_rows(args: &SuiteArgs) -> Vec<SearchRow> {
    let mut out = Vec::new();
    for (store, db) in
        [("memory", "memory:"), ("SQLite NORMAL", "sqlite://?synchronous=normal"), ("PostgreSQL", args.pg.as_str())]
    {
        let name = format!("search, {store}");
        if !args.wanted(&name) {
            continue;
        }
        let a = crate::search::SearchArgs {
            db: db.to_owned(),
            products: args.search_products,
            clients: 1,
            seconds: args.seconds,
            limit: 50,
        };
        let db_arg = if db.starts_with("postgres") { "postgres".to_owned() } else { format!("'{db}'") };
        let repro = format!(
            "`agora-bench search --db {db_arg} --products {} --clients 1 --seconds {}`",
            args.search_products, args.seconds
        );
        let r = crate::search::run(&a).await.map_err(|e| format!("{e:#}"));
        if let Err(e) = &r {
            eprintln!("{name}: FAILED: {e}");
        }
        out.push((name, repro, r));
    }
    out
}

fn print_search_table(args: &SuiteArgs, rows: &[SearchRow]) {
    if rows.is_empty() {
        return;
    }
    println!(
        "\n| product search, {} products, 1 client, 50 a page | p50 ms | p99 ms | searches/s | seeded in |",
        args.search_products
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, _, r) in rows {
        match r {
            Ok(r) => println!(
                "| {name}: mix of {} queries | {:.2} | {:.2} | {:.0} | {:.0} s |",
                crate::search::QUERIES.len(),
                r.mix.p50_ms,
                r.mix.p99_ms,
                r.mix.per_second,
                r.seed_seconds
            ),
            Err(e) => println!("| {name} | n/a | n/a | n/a | failed: {} |", e.replace('|', "/")),
        }
    }
    println!(
        "\n| query (p50 / p99 ms) | {} |",
        rows.iter().map(|(n, _, _)| n.as_str()).collect::<Vec<_>>().join(" | ")
    );
    println!("| --- |{}", " ---: |".repeat(rows.len()));
    for (i, (label, q)) in crate::search::QUERIES.iter().enumerate() {
        let cells: Vec<String> = rows
            .iter()
            .map(|(_, _, r)| match r.as_ref().ok().and_then(|r| r.each.get(i)) {
                Some(o) => format!("{:.2} / {:.2}", o.p50_ms, o.p99_ms),
                None => "n/a".into(),
            })
            .collect();
        println!("| {label}: `{q}` | {} |", cells.join(" | "));
    }
    println!("\n### Reproduce each search row\n");
    for (name, repro, _) in rows {
        println!("- {name}: {repro}");
    }
}

/// The in-process order rows, and SQLite FULL's 8-client rate (the HTTP row's reference).
async fn order_rows(args: &SuiteArgs) -> (Vec<Row>, Option<f64>) {
    let (s, pg) = (args.seconds, args.pg.as_str());
    let cases: Vec<(String, PlaceArgs)> = vec![
        ("memory, 1 client".into(), args.place("memory:", 1, false)),
        ("memory, 8 clients".into(), args.place("memory:", 8, false)),
        ("SQLite FULL, 1 client".into(), args.place("sqlite://?synchronous=full", 1, false)),
        ("SQLite FULL, 8 clients".into(), args.place("sqlite://?synchronous=full", 8, false)),
        ("SQLite NORMAL, 1 client".into(), args.place("sqlite://?synchronous=normal", 1, false)),
        ("SQLite NORMAL, 8 clients".into(), args.place("sqlite://?synchronous=normal", 8, false)),
        ("PostgreSQL, 1 client".into(), args.place(pg, 1, false)),
        ("PostgreSQL, 8 clients".into(), args.place(pg, 8, false)),
        ("PostgreSQL, 32 clients".into(), args.place(pg, 32, false)),
        ("PostgreSQL hot SKU, 32 clients".into(), args.place(pg, 32, true)),
    ];
    let mut rows = Vec::new();
    let mut sqlite_full_8: Option<f64> = None;
    for (name, a) in cases {
        if !args.wanted(&name) {
            continue;
        }
        let db_arg = if a.db.starts_with("postgres") { "postgres".to_owned() } else { format!("'{}'", a.db) };
        let repro = format!(
            "`agora-bench place-orders --db {db_arg} --clients {} --seconds {s} --skus {}{}`",
            a.clients,
            a.skus,
            if a.hot { " --hot" } else { "" }
        );
        match crate::place_orders(&a).await {
            Ok(PlaceReport { agora, raw, .. }) => {
                let ratio = match (&agora, &raw) {
                    (Some(x), Some(r)) if r.per_second > 0.0 => Some(x.per_second / r.per_second),
                    _ => None,
                };
                if name == "SQLite FULL, 8 clients" {
                    sqlite_full_8 = agora.as_ref().map(|o| o.per_second);
                }
                rows.push(Row { name, repro, agora, raw, ratio, note: String::new() });
            }
            Err(e) => rows.push(Row::failed(name, repro, &e)),
        }
    }
    (rows, sqlite_full_8)
}

/// The HTTP end-to-end row, when selected.
async fn http_row_entry(args: &SuiteArgs, sqlite_full_8: Option<f64>) -> Option<Row> {
    let name = format!("HTTP end to end (agora-api, SQLite FULL), {} clients", args.http_clients);
    if !args.wanted(&name) {
        return None;
    }
    let repro = format!(
        "agora-api with `AGORA_DATABASE_URL=sqlite://$TMP/agora.db`, then \
         `agora-bench place-orders --http http://127.0.0.1:$PORT --admin-key $KEY --clients {} --seconds {} --skus {}`",
        args.http_clients, args.seconds, args.skus
    );
    Some(match http_row(args).await {
        Ok(out) => {
            let (ratio, note) = match sqlite_full_8.filter(|_| args.http_clients == 8) {
                Some(inproc) => (
                    Some(out.per_second / inproc),
                    format!("ratio = HTTP / in-process SQLite FULL 8 clients ({inproc:.0}/s)"),
                ),
                None => (None, "run with the SQLite FULL 8-client row for the ratio".into()),
            };
            Row { name, repro, agora: Some(out), raw: None, ratio, note }
        }
        Err(e) => Row::failed(name, repro, &e),
    })
}

/// The product-page rows, with and without the Redis cache.
async fn read_rows(args: &SuiteArgs) -> Vec<ReadRow> {
    let mut reads = Vec::new();
    for (name, db) in
        [("product page, SQLite FULL", "sqlite://?synchronous=full"), ("product page, PostgreSQL", args.pg.as_str())]
    {
        if !args.wanted(name) {
            continue;
        }
        let a = ReadArgs {
            db: db.to_owned(),
            redis: Some(args.redis.clone()),
            clients: 8,
            seconds: args.seconds,
            skus: args.skus,
        };
        let db_arg = if db.starts_with("postgres") { "postgres".to_owned() } else { format!("'{db}'") };
        let repro = format!(
            "`agora-bench read-product --db {db_arg} --redis redis://127.0.0.1:6379 --clients 8 --seconds {}`",
            args.seconds
        );
        match crate::read_product(&a).await {
            Ok(r) => reads.push((name, repro, Some(r), String::new())),
            Err(e) => reads.push((name, repro, None, format!("failed: {e:#}"))),
        }
    }
    reads
}

fn print_tables(args: &SuiteArgs, rows: &[Row], reads: &[ReadRow]) {
    if rows.is_empty() && reads.is_empty() {
        return;
    }
    println!("\n## Results ({} s per side, {} SKUs)\n", args.seconds, args.skus);
    println!("| run | agora orders/s | raw SQL orders/s | agora / raw | notes |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.name,
            fmt_rate(&r.agora),
            fmt_rate(&r.raw),
            r.ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into()),
            r.note.replace('|', "/")
        );
    }
    if !reads.is_empty() {
        println!("\n| product page (8 clients) | store reads/s | Redis-cached reads/s | cached / store | notes |");
        println!("| --- | ---: | ---: | ---: | --- |");
        for (name, _, r, note) in reads {
            match r {
                Some(r) => println!(
                    "| {name} | {:.0} | {} | {} | {note} |",
                    r.plain.per_second,
                    fmt_rate(&r.cached),
                    r.cached
                        .as_ref()
                        .map(|c| format!("{:.2}", c.per_second / r.plain.per_second.max(1e-9)))
                        .unwrap_or_else(|| "n/a".into())
                ),
                None => println!("| {name} | n/a | n/a | n/a | {} |", note.replace('|', "/")),
            }
        }
    }
    println!("\n### Reproduce each row\n");
    for r in rows {
        println!("- {}: {}", r.name, r.repro);
    }
    for (name, repro, _, _) in reads {
        println!("- {name}: {repro}");
    }
}

/// Kills the api when the row ends, however it ends.
struct ApiProcess(Child);

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

async fn http_row(args: &SuiteArgs) -> anyhow::Result<Outcome> {
    let bin = match &args.api_bin {
        Some(b) => b.clone(),
        None => {
            // Under `cargo run` (CARGO is set), make sure the api next to
            // this binary is current; a no-op when it is.
            if let Ok(cargo) = std::env::var("CARGO") {
                let profile = if cfg!(debug_assertions) { "dev" } else { "release" };
                let status = Command::new(cargo)
                    .args(["build", "--profile", profile, "-p", "agora-api", "--bin", "agora-api"])
                    .status()
                    .context("running cargo build -p agora-api")?;
                anyhow::ensure!(status.success(), "cargo build -p agora-api failed");
            }
            std::env::current_exe()?.with_file_name(format!("agora-api{}", std::env::consts::EXE_SUFFIX))
        }
    };
    anyhow::ensure!(
        bin.exists(),
        "{} not found: build it first with `cargo build --release -p agora-api` or pass --api-bin",
        bin.display()
    );
    let tmp = tempfile::tempdir()?;
    let port = free_port()?;
    let key = format!("bench-admin-{}", uuid::Uuid::new_v4().simple());
    let log = std::fs::File::create(tmp.path().join("agora-api.log"))?;
    let child = Command::new(&bin)
        .current_dir(tmp.path())
        .env("AGORA_DATABASE_URL", format!("sqlite://{}", tmp.path().join("agora.db").display()))
        .env("AGORA_LISTEN", format!("127.0.0.1:{port}"))
        .env("AGORA_ADMIN_KEY", &key)
        .env("AGORA_DATA_DIR", tmp.path())
        .env_remove("AGORA_REDIS_URL")
        .env_remove("AGORA_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let _guard = ApiProcess(child);
    let base = format!("http://127.0.0.1:{port}");
    let a = PlaceArgs {
        db: String::new(),
        http: Some(base),
        admin_key: Some(key),
        clients: args.http_clients,
        seconds: args.seconds,
        skus: args.skus,
        hot: false,
        max_orders: None,
        side: Side::Both,
        rounds: 1,
    };
    let r = crate::place_orders(&a).await;
    if r.is_err() {
        let log = std::fs::read_to_string(tmp.path().join("agora-api.log")).unwrap_or_default();
        let tail: String =
            log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        eprintln!("agora-api log tail:\n{tail}");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    r?.agora.context("no HTTP outcome")
}
