//! Fault drills (issue 19): the real `agora-api` binary (cargo builds it for
//! this test: `CARGO_BIN_EXE_agora-api`) under order load while its
//! dependencies fail, on private servers of its own (never the shared
//! PostgreSQL on 5432 or Redis on 6379, so the drills run in parallel with
//! every other test):
//!
//! - `postgres_restarted_under_order_load`: a private PostgreSQL cluster is
//!   restarted twice (`pg_ctl restart -m fast`, then `-m immediate`) and
//!   then stopped for 7 s (longer than the 5 s pool acquire timeout, so
//!   requests do get 503s) while clients place orders.
//! - `redis_killed_and_restarted_under_order_load`: a private `redis-server`
//!   is SIGKILLed and started again empty on the same port, then paused
//!   (SIGSTOP: it black-holes calls and keeps its cached values) and
//!   resumed, while clients place (and replay) orders and read the cached
//!   product page.
//! - `sqlite_on_a_full_disk`: the api's file size limit (`RLIMIT_FSIZE`,
//!   with `SIGXFSZ` ignored, so a write past it fails with `EFBIG` the way
//!   a full disk fails with `ENOSPC`) is lowered under load until writes
//!   fail, then raised again, without restarting the api.
//!
//! What each drill proves: no answer is ever a 500 (a failure is 503 with
//! `Retry-After`, or a documented 409); every request retried with its
//! `Idempotency-Key` until it is answered makes exactly one order; every
//! order acknowledged with 201 is there afterwards (listed and readable);
//! stock is exact (available + ordered = on hand at the start); and orders
//! succeed again within a bounded time after the fault ends, with the same
//! api process. The SQLite drill also checks reads during the outage and
//! `PRAGMA integrity_check` afterwards; the Redis drill checks the cached
//! product page and listing after writes made during and after the outage.
//!
//! Needs PostgreSQL server binaries (`/usr/lib/postgresql/<version>/bin`)
//! and `redis-server` on `PATH`; a missing one fails its drill with a
//! message saying so, it is never skipped. As root, the PostgreSQL cluster
//! runs as the `postgres` user (`runuser`), since initdb refuses root.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agora-api");
/// The super admin key every drill configures (at least 32 characters).
const ADMIN_KEY: &str = "drill-super-admin-key-0123456789abcdef";
const PASSWORD: &str = "correct horse battery";
/// Concurrent order clients per drill.
const CLIENTS: usize = 6;
/// Units on hand at the start: more than a drill can sell.
const STOCK: i64 = 1_000_000;
/// Longest a request may stay unanswered (retried with its key) before the
/// drill calls it lost.
const SETTLE_LIMIT: Duration = Duration::from_secs(40);
/// Longest the api may take to place orders again once the fault is over.
const RECOVERY_LIMIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------ processes

/// A free TCP port on 127.0.0.1 (the OS picks it; it is free when this returns).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A running `agora-api`; killed when dropped.
struct Api {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Api {
    /// Starts the binary in `dir` (its data dir) with `env` over a clean
    /// `AGORA_*` environment; its log goes to a file in `dir`. With
    /// `ignore_sigxfsz`, SIGXFSZ is ignored in the child, so a write past its
    /// `RLIMIT_FSIZE` fails with `EFBIG` instead of killing it.
    fn start(dir: &Path, env: &[(&str, String)], ignore_sigxfsz: bool) -> Api {
        let log = dir.join(format!("agora-api-{}.log", free_port()));
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("AGORA_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(dir)
            .env("AGORA_CONFIG", dir.join("absent.toml"))
            .env("AGORA_LISTEN", "127.0.0.1:0")
            .env("AGORA_DATA_DIR", dir)
            .env("AGORA_ADMIN_KEY", ADMIN_KEY)
            .env("AGORA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("api log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        if ignore_sigxfsz {
            // SAFETY: signal(2) is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn agora-api");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stdout after the "listening" line, so the api never
        // blocks (or fails) on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut api = Api { child, base: String::new(), log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let status = api.child.try_wait().ok().flatten();
                panic!("agora-api did not say it is listening within 60 s (exit {status:?}); log:\n{}", api.log_tail());
            };
            if let Some(url) = line.strip_prefix("agora-api listening on ") {
                api.base = url.trim().to_owned();
                return api;
            }
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// The last lines of the api's log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, and the exit code within 20 s.
    fn stop(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGTERM) }, 0, "SIGTERM agora-api");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("agora-api did not exit within 20 s of SIGTERM; log:\n{}", self.log_tail());
    }

