//! SQLite-specific behaviour: migrations, error mapping, group commit,
//! foreign keys, backup and restore.

use std::path::Path;
use std::sync::Arc;

use agora_core::clock::truncate_to_micros;
use agora_core::*;
use agora_core::{guards, schema::Value};
use agora_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use agora_testkit::{Harness, TestStore};
use time::OffsetDateTime;
use uuid::Uuid;

fn now() -> OffsetDateTime {
    truncate_to_micros(OffsetDateTime::now_utc())
}

fn user(email: &str) -> AppUser {
    AppUser {
        id: UserId(Uuid::now_v7()),
        name: "Ann".into(),
        email: email.into(),
        phone: None,
        password_hash: "$argon2id$test".into(),
        created_at: now(),
    }
}

fn address(user_id: UserId) -> UserAddress {
    UserAddress {
        id: AddressId(Uuid::now_v7()),
        user_id,
        line1: "1 Main St".into(),
        city: "Berlin".into(),
        postal_code: "10115".into(),
        country: "DE".into(),
        address_hash: "h".into(),
        created_at: now(),
    }
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(SqliteConfig::new(path)).await.expect("open")
}

/// A store on a fresh file, and the directory that holds it.
async fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("agora.db")).await;
    (dir, store)
}

/// The scenario harness over `store`.
fn harness(store: &SqliteStore) -> Harness {
    Harness::new(TestStore::new(Arc::new(store.clone()), ()))
}

async fn apply(store: &SqliteStore, cs: Changeset) -> StoreResult<()> {
    store.apply(cs).await
}

async fn snapshot(store: &SqliteStore) -> Snapshot {
    Snapshot::read(store).await.expect("snapshot")
}

#[tokio::test]
async fn migrations_apply_once_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/agora.db");
    let store = open(&path).await;
    let status = store.migration_status().await.unwrap();
    assert!(status.is_current() && status.applied == status.latest && status.latest >= 2, "{status:?}");
    store.health().await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    let u = user("keep@example.com");
    let mut cs = Changeset::new();
    cs.guard(guards::email_free(&u.email)).insert(Record::User(u.clone()));
    apply(&store, cs).await.unwrap();
    store.close().await;
    assert!(!path.with_file_name("agora.db-wal").exists(), "a clean close checkpoints and removes the WAL");

    let store = open(&path).await;
    assert_eq!(store.migration_status().await.unwrap(), status);
    assert_eq!(store.get_user_by_email("keep@example.com").await.unwrap(), Some(u));
    store.integrity_check().await.unwrap();
}

#[tokio::test]
async fn opening_without_migrating_needs_a_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agora.db");
    match SqliteStore::open_without_migrating(SqliteConfig::new(&path)).await {
        Err(StoreError::Schema(msg)) => assert!(msg.contains("pending"), "{msg}"),
        other => panic!("an empty file must be refused, got {other:?}"),
    }
    open(&path).await.close().await;
    let store = SqliteStore::open_without_migrating(SqliteConfig::new(&path)).await.unwrap();
    assert!(store.migration_status().await.unwrap().is_current());
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agora.db");
    open(&path).await.close().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);
    match SqliteStore::open(SqliteConfig::new(&path)).await {
        Err(StoreError::Schema(msg)) => assert!(msg.contains("999"), "{msg}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
    assert!(matches!(SqliteStore::open_without_migrating(SqliteConfig::new(&path)).await, Err(StoreError::Schema(_))));
}

#[tokio::test]
async fn wal_foreign_keys_and_url_options_are_in_effect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agora.db");
    let url = format!("sqlite://{}?synchronous=normal&read_connections=2", path.display());
    let cfg = SqliteConfig::from_url(&url).unwrap();
    assert_eq!(cfg.synchronous, Synchronous::Normal);
    let store = SqliteStore::open(cfg).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    // An address of a user that does not exist breaks a foreign key: Missing.
    let mut cs = Changeset::new();
    cs.insert(Record::Address(address(UserId(Uuid::now_v7()))));
    assert!(matches!(apply(&store, cs).await, Err(StoreError::Missing(_))));
    assert!(snapshot(&store).await.rows::<UserAddress>().is_empty());
}

