//! Adapter-level behaviour: exact round trips, guard semantics, unique
//! violations under races, migrations and partitions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_core::*;
use agora_memory::MemoryStore;
use agora_postgres::{MIGRATOR, PgStore};
use common::*;
use serde_json::json;

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
        cs.insert(Record::OrderItem(i.clone()));
    }
    cs.insert(Record::Order(o.clone()))
        .insert(Record::Order(o2))
        .insert(Record::Address(a))
        .insert(Record::User(u))
        .insert(Record::Store(s))
        .insert(Record::Store(s2))
        .insert(Record::Payment(payment))
        .insert(Record::PaymentEvent(pe))
        .insert(Record::Event(ev))
        .insert(Record::Idempotency(idem));
    // The variants the items point at do not exist: Postgres refuses that.
    let refused = pg.apply(cs.clone()).await;
    assert!(matches!(refused, Err(StoreError::Missing(_))), "{refused:?}");
    assert_eq!(pg.snapshot().await.unwrap(), Snapshot::default());

    // Without the dangling lines, both stores agree field for field.
    // (The memory model wants parents first; Postgres does not care.)
    cs.writes.retain(|w| !matches!(w, Write::Insert(Record::OrderItem(_))));
    let rank = |w: &Write| match w {
        Write::Insert(Record::Store(_)) => 0,
        Write::Insert(Record::User(_)) => 1,
        Write::Insert(Record::Address(_)) => 2,
        _ => 3,
    };
    cs.writes.sort_by_key(rank);
    pg.apply(cs.clone()).await.expect("pg apply");
    mem.apply(cs).await.expect("memory apply");
    let (a, b) = (pg.snapshot().await.unwrap(), mem.snapshot().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(a.orders.iter().map(|o| o.amount_minor).max(), Some(MAX_MINOR));
    assert_eq!(pg.get_payment_event("test", "evt-1").await.unwrap().unwrap().raw, b.payment_events[0].raw);
    let money: String = sqlx::query_scalar("SELECT amount::text FROM customer_order WHERE id = $1")
        .bind(o.id.0)
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert_eq!(money, "9999999999.99", "NUMERIC(12,2) holds major units");
}

#[tokio::test]
async fn first_failing_guard_is_reported_and_nothing_is_written() {
    let (pg, _config, _guard) = store().await;
    let (s, _u, _a) = parents(&pg, "g").await;
    let before = pg.snapshot().await.unwrap();
    let mut cs = Changeset::new();
    cs.guard(Guard::EmailFree { email: "new@example.com".into() })
        .guard(Guard::OrderStatusIs { order_id: OrderId(id()), status: OrderStatus::Created })
        .guard(Guard::DomainFree { domain: s.domain.clone() })
        .insert(Record::User(user("new@example.com")));
    match pg.apply(cs).await {
        Err(StoreError::GuardFailed(f)) => assert_eq!(f.index, 1),
        other => panic!("expected guard 1 to fail, got {other:?}"),
    }
    assert_eq!(pg.snapshot().await.unwrap(), before);
}

#[tokio::test]
async fn duplicates_missing_rows_and_stock_checks_map_to_store_errors() {
    let (pg, _config, _guard) = store().await;
    let (s, u, a) = parents(&pg, "d").await;
    let o = order(&s, &u, &a, "SAME", 100);
    let mut cs = Changeset::new();
    cs.insert(Record::Order(o.clone()));
    pg.apply(cs).await.unwrap();

    let mut dup = Changeset::new();
    dup.insert(Record::User(user("fresh@example.com"))).insert(Record::Order(order(&s, &u, &a, "SAME", 5)));
    assert!(matches!(pg.apply(dup).await, Err(StoreError::Duplicate(c)) if c == "customer_order_number_key"));
    assert!(pg.get_user_by_email("fresh@example.com").await.unwrap().is_none(), "nothing partial");

    let mut missing = Changeset::new();
    missing.update(Record::Order(order(&s, &u, &a, "OTHER", 5)));
    assert!(matches!(pg.apply(missing).await, Err(StoreError::Missing(_))));

    let variant = VariantId(id());
    let warehouse = WarehouseId(id());
    let mut adjust = Changeset::new();
    adjust.write(Write::AdjustStock {
        variant_id: variant,
        warehouse_id: warehouse,
        on_hand_delta: 1,
        reserved_delta: 0,
        at: t(5, 0),
    });
    assert!(matches!(pg.apply(adjust).await, Err(StoreError::Missing(_))));

    // A real stock row, then a move that would reserve more than is on hand.
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
    let mut setup = Changeset::new();
    setup.insert(Record::Product(product)).insert(Record::Variant(v)).insert(Record::Warehouse(w)).write(
        Write::SetOnHand { variant_id: variant, warehouse_id: warehouse, store_id: s.id, on_hand: 3, at: t(2, 0) },
    );
    pg.apply(setup).await.unwrap();
    let mut over = Changeset::new();
    over.write(Write::AdjustStock {
        variant_id: variant,
        warehouse_id: warehouse,
        on_hand_delta: 0,
        reserved_delta: 4,
        at: t(3, 0),
    });
    assert!(matches!(pg.apply(over).await, Err(StoreError::Missing(_))));
    let mut guarded = Changeset::new();
    guarded.guard(Guard::StockAvailable { variant_id: variant, warehouse_id: warehouse, qty: 4 }).write(
        Write::AdjustStock {
            variant_id: variant,
            warehouse_id: warehouse,
            on_hand_delta: 0,
            reserved_delta: 4,
            at: t(3, 0),
        },
    );
    assert!(matches!(pg.apply(guarded).await, Err(StoreError::GuardFailed(f)) if f.index == 0));
    let mut fits = Changeset::new();
    fits.guard(Guard::StockAvailable { variant_id: variant, warehouse_id: warehouse, qty: 3 }).write(
        Write::AdjustStock {
            variant_id: variant,
            warehouse_id: warehouse,
            on_hand_delta: 0,
            reserved_delta: 3,
            at: t(4, 0),
        },
    );
    pg.apply(fits).await.unwrap();
    let inv = pg.list_inventory(&[variant]).await.unwrap();
    assert_eq!((inv[0].on_hand, inv[0].reserved, inv[0].updated_at), (3, 3, t(4, 0)));
}