    /// Sets the soft `RLIMIT_FSIZE` of the running api (`prlimit(2)`).
    fn set_file_size_limit(&self, bytes: Option<u64>) {
        let limit = libc::rlimit { rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY), rlim_max: libc::RLIM_INFINITY };
        // SAFETY: a valid rlimit, no old value asked for.
        let rc = unsafe { libc::prlimit(self.pid(), libc::RLIMIT_FSIZE, &limit, std::ptr::null_mut()) };
        assert_eq!(rc, 0, "prlimit(RLIMIT_FSIZE) on agora-api: {}", std::io::Error::last_os_error());
    }
}

/// Runs a command to completion; panics with `what` and its output on failure.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A private PostgreSQL cluster in a temp dir, on a port of its own;
/// stopped (`-m immediate`) when dropped.
struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PgCluster {
    /// The newest `/usr/lib/postgresql/<version>/bin` holding initdb and pg_ctl.
    fn bin_dir() -> PathBuf {
        let root = Path::new("/usr/lib/postgresql");
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.split('.').next()?.parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
            panic!(
                "this drill needs the PostgreSQL server binaries (initdb, pg_ctl) under \
                 /usr/lib/postgresql/<version>/bin, and none were found; install the postgresql package"
            )
        })
    }

    /// A command running `program` as the cluster's owner: `postgres` when
    /// we are root (initdb refuses root), ourselves otherwise.
    fn as_owner(program: &Path) -> Command {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    fn start() -> PgCluster {
        let bin = Self::bin_dir();
        let dir = tempfile::Builder::new().prefix("agora-drill-pg").tempdir().expect("tempdir");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            run(Command::new("chown").arg("postgres:postgres").arg(dir.path()), "chown the cluster dir to postgres");
        }
        let data = dir.path().join("data");
        run(
            Self::as_owner(&bin.join("initdb")).arg("-D").arg(&data).args([
                "-A",
                "trust",
                "-U",
                "root",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]),
            "initdb",
        );
        let cluster = PgCluster { bin, port: free_port(), dir };
        cluster.pg_ctl(&["start"]);
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://root@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl -D data -l log -o <options> -w <args>`, as the owner.
    fn pg_ctl(&self, args: &[&str]) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        run(
            Self::as_owner(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .args(["-o", &opts, "-w", "-t", "60"])
                .args(args),
            &format!("pg_ctl {args:?}"),
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Self::as_owner(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A private `redis-server` without persistence on a port of its own;
/// killed when dropped.
struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> RedisServer {
        let dir = tempfile::Builder::new().prefix("agora-drill-redis").tempdir().expect("tempdir");
        let mut server = RedisServer { child: None, port: free_port(), dir };
        server.spawn();
        server
    }

    /// Starts the server (empty) on its port and waits for PING.
    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--dir"])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this drill needs `redis-server` on PATH (Redis 6.2 or newer), and it cannot be started: {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.command("PING").as_deref() == Some("+PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING within 10 s", self.port);
    }

    /// Sends `sig` to the running server.
    fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.as_ref().expect("redis-server runs").id()).expect("pid fits i32");
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "signal {sig} to redis-server");
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL redis-server");
            child.wait().expect("reap redis-server");
        }
    }

    /// One inline command; its first reply line.
    fn command(&self, cmd: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).lines().next()?.to_owned())
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

// ------------------------------------------------------------------ HTTP

#[derive(Debug)]
struct Resp {
    status: u16,
    retry_after: Option<String>,
    replayed: bool,
    text: String,
    json: Value,
}

impl Resp {
    fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    fn expect(&self, status: u16, what: &str) -> &Value {
        assert_eq!(self.status, status, "{what}: unexpected status; body: {}", self.text);
        &self.json
    }
}

#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn new(base: &str) -> Http {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("http client");
        Http { client, base: base.to_owned() }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Resp, String> {
        let mut b = self.client.request(method, format!("{}{path}", self.base)).query(query);
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        if let Some(k) = key {
            b = b.header("Idempotency-Key", k);
        }
        if let Some(body) = body {
            b = b.json(body);
        }
        let res = b.send().await.map_err(|e| format!("{e:?}"))?;
        let status = res.status().as_u16();
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let retry_after = header("retry-after");
        let replayed = header("idempotent-replayed").as_deref() == Some("true");
        let text = res.text().await.map_err(|e| format!("reading the body: {e:?}"))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp { status, retry_after, replayed, text, json })
    }

    /// A request that must get an answer (no transport error).
    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        let what = format!("{method} {path}");
        self.send(method, path, token, None, &[], body).await.unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Every item of a list endpoint, following `next_cursor`.
    async fn list_all(&self, path: &str, token: &str) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "200")];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let page = self.send(Method::GET, path, Some(token), None, &query, None).await?;
            if page.status != 200 {
                return Err(format!("GET {path}: {} {}", page.status, page.text));
            }
            items.extend(page.json["items"].as_array().cloned().unwrap_or_default());
            match page.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

// ------------------------------------------------------------------ seeding

