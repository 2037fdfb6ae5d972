//! Outgoing webhooks under faults: 2,000 events are written while the
//! receiver (a Python process that checks every signature with Python's own
//! hmac) is SIGKILLed and started again, and the real `agora-worker` is
//! SIGKILLed once and started again. In the end every event has arrived,
//! in seq order, and the only repeats are of a delivery whose answer was
//! lost (the receiver or the worker died between the POST and recording
//! it): each repeat is the delivery just before it, and they are counted.
//!
//! Needs PostgreSQL (`AGORA_TEST_POSTGRES_URL`, default
//! `postgres://root@127.0.0.1:5432/postgres`) and `python3`; fails without.

#[path = "../../../crates/agora-runtime/tests/support/mod.rs"]
mod support;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agora_core::views::NewWebhookEndpoint;
use agora_core::*;

const EVENTS: usize = 2000;
const BATCH: usize = 100;

/// The receiver: appends `{seq, delivery_id, event_id, signature_ok}` per
/// POST to its log (flushed before answering 204).
const RECEIVER: &str = r#"
import hashlib, hmac, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, secret, log_path = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
log = open(log_path, "a")
class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        parts = dict(p.split("=", 1) for p in self.headers["Agora-Signature"].split(","))
        expected = hmac.new(secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        event = json.loads(body)
        log.write(json.dumps({
            "seq": event["event"]["seq"],
            "delivery_id": event["delivery_id"],
            "event_id": self.headers["Agora-Event-Id"],
            "signature_ok": hmac.compare_digest(expected, parts["v1"]),
        }) + "\n")
        log.flush()
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", port), Hook).serve_forever()
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_receiver(port: u16, secret: &str, log: &Path) -> Child {
    let child = Command::new("python3")
        .args(["-c", RECEIVER, &port.to_string(), secret, log.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 starts (it is the independent receiver)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the receiver did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn start_worker(dir: &Path, url: &str) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agora-worker"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AGORA_") && !k.starts_with("AGORA_TEST_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AGORA_CONFIG", dir.join("absent.toml"))
        .env("AGORA_DATABASE_URL", url)
        .env("AGORA_DATA_DIR", dir)
        .env("AGORA_JOB_INTERVAL_MS", "10")
        .env("AGORA_JOBS_RUN", "sequence_events,webhooks")
        .env("AGORA_WEBHOOK_ALLOW_PRIVATE", "on")
        .env("AGORA_PG_MAX_CONNECTIONS", "4")
        .env("AGORA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("agora-worker starts")
}

fn sigkill(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

#[derive(Debug, serde::Deserialize)]
struct Received {
    seq: i64,
    delivery_id: String,
    event_id: String,
    signature_ok: bool,
}

fn received(log: &PathBuf) -> Vec<Received> {
    let Ok(file) = std::fs::File::open(log) else { return Vec::new() };
    std::io::BufReader::new(file).lines().map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect()
}

async fn write_events(store: &dyn Store, shop: StoreId, from: usize, to: usize) {
    for start in (from..to).step_by(BATCH) {
        let mut cs = Changeset::new();
        for n in start..(start + BATCH).min(to) {
            cs.insert(Record::Event(ActivityEvent {
                id: EventId(uuid::Uuid::now_v7()),
                store_id: shop,
                seq: None,
                entity_type: "order".into(),
                entity_id: uuid::Uuid::now_v7(),
                kind: "order.created".into(),
                payload: serde_json::json!({"n": n}),
                at: support::now(),
            }));
        }
        store.apply(cs).await.expect("events written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_in_order_through_receiver_and_worker_kills() {
    let mut db = support::TestDatabase::new("postgres").await;
    if !db.url.contains("sslmode=") {
        let sep = if db.url.contains('?') { '&' } else { '?' };
        db.url = format!("{}{sep}sslmode=disable", db.url);
    }
    let dir = db.dir.path().to_path_buf();
    let mut config = support::config(&dir, &db.url);
    config.webhook_allow_private = true;
    let rt = support::runtime(config).await;
    let store = rt.store.clone();
    let shop = support::seed_store(store.as_ref(), "hooks").await;
    let port = free_port();
    let admin = Actor::SuperAdmin { masked: "test".into() };
    let req = NewWebhookEndpoint {
        url: format!("http://127.0.0.1:{port}/hook"),
        events: vec!["*".into()],
        description: None,
    };
    let endpoint = rt.agora.create_webhook_endpoint(&admin, shop, req).await.expect("endpoint");
    let secret = endpoint.secret.clone().expect("secret");
    let log = dir.join("received.jsonl");

    let mut receiver = start_receiver(port, &secret, &log);
    let mut worker = start_worker(&dir, &db.url);
    write_events(store.as_ref(), shop, 0, 500).await;
    // The receiver dies mid-stream and is away for two seconds.
    sigkill(&mut receiver);
    write_events(store.as_ref(), shop, 500, 800).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    receiver = start_receiver(port, &secret, &log);
    write_events(store.as_ref(), shop, 800, 1200).await;
    // The worker dies mid-stream and is started again.
    sigkill(&mut worker);
    write_events(store.as_ref(), shop, 1200, 1500).await;
    worker = start_worker(&dir, &db.url);
    write_events(store.as_ref(), shop, 1500, EVENTS).await;

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let got = received(&log);
        let distinct: std::collections::HashSet<i64> = got.iter().map(|r| r.seq).collect();
        if distinct.len() == EVENTS {
            break;
        }
        assert!(Instant::now() < deadline, "only {} of {EVENTS} events arrived", distinct.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sigkill(&mut worker);
    sigkill(&mut receiver);

    let got = received(&log);
    assert!(got.iter().all(|r| r.signature_ok), "every signature verified by Python's hmac");
    let mut last = 0;
    let mut repeats = 0;
    for r in &got {
        if r.seq == last {
            repeats += 1;
        } else {
            assert_eq!(r.seq, last + 1, "in seq order, nothing skipped: {} after {last}", r.seq);
            last = r.seq;
        }
    }
    assert_eq!(last, EVENTS as i64);
    // A repeat is the same delivery again (same id and event): its answer was lost.
    for pair in got.windows(2).filter(|w| w[0].seq == w[1].seq) {
        assert_eq!((&pair[0].delivery_id, &pair[0].event_id), (&pair[1].delivery_id, &pair[1].event_id));
    }
    assert!(repeats <= 4, "{repeats} repeats: only answers lost to the two kills may repeat");
    println!("webhook drill: {} requests for {EVENTS} events, {repeats} repeated (answers lost to a kill)", got.len());
    let snap = Snapshot::read(store.as_ref()).await.unwrap();
    let deliveries = snap.rows::<WebhookDelivery>();
    assert_eq!(deliveries.len(), EVENTS);
    assert!(deliveries.iter().all(|d| d.status == WebhookDeliveryStatus::Delivered));
    rt.close().await;
}
