//! An api and a separate worker started as a deployer starts them: in two
//! different working directories, both with the default object store, on
//! one PostgreSQL database. A file the api stores and an export the worker
//! writes are found by the other process: the database records where files
//! go, and a process without `object_store_url` of its own uses that.
//!
//! Needs PostgreSQL (`AGORA_TEST_POSTGRES_URL`, default
//! `postgres://root@127.0.0.1:5432/postgres`); fails without. Runs the
//! `agora-api` binary cargo builds beside `agora-worker` for
//! `cargo test --workspace`.

#[path = "../../../crates/agora-runtime/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// 32 bytes, base64: the keyring both processes share (a deployment sets
/// `AGORA_SECRET_KEYS` once for all of its processes).
const SECRET_KEYS: &str = "1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const ADMIN_KEY: &str = "shared-files-admin-key-0123456789";

fn api_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_agora-worker")).with_file_name("agora-api");
    assert!(path.exists(), "{} is missing: build it with `cargo build --bin agora-api`", path.display());
    path
}

fn command(program: &Path, dir: &Path, url: &str) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars() {
        if k.starts_with("AGORA_") && !k.starts_with("AGORA_TEST_") {
            cmd.env_remove(k);
        }
    }
    // Nothing about files or the data dir: the defaults, relative to each
    // process's own working directory.
    cmd.current_dir(dir)
        .env("AGORA_DATABASE_URL", url)
        .env("AGORA_ADMIN_KEY", ADMIN_KEY)
        .env("AGORA_WEBHOOK_SECRET", "whsec_shared_files")
        .env("AGORA_SECRET_KEYS", SECRET_KEYS)
        .env("AGORA_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

struct Api {
    child: Child,
    base: String,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_api(dir: &Path, url: &str) -> Api {
    let mut child = command(&api_binary(), dir, url)
        .env("AGORA_LISTEN", "127.0.0.1:0")
        .env("AGORA_WORKER", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("agora-api starts");
    let stdout = child.stdout.take().expect("stdout");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(base) = line.strip_prefix("agora-api listening on ") {
            return Api { child, base: base.trim().to_owned() };
        }
    }
    panic!("agora-api ended without listening: {:?}", child.wait());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_and_a_worker_in_different_directories_find_each_others_files() {
    let mut db = support::TestDatabase::new("postgres").await;
    if !db.url.contains("sslmode=") {
        let sep = if db.url.contains('?') { '&' } else { '?' };
        db.url = format!("{}{sep}sslmode=disable", db.url);
    }
    let api_dir = tempfile::tempdir().expect("tempdir");
    let worker_dir = tempfile::tempdir().expect("tempdir");
    let api = start_api(api_dir.path(), &db.url);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}{path}", api.base)).bearer_auth(ADMIN_KEY)
    };

    let store = call(reqwest::Method::POST, "/v1/stores")
        .json(&serde_json::json!({"name": "Shared", "domain": "shared.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(store.status(), 201);
    let store: serde_json::Value = store.json().await.unwrap();
    let store_id = store["id"].as_str().unwrap().to_owned();

    // The api stores a file.
    let png = b"\x89PNG shared across processes".to_vec();
    let uploaded = call(reqwest::Method::POST, &format!("/v1/stores/{store_id}/attachments"))
        .header("content-type", "image/png")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let attachment: serde_json::Value = uploaded.json().await.unwrap();

    // The worker, elsewhere, writes an export.
    let export = call(reqwest::Method::POST, &format!("/v1/stores/{store_id}/exports"))
        .json(&serde_json::json!({"kind": "orders", "format": "csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 202);
    let export: serde_json::Value = export.json().await.unwrap();
    let export_id = export["id"].as_str().unwrap().to_owned();
    let status = command(Path::new(env!("CARGO_BIN_EXE_agora-worker")), worker_dir.path(), &db.url)
        .env("AGORA_JOBS_RUN", "exports")
        .arg("--once")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("agora-worker runs");
    assert!(status.success(), "agora-worker --once: {status}");

    let job: serde_json::Value =
        call(reqwest::Method::GET, &format!("/v1/exports/{export_id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(job["status"], "ready", "{job}");
    let file = call(reqwest::Method::GET, &format!("/v1/exports/{export_id}/download")).send().await.unwrap();
    assert_eq!(file.status(), 200, "the api reads the export the worker wrote");
    assert!(file.text().await.unwrap().starts_with("id,order_number,"));
    let back = call(reqwest::Method::GET, &format!("/v1/attachments/{}", attachment["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    assert_eq!(back.bytes().await.unwrap().to_vec(), png);

    // One place for both: the api's default, recorded by the first start.
    assert!(api_dir.path().join("blobs/exports").is_dir(), "the export is under the api's blobs");
    assert!(!worker_dir.path().join("blobs").exists(), "the worker made no blob directory of its own");
}
