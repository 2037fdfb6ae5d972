//! The real `agora-api` binary (cargo builds it for this test:
//! `CARGO_BIN_EXE_agora-api`): first start prints the generated secrets
//! once, serves, and exits 0 on SIGTERM; a second start prints nothing
//! secret; bad configuration names the key and exits 2.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_agora-api");

struct Server {
    child: Child,
    base: String,
    /// stdout lines up to and including the "listening" line.
    printed: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::inherit());
    for (k, _) in std::env::vars() {
        if k.starts_with("AGORA_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AGORA_LISTEN", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = command(dir, env).spawn().expect("spawn agora-api");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let status = child.try_wait().ok().flatten();
            panic!("agora-api did not say it is listening within 60 s (exit status {status:?}); printed: {printed:?}");
        };
        printed.push(line.clone());
        if let Some(url) = line.strip_prefix("agora-api listening on ") {
            return Server { child, base: url.trim().to_owned(), printed };
        }
    }
}

fn sigterm_and_wait(server: &mut Server) -> std::process::ExitStatus {
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    for _ in 0..200 {
        if let Some(status) = server.child.try_wait().expect("wait") {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("agora-api did not exit within 10 s of SIGTERM");
}

fn secret(printed: &[String], name: &str) -> Vec<String> {
    printed.iter().filter_map(|l| l.trim().strip_prefix(&format!("{name}=")).map(str::to_owned)).collect()
}

/// The status of creating a store at `domain` with `key` as the super admin.
async fn create_store(http: &reqwest::Client, base: &str, key: &str, domain: &str) -> u16 {
    let body = serde_json::json!({"name": "Bin", "domain": domain});
    let res = http.post(format!("{base}/v1/stores")).bearer_auth(key).json(&body).send().await.expect("create store");
    res.status().as_u16()
}

#[tokio::test]
async fn memory_start_prints_secrets_once_serves_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();

    let mut first = start(dir.path(), &[("AGORA_DATABASE_URL", "memory:")]);
    let keys = secret(&first.printed, "AGORA_ADMIN_KEY");
    assert_eq!(keys.len(), 1, "the admin key is printed once: {:?}", first.printed);
    assert_eq!(secret(&first.printed, "AGORA_WEBHOOK_SECRET").len(), 1, "{:?}", first.printed);
    let admin_key = keys[0].clone();

    let health = http.get(format!("{}/healthz", first.base)).send().await.expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(http.get(format!("{}/readyz", first.base)).send().await.expect("readyz").status(), 200);
    let created = create_store(&http, &first.base, &admin_key, "bin.test").await;
    assert_eq!(created, 201, "the printed key is the super admin key");

    let status = sigterm_and_wait(&mut first);
    assert_eq!(status.code(), Some(0), "exit 0 on SIGTERM");

    // second start with the same data dir: nothing secret printed, same key works
    let mut second = start(dir.path(), &[("AGORA_DATABASE_URL", "memory:")]);
    assert!(
        second.printed.iter().all(|l| !l.contains("AGORA_ADMIN_KEY") && !l.contains("AGORA_WEBHOOK_SECRET")),
        "secrets are printed only on first start: {:?}",
        second.printed
    );
    assert_eq!(create_store(&http, &second.base, &admin_key, "bin2.test").await, 201);
    assert_eq!(sigterm_and_wait(&mut second).code(), Some(0));
}

#[tokio::test]
async fn default_database_is_sqlite_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start(dir.path(), &[]);
    assert_eq!(secret(&server.printed, "AGORA_ADMIN_KEY").len(), 1);
    let ready = reqwest::get(format!("{}/readyz", server.base)).await.expect("readyz");
    assert_eq!(ready.status(), 200);
    assert!(dir.path().join("agora.db").exists(), "sqlite://agora.db is the default");
    // The database, its WAL and the secrets file hold hashes, addresses and
    // keys: nothing the server created is readable by group or others.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(dir.path()).expect("read dir") {
            let entry = entry.expect("entry");
            let mode = entry.metadata().expect("metadata").permissions().mode() & 0o777;
            let name = entry.file_name().to_string_lossy().into_owned();
            assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
            seen.push(name);
        }
        assert!(seen.iter().any(|n| n == "agora.db-wal"), "{seen:?}");
    }
    assert_eq!(sigterm_and_wait(&mut server).code(), Some(0));
}

/// A store admin key's use is noted in memory and written in batches; what
/// is not written yet at SIGTERM is written before the process exits.
#[tokio::test]
async fn admin_key_last_use_survives_a_graceful_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let mut server = start(dir.path(), &[]);
    let admin_key = secret(&server.printed, "AGORA_ADMIN_KEY")[0].clone();
    let body = serde_json::json!({"name": "Keys", "domain": "keys.test"});
    let store: serde_json::Value = http
        .post(format!("{}/v1/stores", server.base))
        .bearer_auth(&admin_key)
        .json(&body)
        .send()
        .await
        .expect("create store")
        .json()
        .await
        .expect("store json");
    let keys_url = format!("{}/v1/stores/{}/admin-keys", server.base, store["id"].as_str().expect("id"));
    let made: serde_json::Value =
        http.post(&keys_url).bearer_auth(&admin_key).send().await.expect("key").json().await.expect("key json");
    let store_key = made["key"].as_str().expect("key").to_owned();
    let settings = format!("{}/v1/stores/{}/settings", server.base, store["id"].as_str().expect("id"));
    let used = http.get(&settings).bearer_auth(&store_key).send().await.expect("settings");
    assert_eq!(used.status(), 200);
    assert_eq!(sigterm_and_wait(&mut server).code(), Some(0));

    let mut again = start(dir.path(), &[]);
    let keys_url = keys_url.replacen(&server.base, &again.base, 1);
    let listed: serde_json::Value =
        http.get(&keys_url).bearer_auth(&admin_key).send().await.expect("list").json().await.expect("list json");
    let row = &listed["items"][0];
    assert_eq!(row["id"], made["id"]);
    assert!(row["last_used_at"].is_string(), "last use written at shutdown: {listed}");
    assert_eq!(sigterm_and_wait(&mut again).code(), Some(0));
}

#[test]
fn a_short_admin_key_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out =
        command(dir.path(), &[("AGORA_ADMIN_KEY", "short-admin-key")]).stderr(Stdio::piped()).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("admin_key") && said.contains("32"), "{said}");
    assert!(!said.contains("short-admin-key"), "the key is not echoed: {said}");
}

#[test]
fn bad_configuration_names_the_key_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("agora.toml"), "colour = \"red\"\n").expect("write agora.toml");
    let out = command(dir.path(), &[("AGORA_DATABASE_URL", "memory:")]).stderr(Stdio::piped()).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("colour"), "the error names the key: {err}");
}

#[tokio::test]
async fn numeric_and_switch_variables_are_read_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("AGORA_DATABASE_URL", "memory:"), ("AGORA_JOB_INTERVAL_MS", "250"), ("AGORA_WORKER", "off")];
    let mut server = start(dir.path(), &env);
    let health = reqwest::get(format!("{}/healthz", server.base)).await.expect("healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(sigterm_and_wait(&mut server).code(), Some(0));
}
