//! `agora-worker`: runs agora's jobs (see docs/operations.md) until SIGTERM
//! or SIGINT, then finishes the batch in hand and exits 0. Any number of
//! workers may run against one database: leases keep them from doing the
//! same batch twice and guards keep the data right if they do.
//!
//! Configured like `agora-api` (`AGORA_*` over `agora.toml` over defaults);
//! `AGORA_JOBS`, `AGORA_JOB_INTERVAL_MS` and `AGORA_JOB_BATCH_SIZE` choose
//! what runs and how often. `--once` catches up on the work that is due and
//! exits (cron, tests).

use std::process::ExitCode;

use agora_runtime::jobs::Scheduler;
use agora_runtime::{Config, Runtime};
use anyhow::Context;
use clap::Parser;

/// Runs agora's background jobs. Configuration: AGORA_* environment
/// variables over ./agora.toml (or AGORA_CONFIG); see docs/operations.md.
#[derive(Debug, Parser)]
#[command(name = "agora-worker", version)]
struct Args {
    /// Run every job until the work due now is done, then exit (cron, tests).
    #[arg(long)]
    once: bool,
    /// Serve Prometheus metrics on http://ADDR/metrics (e.g. 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR", env = "AGORA_WORKER_METRICS_LISTEN")]
    metrics_listen: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    agora_runtime::process::run_binary("agora-worker", |config| run(config, args))
}

async fn run(config: Config, args: Args) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::build(config).await.context("starting")?;
    agora_runtime::process::print_generated_secrets("agora-worker", &runtime);
    if let Some(addr) = &args.metrics_listen {
        serve_metrics(addr).await?;
    }
    let scheduler = Scheduler::new(&runtime);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        // A second signal does not wait for the batch in hand.
        shutdown_signal().await;
        tracing::warn!("second signal: exiting without finishing the batch");
        std::process::exit(130);
    });
    tracing::info!(backend = runtime.agora.backend(), once = args.once, "agora-worker started");
    let code = if args.once {
        let stopper = scheduler.clone();
        let mut rx = stop_rx;
        let watch = tokio::spawn(async move {
            if rx.wait_for(|stop| *stop).await.is_ok() {
                stopper.stop();
            }
        });
        let summary = scheduler.run_until_idle().await;
        watch.abort();
        tracing::info!(
            scanned = summary.report.scanned,
            changed = summary.report.changed,
            conflicts = summary.report.conflicts,
            errors = summary.errors,
            "caught up"
        );
        if summary.errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
    } else {
        scheduler.run(stop_rx).await;
        ExitCode::SUCCESS
    };
    signals.abort();
    runtime.close().await;
    tracing::info!("bye");
    Ok(code)
}

/// Installs the Prometheus recorder and answers every request on `addr`
/// with the metrics page.
async fn serve_metrics(addr: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "metrics on /metrics");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            let handle = handle.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), socket.read(&mut buf)).await;
                let body = handle.render();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C), logging which.
async fn shutdown_signal() {
    let signal = agora_runtime::shutdown_signal().await;
    tracing::info!("{signal}: finishing the batch in hand");
}
