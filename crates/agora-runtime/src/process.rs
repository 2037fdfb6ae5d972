//! What `agora-api` and `agora-worker` do around their own work: load the
//! configuration, log, start tokio, report a failure, and show the secrets
//! a first start generated.

use std::future::Future;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::{Config, LogFormat, Runtime};

/// Makes every file and directory this process creates from now on its
/// owner's alone (umask `077`): the database, its WAL, exports, backups and
/// secrets hold password hashes, addresses and keys. The SQLite store and
/// the local blob store set their modes themselves as well; the umask also
/// covers what they do not know of (temporary files, a library's own).
pub fn owner_only_files() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file mode creation mask; it
    // cannot fail and touches no memory.
    unsafe {
        libc::umask(0o077);
    }
}

/// Runs the binary `name`: sets [`owner_only_files`], loads the configuration (exit 2 when it is
/// invalid), logs to stderr in `[log] format` at the level of `AGORA_LOG`
/// (else `RUST_LOG`, else `info`), and runs `work` on a multi-threaded
/// tokio runtime. Its error is logged and printed, exit 1.
pub fn run_binary<F, Fut>(name: &str, work: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = anyhow::Result<ExitCode>>,
{
    owner_only_files();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work(config)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{name} failed");
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("AGORA_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Prints the secrets `runtime`'s start generated, on stdout as `name`:
/// shown this once (the admin key is stored hashed).
pub fn print_generated_secrets(name: &str, runtime: &Runtime) {
    if runtime.generated.is_empty() {
        return;
    }
    println!("{name} generated these secrets; they are shown only this once, keep them:");
    for (key, value) in &runtime.generated {
        println!("  {key}={value}");
    }
}