#[tokio::test]
async fn unique_violations_map_to_the_covering_guard_or_duplicate() {
    let (_dir, store) = fresh().await;

    // Two inserts of one email in one changeset: the free check of the email (guard 1) is reported.
    let (a, b) = (user("same@example.com"), user("same@example.com"));
    let mut cs = Changeset::new();
    cs.guard(guards::domain_free("free.example.com"))
        .guard(guards::email_free("same@example.com"))
        .insert(Record::User(a.clone()))
        .insert(Record::User(b));
    match apply(&store, cs).await {
        Err(StoreError::GuardFailed(f)) => {
            assert_eq!(f.index, 1);
            assert_eq!(f.condition, Condition::Guard(guards::email_free("same@example.com")));
        }
        other => panic!("expected GuardFailed, got {other:?}"),
    }
    assert!(snapshot(&store).await.rows::<AppUser>().is_empty(), "nothing written");

    // Without a covering guard it is a Duplicate, and nothing of the changeset stays.
    let mut cs = Changeset::new();
    cs.insert(Record::User(a.clone()));
    apply(&store, cs).await.unwrap();
    let other = user("other@example.com");
    let mut cs = Changeset::new();
    cs.insert(Record::User(other.clone())).insert(Record::User(a.clone()));
    match apply(&store, cs).await {
        Err(StoreError::Duplicate(name)) => assert_eq!(name, format!("app_user_pkey ({})", a.id)),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(store.get_user(other.id).await.unwrap(), None);

    // Failing guard: first failing index, nothing written.
    let fresh = user("fresh@example.com");
    let mut cs = Changeset::new();
    cs.guard(guards::email_free("fresh@example.com"))
        .guard(guards::email_free(&a.email))
        .insert(Record::User(fresh.clone()));
    match apply(&store, cs).await {
        Err(StoreError::GuardFailed(f)) => assert_eq!(f.index, 1),
        other => panic!("expected GuardFailed, got {other:?}"),
    }
    assert_eq!(store.get_user(fresh.id).await.unwrap(), None);
}

#[tokio::test]
async fn updates_and_stock_adjustments_of_missing_rows_are_missing() {
    let (_dir, store) = fresh().await;
    let u = user("x@example.com");
    let mut cs = Changeset::new();
    cs.insert(Record::User(user("y@example.com"))).update(Record::User(u));
    assert!(matches!(apply(&store, cs).await, Err(StoreError::Missing(_))));
    for change in [StockChange::Adjust { on_hand: 1, reserved: 0 }, StockChange::Release(1), StockChange::Consume(1)] {
        let mut cs = Changeset::new();
        cs.stock(VariantId(Uuid::now_v7()), WarehouseId(Uuid::now_v7()), now(), change);
        assert!(matches!(apply(&store, cs).await, Err(StoreError::Missing(_))));
    }
    let mut cs = Changeset::new();
    cs.write(Write::SequenceEvents {
        store_id: StoreId(Uuid::now_v7()),
        after: 0,
        events: vec![EventId(Uuid::now_v7())],
    });
    assert!(matches!(apply(&store, cs).await, Err(StoreError::Missing(_))));
    assert!(snapshot(&store).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_changesets_succeed_or_fail_independently() {
    let (_dir, store) = fresh().await;
    let taken = user("taken@example.com");
    let mut cs = Changeset::new();
    cs.insert(Record::User(taken.clone()));
    apply(&store, cs).await.unwrap();

    let n = 300;
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = store.clone();
        let taken = taken.clone();
        tasks.push(tokio::spawn(async move {
            let u = user(&format!("u{i}@example.com"));
            let mut cs = Changeset::new();
            match i % 3 {
                // A failing guard.
                0 => {
                    cs.guard(guards::email_free(&taken.email)).insert(Record::User(u.clone()));
                }
                // A duplicate primary key after a good insert.
                1 => {
                    cs.insert(Record::User(u.clone())).insert(Record::User(AppUser { email: "dup@x".into(), ..taken }));
                }
                // Fine: a user and their address.
                _ => {
                    cs.guard(guards::email_free(&u.email))
                        .insert(Record::User(u.clone()))
                        .insert(Record::Address(address(u.id)));
                }
            }
            (i, u.id, store.apply(cs).await)
        }));
    }
    let mut ok = Vec::new();
    for t in tasks {
        let (i, id, res) = t.await.unwrap();
        match i % 3 {
            0 => assert!(matches!(res, Err(StoreError::GuardFailed(_))), "{i}: {res:?}"),
            1 => assert!(matches!(res, Err(StoreError::Duplicate(_))), "{i}: {res:?}"),
            _ => {
                res.unwrap();
                ok.push(id);
            }
        }
    }
    let snap = snapshot(&store).await;
    let mut expected: Vec<UserId> = ok.clone();
    expected.push(taken.id);
    expected.sort();
    assert_eq!(snap.rows::<AppUser>().iter().map(|u| u.id).collect::<Vec<_>>(), expected);
    assert_eq!(snap.rows::<UserAddress>().len(), ok.len());
    let stats = store.writer_stats();
    assert_eq!(stats.changesets, n as u64 + 1);
    assert!(stats.commits < stats.changesets, "group commit batched nothing: {stats:?}");
}

/// A store with a bit of everything, written through the use cases.
async fn populate(h: &Harness, tag: &str) {
    let s = h.store_fixture(&format!("{tag}.example.com")).await;
    let (_, v) = h.product(&s, &format!("{tag}-SKU"), 1250, 20).await;
    for i in 0..3 {
        let c = h.customer(&format!("{tag}{i}")).await;
        let o = h.order(&c, &s, &[(v, 2)]).await.unwrap();
        if i % 2 == 0 {
            h.pay(&c, &o).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_restore_gives_back_the_same_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agora.db");
    let store = open(&path).await;
    let h = harness(&store);
    populate(&h, "before").await;
    let at_backup = snapshot(&store).await;
    assert!(!at_backup.rows::<CustomerOrder>().is_empty() && !at_backup.rows::<Payment>().is_empty());
    assert!(!at_backup.rows::<ActivityEvent>().is_empty());

    let backup = dir.path().join("backups/agora-backup.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    store.backup_to(&backup).await.unwrap();
    populate(&h, "after").await;
    let later = snapshot(&store).await;
    assert_ne!(later, at_backup);
    drop(h);
    store.close().await;

    // Into a new path.
    let fresh = dir.path().join("restored/agora.db");
    SqliteStore::restore(&backup, &fresh).unwrap();
    let restored = open(&fresh).await;
    assert_eq!(snapshot(&restored).await, at_backup);
    restored.integrity_check().await.unwrap();
    restored.close().await;

    // Over the original (closed) database: its later writes are gone.
    SqliteStore::restore(&backup, &path).unwrap();
    let back = open(&path).await;
    assert_eq!(snapshot(&back).await, at_backup);
    assert!(back.migration_status().await.unwrap().is_current());
    back.integrity_check().await.unwrap();

    // Restoring over a database that is still open is refused, not clobbered.
    let mut cs = Changeset::new();
    cs.insert(Record::User(user("after-restore@example.com")));
    apply(&back, cs).await.unwrap();
    let open_snapshot = snapshot(&back).await;
    assert_ne!(open_snapshot, at_backup);
    let started = std::time::Instant::now();
    let err = SqliteStore::restore(&dir.path().join("restored/agora.db"), &path).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(snapshot(&back).await, open_snapshot);
    back.integrity_check().await.unwrap();

    // A file that is not a database is refused and leaves the target alone.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"definitely not sqlite, just some bytes that are long enough to look like a header")
        .unwrap();
    assert!(SqliteStore::restore(&junk, &dir.path().join("other.db")).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_while_writing_is_consistent() {
    let (dir, store) = fresh().await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                let u = user(&format!("w{i}@example.com"));
                let mut cs = Changeset::new();
                cs.insert(Record::User(u.clone())).insert(Record::Address(address(u.id)));
                store.apply(cs).await.unwrap();
            }
        })
    };
    let mut backups = Vec::new();
    for i in 0..5 {
        let p = dir.path().join(format!("b{i}.db"));
        store.backup_to(&p).await.unwrap();
        backups.push(p);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    writer.await.unwrap();
    let final_users = snapshot(&store).await.rows::<AppUser>().len();
    for (i, b) in backups.iter().enumerate() {
        let target = dir.path().join(format!("r{i}.db"));
        SqliteStore::restore(b, &target).unwrap();
        let r = open(&target).await;
        r.integrity_check().await.unwrap();
        let snap = snapshot(&r).await;
        let users = snap.rows::<AppUser>().len();
        assert_eq!(users, snap.rows::<UserAddress>().len(), "backup {i} holds half a changeset");
        assert!(users <= final_users);
    }
}

/// Calls every read method once on a populated store. In debug builds the
/// adapter asserts, per statement, that its query plan scans no table, so
/// this fails if any read lacks an index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_is_served_by_an_index() {
    let (_dir, store) = fresh().await;
    let h = harness(&store);
    populate(&h, "one").await;
    populate(&h, "two").await;
    let snap = snapshot(&store).await;
    let s = snap.rows::<Shop>()[0].id;
    let o = snap.rows::<CustomerOrder>()[0].id;
    let u = snap.rows::<AppUser>()[0].id;
    let p = snap.rows::<Product>()[0].id;
    let v = snap.rows::<ProductVariant>()[0].id;
    let t = now();
    let pg = Page { limit: 10, before: Some(Uuid::max()) };
    let any = Uuid::now_v7();

    store.get_store(s).await.unwrap().unwrap();
    assert_eq!(store.list_stores(pg).await.unwrap().len(), 2);
    store.list_stores(Page::first(1)).await.unwrap();
    store.get_settings(s).await.unwrap().unwrap();
    store.get_admin_key_by_hash("nope").await.unwrap();
    store.list_audit_logs(s, pg).await.unwrap();

    store.get_user(u).await.unwrap().unwrap();
    store.get_user_by_email(&snap.rows::<AppUser>()[0].email).await.unwrap().unwrap();
    store.get_address(snap.rows::<UserAddress>()[0].id).await.unwrap().unwrap();
    store.get_session_by_hash(&snap.rows::<Session>()[0].token_hash).await.unwrap().unwrap();
    store.list_expired_sessions(t, 10).await.unwrap();

    store.get_product(p).await.unwrap().unwrap();
    store.list_products(s, None, pg).await.unwrap();
    store.list_products(s, Some(ProductStatus::Active), Page::first(5)).await.unwrap();
    assert!(!store.list_variants(&[p, ProductId(any)]).await.unwrap().is_empty());
    assert_eq!(store.get_variants(&[v, v, VariantId(any)]).await.unwrap().len(), 1);
    store.list_images(p).await.unwrap();
    store.get_warehouse(snap.rows::<Warehouse>()[0].id).await.unwrap().unwrap();
    assert!(!store.list_inventory(&[v]).await.unwrap().is_empty());
    assert!(!store.list_store_inventory(snap.rows::<ProductVariant>()[0].store_id).await.unwrap().is_empty());
    store.active_reservation_totals(s).await.unwrap();

    store.get_order(o).await.unwrap().unwrap();
    assert!(!store.list_order_items(&[o]).await.unwrap().is_empty());
    store.list_orders_by_user(u, pg).await.unwrap();
    store.list_orders_by_store(s, None, pg).await.unwrap();
    store.list_orders_by_store(s, Some(OrderStatus::Paid), Page::first(3)).await.unwrap();
    store.list_unpaid_expired(s, t, 10).await.unwrap();
    store.list_shipped_before(s, t, 10).await.unwrap();
    store.list_reservations(o).await.unwrap();

    store.get_payment(snap.rows::<Payment>()[0].id).await.unwrap().unwrap();
    store.list_payments(o).await.unwrap();
    store.get_payment_event("test", "nope").await.unwrap();

    store.get_task(TaskId(any)).await.unwrap();
    store.get_task_by_no("nope").await.unwrap();
    store.get_task_by_order(o).await.unwrap();
    store.list_helps(TaskId(any)).await.unwrap();
    store.get_help_by_order(o).await.unwrap();
    store.list_tasks_expired(s, t, 10).await.unwrap();
    store.list_tasks_payout_due(s, t, 10).await.unwrap();
    store.get_payout(PayoutId(any)).await.unwrap();
    store.get_payout_by_task(TaskId(any)).await.unwrap();
    store.list_payouts(s, None, pg).await.unwrap();
    store.list_payouts(s, Some(PayoutStatus::Held), pg).await.unwrap();

    store.get_idempotency("scope", "key").await.unwrap();
    store.list_expired_idempotency(t, 10).await.unwrap();

    store.list_events(s, 0, 10).await.unwrap();
    assert!(!store.list_unsequenced_events(s, 10).await.unwrap().is_empty());
    assert_eq!(store.last_event_seq(s).await.unwrap(), 0);

    store.get_export(ExportId(any)).await.unwrap();
    store.list_exports_by_status(ExportStatus::Queued, 10).await.unwrap();
    store.list_exports_expired(t, 10).await.unwrap();
    store.list_export_audit(ExportId(any)).await.unwrap();
}

/// A filtered query no index serves fails in debug builds (the adapter
/// asserts its plan) unless it is marked `unindexed`; marked, it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_queries_marked_unindexed_may_scan() {
    let (_dir, store) = fresh().await;
    let h = harness(&store);
    let s = h.store_fixture("scan.example.com").await;
    h.product(&s, "SCAN-1", 150, 1).await;
    let by_price = Query::of::<ProductVariant>().le("price", 200i64);
    assert_eq!(store.fetch(&by_price.clone().unindexed()).await.unwrap().len(), 1);
    let unmarked = store.fetch(&by_price).await;
    if cfg!(debug_assertions) {
        assert!(
            matches!(unmarked, Err(StoreError::Unavailable(ref e)) if e.contains("(add an index)")),
            "{unmarked:?}"
        );
    } else {
        assert_eq!(unmarked.unwrap().len(), 1, "release builds check nothing");
    }
}

/// Intent writes carry their condition into one conditional statement, and
/// the last guard is fused with the first write when both name one row: the
/// first failing condition by index must still be the one reported, and
/// nothing of a refused changeset may stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fused_conditions_report_the_first_failure_and_leave_nothing() {
    let (_dir, store) = fresh().await;
    let h = harness(&store);
    let s = h.store_fixture("fused.example.com").await;
    let (_, v) = h.product(&s, "FUSED-SKU", 1000, 5).await;
    let (vid, wid) = (VariantId(v), WarehouseId(s.warehouse));
    let reserved = || async { store.list_inventory(&[vid]).await.unwrap()[0].reserved };
    let t = now();
    let idem = |key: &str| IdempotencyRecord {
        scope: "orders:fused".into(),
        key: key.into(),
        fingerprint: "f".into(),
        response_status: 201,
        response_body: "{}".into(),
        resource_id: None,
        created_at: t,
        expires_at: t + time::Duration::hours(1),
    };
    let order_like = |key: &str, qty: i64, now: OffsetDateTime| {
        let mut cs = Changeset::new();
        cs.write(Write::PutIdempotency { record: idem(key), now });
        cs.stock(vid, wid, t, StockChange::Reserve(qty));
        cs
    };
    let failed_index = |r: StoreResult<()>| match r {
        Err(StoreError::GuardFailed(f)) => f.index,
        other => panic!("expected a failed condition, got {other:?}"),
    };

    // Key free (its upsert already ran), stock short: write 1, the key stays free.
    assert_eq!(failed_index(apply(&store, order_like("a", 6, t)).await), 1);
    assert_eq!(store.get_idempotency("orders:fused", "a").await.unwrap(), None);
    assert_eq!(reserved().await, 0);

    apply(&store, order_like("a", 2, t)).await.unwrap();
    assert_eq!(reserved().await, 2);
    assert!(store.get_idempotency("orders:fused", "a").await.unwrap().is_some());

    // Key taken and stock short: the key's condition (index 0) is the one reported.
    assert_eq!(failed_index(apply(&store, order_like("a", 6, t)).await), 0);
    // Key taken, stock fine: still index 0, and the stock stays untouched.
    assert_eq!(failed_index(apply(&store, order_like("a", 1, t)).await), 0);
    assert_eq!(reserved().await, 2);
    // An expired key is replaced.
    apply(&store, order_like("a", 1, t + time::Duration::hours(2))).await.unwrap();
    assert_eq!(reserved().await, 3);

    // A row check fused with the update of its row: a stale version fails
    // the guard and changes nothing; a current one updates.
    let settings = store.get_settings(s.id).await.unwrap().unwrap();
    let bump = |version: i64| {
        let mut cs = Changeset::new();
        cs.guard(guards::settings_version_is(s.id, version));
        cs.update(Record::StoreSettings(StoreSettings { version: settings.version + 1, ..settings.clone() }));
        cs
    };
    assert_eq!(failed_index(apply(&store, bump(settings.version - 1)).await), 0);
    assert_eq!(store.get_settings(s.id).await.unwrap(), Some(settings.clone()));
    apply(&store, bump(settings.version)).await.unwrap();
    assert_eq!(failed_index(apply(&store, bump(settings.version)).await), 0);
    assert_eq!(store.get_settings(s.id).await.unwrap().unwrap().version, settings.version + 1);

    // A fused update that breaks a unique constraint fails as the plain update would.
    let (a, b) = (user("fused-a@example.com"), user("fused-b@example.com"));
    let mut cs = Changeset::new();
    cs.insert(Record::User(a.clone())).insert(Record::User(b.clone()));
    apply(&store, cs).await.unwrap();
    let mut cs = Changeset::new();
    cs.guard(Guard::row_is::<AppUser>(a.id, &[("email", Value::from(a.email.as_str()))]));
    cs.update(Record::User(AppUser { email: b.email.clone(), ..a.clone() }));
    match apply(&store, cs).await {
        Err(StoreError::Duplicate(name)) => assert_eq!(name, guards::EMAIL),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(store.get_user(a.id).await.unwrap(), Some(a));
}

/// A changeset may insert a row before the row it refers to (foreign keys
/// are checked when its writes are done); a reference left dangling fails
/// that changeset alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_keys_are_checked_per_changeset_not_per_statement() {
    let (_dir, store) = fresh().await;
    let u = user("child-first@example.com");
    let mut cs = Changeset::new();
    cs.insert(Record::Address(address(u.id))).insert(Record::User(u.clone()));
    apply(&store, cs).await.unwrap();
    let mut cs = Changeset::new();
    cs.insert(Record::User(user("dangling@example.com"))).insert(Record::Address(address(UserId(Uuid::now_v7()))));
    assert!(matches!(apply(&store, cs).await, Err(StoreError::Missing(_))));
    let snap = snapshot(&store).await;
    assert_eq!(snap.rows::<AppUser>(), [&u]);
    assert_eq!(snap.rows::<UserAddress>().len(), 1);
}

/// The `sqlite:` kind: opened by URL through a registry, migrated or
/// refused, backed up through its handle and restored through the kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kind_opens_backs_up_and_restores_by_url() {
    let dir = tempfile::tempdir().unwrap();
    let registry = StoreRegistry::new().register(Arc::new(agora_sqlite::SqliteKind::default()));
    let url = |name: &str| format!("sqlite://{}?synchronous=normal", dir.path().join(name).display());
    match registry.open(&url("fresh.db"), agora_core::OpenMode::RequireCurrent).await {
        Err(StoreError::Schema(msg)) => assert!(msg.contains("pending"), "{msg}"),
        Err(other) => panic!("an unmigrated file must be refused, got {other:?}"),
        Ok(_) => panic!("an unmigrated file must be refused"),
    }
    assert!(matches!(registry.open("sqlite://", agora_core::OpenMode::Migrate).await, Err(StoreError::Schema(_))));

    let handle = registry.open(&url("agora.db"), agora_core::OpenMode::Migrate).await.unwrap();
    let status = handle.migration_status().await.unwrap();
    assert!(status.is_current() && status.pending.is_empty() && status.unknown.is_empty(), "{status:?}");
    assert_eq!(handle.migrate().await.unwrap(), status);
    let store = handle.store();
    assert_eq!(store.backend(), "sqlite");
    let u = user("kind@example.com");
    let mut cs = Changeset::new();
    cs.insert(Record::User(u.clone()));
    store.apply(cs).await.unwrap();
    let backup = dir.path().join("backup.db");
    handle.backup_to(&backup).await.unwrap();
    handle.close().await;
    assert!(matches!(store.apply(Changeset::new()).await, Err(StoreError::Unavailable(_))), "closed");

    registry.restore(&backup, &url("restored.db")).await.unwrap();
    let restored = registry.open(&url("restored.db"), agora_core::OpenMode::RequireCurrent).await.unwrap();
    assert_eq!(restored.store().get_user(u.id).await.unwrap(), Some(u));
    restored.close().await;
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// The database, its WAL, its backups and the directories agora creates for
/// them are its owner's alone (they hold password hashes, emails and
/// addresses), whatever the umask; an old world-readable file is narrowed
/// when opened.
#[cfg(unix)]
#[tokio::test]
async fn the_database_its_wal_and_its_backups_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/agora.db");
    let store = open(&path).await;
    let u = user("perm@example.com");
    let mut cs = Changeset::new();
    cs.insert(u);
    apply(&store, cs).await.unwrap();
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    for file in ["agora.db", "agora.db-wal", "agora.db-shm"] {
        assert_eq!(mode(&dir.path().join("data").join(file)), 0o600, "{file}");
    }
    let backup = dir.path().join("backups/agora.bak");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    store.backup_to(&backup).await.unwrap();
    assert_eq!(mode(&backup), 0o600);
    store.close().await;

    let restored = dir.path().join("restored/agora.db");
    SqliteStore::restore(&backup, &restored).unwrap();
    assert_eq!(mode(restored.parent().unwrap()), 0o700);
    assert_eq!(mode(&restored), 0o600);

    // A file left readable by an older build is narrowed on open.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = open(&path).await;
    assert_eq!(mode(&path), 0o600);
    store.close().await;
}
