//! Shared fixtures: fresh stores of every kind and a rich history.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use agora_core::query::Query;
use agora_core::views::*;
use agora_core::*;
use agora_cutover::{Wrapped, Wrapper};
use agora_testkit::{Harness, TestStore};
use async_trait::async_trait;
use time::Duration;

/// A fresh, empty store of `kind`: `memory`, `sqlite` (temp file) or
/// `postgres` (throwaway database on `AGORA_TEST_POSTGRES_URL`).
pub async fn fresh(kind: &str) -> TestStore {
    match kind {
        "memory" => TestStore::memory(),
        "sqlite" => {
            let dir = tempfile::tempdir().expect("tempdir");
            let cfg = agora_sqlite::SqliteConfig::new(dir.path().join("agora.db"));
            let store = agora_sqlite::SqliteStore::open(cfg).await.expect("open sqlite");
            TestStore::new(Arc::new(store), dir)
        }
        "postgres" => {
            let (cfg, guard) = agora_postgres::testing::throwaway_database().await;
            let store =
                agora_postgres::PgStore::connect(cfg).await.expect("connect postgres (AGORA_TEST_POSTGRES_URL)");
            TestStore::new(Arc::new(store), guard)
        }
        other => panic!("unknown store kind {other}"),
    }
}

/// Writes a history touching every table into `store`: two stores (one
/// with a sealed access token), settings changes (audit rows), active and
/// draft products, stock, users with addresses and sessions, orders in
/// every state, payments and provider events, a task with a help and its
/// payout, an export with its audit trail, sequenced and unsequenced
/// events, idempotency records.
pub async fn populate(store: Arc<dyn Store>) -> Harness {
    let h = Harness::new(TestStore::new(store, ()));
    let sa = h.super_admin().await;
    let s = h.store_fixture("shop.example.com").await;
    h.agora
        .create_store(
            &sa,
            NewStore { name: "Tok".into(), domain: "tok.example.com".into(), access_token: Some("tok-secret".into()) },
        )
        .await
        .expect("store with token");
    h.agora
        .patch_settings(
            &s.admin,
            s.id,
            SettingsPatch { required_helpers: Some(1), order_ttl_seconds: Some(600), ..Default::default() },
            Some("203.0.113.9"),
        )
        .await
        .expect("settings");
    let (_p, v) = h.product(&s, "SKU-1", 1000, 100).await;
    let (_p2, v2) = h.product(&s, "SKU-2", 250, 10).await;
    h.draft_product(&s, "Hidden", "SKU-D").await;
    h.clock.advance(Duration::seconds(1));
    let owner = h.customer_at("owner", "1 Main St", Some("+4915100000001")).await;
    let helper = h.customer_at("helper", "9 Elm St", None).await;
    let _open = h.order(&owner, &s, &[(v, 2), (v2, 1)]).await.expect("open order");
    let paid = h.order(&owner, &s, &[(v, 1)]).await.expect("paid order");
    h.pay(&owner, &paid).await;
    let task = h.agora.create_task(&owner.actor, NewTask { order_id: paid.id }).await.expect("task");
    h.clock.advance(Duration::seconds(1));
    let help = h.order_with_key(&helper, &s, &[(v, 1)], "help-1", Some(&task.task_no)).await.expect("help").order;
    h.pay(&helper, &help).await;
    h.agora.ship_order(&s.admin, OrderId(help.id)).await.expect("ship");
    h.agora.receive_order(&helper.actor, OrderId(help.id)).await.expect("receive");
    h.clock.advance(Duration::seconds(604_800));
    h.agora.settle_due_payouts(s.id, 100).await.expect("payout");
    let cancelled = h.order(&helper, &s, &[(v2, 2)]).await.expect("to cancel");
    h.agora.cancel_order(&helper.actor, OrderId(cancelled.id)).await.expect("cancel");
    h.agora
        .request_export(&s.admin, s.id, NewExport { kind: "orders".into(), format: "jsonl".into() })
        .await
        .expect("export");
    h.agora.run_queued_exports(10, &|_, _| {}).await.expect("run export");
    h.agora.sequence_events(s.id).await.expect("sequence");
    h.clock.advance(Duration::seconds(1));
    h.order(&helper, &s, &[(v, 1)]).await.expect("unsequenced order");
    h
}

/// A store that refuses every changeset after the first `allow` (a crash
/// part-way through a copy); as a store: `Wrapped(Flaky::new(inner, allow))`.
pub struct Flaky {
    pub inner: Arc<dyn Store>,
    pub allow: u64,
    pub seen: AtomicU64,
}

impl Flaky {
    /// A store over `inner` that takes `allow` changesets and then refuses all.
    pub fn new(inner: Arc<dyn Store>, allow: u64) -> Wrapped<Flaky> {
        Wrapped(Flaky { inner, allow, seen: AtomicU64::new(0) })
    }
}

#[async_trait]
impl Wrapper for Flaky {
    fn reads(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        if self.seen.fetch_add(1, Ordering::SeqCst) >= self.allow {
            return Err(StoreError::Unavailable("flaky: connection lost".into()));
        }
        self.inner.apply(changeset).await
    }
}

/// Every query that reached a store: its table and limit, and how many
/// rows it answered.
pub struct Recorder {
    pub inner: Arc<dyn Store>,
    pub seen: Mutex<Vec<(&'static str, Option<u32>, usize)>>,
}

impl Recorder {
    /// A store over `inner` that records its reads.
    pub fn new(inner: Arc<dyn Store>) -> Wrapped<Recorder> {
        Wrapped(Recorder { inner, seen: Mutex::new(Vec::new()) })
    }

    /// The reads of `table` so far: (limit, rows answered).
    pub fn reads_of(&self, table: &str) -> Vec<(Option<u32>, usize)> {
        let seen = self.seen.lock().expect("lock");
        seen.iter().filter(|(t, ..)| *t == table).map(|(_, limit, rows)| (*limit, *rows)).collect()
    }
}

#[async_trait]
impl Wrapper for Recorder {
    fn reads(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    fn fetched(&self, query: &Query, rows: &[Record]) {
        self.seen.lock().expect("lock").push((query.table.name, query.limit, rows.len()));
    }
}

/// Both stores' snapshots.
pub async fn snapshots(a: &dyn Store, b: &dyn Store) -> (Snapshot, Snapshot) {
    (Snapshot::read(a).await.expect("snapshot a"), Snapshot::read(b).await.expect("snapshot b"))
}

/// Panics naming the first difference when two stores hold different rows.
pub async fn assert_same(a: &dyn Store, b: &dyn Store, what: &str) {
    let (sa, sb) = snapshots(a, b).await;
    if sa != sb {
        panic!("{what}: snapshots differ: {}", agora_testkit::model::first_difference(&sa, &sb));
    }
}
