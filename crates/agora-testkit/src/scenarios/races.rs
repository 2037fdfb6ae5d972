//! Changesets at the port, concurrency, isolation between stores, list limits.

use std::sync::Arc;

use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::{Harness, StoreFixture, TestStore};

// This module's scenarios, for `crate::conformance_tests!`: a new
// scenario is listed here, beside its code.
crate::__scenario_list!($ __scenarios_races:
    changeset_guard_failure_writes_nothing, changeset_duplicate_insert_writes_nothing,
    changeset_update_of_missing_row_fails, concurrent_orders_never_oversell,
    concurrent_retries_of_one_key_create_one_order, concurrent_settlement_pays_out_once,
    store_key_cannot_touch_another_store, list_limits_are_validated,
);

/// A fresh audit row of `s` (any row will do for a changeset test).
fn audit_row(h: &Harness, s: &StoreFixture, from: Option<&str>) -> AuditLog {
    AuditLog {
        id: AuditId(Uuid::now_v7()),
        store_id: s.id,
        at: h.clock.now(),
        actor_masked: "t".into(),
        ip: None,
        key: "k".into(),
        from: from.map(Into::into),
        to: None,
    }
}

pub async fn changeset_guard_failure_writes_nothing(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "CS-1", 100, 2).await;
    let before = h.snapshot().await;
    let mut cs = Changeset::new();
    let (vid, wid, now) = (VariantId(v), WarehouseId(s.warehouse), h.clock.now());
    cs.stock(vid, wid, now, StockChange::Reserve(1))
        .stock(vid, wid, now, StockChange::Reserve(2))
        .insert(Record::Audit(audit_row(&h, &s, None)));
    match h.store.apply(cs).await {
        Err(StoreError::GuardFailed(f)) => {
            assert_eq!(f.index, 1, "the second write's condition failed");
            assert_eq!(f.condition, Condition::StockAvailable { variant_id: vid, warehouse_id: wid, qty: 2 });
        }
        other => panic!("expected a guard failure, got {other:?}"),
    }
    assert_eq!(h.snapshot().await, before);
}

pub async fn changeset_duplicate_insert_writes_nothing(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let before = h.snapshot().await;
    let audit = audit_row(&h, &s, Some("a"));
    let mut cs = Changeset::new();
    cs.insert(Record::Audit(audit.clone())).insert(Record::Audit(audit));
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::Duplicate(_))));
    assert_eq!(h.snapshot().await, before);
}

pub async fn changeset_update_of_missing_row_fails(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let before = h.snapshot().await;
    let mut settings = h.store.get_settings(s.id).await.unwrap().unwrap();
    settings.store_id = StoreId(Uuid::now_v7());
    let mut cs = Changeset::new();
    let last = h.store.last_event_seq(s.id).await.unwrap();
    cs.write(Write::SequenceEvents { store_id: s.id, after: last, events: Vec::new() })
        .update(Record::StoreSettings(settings));
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::Missing(_))));
    let mut cs = Changeset::new();
    let adjust = StockChange::Adjust { on_hand: 1, reserved: 0 };
    cs.stock(VariantId(Uuid::now_v7()), WarehouseId(s.warehouse), h.clock.now(), adjust);
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::Missing(_))));
    assert_eq!(h.snapshot().await, before);
}

pub async fn concurrent_orders_never_oversell(ts: TestStore) {
    let (placed, left) = crate::race::oversell_race(ts, 16, 20).await;
    assert_eq!((placed, left), (20, 0));
}

pub async fn concurrent_retries_of_one_key_create_one_order(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let h = Arc::new(h);
    let (p, v) = h.product(&s, "IK-1", 100, 50).await;
    let c = h.customer("ann").await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (h, s, c) = (h.clone(), s.clone(), c.clone());
            tokio::spawn(async move { h.order_with_key(&c, &s, &[(v, 2)], "same-key", None).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => bodies.push(p.recorded),
            Err(AgoraError::Conflict { retry_after: Some(_), .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(!bodies.is_empty());
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every answer is the same order");
    assert_eq!(h.snapshot().await.rows::<CustomerOrder>().len(), 1);
    assert_eq!(h.available(p.id, v).await, 48);
}

pub async fn concurrent_settlement_pays_out_once(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "CP-1", 1000, 50).await;
    qualified_task(&h, &s, v, 1, false).await;
    h.clock.advance(Duration::seconds(604800));
    let h = Arc::new(h);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.agora.settle_due_payouts(s.id, 100).await.unwrap() })
        })
        .collect();
    let mut changed = 0;
    for r in runs {
        changed += r.await.unwrap().changed;
    }
    assert_eq!(changed, 1, "exactly one settlement succeeded");
    assert_eq!(h.snapshot().await.rows::<PayoutLedger>().len(), 1);
}

pub async fn store_key_cannot_touch_another_store(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    let (p, _) = h.product(&other, "OT-1", 100, 5).await;
    let a = &s.admin;
    assert_eq!(code(h.agora.patch_settings(a, other.id, SettingsPatch::default(), None).await), "not_found");
    assert_eq!(code(h.agora.create_warehouse(a, other.id, NewWarehouse { name: "w".into() }).await), "not_found");
    let np = NewProduct {
        title: "t".into(),
        currency: "EUR".into(),
        status: None,
        variants: vec![NewVariant { sku: "Z".into(), name: "z".into(), price_minor: 1 }],
    };
    assert_eq!(code(h.agora.create_product(a, other.id, np).await), "not_found");
    assert_eq!(code(h.agora.patch_product(a, ProductId(p.id), ProductPatch::default()).await), "not_found");
    assert_eq!(code(h.agora.list_store_orders(a, other.id, None, &ListQuery::default()).await), "not_found");
    assert_eq!(code(h.agora.list_payouts(a, other.id, None, &ListQuery::default()).await), "not_found");
    assert_eq!(
        code(h.agora.request_export(a, other.id, NewExport { kind: "orders".into(), format: "csv".into() }).await),
        "not_found"
    );
    assert_eq!(code(h.agora.list_audit_logs(a, other.id, &ListQuery::default()).await), "not_found");
}

pub async fn list_limits_are_validated(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let bad = ListQuery { limit: Some(0), cursor: None };
    assert_eq!(code(h.agora.list_products(s.id, &bad).await), "validation");
    let bad = ListQuery { limit: Some(201), cursor: None };
    assert_eq!(code(h.agora.list_products(s.id, &bad).await), "validation");
    let bad = ListQuery { limit: None, cursor: Some("%%%".into()) };
    assert_eq!(code(h.agora.list_products(s.id, &bad).await), "validation");
    assert_eq!(code(h.agora.list_events(&s.admin, s.id, -1, None).await), "validation");
    assert_eq!(code(h.agora.list_products(StoreId(Uuid::now_v7()), &ListQuery::default()).await), "not_found");
}