/// A store with an admin key, a warehouse and one product of one variant
/// with [`STOCK`] units on hand.
struct Shop {
    id: String,
    key: String,
    product: String,
    variant: String,
}

struct Customer {
    id: String,
    token: String,
    address: String,
}

async fn seed_shop(http: &Http) -> Shop {
    let store = http
        .call(Method::POST, "/v1/stores", Some(ADMIN_KEY), Some(&json!({"name": "Drill", "domain": "drill.test"})))
        .await;
    let id = store.expect(201, "create store")["id"].as_str().expect("store id").to_owned();
    let key = http.call(Method::POST, &format!("/v1/stores/{id}/admin-keys"), Some(ADMIN_KEY), None).await;
    let key = key.expect(201, "admin key")["key"].as_str().expect("key").to_owned();
    let wh = http
        .call(Method::POST, &format!("/v1/stores/{id}/warehouses"), Some(&key), Some(&json!({"name": "Main"})))
        .await;
    let warehouse = wh.expect(201, "warehouse")["id"].as_str().expect("warehouse id").to_owned();
    let body =
        json!({"title": "Mug", "currency": "EUR", "variants": [{"sku": "MUG-1", "name": "Blue", "price_minor": 1250}]});
    let p = http.call(Method::POST, &format!("/v1/stores/{id}/products"), Some(&key), Some(&body)).await;
    let product = p.expect(201, "product")["id"].as_str().expect("product id").to_owned();
    let variant = p.json["variants"][0]["id"].as_str().expect("variant id").to_owned();
    let stock = json!({"variant_id": variant, "warehouse_id": warehouse, "on_hand": STOCK});
    http.call(Method::PUT, &format!("/v1/stores/{id}/inventory"), Some(&key), Some(&stock)).await.expect(200, "stock");
    Shop { id, key, product, variant }
}

async fn seed_customer(http: &Http, n: usize) -> Customer {
    let email = format!("drill{n}@example.com");
    let user = json!({"name": format!("Client {n}"), "email": email, "password": PASSWORD});
    let u = http.call(Method::POST, "/v1/users", None, Some(&user)).await;
    let id = u.expect(201, "register")["id"].as_str().expect("user id").to_owned();
    let s = http.call(Method::POST, "/v1/sessions", None, Some(&json!({"email": email, "password": PASSWORD}))).await;
    let token = s.expect(201, "login")["token"].as_str().expect("token").to_owned();
    let address = json!({"line1": "1 Main St", "city": "Lyon", "postal_code": "69001", "country": "FR"});
    let a = http.call(Method::POST, "/v1/users/me/addresses", Some(&token), Some(&address)).await;
    let address = a.expect(201, "address")["id"].as_str().expect("address id").to_owned();
    Customer { id, token, address }
}

/// The store, its product and [`CLIENTS`] customers.
async fn seed(http: &Http) -> (Arc<Shop>, Arc<Vec<Customer>>) {
    let shop = seed_shop(http).await;
    let mut customers = Vec::new();
    for n in 0..CLIENTS {
        customers.push(seed_customer(http, n).await);
    }
    (Arc::new(shop), Arc::new(customers))
}

// ------------------------------------------------------------------ load

/// An order acknowledged with 201.
#[derive(Clone, Debug)]
struct Ack {
    key: String,
    customer: usize,
    order: String,
    qty: i64,
    /// When the request that got the 201 was sent.
    sent: Instant,
}

#[derive(Default)]
struct Tally {
    acks: Vec<Ack>,
    /// Every status seen on `POST /v1/orders`.
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    replays: u64,
    /// Answers the contract does not allow (500s, 503 without Retry-After,
    /// undocumented statuses, lost or doubled orders, ...).
    violations: Vec<String>,
}

/// Clients placing orders until told to stop; each request is retried with
/// its key until it gets a final answer.
struct Load {
    stop: AtomicBool,
    tally: Mutex<Tally>,
}

impl Load {
    /// The tally (still readable after a panic elsewhere poisoned it).
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn violation(&self, what: String) {
        let mut t = self.tally();
        if t.violations.len() < 200 {
            t.violations.push(what);
        }
    }

    /// Checks a failure answer against the contract: 503 must carry
    /// Retry-After, a 500 or an undocumented status is a violation.
    fn check_failure(&self, what: &str, r: &Resp) {
        match r.status {
            503 if r.retry_after.is_none() => self.violation(format!("{what}: 503 without Retry-After: {}", r.text)),
            503 | 409 => {}
            _ => self.violation(format!("{what}: status {}: {}", r.status, r.text)),
        }
    }

    fn acks_sent_after(&self, t: Instant) -> usize {
        self.tally().acks.iter().filter(|a| a.sent >= t).count()
    }

