//! The storage port itself, below the use cases: generic queries checked
//! against core's reference evaluation, the conditions intent writes carry,
//! unique constraints and the guards that cover them, and paged scans.

use agora_core::changeset::{Condition, GuardFailure};
use agora_core::guards;
use agora_core::query::Query;
use agora_core::schema::{Key, Value};
use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::{Harness, TestStore};

// This module's scenarios, for `crate::conformance_tests!`: a new
// scenario is listed here, beside its code.
crate::__scenario_list!($ __scenarios_storage:
    queries_follow_the_reference_evaluation, scans_page_through_every_table_in_key_order,
    intent_writes_report_their_own_condition, idempotency_and_sequencing_writes_check_their_condition,
    unique_constraints_and_the_guards_that_cover_them, every_column_round_trips,
);

/// Checks `store.fetch(q)` against the query evaluated by core over every
/// row of the table (`Query::matches` and `Query::compare`: the contract).
async fn check_query(h: &Harness, q: Query) {
    let snap = h.snapshot().await;
    let mut want: Vec<(Vec<Value<'static>>, Record)> = snap
        .table(q.table.name)
        .iter()
        .filter_map(|r| {
            let mut vals = Vec::new();
            r.encode(&mut vals);
            let vals: Vec<Value<'static>> = vals.into_iter().map(Value::into_owned).collect();
            q.matches(&vals).then(|| (vals, r.clone()))
        })
        .collect();
    want.sort_by(|a, b| q.compare(&a.0, &b.0));
    let mut want: Vec<Record> =
        want.into_iter().map(|(_, r)| r).take(q.limit.map_or(usize::MAX, |l| l as usize)).collect();
    let mut got = h.store.fetch(&q).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
    if q.order.is_empty() {
        got.sort_by_key(Record::key);
        want.sort_by_key(Record::key);
    }
    assert_eq!(got, want, "fetch({q:?})");
}

/// Products whose SKUs and titles sort differently by bytes and by
/// language rules, orders in several states, events partly sequenced,
/// idempotency keys that differ in case and accents.
async fn query_fixture(h: &Harness) -> (StoreFixture, Vec<Uuid>, Vec<OrderView>) {
    let s = h.store_fixture("shop.example.com").await;
    let mut variants = Vec::new();
    for (i, sku) in ["a-1", "B-2", "é-3", "Z-4", "b-5"].iter().enumerate() {
        let (_, v) = h.product(&s, sku, 100 + 25 * i as i64, 5).await;
        variants.push(v);
    }
    let w2 = h.agora.create_warehouse(&s.admin, s.id, NewWarehouse { name: "second".into() }).await.unwrap();
    for v in &variants[..3] {
        let req = SetInventory { variant_id: *v, warehouse_id: w2.id, on_hand: 2 };
        h.agora.set_inventory(&s.admin, s.id, req).await.unwrap();
    }
    let ann = h.customer("ann").await;
    let mut orders = Vec::new();
    for (i, key) in ["K-a", "K-B", "K-é", "k-b"].iter().enumerate() {
        h.clock.advance(Duration::seconds(7));
        let o = h.order_with_key(&ann, &s, &[(variants[i], 1)], key, None).await.unwrap();
        orders.push(o.order);
    }
    h.pay(&ann, &orders[0]).await;
    h.agora.cancel_order(&ann.actor, OrderId(orders[1].id)).await.unwrap();
    // Sequence what exists, then add events the sequencer has not seen.
    h.agora.sequence_events(s.id).await.unwrap();
    h.product(&s, "late-1", 10, 1).await;
    (s, variants, orders)
}

pub async fn queries_follow_the_reference_evaluation(ts: TestStore) {
    let h = Harness::new(ts);
    let (s, v, o) = query_fixture(&h).await;
    let now = h.clock.now();
    let unknown = Uuid::now_v7();
    let vq = || Query::of::<ProductVariant>();
    check_query(&h, vq().eq("store_id", s.id).asc("sku")).await;
    check_query(&h, vq().eq("store_id", s.id).desc("sku").limit(3)).await;
    // Ad-hoc filters no index serves (the query contract, not a read of core's).
    check_query(&h, vq().le("price", 150i64).asc("id").unindexed()).await;
    check_query(&h, vq().gt("price", 125i64).lt("price", 200i64).desc("price").asc("id").unindexed()).await;
    check_query(&h, vq().any("id", [v[0], v[2], unknown]).desc("id")).await;
    check_query(&h, vq().any("id", Vec::<Uuid>::new())).await;
    check_query(&h, vq().is("status", "active").ge("sku", "B").asc("sku").limit(2).unindexed()).await;
    check_query(&h, vq().eq("sku", "é-3").unindexed()).await;
    let oq = || Query::of::<CustomerOrder>();
    check_query(&h, oq().eq("store_id", s.id).is("status", "CREATED").asc("created_at").asc("id")).await;
    check_query(&h, oq().le("paid_at", now).asc("id").unindexed()).await;
    check_query(&h, oq().not_null("closed_at").unindexed()).await;
    check_query(&h, oq().eq("closed_at", Value::Null).unindexed()).await;
    check_query(&h, oq().is("status", "RECEIVED").unindexed()).await;
    check_query(&h, oq().eq("store_id", s.id).page(Page { limit: 2, before: Some(o[3].id) })).await;
    check_query(&h, oq().eq("store_id", s.id).page(Page::first(10))).await;
    let eq = || Query::of::<ActivityEvent>().eq("store_id", s.id);
    check_query(&h, eq().not_null("seq").gt("seq", 2i64).asc("seq").limit(3)).await;
    check_query(&h, eq().null("seq").asc("id")).await;
    let iq = || Query::of::<Inventory>();
    check_query(&h, iq().any("variant_id", [v[1], v[0]]).asc("variant_id").asc("warehouse_id")).await;
    check_query(&h, iq().eq("store_id", s.id).ge("reserved", 1i64).asc("variant_id").asc("warehouse_id").unindexed())
        .await;
    let kq = || Query::of::<IdempotencyRecord>();
    check_query(&h, kq().asc("scope").asc("key")).await;
    check_query(&h, kq().gt("key", "K-B").desc("key").unindexed()).await;
    check_query(&h, Query::key::<StoreSettings>(s.id)).await;
    check_query(&h, Query::of::<Shop>().eq("domain", "shop.example.com")).await;
    check_query(&h, Query::of::<Shop>().eq("domain", "SHOP.example.com")).await;
}

pub async fn scans_page_through_every_table_in_key_order(ts: TestStore) {
    let h = Harness::new(ts);
    query_fixture(&h).await;
    let snap = h.snapshot().await;
    for table in tables() {
        let mut scan = TableScan::new(&*h.store, table, 2);
        let mut rows = Vec::new();
        while let Some(page) = scan.next_page().await.unwrap() {
            assert!(page.len() <= 2);
            rows.extend(page);
        }
        let keys: Vec<Key> = rows.iter().map(Record::key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{}: pages in key order", table.name);
        assert_eq!(rows.as_slice(), snap.table(table.name), "{}: every row once", table.name);
    }
    assert!(snap.table("inventory").len() > 2 && snap.table("idempotency_key").len() > 2);
}

fn failed(r: StoreResult<()>) -> GuardFailure {
    match r {
        Err(StoreError::GuardFailed(f)) => f,
        other => panic!("expected a failed condition, got {other:?}"),
    }
}

fn missing(r: StoreResult<()>) {
    assert!(matches!(r, Err(StoreError::Missing(_))), "expected Missing, got {r:?}");
}

pub async fn intent_writes_report_their_own_condition(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "IW-1", 100, 3).await;
    let (v, w, now) = (VariantId(v), WarehouseId(s.warehouse), h.clock.now());
    let before = h.snapshot().await;
    let one = |change| {
        let mut cs = Changeset::new();
        cs.stock(v, w, now, change);
        cs
    };

    // A guard that fails is reported before any write's condition.
    let mut cs = one(StockChange::Reserve(99));
    cs.guard(guards::settings_version_is(s.id, 42));
    assert_eq!(failed(h.store.apply(cs).await).index, 0);

    let mut cs = one(StockChange::Reserve(1));
    cs.stock(VariantId(Uuid::now_v7()), w, now, StockChange::Reserve(1));
    let f = failed(h.store.apply(cs).await);
    assert_eq!(f.index, 1, "reserving from a row that does not exist fails the condition");
    assert!(matches!(f.condition, Condition::StockAvailable { qty: 1, .. }));

    let f = failed(h.store.apply(one(StockChange::Reserve(4))).await);
    assert_eq!(f.condition, Condition::StockAvailable { variant_id: v, warehouse_id: w, qty: 4 });
    h.store.apply(one(StockChange::Reserve(2))).await.unwrap();
    let f = failed(h.store.apply(one(StockChange::SetOnHand { store_id: s.id, on_hand: 1 })).await);
    assert_eq!(f.condition, Condition::ReservedWithin { variant_id: v, warehouse_id: w, on_hand: 1 });
    let f = failed(h.store.apply(one(StockChange::SetReserved { expected: 5, reserved: 0 })).await);
    assert_eq!(f.condition, Condition::ReservedIs { variant_id: v, warehouse_id: w, reserved: 5 });
    missing(h.store.apply(one(StockChange::Release(3))).await);
    missing(h.store.apply(one(StockChange::Consume(3))).await);
    missing(h.store.apply(one(StockChange::Adjust { on_hand: -2, reserved: 0 })).await);
    h.store.apply(one(StockChange::Consume(1))).await.unwrap();
    h.store.apply(one(StockChange::Release(1))).await.unwrap();
    h.store.apply(one(StockChange::SetReserved { expected: 0, reserved: 1 })).await.unwrap();
    let row = h.store.list_inventory(&[v]).await.unwrap().pop().unwrap();
    assert_eq!((row.on_hand, row.reserved, row.updated_at), (2, 1, now));

    // A stock row is created by setting its on-hand figure only.
    let w2 =
        WarehouseId(h.agora.create_warehouse(&s.admin, s.id, NewWarehouse { name: "w2".into() }).await.unwrap().id);
    let mut cs = Changeset::new();
    cs.stock(v, w2, now, StockChange::SetOnHand { store_id: s.id, on_hand: 4 });
    h.store.apply(cs).await.unwrap();
    assert_eq!(h.store.list_inventory(&[v]).await.unwrap().len(), 2);
    assert_ne!(h.snapshot().await, before);
}

pub async fn idempotency_and_sequencing_writes_check_their_condition(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let now = h.clock.now();
    let record = |key: &str, expires: time::OffsetDateTime, body: &str| IdempotencyRecord {
        scope: "scope".into(),
        key: key.into(),
        fingerprint: "fp".into(),
        response_status: 201,
        response_body: body.into(),
        resource_id: None,
        created_at: now,
        expires_at: expires,
    };
    let put = |r: IdempotencyRecord, now| {
        let mut cs = Changeset::new();
        cs.write(Write::PutIdempotency { record: r, now });
        cs
    };
    h.store.apply(put(record("live", now + Duration::hours(1), "first"), now)).await.unwrap();
    let f = failed(h.store.apply(put(record("live", now + Duration::hours(2), "second"), now)).await);
    assert!(matches!(f.condition, Condition::IdempotencyKeyFree { ref key, .. } if key == "live"));
    // Once expired, the record counts as free and is replaced.
    let later = now + Duration::hours(1);
    h.store.apply(put(record("live", later + Duration::hours(1), "second"), later)).await.unwrap();
    let got = h.store.get_idempotency("scope", "live").await.unwrap().unwrap();
    assert_eq!(got.response_body, "second");

    let before = h.store.last_event_seq(s.id).await.unwrap();
    let fresh = h.store.list_unsequenced_events(s.id, 100).await.unwrap();
    let mut cs = Changeset::new();
    let ids: Vec<EventId> = fresh.iter().map(|e| e.id).collect();
    cs.write(Write::SequenceEvents { store_id: s.id, after: before + 1, events: ids.clone() });
    let f = failed(h.store.apply(cs).await);
    assert_eq!(f.condition, Condition::EventSeqIs { store_id: s.id, last_seq: before + 1 });
    let mut cs = Changeset::new();
    cs.write(Write::SequenceEvents { store_id: s.id, after: before, events: vec![EventId(Uuid::now_v7())] });
    missing(h.store.apply(cs).await);
    let mut cs = Changeset::new();
    cs.write(Write::SequenceEvents { store_id: s.id, after: before, events: ids.clone() });
    h.store.apply(cs).await.unwrap();
    let last = h.store.last_event_seq(s.id).await.unwrap();
    assert_eq!(last, before + ids.len() as i64);
    let feed = h.store.list_events(s.id, before, 100).await.unwrap();
    assert_eq!(feed.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert!(feed.iter().zip(before + 1..).all(|(e, n)| e.seq == Some(n)));
}

pub async fn unique_constraints_and_the_guards_that_cover_them(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let c = h.customer("ann").await;
    let now = h.clock.now();
    let session = |hash: &str| Session {
        id: SessionId(Uuid::now_v7()),
        user_id: UserId(c.user.id),
        token_hash: hash.into(),
        created_at: now,
        expires_at: now + Duration::hours(1),
    };
    let existing = h.store.get_session_by_hash(&agora_core::secrets::hash_token(&c.token)).await.unwrap().unwrap();
    let before = h.snapshot().await;

    // No guard covers it: a plain duplicate.
    let mut cs = Changeset::new();
    cs.insert(session("h-1")).insert(session(&existing.token_hash));
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::Duplicate(_))));
    assert_eq!(h.snapshot().await, before);

    // Two inserts of one email in one changeset: the guard held when checked,
    // the constraint catches the second insert and the guard is reported.
    let user = |email: &str| AppUser {
        id: UserId(Uuid::now_v7()),
        name: "x".into(),
        email: email.into(),
        phone: None,
        password_hash: "$argon2id$x".into(),
        created_at: now,
    };
    let version = h.store.get_settings(s.id).await.unwrap().unwrap().version;
    let mut cs = Changeset::new();
    cs.guard(guards::settings_version_is(s.id, version)).guard(guards::email_free("twin@example.com"));
    cs.insert(user("twin@example.com")).insert(user("twin@example.com"));
    let f = failed(h.store.apply(cs).await);
    assert_eq!(f.index, 1);
    assert!(guards::is_free(&f.condition, guards::EMAIL));
    assert_eq!(h.snapshot().await, before);

    // An update may not take another row's unique value either.
    let mut other = session("h-2");
    let mut cs = Changeset::new();
    cs.insert(other.clone());
    h.store.apply(cs).await.unwrap();
    other.token_hash = existing.token_hash.clone();
    let mut cs = Changeset::new();
    cs.update(other.clone());
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::Duplicate(_))));

    // A delete frees the value for an insert in the same changeset.
    let mut cs = Changeset::new();
    cs.delete::<Session>(existing.id).insert(Session { id: SessionId(Uuid::now_v7()), ..existing.clone() });
    h.store.apply(cs).await.unwrap();
    let mut cs = Changeset::new();
    cs.delete::<Session>(SessionId(Uuid::now_v7()));
    h.store.apply(cs).await.unwrap();

    // Row checks compare every listed column; a missing row never holds.
    let settings = h.store.get_settings(s.id).await.unwrap().unwrap();
    let both = |ttl: i64| {
        Guard::row_is::<StoreSettings>(
            s.id,
            &[("version", Value::Int(settings.version)), ("order_ttl_seconds", Value::Int(ttl))],
        )
    };
    let probe = |g: Guard| {
        let mut cs = Changeset::new();
        cs.guard(g).delete::<Session>(SessionId(Uuid::now_v7()));
        cs
    };
    h.store.apply(probe(both(settings.order_ttl_seconds))).await.unwrap();
    assert_eq!(failed(h.store.apply(probe(both(settings.order_ttl_seconds + 1))).await).index, 0);
    let gone = guards::order_status_is(OrderId(Uuid::now_v7()), OrderStatus::Created);
    assert_eq!(failed(h.store.apply(probe(gone)).await).index, 0);
    let (_, _v) = h.product(&s, "UQ-1", 1, 1).await;
    assert_eq!(failed(h.store.apply(probe(guards::sku_free(s.id, "UQ-1"))).await).index, 0);
    h.store.apply(probe(guards::sku_free(s.id, "uq-1"))).await.unwrap();
}

/// Every table's rows round-trip through the store unchanged (every column
/// type, NULLs, money, JSON, lists, sealed secrets).
pub async fn every_column_round_trips(ts: TestStore) {
    let h = Harness::new(ts);
    let (s, _, _) = query_fixture(&h).await;
    populate_every_table(&h, &s).await;
    let snap = h.snapshot().await;
    for (name, rows) in &snap.tables {
        assert!(!rows.is_empty(), "the fixture fills {name}");
        for r in rows {
            let got = h.store.fetch(&Query::by_key(r.table(), &r.key())).await.unwrap();
            assert_eq!(got.as_slice(), std::slice::from_ref(r), "{name}");
        }
    }
    let payout = snap.rows::<PayoutLedger>()[0].clone();
    assert!(!payout.helper_user_ids.is_empty() && !payout.risk_reasons.is_empty());
    assert!(snap.rows::<Shop>().iter().any(|s| s.access_token.is_some()));
}
