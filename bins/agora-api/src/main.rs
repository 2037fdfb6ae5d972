//! `agora-api`: loads the configuration (environment over `agora.toml` over
//! defaults), opens the store and applies migrations, prints secrets
//! generated on first start once, serves the HTTP api and, unless
//! `AGORA_WORKER=off`, runs the jobs in-process. SIGTERM or SIGINT: stop
//! accepting, finish requests in flight, finish the job tick, exit 0.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agora_http::{AppState, RequestBudget};
use agora_runtime::{Config, Runtime};
use anyhow::Context;

fn main() -> ExitCode {
    if let Some(arg) = std::env::args().nth(1) {
        match arg.as_str() {
            "--version" | "-V" => {
                println!("agora-api {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            "--help" | "-h" => {
                println!(
                    "agora-api {}\n\nServes the agora HTTP api. Configured by AGORA_* environment variables \
                     over ./agora.toml (or AGORA_CONFIG); see docs/configuration.md.",
                    env!("CARGO_PKG_VERSION")
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("agora-api: unknown argument {other:?} (try --help)");
                return ExitCode::from(2);
            }
        }
    }
    agora_runtime::process::run_binary("agora-api", run)
}

async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = Arc::new(Runtime::build(config).await.context("starting")?);
    let config = &runtime.config;

    agora_runtime::process::print_generated_secrets("agora-api", &runtime);

    let listener =
        tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;

    let mut state = AppState::new(runtime.agora.clone())
        .with_request_timeout(Duration::from_millis(config.http.request_timeout_ms.max(1)))
        .with_trust_forwarded_for(config.http.trust_forwarded_for)
        .with_readiness({
            let rt = runtime.clone();
            move || {
                let rt = rt.clone();
                async move { rt.readiness().await }
            }
        });
    if let Some(budget) = runtime.request_budget.clone() {
        state = state.with_request_budget(RequestBudget::new(move |client: String| {
            let budget = budget.clone();
            async move { budget.check(&client).await }
        }));
    }

    let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
    let key_usage = runtime.spawn_key_usage_flush(jobs_stopped.clone());
    let jobs = config.worker.then(|| runtime.spawn_jobs(jobs_stopped));

    tracing::info!(%addr, backend = ?runtime.agora.backend(), worker = config.worker, "agora-api listening");
    println!("agora-api listening on http://{addr}");

    let limits = agora_http::ConnectionLimits {
        header_read_timeout: Duration::from_millis(config.http.header_read_timeout_ms),
        max_connections: config.http.max_connections as usize,
        ..agora_http::ConnectionLimits::default()
    };
    agora_http::serve_with(listener, agora_http::router(state), shutdown_signal(), limits).await.context("serving")?;

    tracing::info!("stopped accepting; requests in flight are done");
    let _ = stop_jobs.send(true);
    if let Some(jobs) = jobs {
        if let Err(e) = jobs.await {
            tracing::error!(error = %e, "the job scheduler ended abnormally");
        }
        tracing::info!("jobs finished their tick");
    }
    let _ = key_usage.await;
    runtime.close().await;
    tracing::info!("bye");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C), logging which.
async fn shutdown_signal() {
    let signal = agora_runtime::shutdown_signal().await;
    tracing::info!("{signal}: shutting down");
}