    fn status_count(&self, status: u16) -> u64 {
        self.tally().statuses.get(&status).copied().unwrap_or(0)
    }

    /// Sends `POST /v1/orders` with `key` until it is answered 201 (then
    /// records the order) or 409 `out_of_stock`; 503, 409 `conflict` and
    /// transport errors are retried with the same key.
    async fn place(&self, http: &Http, c: &Customer, ci: usize, key: &str, qty: i64, body: &Value) -> Option<String> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let sent = Instant::now();
            match http.send(Method::POST, "/v1/orders", Some(&c.token), Some(key), &[], Some(body)).await {
                Err(e) => {
                    self.tally().transport_errors += 1;
                    self.violation(format!("order {key}: transport error (the api must answer): {e}"));
                }
                Ok(r) => {
                    *self.tally().statuses.entry(r.status).or_default() += 1;
                    match (r.status, r.code()) {
                        (201, _) => {
                            let order = r.json["id"].as_str().map(str::to_owned);
                            let Some(order) = order else {
                                self.violation(format!("order {key}: 201 without an id: {}", r.text));
                                return None;
                            };
                            let got = r.json["items"][0]["qty"].as_i64();
                            if got != Some(qty) {
                                self.violation(format!("order {key}: 201 with qty {got:?}, asked {qty}"));
                            }
                            let ack = Ack { key: key.to_owned(), customer: ci, order: order.clone(), qty, sent };
                            self.tally().acks.push(ack);
                            return Some(order);
                        }
                        (409, "out_of_stock") => return None,
                        (409, "conflict") | (503, _) => self.check_failure(&format!("order {key}"), &r),
                        _ => {
                            self.check_failure(&format!("order {key}"), &r);
                            if r.status != 500 {
                                return None;
                            }
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                self.violation(format!("order {key}: no final answer within {SETTLE_LIMIT:?} of retries"));
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One client: orders of 1 to 3 units with fresh keys until stopped;
    /// every `replay_every`-th acknowledged order is sent again with its key
    /// and must be replayed (same order, `Idempotent-Replayed: true`).
    async fn client(
        self: Arc<Self>,
        http: Http,
        shop: Arc<Shop>,
        customers: Arc<Vec<Customer>>,
        ci: usize,
        replay_every: u64,
    ) {
        let c = &customers[ci];
        let mut n = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let key = format!("drill-c{ci}-{n}");
            let qty = 1 + (n % 3) as i64;
            let body = json!({"store_id": shop.id, "address_id": c.address, "items": [{"variant_id": shop.variant, "qty": qty}]});
            let Some(order) = self.place(&http, c, ci, &key, qty, &body).await else { continue };
            if replay_every > 0 && n.is_multiple_of(replay_every) {
                self.replay(&http, c, &key, &body, &order).await;
            }
        }
    }

    /// Sends an answered request again: the same order, marked replayed.
    async fn replay(&self, http: &Http, c: &Customer, key: &str, body: &Value, order: &str) {
        let deadline = Instant::now() + SETTLE_LIMIT;
        while Instant::now() < deadline {
            match http.send(Method::POST, "/v1/orders", Some(&c.token), Some(key), &[], Some(body)).await {
                Ok(r) if r.status == 201 => {
                    if r.json["id"].as_str() != Some(order) || !r.replayed {
                        self.violation(format!(
                            "replay of {key}: {order} expected, replayed={}: {}",
                            r.replayed, r.text
                        ));
                    }
                    self.tally().replays += 1;
                    return;
                }
                Ok(r) => self.check_failure(&format!("replay of {key}"), &r),
                Err(e) => self.violation(format!("replay of {key}: transport error: {e}")),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.violation(format!("replay of {key}: no answer within {SETTLE_LIMIT:?}"));
    }
}

/// A running load: the clients' tasks.
struct Running {
    load: Arc<Load>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn start_load(http: &Http, shop: &Arc<Shop>, customers: &Arc<Vec<Customer>>, replay_every: u64) -> Running {
    let load = Arc::new(Load { stop: AtomicBool::new(false), tally: Mutex::new(Tally::default()) });
    let tasks = (0..customers.len())
        .map(|ci| tokio::spawn(load.clone().client(http.clone(), shop.clone(), customers.clone(), ci, replay_every)))
        .collect();
    Running { load, tasks }
}

impl Running {
    /// Stops the clients; each finishes (settles) the request in hand.
    async fn stop(self) -> Arc<Load> {
        self.load.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            tokio::time::timeout(SETTLE_LIMIT + Duration::from_secs(10), t)
                .await
                .expect("a client did not settle its last request")
                .expect("client task panicked");
        }
        self.load
    }

    /// Waits until an order whose request was sent after `t` is acknowledged;
    /// how long after `t` that was. Panics after [`RECOVERY_LIMIT`].
    async fn recovered_after(&self, t: Instant, what: &str, api: &Api) -> Duration {
        loop {
            if self.load.acks_sent_after(t) > 0 {
                return t.elapsed();
            }
            if t.elapsed() > RECOVERY_LIMIT {
                let (statuses, violations) = {
                    let tally = self.load.tally();
                    (tally.statuses.clone(), tally.violations.iter().take(5).cloned().collect::<Vec<_>>())
                };
                panic!(
                    "{what}: no order placed within {RECOVERY_LIMIT:?} (statuses so far {statuses:?}, violations \
                     {violations:?}); api log:\n{}",
                    api.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn acks(&self) -> usize {
        self.load.tally().acks.len()
    }
}

/// Reads the product page (and the api's health) in a loop until stopped:
/// only 200, or 503 with Retry-After.
fn start_reader(http: &Http, shop: &Arc<Shop>, load: &Arc<Load>) -> tokio::task::JoinHandle<u64> {
    let (http, shop, load) = (http.clone(), shop.clone(), load.clone());
    tokio::spawn(async move {
        let mut reads = 0;
        while !load.stop.load(Ordering::Relaxed) {
            for path in [format!("/v1/products/{}", shop.product), format!("/v1/stores/{}/products", shop.id)] {
                match http.send(Method::GET, &path, None, None, &[], None).await {
                    Ok(r) if r.status == 200 => reads += 1,
                    Ok(r) if r.status == 503 && r.retry_after.is_some() => {}
                    Ok(r) => load.violation(format!("GET {path}: status {}: {}", r.status, r.text)),
                    Err(e) => load.violation(format!("GET {path}: transport error: {e}")),
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        reads
    })
}

// ------------------------------------------------------------------ checks

/// Every acknowledged order is there (in its owner's list, readable, with
/// its quantity), no order exists that no answer acknowledged (a request
/// retried with its key made one order), and stock is exact. Returns the
/// problems found.
async fn verify(http: &Http, shop: &Shop, customers: &[Customer], load: &Load) -> Vec<String> {
    let acks = load.tally().acks.clone();
    let mut problems = Vec::new();
    let mut by_order: HashMap<&str, &Ack> = HashMap::new();
    let mut keys = HashSet::new();
    for a in &acks {
        if !keys.insert(a.key.as_str()) {
            problems.push(format!("key {} acknowledged twice", a.key));
        }
        if let Some(other) = by_order.insert(a.order.as_str(), a) {
            problems.push(format!("keys {} and {} got the same order {}", other.key, a.key, a.order));
        }
    }
    for (ci, c) in customers.iter().enumerate() {
        let listed = match http.list_all("/v1/users/me/orders", &c.token).await {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("customer {ci}: cannot list orders: {e}"));
                continue;
            }
        };
        let listed: HashSet<String> = listed.iter().filter_map(|o| o["id"].as_str().map(str::to_owned)).collect();
        let acked: HashSet<String> = acks.iter().filter(|a| a.customer == ci).map(|a| a.order.clone()).collect();
        for lost in acked.difference(&listed) {
            problems.push(format!("customer {ci}: acknowledged order {lost} is missing from the list (lost)"));
        }
        for extra in listed.difference(&acked) {
            problems.push(format!("customer {ci}: order {extra} exists but no answer acknowledged it (doubled)"));
        }
    }
    // Each acknowledged order, read by its owner.
    let mut reads = tokio::task::JoinSet::new();
    for (ci, c) in customers.iter().enumerate() {
        let mine: Vec<Ack> = acks.iter().filter(|a| a.customer == ci).cloned().collect();
        let (http, token, user) = (http.clone(), c.token.clone(), c.id.clone());
        reads.spawn(async move {
            let mut problems = Vec::new();
            for a in mine {
                match http.send(Method::GET, &format!("/v1/orders/{}", a.order), Some(&token), None, &[], None).await {
                    Ok(r) if r.status == 200 => {
                        if r.json["items"][0]["qty"].as_i64() != Some(a.qty)
                            || r.json["user_id"].as_str() != Some(&user)
                        {
                            problems.push(format!("order {} ({}) reads differently: {}", a.order, a.key, r.text));
                        }
                    }
                    Ok(r) => problems.push(format!("GET order {} ({}): {} {}", a.order, a.key, r.status, r.text)),
                    Err(e) => problems.push(format!("GET order {}: {e}", a.order)),
                }
            }
            problems
        });
    }
    while let Some(done) = reads.join_next().await {
        problems.extend(done.expect("read task"));
    }
    // The store's own list, and the stock.
    match http.list_all(&format!("/v1/stores/{}/orders", shop.id), &shop.key).await {
        Ok(all) if all.len() != acks.len() => {
            problems.push(format!("the store lists {} orders, {} were acknowledged", all.len(), acks.len()))
        }
        Ok(_) => {}
        Err(e) => problems.push(format!("cannot list the store's orders: {e}")),
    }
    let sold: i64 = acks.iter().map(|a| a.qty).sum();
    let page = http.call(Method::GET, &format!("/v1/products/{}", shop.product), None, None).await;
    let available = page.expect(200, "product page")["variants"][0]["available"].as_i64();
    if available != Some(STOCK - sold) {
        problems.push(format!(
            "stock is off: available {available:?}, on hand {STOCK} - ordered {sold} = {}",
            STOCK - sold
        ));
    }
    problems
}

/// Fails with the violations the load recorded and the problems `verify` found.
fn assert_clean(what: &str, load: &Load, problems: &[String], api: &Api) {
    let tally = load.tally();
    let mut all: Vec<&String> = tally.violations.iter().collect();
    all.extend(problems);
    assert!(
        all.is_empty(),
        "{what}: {} problem(s):\n  {}\nstatuses: {:?}\napi log:\n{}",
        all.len(),
        all.iter().take(40).map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
        tally.statuses,
        api.log_tail()
    );
}

fn summary(load: &Load) -> String {
    let t = load.tally();
    format!(
        "{} orders acknowledged, {} replays, statuses {:?}, transport errors {}",
        t.acks.len(),
        t.replays,
        t.statuses,
        t.transport_errors
    )
}

/// The product page and the store's listing show `title`, read twice (the
/// second read may come from the cache).
async fn expect_title(http: &Http, shop: &Shop, title: &str, when: &str) {
    for _ in 0..2 {
        let page = http.call(Method::GET, &format!("/v1/products/{}", shop.product), None, None).await;
        assert_eq!(page.expect(200, "product page")["title"], title, "stale product page {when}: {}", page.text);
        let listing = http.call(Method::GET, &format!("/v1/stores/{}/products", shop.id), None, None).await;
        let items = listing.expect(200, "listing")["items"].as_array().cloned().unwrap_or_default();
        let titles: Vec<&Value> = items.iter().map(|p| &p["title"]).collect();
        assert_eq!(titles, [&json!(title)], "stale listing {when}: {}", listing.text);
    }
}

// ------------------------------------------------------------------ drills

/// PostgreSQL restarted twice (fast, then immediate) under order load: no
/// 500, nothing lost or doubled, stock exact, orders again within
/// [`RECOVERY_LIMIT`] of each restart with the same api process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_order_load() {
    let began = Instant::now();
    let pg = Arc::new(PgCluster::start());
    let dir = tempfile::tempdir().expect("tempdir");
    let api = Api::start(dir.path(), &[("AGORA_DATABASE_URL", pg.url())], false);
    let http = Http::new(&api.base);
    let (shop, customers) = seed(&http).await;

    let running = start_load(&http, &shop, &customers, 0);
    let reader = start_reader(&http, &shop, &running.load);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(running.acks() > 0, "no order placed before the restart: {}", summary(&running.load));

    let mut recoveries = Vec::new();
    for fault in ["restart -m fast", "restart -m immediate", "stop -m fast, 7 s down, start"] {
        let cluster = pg.clone();
        let before = Instant::now();
        tokio::task::spawn_blocking(move || match fault {
            "restart -m fast" => cluster.pg_ctl(&["-m", "fast", "restart"]),
            "restart -m immediate" => cluster.pg_ctl(&["-m", "immediate", "restart"]),
            _ => {
                cluster.pg_ctl(&["-m", "fast", "stop"]);
                std::thread::sleep(Duration::from_secs(7));
                cluster.pg_ctl(&["start"]);
            }
        })
        .await
        .expect("pg_ctl task");
        let back = Instant::now();
        let recovery = running.recovered_after(back, &format!("after pg_ctl {fault}"), &api).await;
        recoveries.push((fault, back - before, recovery));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let load = running.stop().await;
    let reads = reader.await.expect("reader");
    let problems = verify(&http, &shop, &customers, &load).await;
    assert_clean("postgres restarted under order load", &load, &problems, &api);
    assert!(reads > 0, "the reader never read the product page");
    eprintln!(
        "postgres drill: {}; {reads} reads; faults (what, took, orders again after): {recoveries:?}; {:?} in all",
        summary(&load),
        began.elapsed()
    );
}

/// Redis SIGKILLed and started again empty under order load: no 500, each
/// key makes one order (retries and replays included), stock exact, and
/// the cached product page and listing show the writes made during and
/// after the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_order_load() {
    let began = Instant::now();
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("agora.db").display());
    let api = Api::start(dir.path(), &[("AGORA_DATABASE_URL", db), ("AGORA_REDIS_URL", redis.url())], false);
    let http = Http::new(&api.base);
    let (shop, customers) = seed(&http).await;
    let product_path = format!("/v1/products/{}", shop.product);
    let listing_path = format!("/v1/stores/{}/products", shop.id);
    // Warm the cache.
    for _ in 0..2 {
        http.call(Method::GET, &product_path, None, None).await.expect(200, "product page");
        http.call(Method::GET, &listing_path, None, None).await.expect(200, "listing");
    }

    let running = start_load(&http, &shop, &customers, 4);
    let reader = start_reader(&http, &shop, &running.load);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kill = running.acks();
    assert!(before_kill > 0, "no order placed before the kill: {}", summary(&running.load));
    assert_ne!(redis.command("DBSIZE").as_deref(), Some(":0"), "agora wrote nothing to Redis before the kill");

    redis.kill();
    let killed = Instant::now();
    let during = running.recovered_after(killed, "with Redis killed", &api).await;
    let rename = |title: &str| json!({"title": title});
    let patch = http.call(Method::PATCH, &product_path, Some(&shop.key), Some(&rename("Mug (outage)"))).await;
    patch.expect(200, "rename during the outage");
    expect_title(&http, &shop, "Mug (outage)", "during the outage").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    redis.spawn();
    let restarted = Instant::now();
    let after = running.recovered_after(restarted, "after Redis came back", &api).await;
    expect_title(&http, &shop, "Mug (outage)", "after the restart").await;
    let patch = http.call(Method::PATCH, &product_path, Some(&shop.key), Some(&rename("Mug (after)"))).await;
    patch.expect(200, "rename after the restart");
    expect_title(&http, &shop, "Mug (after)", "after a write made after the restart").await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Paused (SIGSTOP): Redis black-holes every call and keeps the cached
    // "Mug (after)"; a rename while it is paused must not be hidden by that
    // value once it answers again.
    expect_title(&http, &shop, "Mug (after)", "warming the cache before the pause").await;
    redis.signal(libc::SIGSTOP);
    let paused = Instant::now();
    let patch = http.call(Method::PATCH, &product_path, Some(&shop.key), Some(&rename("Mug (paused)"))).await;
    patch.expect(200, "rename while Redis is paused");
    expect_title(&http, &shop, "Mug (paused)", "while Redis is paused").await;
    let while_paused = running.recovered_after(paused, "with Redis paused", &api).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.signal(libc::SIGCONT);
    let resumed = Instant::now();
    let after_pause = running.recovered_after(resumed, "after Redis resumed", &api).await;
    expect_title(&http, &shop, "Mug (paused)", "after Redis resumed").await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let load = running.stop().await;
    let reads = reader.await.expect("reader");
    expect_title(&http, &shop, "Mug (paused)", "at the end").await;
    let problems = verify(&http, &shop, &customers, &load).await;
    assert_clean("redis killed and restarted under order load", &load, &problems, &api);
    assert_ne!(redis.command("DBSIZE").as_deref(), Some(":0"), "agora did not use the restarted Redis");
    assert!(load.tally().replays > 0, "no replay was exercised: {}", summary(&load));
    eprintln!(
        "redis drill: {}; {reads} reads; orders placed {during:?} after the kill, {after:?} after the restart, \
         {while_paused:?} after the pause, {after_pause:?} after the resume; {:?} in all",
        summary(&load),
        began.elapsed()
    );
}

/// SQLite on a "full disk": the api's file size limit is lowered under
/// order load until writes fail (503 with Retry-After, never 500) while
/// reads go on; raised again, orders succeed with the same process; the
/// file passes `PRAGMA integrity_check` and holds every acknowledged order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk() {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("agora.db");
    let db = format!("sqlite://{}", file.display());
    let mut api = Api::start(dir.path(), &[("AGORA_DATABASE_URL", db.clone())], true);
    let http = Http::new(&api.base);
    let (shop, customers) = seed(&http).await;

    // The "disk" holds what is there now plus 4 MiB per file: past the
    // 1000-page auto-checkpoint, so checkpoints into the main file meet the
    // limit too.
    let size = |suffix: &str| std::fs::metadata(format!("{}{suffix}", file.display())).map_or(0, |m| m.len());
    let limit = ["", "-wal", "-shm"].iter().map(|s| size(s)).max().unwrap_or(0) + 4 * 1024 * 1024;
    api.set_file_size_limit(Some(limit));

    let running = start_load(&http, &shop, &customers, 0);
    let reader = start_reader(&http, &shop, &running.load);
    // Full: orders keep failing (503) and none has been acknowledged for a second.
    let filling = Instant::now();
    let mut quiet_since = (Instant::now(), running.acks());
    loop {
        let acks = running.acks();
        if acks != quiet_since.1 {
            quiet_since = (Instant::now(), acks);
        }
        if running.load.status_count(503) >= 20 && quiet_since.0.elapsed() > Duration::from_secs(1) {
            break;
        }
        assert!(
            filling.elapsed() < Duration::from_secs(30),
            "the disk never filled: orders did not keep failing within 30 s with a {limit}-byte file size limit \
             (db {} B, wal {} B): {}; log:\n{}",
            size(""),
            size("-wal"),
            summary(&running.load),
            api.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acked_before_full = running.acks();
    assert!(acked_before_full > 0, "no order fitted before the disk filled: {}", summary(&running.load));
    let full_after = filling.elapsed();

    // While full: an order answers 503 with Retry-After (and writes nothing).
    let c = &customers[0];
    let body = json!({"store_id": shop.id, "address_id": c.address, "items": [{"variant_id": shop.variant, "qty": 1}]});
    let r = http
        .send(Method::POST, "/v1/orders", Some(&c.token), Some("drill-full-probe"), &[], Some(&body))
        .await
        .expect("order");
    assert_eq!(r.status, 503, "an order on a full disk: {}", r.text);
    assert!(r.retry_after.is_some(), "503 without Retry-After: {r:?}");
    // A smaller write may still fit in the room a failed order left behind
    // (its frames are rolled back), as on a nearly full disk: renames use
    // it up, each answered 200 or 503 with Retry-After; one answered 503
    // must have written nothing (checked once space is back).
    let product_path = format!("/v1/products/{}", shop.product);
    let mut title = "Mug".to_owned();
    let mut renames_fitted = 0;
    let mut rename_refused = false;
    while renames_fitted < 50 && !rename_refused {
        let next = format!("Full {renames_fitted}");
        let r = http.call(Method::PATCH, &product_path, Some(&shop.key), Some(&json!({"title": next}))).await;
        match r.status {
            200 => {
                title = next;
                renames_fitted += 1;
            }
            503 if r.retry_after.is_some() => rename_refused = true,
            _ => panic!(
                "a product write on a full disk: {} {:?} {}; log:\n{}",
                r.status,
                r.retry_after,
                r.text,
                api.log_tail()
            ),
        }
    }
    // Reads work.
    let page = http.call(Method::GET, &product_path, None, None).await;
    assert_eq!(page.expect(200, "product page on a full disk")["title"], title.as_str());
    let first = running.load.tally().acks[0].clone();
    let r = http
        .call(Method::GET, &format!("/v1/orders/{}", first.order), Some(&customers[first.customer].token), None)
        .await;
    r.expect(200, "an acknowledged order on a full disk");
    let mine = http.list_all("/v1/users/me/orders", &customers[first.customer].token).await;
    assert!(mine.is_ok(), "listing orders on a full disk: {mine:?}");
    http.call(Method::GET, "/healthz", None, None).await.expect(200, "healthz on a full disk");
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Space comes back: orders succeed again, same process.
    api.set_file_size_limit(None);
    let freed = Instant::now();
    let recovery = running.recovered_after(freed, "after the disk had space again", &api).await;
    let r = http
        .send(Method::POST, "/v1/orders", Some(&c.token), Some("drill-full-probe"), &[], Some(&body))
        .await
        .expect("order");
    assert_eq!(r.status, 201, "the probe order once space is back: {}", r.text);
    let page = http.call(Method::GET, &product_path, None, None).await;
    assert_eq!(page.expect(200, "product page")["title"], title.as_str(), "a rename answered 503 was written");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let load = running.stop().await;
    reader.await.expect("reader");
    // The probe made one order of one unit for customer 0.
    load.tally().acks.push(Ack {
        key: "drill-full-probe".into(),
        customer: 0,
        order: r.json["id"].as_str().expect("probe id").to_owned(),
        qty: 1,
        sent: freed,
    });
    let problems = verify(&http, &shop, &customers, &load).await;
    assert_clean("sqlite on a full disk", &load, &problems, &api);
    let writes_failed = load.status_count(503);

    // A clean stop, a sound file, and every order there after a restart.
    assert_eq!(api.stop(), Some(0), "agora-api exit code after the drill; log:\n{}", api.log_tail());
    let conn = rusqlite::Connection::open(&file).expect("open the database");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(check, "ok", "PRAGMA integrity_check after the full disk");
    drop(conn);
    let again = Api::start(dir.path(), &[("AGORA_DATABASE_URL", db)], false);
    let problems = verify(&Http::new(&again.base), &shop, &customers, &load).await;
    assert!(problems.is_empty(), "after a restart: {problems:#?}");
    eprintln!(
        "sqlite drill: {}; file size limit {limit} B; writes failed {full_after:?} into the load \
         ({acked_before_full} orders fitted, {writes_failed} answers 503; then {renames_fitted} renames fitted, \
         one refused: {rename_refused}), orders again {recovery:?} after space came back; {:?} in all",
        summary(&load),
        began.elapsed()
    );
}
