//! The store commands: migrations, export and import, native backup and
//! restore, copy and verify. Every store is opened through the runtime's
//! registry, so no command knows a kind of store by name.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use agora_core::{OpenMode, StoreHandle};
use agora_cutover::CopyOptions;
use agora_runtime::Config;
use anyhow::{Context, bail};
use indicatif::ProgressBar;

use agora_runtime::redact;

use crate::Bar;

/// Opens `url` through the registry.
async fn open(config: &Config, url: &str, mode: OpenMode) -> anyhow::Result<Arc<dyn StoreHandle>> {
    agora_runtime::registry(config).open(url, mode).await.map_err(|e| anyhow::anyhow!("opening {}: {e}", redact(url)))
}

pub(crate) async fn migrate_up(config: &Config, url: &str) -> anyhow::Result<()> {
    // Opening with `Migrate` applies what is pending.
    let handle = open(config, url, OpenMode::Migrate).await?;
    let status = handle.migration_status().await?;
    println!(
        "migrated {} ({}): schema is current at version {}",
        redact(url),
        handle.store().backend(),
        status.applied
    );
    handle.close().await;
    Ok(())
}

pub(crate) async fn migrate_status(config: &Config, url: &str) -> anyhow::Result<ExitCode> {
    let handle = open(config, url, OpenMode::Inspect).await?;
    let st = handle.migration_status().await?;
    println!(
        "{} {}: schema version {} of {} ({} pending{})",
        handle.store().backend(),
        redact(url),
        st.applied,
        st.latest,
        st.pending.len(),
        if st.unknown.is_empty() { String::new() } else { format!(", unknown to this build: {:?}", st.unknown) }
    );
    handle.close().await;
    if !st.is_current() {
        println!("schema is NOT current: run `agora migrate up`");
        return Ok(ExitCode::from(1));
    }
    println!("schema is current");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn export(config: &Config, url: &str, to: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let handle = agora_runtime::open_store(config, url, false).await?;
    let store = handle.store();
    let bar = Bar::new("export");
    let summary = if to.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        agora_cutover::export_to(store.as_ref(), &mut out, &bar).await?
    } else {
        let mut out = BufWriter::new(File::create(to).with_context(|| format!("creating {}", to.display()))?);
        agora_cutover::export_to(store.as_ref(), &mut out, &bar).await?
    };
    drop(bar);
    handle.close().await;
    eprintln!(
        "exported {} rows in {} tables from {} to {} in {:.1?}",
        summary.rows,
        summary.counts.iter().filter(|(_, n)| *n > 0).count(),
        redact(url),
        to.display(),
        started.elapsed()
    );
    Ok(())
}

pub(crate) async fn import(config: &Config, url: &str, from: &Path, batch: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let handle = agora_runtime::open_store(config, url, true).await?;
    let store = handle.store();
    let mut input = BufReader::new(File::open(from).with_context(|| format!("opening {}", from.display()))?);
    let bar = Bar::new("import");
    let summary = agora_cutover::import_from(&mut input, store.as_ref(), batch, &bar).await?;
    drop(bar);
    // An export written before product search has no search rows: core
    // writes those the products lack (none for a current export).
    let agora = agora_core::Agora::builder(store.clone()).build();
    let indexed = agora.rebuild_search_index(500).await.context("indexing the imported products for search")?;
    drop(agora);
    drop(store);
    handle.close().await;
    println!(
        "imported {} rows from {} into {} in {:.1?}{}",
        summary.rows,
        from.display(),
        redact(url),
        started.elapsed(),
        if indexed > 0 { format!("; {indexed} products indexed for search") } else { String::new() }
    );
    Ok(())
}

pub(crate) async fn backup(config: &Config, url: &str, to: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let handle = agora_runtime::open_store(config, url, false).await?;
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("backing up");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let result = handle.backup_to(to).await;
    spinner.finish_and_clear();
    handle.close().await;
    result?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    println!("backed up {} to {} ({bytes} bytes) in {:.1?}", redact(url), to.display(), started.elapsed());
    Ok(())
}

pub(crate) async fn restore(config: &Config, url: &str, from: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    if !from.exists() {
        bail!("restore: {} does not exist", from.display());
    }
    agora_runtime::registry(config).restore(from, url).await?;
    println!("restored {} into {} in {:.1?}", from.display(), redact(url), started.elapsed());
    Ok(())
}

pub(crate) async fn copy(
    config: &Config,
    from: &str,
    to: &str,
    batch: usize,
    passes: u32,
    deletes: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let source = agora_runtime::open_store(config, from, false).await.context("the source store")?;
    let target = agora_runtime::open_store(config, to, true).await.context("the target store")?;
    let opts = CopyOptions { batch_rows: batch, deletes };
    let mut last = None;
    for pass in 1..=passes.max(1) {
        let bar = Bar::new(&format!("copy pass {pass}"));
        let report = agora_cutover::copy(source.store().as_ref(), target.store().as_ref(), &opts, &bar).await?;
        drop(bar);
        eprintln!("pass {pass}: {}", report.summary());
        let done = report.converged();
        last = Some(report);
        if done {
            break;
        }
    }
    source.close().await;
    target.close().await;
    let report = last.unwrap_or_default();
    let tail = if report.converged() { "; converged" } else { "; run again to converge" };
    println!("copied {} -> {}: {} in {:.1?}{tail}", redact(from), redact(to), report.summary(), started.elapsed());
    Ok(())
}

pub(crate) async fn verify(config: &Config, from: &str, to: &str, json: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let a = agora_runtime::open_store(config, from, false).await.context("the first store")?;
    let b = agora_runtime::open_store(config, to, false).await.context("the second store")?;
    let bar = Bar::new("verify");
    let report = agora_cutover::verify(a.store().as_ref(), b.store().as_ref(), &bar).await?;
    drop(bar);
    a.close().await;
    b.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{:<24} {:>10} {:>10}  {:<16} {:<16}", "table", "rows a", "rows b", "sha256 a", "sha256 b");
        for t in &report.tables {
            let state = if t.matches() { "ok" } else { "DIFFERS" };
            let (ca, cb) = (&t.checksum_a[..16], &t.checksum_b[..16]);
            println!("{:<24} {:>10} {:>10}  {ca:<16} {cb:<16} {state}", t.table, t.rows_a, t.rows_b);
        }
        for d in &report.differences {
            println!("difference: {d}");
        }
        println!("verify {} vs {}: {} in {:.1?}", redact(from), redact(to), report.summary(), started.elapsed());
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