/// Holds a conflicting row uncommitted in another transaction while the
/// changeset runs: its guard passes (the row is invisible), its insert waits
/// on the unique index, and once the other side commits the violation is
/// reported as the guard, not as a driver error.
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
async fn unique_violations_under_a_race_report_the_covering_guard() {
    let (pg, _config, _guard) = store().await;
    let mut cs = Changeset::new();
    cs.guard(Guard::DomainFree { domain: "x.example.com".into() })
        .guard(Guard::EmailFree { email: "race@example.com".into() })
        .insert(Record::User(user("race@example.com")));
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
    cs.guard(Guard::IdempotencyKeyFree { scope: "s".into(), key: "k".into(), now })
        .insert(Record::Idempotency(rec.clone()));
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
    let events: Vec<ActivityEvent> = (0..20)
        .map(|i| ActivityEvent {
            id: EventId(id()),
            store_id: s.id,
            seq: None,
            entity_type: "x".into(),
            entity_id: id(),
            kind: "x.happened".into(),
            payload: json!({"i": i}),
            at: t(10 + i, 0),
        })
        .collect();
    for e in &events {
        cs.insert(Record::Event(e.clone()));
    }
    pg.apply(cs).await.unwrap();
    // Eight sequencers race to number the same events; the guard lets one
    // win per seq value and the rest retry from the new last seq.
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
                cs.guard(Guard::EventSeqIs { store_id, last_seq: last });
                for (k, e) in batch.iter().enumerate() {
                    cs.write(Write::SequenceEvent { event_id: e.id, store_id, seq: last + 1 + k as i64 });
                }
                cs.write(Write::SetEventSeq { store_id, last_seq: last + batch.len() as i64 });
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
    let bare = PgStore::connect_without_migrating(config.clone()).await.unwrap();
    let status = bare.migration_status().await.unwrap();
    assert_eq!(status.pending.len(), MIGRATOR.iter().count());
    assert!(matches!(bare.health().await, Err(StoreError::Schema(_))));
    let pg = PgStore::connect(config.clone()).await.expect("migrate from scratch");
    let status = pg.migration_status().await.unwrap();
    assert!(status.is_current(), "{status:?}");
    assert_eq!(status.applied, MIGRATOR.iter().map(|m| m.version).collect::<Vec<_>>());
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
    let mut cs = Changeset::new();
    cs.insert(Record::Event(ev.clone()));
    pg.apply(cs).await.unwrap();
    let where_is = || async {
        sqlx::query_scalar::<_, String>("SELECT tableoid::regclass::text FROM activity_event WHERE id = $1")
            .bind(ev.id.0)
            .fetch_one(pg.pool())
            .await
            .unwrap()
    };
    assert_eq!(where_is().await, "activity_event_default");
    let created = pg.create_partitions(10).await.unwrap();
    assert!(created >= 2 * 6, "created {created}");
    let expected = format!("activity_event_p{:04}{:02}", later.year(), u8::from(later.month()));
    assert_eq!(where_is().await, expected);
    assert_eq!(pg.snapshot().await.unwrap().events, vec![ev]);
    assert_eq!(pg.create_partitions(10).await.unwrap(), 0);
}
