//! Adapter-level behaviour: the schema against the catalogue, exact round
//! trips, condition semantics, unique violations under races, migrations,
//! partitions, and the store kind (open, backup, restore).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use agora_core::changeset::Condition;
use agora_core::schema::ColumnType;
use agora_core::*;
use agora_memory::MemoryStore;
use agora_postgres::{MIGRATOR, PgConfig, PgKind, PgStore};
use common::*;
use serde_json::json;

/// The PostgreSQL type a catalogue column must have (`format_type`).
fn pg_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Uuid => "uuid",
        ColumnType::Text => "text",
        ColumnType::Int => "bigint",
        ColumnType::Int32 => "integer",
        ColumnType::Bool => "boolean",
        ColumnType::Float => "double precision",
        ColumnType::Timestamp => "timestamp with time zone",
        ColumnType::Money => "numeric(12,2)",
        ColumnType::Json => "jsonb",
        ColumnType::Bytes => "bytea",
        ColumnType::UuidArray => "uuid[]",
        ColumnType::TextArray => "text[]",
    }
}

/// Stored generated columns (`product_search.lexemes`) are computed by the
/// database from declared columns and never written or read by the
/// adapter, so they are left out; every other column must be declared.
#[tokio::test]
async fn the_migrated_schema_matches_the_catalogue() {
    let (pg, _config, _guard) = store().await;
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
         FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         AND a.attgenerated = '' \
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    let mut db: BTreeMap<&str, BTreeMap<&str, (&str, bool)>> = BTreeMap::new();
    for (t, c, ty, not_null) in &columns {
        db.entry(t).or_default().insert(c, (ty, *not_null));
    }
    for table in tables() {
        let Some(got) = db.get(table.name) else { panic!("table {} is missing", table.name) };
        for c in &table.columns {
            let Some((ty, not_null)) = got.get(c.name) else { panic!("column {}.{} is missing", table.name, c.name) };
            assert_eq!(*ty, pg_type(c.ty), "type of {}.{}", table.name, c.name);
            assert_eq!(*not_null, !c.nullable, "nullability of {}.{}", table.name, c.name);
        }
        let declared: BTreeSet<&str> = table.columns.iter().map(|c| c.name).collect();
        let extra: Vec<&&str> = got.keys().filter(|c| !declared.contains(**c)).collect();
        assert!(extra.is_empty(), "{} has columns the catalogue does not declare: {extra:?}", table.name);
    }
    // Unique constraints by name: the adapter maps a violation back to the
    // guard by this name. Primary keys are `<table>_pkey`; a partitioned
    // table's includes its partition column, and its other unique
    // constraints live in a table a trigger keeps in step (the catalogue's
    // name is that table's constraint).
    let constraints: Vec<(String, String, Vec<String>)> = sqlx::query_as(
        "SELECT con.conname::text, c.relname::text, \
         array(SELECT a.attname::text FROM unnest(con.conkey) k JOIN pg_attribute a \
               ON a.attrelid = con.conrelid AND a.attnum = k ORDER BY a.attname) \
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
         WHERE con.contype IN ('p', 'u') AND c.relnamespace = 'public'::regnamespace",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    let partitioned: Vec<String> = sqlx::query_scalar("SELECT relname::text FROM pg_class WHERE relkind = 'p'")
        .fetch_all(pg.pool())
        .await
        .unwrap();
    let named =
        |name: &str| constraints.iter().find(|(n, ..)| n == name).unwrap_or_else(|| panic!("{name} is missing"));
    for table in tables() {
        let sorted = |cols: &[usize]| -> Vec<String> {
            let mut v: Vec<String> = cols.iter().map(|&c| table.columns[c].name.to_owned()).collect();
            v.sort();
            v
        };
        let is_partitioned = partitioned.iter().any(|p| p == table.name);
        let pkey = format!("{}_pkey", table.name);
        let (_, on, cols) = named(&pkey);
        assert_eq!(on, table.name);
        let key = sorted(&table.key);
        if is_partitioned {
            assert!(key.iter().all(|k| cols.contains(k)) && cols.len() == key.len() + 1, "{pkey}: {cols:?}");
        } else {
            assert_eq!(*cols, key, "{pkey}");
        }
        for u in &table.unique {
            let (_, on, cols) = named(u.name);
            assert_eq!(*cols, sorted(&u.columns), "columns of {}", u.name);
            assert!(on == table.name || is_partitioned, "{} is on {on}, not {}", u.name, table.name);
        }
    }
}

#[tokio::test]
async fn every_field_round_trips_like_the_memory_model() {
    let (pg, _config, _guard) = store().await;
    let mem = MemoryStore::new();
    let s = shop("rt.example.com");
    let mut s2 = shop("rt2.example.com");
    s2.access_token = None;
    let u = user("rt@example.com");
    let a = address(&u);
    let mut o = order(&s, &u, &a, "N-1", MAX_MINOR);
    o.pay_amount_minor = 1;
    let mut o2 = order(&s, &u, &a, "N-2", 0);
    o2.close_reason = None;
    o2.shipped_at = None;
    let items: Vec<OrderItem> = (0..3)
        .map(|i| OrderItem {
            id: OrderItemId(id()),
            order_id: o.id,
            line_no: i,
            variant_id: VariantId(id()),
            sku: format!("SKU-{i}"),
            qty: i64::from(i) + 1,
            unit_price_minor: [1, 99, MAX_MINOR][i as usize],
        })
        .collect();
    let payment = Payment {
        id: PaymentId(id()),
        order_id: o.id,
        store_id: s.id,
        user_id: u.id,
        amount_minor: 12_345,
        currency: o.currency,
        status: PaymentStatus::NeedsRefund,
        provider: "test".into(),
        created_at: t(1_700_000_010, 1),
        updated_at: t(1_700_000_011, 2),
    };
    let raw = json!({"a": [1, 2.5, -0.125, 1e300, "ü€😀"], "nested": {"z": null, "b": true}, "big": 9_007_199_254_740_993u64});
    let pe = PaymentEvent {
        id: PaymentEventId(id()),
        provider: "test".into(),
        event_id: "evt-1".into(),
        payment_id: Some(payment.id),
        store_id: None,
        kind: "payment.succeeded".into(),
        amount_minor: 12_345,
        outcome: "applied".into(),
        raw: raw.clone(),
        received_at: t(1_700_000_012, 3),
    };
    let ev = ActivityEvent {
        id: EventId(id()),
        store_id: s.id,
        seq: None,
        entity_type: "order".into(),
        entity_id: o.id.0,
        kind: "order.created".into(),
        payload: raw,
        at: t(0, 1),
    };
    let idem = IdempotencyRecord {
        scope: "orders:x".into(),
        key: "k".into(),
        fingerprint: "f".into(),
        response_status: 65535,
        response_body: "{}".into(),
        resource_id: None,
        created_at: t(1, 0),
        expires_at: t(2, 0),
    };
    let mut cs = Changeset::new();
    // Children before parents: foreign keys are checked at COMMIT.
    for i in &items {
        cs.insert(i.clone());
    }
    cs.insert(o.clone()).insert(o2).insert(a).insert(u).insert(s).insert(s2).insert(payment).insert(pe).insert(ev);
    cs.insert(idem);
    // The variants the items point at do not exist: PostgreSQL refuses that.
    let refused = pg.apply(cs.clone()).await;
    assert!(matches!(refused, Err(StoreError::Missing(_))), "{refused:?}");
    assert!(snapshot(&pg).await.is_empty());

    // Without the dangling lines, both stores agree field for field.
    cs.writes.retain(|w| !matches!(w, Write::Insert(Record::OrderItem(_))));
    pg.apply(cs.clone()).await.expect("pg apply");
    mem.apply(cs).await.expect("memory apply");
    let (a, b) = (snapshot(&pg).await, snapshot(&mem).await);
    assert_eq!(a, b);
    assert_eq!(a.rows::<CustomerOrder>().iter().map(|o| o.amount_minor).max(), Some(MAX_MINOR));
    let got = pg.get_payment_event("test", "evt-1").await.unwrap().unwrap();
    assert_eq!(got.raw, b.rows::<PaymentEvent>()[0].raw);
    let money: String = sqlx::query_scalar("SELECT amount::text FROM customer_order WHERE id = $1")
        .bind(o.id.0)
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert_eq!(money, "9999999999.99", "NUMERIC(12,2) holds major units");
}

#[tokio::test]
async fn the_first_failing_condition_is_reported_and_nothing_is_written() {
    let (pg, _config, _guard) = store().await;
    let (s, _u, _a) = parents(&pg, "g").await;
    let before = snapshot(&pg).await;
    let mut cs = Changeset::new();
    cs.guard(guards::email_free("new@example.com"))
        .guard(guards::order_status_is(OrderId(id()), OrderStatus::Created))
        .guard(guards::domain_free(&s.domain))
        .insert(user("new@example.com"));
    match pg.apply(cs).await {
        Err(StoreError::GuardFailed(f)) => assert_eq!(f.index, 1),
        other => panic!("expected guard 1 to fail, got {other:?}"),
    }
    // A write's condition comes after every guard, and in write order.
    let mut cs = Changeset::new();
    cs.guard(guards::email_free("new@example.com"));
    cs.stock(VariantId(id()), WarehouseId(id()), t(1, 0), StockChange::Release(1));
    cs.stock(VariantId(id()), WarehouseId(id()), t(1, 0), StockChange::Reserve(1));
    assert!(matches!(pg.apply(cs.clone()).await, Err(StoreError::Missing(_))), "the release comes first");
    cs.writes.swap(0, 1);
    match pg.apply(cs).await {
        Err(StoreError::GuardFailed(f)) => assert_eq!((f.index, f.condition.kind().as_str()), (1, "stock_available")),
        other => panic!("expected the reservation to fail, got {other:?}"),
    }
    assert_eq!(snapshot(&pg).await, before);
}

#[tokio::test]
async fn duplicates_missing_rows_and_stock_checks_map_to_store_errors() {
    let (pg, _config, _guard) = store().await;
    let (s, u, a) = parents(&pg, "d").await;
    let o = order(&s, &u, &a, "SAME", 100);
    let mut cs = Changeset::new();
    cs.insert(o.clone());
    pg.apply(cs).await.unwrap();

    let mut dup = Changeset::new();
    dup.insert(user("fresh@example.com")).insert(order(&s, &u, &a, "SAME", 5));
    assert!(matches!(pg.apply(dup).await, Err(StoreError::Duplicate(c)) if c == "customer_order_number_key"));
    assert!(pg.get_user_by_email("fresh@example.com").await.unwrap().is_none(), "nothing partial");

    let mut missing = Changeset::new();
    missing.update(order(&s, &u, &a, "OTHER", 5));
    assert!(matches!(pg.apply(missing).await, Err(StoreError::Missing(_))));

    let (variant, warehouse) = (VariantId(id()), WarehouseId(id()));
    let stock = |at: i64, change: StockChange| {
        let mut cs = Changeset::new();
        cs.stock(variant, warehouse, t(at, 0), change);
        cs
    };
    let adjust = StockChange::Adjust { on_hand: 1, reserved: 0 };
    assert!(matches!(pg.apply(stock(3, adjust)).await, Err(StoreError::Missing(_))));

    let product = Product {
        id: ProductId(id()),
        store_id: s.id,
        title: "P".into(),
        status: ProductStatus::Active,
        currency: o.currency,
        version: 1,
        created_at: t(1, 0),
        updated_at: t(1, 0),
    };
    let v = ProductVariant {
        id: variant,
        product_id: product.id,
        store_id: s.id,
        sku: "S".into(),
        name: "n".into(),
        price_minor: 100,
        status: ProductStatus::Active,
        created_at: t(1, 0),
    };
    let w = Warehouse { id: warehouse, store_id: s.id, name: "w".into(), created_at: t(1, 0) };
    let mut setup = stock(2, StockChange::SetOnHand { store_id: s.id, on_hand: 3 });
    setup.insert(product).insert(v).insert(w);
    pg.apply(setup).await.unwrap();
    let over = StockChange::Adjust { on_hand: 0, reserved: 4 };
    assert!(matches!(pg.apply(stock(3, over)).await, Err(StoreError::Missing(_))), "more reserved than on hand");
    let short = Condition::StockAvailable { variant_id: variant, warehouse_id: warehouse, qty: 4 };
    assert!(
        matches!(pg.apply(stock(3, StockChange::Reserve(4))).await, Err(StoreError::GuardFailed(f)) if f.condition == short)
    );
    pg.apply(stock(4, StockChange::Reserve(3))).await.unwrap();
    let inv = pg.list_inventory(&[variant]).await.unwrap();
    assert_eq!((inv[0].on_hand, inv[0].reserved, inv[0].updated_at), (3, 3, t(4, 0)));
}

/// Holds a conflicting row uncommitted in another transaction while the
/// changeset runs: its check passes (the row is invisible), its insert waits
/// on the unique index, and once the other side commits the violation is
/// reported as the condition, not as a driver error.
async fn race_unique(pg: &PgStore, conflicting_sql: &str, binds: Vec<String>, cs: Changeset) -> StoreResult<()> {
    let mut other = pg.pool().begin().await.unwrap();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(conflicting_sql.to_owned()));
    for b in binds {
        q = q.bind(b);
    }
    q.execute(&mut *other).await.unwrap();
    let pg2 = pg.clone();
    let task = tokio::spawn(async move { pg2.apply(cs).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!task.is_finished(), "the insert should be waiting on the uncommitted row");
    other.commit().await.unwrap();
    task.await.unwrap()
}

#[tokio::test]
async fn unique_violations_under_a_race_report_the_covering_condition() {
    let (pg, _config, _guard) = store().await;
    let mut cs = Changeset::new();
    cs.guard(guards::domain_free("x.example.com")).guard(guards::email_free("race@example.com"));
    cs.insert(user("race@example.com"));
    let got = race_unique(
        &pg,
        "INSERT INTO app_user (id, name, email, password_hash, created_at) VALUES (gen_random_uuid(), 'x', $1, 'h', now())",
        vec!["race@example.com".into()],
        cs,
    )
    .await;
    assert!(matches!(&got, Err(StoreError::GuardFailed(f)) if f.index == 1), "{got:?}");

    let now = t(1_000, 0);
    let rec = IdempotencyRecord {
        scope: "s".into(),
        key: "k".into(),
        fingerprint: "f".into(),
        response_status: 201,
        response_body: "{}".into(),
        resource_id: None,
        created_at: now,
        expires_at: t(2_000, 0),
    };
    let mut cs = Changeset::new();
    cs.write(Write::PutIdempotency { record: rec.clone(), now });
    let got = race_unique(
        &pg,
        "INSERT INTO idempotency_key (scope, key, fingerprint, response_status, response_body, created_at, expires_at) \
         VALUES ($1, $2, 'other', 201, '{}', now(), now() + interval '1 day')",
        vec!["s".into(), "k".into()],
        cs.clone(),
    )
    .await;
    assert!(matches!(&got, Err(StoreError::GuardFailed(f)) if f.index == 0), "{got:?}");
    assert_eq!(pg.get_idempotency("s", "k").await.unwrap().unwrap().fingerprint, "other", "never overwritten");

    // An expired record is replaced.
    sqlx::query("UPDATE idempotency_key SET expires_at = $1").bind(t(900, 0)).execute(pg.pool()).await.unwrap();
    pg.apply(cs).await.expect("replace the expired record");
    assert_eq!(pg.get_idempotency("s", "k").await.unwrap().unwrap(), rec);
}

#[tokio::test]
async fn event_sequencing_serialises_on_the_store() {
    let (pg, _config, _guard) = store().await;
    let (s, _u, _a) = parents(&pg, "seq").await;
    let mut cs = Changeset::new();
    for i in 0..20 {
        cs.insert(ActivityEvent {
            id: EventId(id()),
            store_id: s.id,
            seq: None,
            entity_type: "x".into(),
            entity_id: id(),
            kind: "x.happened".into(),
            payload: json!({"i": i}),
            at: t(10 + i, 0),
        });
    }
    pg.apply(cs).await.unwrap();
    // Eight sequencers race to number the same events; the condition lets
    // one win per seq value and the rest retry from the new last seq.
    let pg = Arc::new(pg);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let pg = pg.clone();
        let store_id = s.id;
        tasks.push(tokio::spawn(async move {
            loop {
                let last = pg.last_event_seq(store_id).await.unwrap();
                let batch = pg.list_unsequenced_events(store_id, 3).await.unwrap();
                if batch.is_empty() {
                    return;
                }
                let mut cs = Changeset::new();
                cs.write(Write::SequenceEvents { store_id, after: last, events: batch.iter().map(|e| e.id).collect() });
                match pg.apply(cs).await {
                    Ok(()) | Err(StoreError::GuardFailed(_)) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let feed = pg.list_events(s.id, 0, 100).await.unwrap();
    assert_eq!(feed.iter().map(|e| e.seq.unwrap()).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    assert_eq!(pg.last_event_seq(s.id).await.unwrap(), 20);
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_build_is_refused() {
    // From an empty database: every migration runs here, roles included.
    let (config, _guard) = agora_postgres::testing::empty_database().await;
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap();
    let bare = PgStore::connect_without_migrating(config.clone()).await.unwrap();
    let status = bare.migration_status().await.unwrap();
    assert_eq!((status.pending.len(), status.applied, status.latest), (MIGRATOR.iter().count(), 0, latest));
    assert!(matches!(bare.health().await, Err(StoreError::Schema(_))));
    let pg = PgStore::connect(config.clone()).await.expect("migrate from scratch");
    let status = pg.migration_status().await.unwrap();
    assert!(status.is_current(), "{status:?}");
    assert_eq!(status.applied, latest);
    pg.health().await.unwrap();
    // Connecting again is a no-op.
    PgStore::connect(config.clone()).await.expect("re-connect");

    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', true, '\\x00', 0)",
    )
    .execute(pg.pool())
    .await
    .unwrap();
    let status = pg.migration_status().await.unwrap();
    assert_eq!(status.unknown, vec![99990101000000]);
    assert!(matches!(pg.health().await, Err(StoreError::Schema(_))));
    match PgStore::connect(config.clone()).await {
        Err(StoreError::Schema(msg)) => assert!(msg.contains("99990101000000"), "{msg}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
    // Without migrating, it still connects (for `migrate status`).
    PgStore::connect_without_migrating(config).await.expect("connect without migrating");
}

#[tokio::test]
async fn partitions_are_created_ahead_and_absorb_the_default_partition() {
    let (pg, _config, _guard) = store().await;
    let (s, _u, _a) = parents(&pg, "part").await;
    // Migrations created this month and the next three.
    assert_eq!(pg.create_partitions(3).await.unwrap(), 0);
    let later = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + time::Duration::days(31 * 8);
    let ev = ActivityEvent {
        id: EventId(id()),
        store_id: s.id,
        seq: None,
        entity_type: "x".into(),
        entity_id: id(),
        kind: "x".into(),
        payload: json!({}),
        at: later,
    };
    let pe = PaymentEvent {
        id: PaymentEventId(id()),
        provider: "test".into(),
        event_id: "late".into(),
        payment_id: None,
        store_id: Some(s.id),
        kind: "payment.failed".into(),
        amount_minor: 1,
        outcome: "unknown_payment".into(),
        raw: json!({}),
        received_at: later,
    };
    let mut cs = Changeset::new();
    cs.insert(ev.clone()).insert(pe.clone());
    pg.apply(cs).await.unwrap();
    let where_is = |table: &'static str, id: uuid::Uuid| {
        let pool = pg.pool().clone();
        async move {
            let sql = format!("SELECT tableoid::regclass::text FROM {table} WHERE id = $1");
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(&pool).await.unwrap()
        }
    };
    assert_eq!(where_is("activity_event", ev.id.0).await, "activity_event_default");
    let created = pg.create_partitions(10).await.unwrap();
    assert!(created >= 2 * 6, "created {created}");
    let month = format!("{:04}{:02}", later.year(), u8::from(later.month()));
    assert_eq!(where_is("activity_event", ev.id.0).await, format!("activity_event_p{month}"));
    assert_eq!(where_is("payment_event", pe.id.0).await, format!("payment_event_p{month}"));
    let snap = snapshot(&pg).await;
    assert_eq!(snap.rows::<ActivityEvent>(), vec![&ev]);
    assert_eq!(snap.rows::<PaymentEvent>(), vec![&pe]);
    // The moved event is still deduplicated.
    let mut again = Changeset::new();
    again.insert(PaymentEvent { id: PaymentEventId(id()), ..pe });
    assert!(matches!(pg.apply(again).await, Err(StoreError::Duplicate(c)) if c == guards::PAYMENT_EVENT));
    assert_eq!(pg.create_partitions(10).await.unwrap(), 0);
}

#[tokio::test]
async fn the_store_kind_opens_migrates_backs_up_and_restores() {
    let kind = PgKind::new(PgConfig { max_connections: 4, ..PgConfig::default() });
    assert_eq!((kind.name(), kind.schemes()), ("postgres", &["postgres", "postgresql"][..]));
    let (empty, _g1) = agora_postgres::testing::empty_database().await;
    let refused = kind.open(&empty.url, agora_core::OpenMode::RequireCurrent).await.err();
    assert!(matches!(refused, Some(StoreError::Schema(_))), "an unmigrated store is refused: {refused:?}");
    let url = format!("{}?max_group=1", empty.url);
    let handle = kind.open(&url, agora_core::OpenMode::Migrate).await.expect("open and migrate");
    let status = handle.migration_status().await.unwrap();
    assert!(status.is_current() && status.applied == MIGRATOR.iter().map(|m| m.version).max().unwrap());
    assert_eq!(handle.migrate().await.unwrap(), status);
    assert!(handle.locks().is_some());
    let jobs = handle.maintenance();
    assert_eq!(jobs.iter().map(|j| j.name()).collect::<Vec<_>>(), vec!["partitions"]);
    assert_eq!(jobs[0].run().await.unwrap(), 0, "the migrations created this quarter's partitions");
    let store = handle.store();
    let (s, _u, _a) = parents(&*store, "kind").await;
    let before = snapshot(&*store).await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agora.dump");
    handle.backup_to(&file).await.expect("pg_dump");
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    let (target, _g2) = agora_postgres::testing::empty_database().await;
    kind.restore(&file, &target.url).await.expect("pg_restore");
    let restored =
        kind.open(&target.url, agora_core::OpenMode::RequireCurrent).await.expect("the restored store is current");
    assert_eq!(snapshot(&*restored.store()).await, before);
    assert!(restored.store().get_store(s.id).await.unwrap().is_some());
    assert!(kind.restore(&dir.path().join("missing.dump"), &target.url).await.is_err());
    handle.close().await;
    restored.close().await;
    let mut cs = Changeset::new();
    cs.update(s);
    assert!(matches!(store.apply(cs).await, Err(StoreError::Unavailable(_))), "closed");
}

/// A database migrated before product search keeps its products searchable:
/// the search migration gives each a row without words (version 0), which
/// core's start-up pass fills; PostgreSQL's index then finds them.
#[tokio::test]
async fn the_search_migration_leaves_existing_products_for_the_start_up_pass() {
    let (config, _guard) = agora_postgres::testing::empty_database().await;
    let search = MIGRATOR.iter().find(|m| m.description.contains("search")).expect("the search migration").version;
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(MIGRATOR.iter().filter(|m| m.version < search).cloned().collect()),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    let bare = PgStore::connect_without_migrating(config.clone()).await.unwrap();
    before.run(bare.pool()).await.expect("the migrations before search");
    let (store_id, product_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    sqlx::query(
        "INSERT INTO store (id, name, domain, plan, status, created_at, updated_at) \
         VALUES ($1, 'Old', 'old.example.com', 'basic', 'active', now(), now())",
    )
    .bind(store_id)
    .execute(bare.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO product (id, store_id, title, status, currency, version, created_at, updated_at) \
         VALUES ($1, $2, 'Crème brûlée', 'active', 'EUR', 1, now(), now())",
    )
    .bind(product_id)
    .bind(store_id)
    .execute(bare.pool())
    .await
    .unwrap();
    let pg = PgStore::connect(config).await.expect("the search migration");
    let row = pg.get::<ProductSearch, _>(ProductId(product_id)).await.unwrap().expect("a row per product");
    assert_eq!((row.words_version, row.title_words.as_str(), row.store_id), (0, "", StoreId(store_id)));
    let agora = agora_testkit::harness::agora_builder(Arc::new(pg.clone())).build();
    assert_eq!(agora.refresh_search_index(10).await.unwrap(), 1);
    let all = ListQuery::default();
    let found = agora.search_products(&Actor::Anonymous, StoreId(store_id), "BRÛL", &all).await.unwrap();
    assert_eq!(found.items.iter().map(|p| p.id).collect::<Vec<_>>(), [product_id]);
}
