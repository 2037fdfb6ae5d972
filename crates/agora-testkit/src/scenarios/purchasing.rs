//! Sales velocity, stockout forecasts and purchase orders.

use agora_core::usecases::Sweep;
use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::Harness;

// This module's scenarios, for `crate::conformance_tests!`.
crate::__scenario_list!($ __scenarios_purchasing:
    velocity_forecasts_from_orders_paid_in_the_window, velocity_job_writes_each_run_once,
    purchase_order_moves_and_receives_into_stock, purchase_order_receive_is_idempotent,
    purchase_order_refusals, purchase_order_drafted_from_velocity, receipts_into_a_new_stock_row_all_count,
    velocity_survives_a_stockout_beyond_the_calendar,
);

async fn velocity(h: &Harness, s: &StoreFixture) -> Vec<VelocityView> {
    h.agora.sequence_events(s.id).await.unwrap();
    h.agora.run_sweep(Sweep::Velocity, s.id, 100).await.unwrap();
    h.agora.list_velocity(&s.admin, s.id, &ListQuery::default()).await.unwrap().items
}

fn row(rows: &[VelocityView], variant: Uuid) -> &VelocityView {
    rows.iter().find(|r| r.variant_id == variant).expect("a velocity row per variant")
}

fn line(variant: Uuid, qty: i64, cost: i64) -> NewPurchaseOrderLine {
    NewPurchaseOrderLine { variant_id: variant, qty, unit_cost_minor: cost }
}

fn new_po(s: &StoreFixture, lines: Vec<NewPurchaseOrderLine>) -> NewPurchaseOrder {
    NewPurchaseOrder { vendor: "Acme".into(), warehouse_id: s.warehouse, currency: "EUR".into(), lines, note: None }
}

fn receive(lines: &[(Uuid, i64)]) -> ReceivePurchaseOrder {
    ReceivePurchaseOrder { lines: lines.iter().map(|(v, q)| ReceivedLine { variant_id: *v, qty: *q }).collect() }
}

/// Window 10 days, lead 5 + cover 5: 5 units paid 11 days ago (outside),
/// 20 inside; 30 on hand.
async fn selling_scene(ts: TestStore) -> (Scene, Uuid) {
    let sc = scene(ts, "VEL-1", 100, 30).await;
    let (h, s, c, v) = (&sc.h, &sc.s, &sc.c, sc.v);
    let patch = SettingsPatch {
        velocity_window_days: Some(10),
        reorder_lead_days: Some(5),
        reorder_cover_days: Some(5),
        ..Default::default()
    };
    configure(h, s, patch).await;
    let old = h.order(c, s, &[(v, 5)]).await.unwrap();
    h.pay(c, &old).await;
    h.clock.advance(Duration::days(11));
    for _ in 0..2 {
        let o = h.order(c, s, &[(v, 10)]).await.unwrap();
        h.pay(c, &o).await;
    }
    let (_, idle) = h.product(s, "VEL-IDLE", 100, 7).await;
    (sc, idle)
}

pub async fn velocity_forecasts_from_orders_paid_in_the_window(ts: TestStore) {
    let (sc, idle) = selling_scene(ts).await;
    let (h, s, v) = (&sc.h, &sc.s, sc.v);
    let rows = velocity(h, s).await;
    let r = row(&rows, v);
    assert_eq!((r.units_sold, r.window_days, r.daily_velocity.as_str()), (20, 10, "2.000"));
    assert_eq!((r.available, r.on_order, r.days_of_cover, r.reorder_qty), (5, 0, Some(2), 15));
    assert_eq!(r.stockout_at, Some(h.clock.now() + Duration::hours(60)), "5 units at 2 a day");
    assert_eq!(r.computed_at, Some(h.clock.now()));
    let i = row(&rows, idle);
    assert_eq!(
        (i.units_sold, i.daily_velocity.as_str(), i.days_of_cover, i.stockout_at, i.reorder_qty),
        (0, "0.000", None, None, 0)
    );
    // A submitted purchase order counts as on order; a draft does not.
    let po = h.agora.create_purchase_order(&s.admin, s.id, new_po(s, vec![line(v, 10, 50)])).await.unwrap();
    h.agora.create_purchase_order(&s.admin, s.id, new_po(s, vec![line(v, 99, 50)])).await.unwrap();
    h.agora.move_purchase_order(&s.admin, PurchaseOrderId(po.id), PurchaseOrderStatus::Submitted).await.unwrap();
    h.clock.advance(Duration::minutes(1));
    let r = row(&velocity(h, s).await, v).clone();
    assert_eq!((r.on_order, r.reorder_qty), (10, 5));
    // As days pass without sales the velocity falls.
    h.clock.advance(Duration::days(10));
    let r = row(&velocity(h, s).await, v).clone();
    assert_eq!((r.units_sold, r.daily_velocity.as_str(), r.days_of_cover), (0, "0.000", None));
    assert_eq!(code(h.agora.list_velocity(&sc.c.actor, s.id, &ListQuery::default()).await), "not_found");
}

pub async fn velocity_job_writes_each_run_once(ts: TestStore) {
    let (sc, _) = selling_scene(ts).await;
    let (h, s) = (&sc.h, &sc.s);
    h.agora.sequence_events(s.id).await.unwrap();
    assert!(h.agora.has_due(Sweep::Velocity, s.id).await.unwrap());
    let (a, b) = tokio::join!(h.agora.refresh_velocity(s.id), h.agora.refresh_velocity(s.id));
    let (a, b) = (a.unwrap(), b.unwrap());
    let rows = h.snapshot().await.rows::<ProductVelocity>().len() as u64;
    assert_eq!(rows, 2);
    // The first run writes both rows and its cursor; a second one either
    // lost the race (nothing written) or came after it (only the cursor).
    let commits = u64::from(a.conflicts == 0) + u64::from(b.conflicts == 0);
    assert_eq!(a.changed + b.changed - commits, rows, "{a:?} {b:?}");
    assert!(!h.agora.has_due(Sweep::Velocity, s.id).await.unwrap(), "nothing new");
    h.clock.advance(Duration::hours(1));
    assert!(h.agora.has_due(Sweep::Velocity, s.id).await.unwrap(), "hourly at least");
}

pub async fn purchase_order_moves_and_receives_into_stock(ts: TestStore) {
    let Scene { h, s, p, v, .. } = scene(ts, "PO-1", 100, 4).await;
    let (_, w) = h.product(&s, "PO-2", 100, 0).await;
    let req = NewPurchaseOrder { note: Some(" rush ".into()), ..new_po(&s, vec![line(v, 10, 250), line(w, 3, 1000)]) };
    let po = h.agora.create_purchase_order(&s.admin, s.id, req).await.unwrap();
    assert_eq!((po.status.as_str(), po.total_minor, po.note.as_deref()), ("draft", 5500, Some("rush")));
    assert!(po.number.starts_with("PO-"));
    assert_eq!(
        po.lines.iter().map(|l| (l.variant_id, l.qty, l.received_qty)).collect::<Vec<_>>(),
        [(v, 10, 0), (w, 3, 0)]
    );
    let id = PurchaseOrderId(po.id);
    let key = Some("recv-1");
    assert_eq!(code(h.agora.receive_purchase_order(&s.admin, id, key, receive(&[(v, 1)])).await), "invalid_transition");
    h.clock.advance(Duration::seconds(1));
    let po = h.agora.move_purchase_order(&s.admin, id, PurchaseOrderStatus::Submitted).await.unwrap();
    assert_eq!((po.status.as_str(), po.submitted_at), ("submitted", Some(h.clock.now())));
    let r = h.agora.receive_purchase_order(&s.admin, id, key, receive(&[(v, 6)])).await.unwrap();
    assert_eq!((r.order.status.as_str(), r.replayed, r.order.received_at), ("partially_received", false, None));
    assert_eq!(h.available(p.id, v).await, 10, "4 + 6 in the same commit");
    let r = h.agora.receive_purchase_order(&s.admin, id, Some("recv-2"), receive(&[(v, 4), (w, 3)])).await.unwrap();
    assert_eq!((r.order.status.as_str(), r.order.received_at), ("received", Some(h.clock.now())));
    assert_eq!(h.available(p.id, v).await, 14);
    let stock = h.snapshot().await.rows::<Inventory>().into_iter().find(|i| i.variant_id.0 == w).map(|i| i.on_hand);
    assert_eq!(stock, Some(3));
    for to in [PurchaseOrderStatus::Cancelled, PurchaseOrderStatus::Submitted] {
        assert_eq!(code(h.agora.move_purchase_order(&s.admin, id, to).await), "invalid_transition");
    }
    assert_eq!(
        code(h.agora.receive_purchase_order(&s.admin, id, Some("recv-3"), receive(&[(v, 1)])).await),
        "invalid_transition"
    );
    // Cancelling a draft; listing by status, newest first.
    let other = h.agora.create_purchase_order(&s.admin, s.id, new_po(&s, vec![line(v, 1, 0)])).await.unwrap();
    let cancelled = h.agora.move_purchase_order(&s.admin, PurchaseOrderId(other.id), PurchaseOrderStatus::Cancelled);
    assert_eq!(cancelled.await.unwrap().status, "cancelled");
    let q = ListQuery::default();
    let all = h.agora.list_purchase_orders(&s.admin, s.id, None, &q).await.unwrap().items;
    assert_eq!(all.iter().map(|p| p.id).collect::<Vec<_>>(), [other.id, po.id]);
    let received = h.agora.list_purchase_orders(&s.admin, s.id, Some("received"), &q).await.unwrap().items;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].lines.len(), 2);
    assert_eq!(h.agora.get_purchase_order(&s.admin, id).await.unwrap(), received[0]);
    let kinds = event_kinds(&h, po.id).await;
    assert_eq!(
        kinds,
        [
            "purchase_order.created",
            "purchase_order.submitted",
            "purchase_order.partially_received",
            "purchase_order.received"
        ]
    );
}

pub async fn purchase_order_receive_is_idempotent(ts: TestStore) {
    let Scene { h, s, p, v, .. } = scene(ts, "PO-IDEM", 100, 0).await;
    let po = h.agora.create_purchase_order(&s.admin, s.id, new_po(&s, vec![line(v, 10, 1)])).await.unwrap();
    let id = PurchaseOrderId(po.id);
    h.agora.move_purchase_order(&s.admin, id, PurchaseOrderStatus::Submitted).await.unwrap();
    assert_eq!(
        code(h.agora.receive_purchase_order(&s.admin, id, None, receive(&[(v, 1)])).await),
        "idempotency_key_missing"
    );
    let (a, b) = tokio::join!(
        h.agora.receive_purchase_order(&s.admin, id, Some("k"), receive(&[(v, 4)])),
        h.agora.receive_purchase_order(&s.admin, id, Some("k"), receive(&[(v, 4)])),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.recorded, b.recorded, "one answer, byte for byte");
    assert!(a.replayed != b.replayed || (a.replayed && b.replayed), "{a:?} {b:?}");
    assert_eq!(h.available(p.id, v).await, 4, "added once");
    let again = h.agora.receive_purchase_order(&s.admin, id, Some("k"), receive(&[(v, 4)])).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.recorded, a.recorded);
    assert_eq!(
        code(h.agora.receive_purchase_order(&s.admin, id, Some("k"), receive(&[(v, 5)])).await),
        "idempotency_key_reused"
    );
    assert_eq!(h.available(p.id, v).await, 4);
}

pub async fn purchase_order_refusals(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "PO-BAD", 100, 0).await;
    let other = h.store_fixture("other.example.com").await;
    let (_, foreign) = h.product(&other, "PO-FOREIGN", 100, 0).await;
    let before = h.snapshot().await;
    let bad = NewPurchaseOrder {
        vendor: String::new(),
        warehouse_id: s.warehouse,
        currency: "euro".into(),
        lines: vec![line(v, 0, -1), line(v, 1, 1)],
        note: None,
    };
    match h.agora.create_purchase_order(&s.admin, s.id, bad).await {
        Err(AgoraError::Validation(errs)) => {
            let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(
                fields,
                ["vendor", "currency", "lines[0].qty", "lines[0].unit_cost_minor", "lines[1].variant_id"]
            );
        }
        other => panic!("expected validation, got {other:?}"),
    }
    let r = h.agora.create_purchase_order(&s.admin, s.id, new_po(&s, vec![line(foreign, 1, 1)])).await;
    assert_eq!(code(r), "not_found", "another store's variant is no variant of this one");
    let wrong_wh = NewPurchaseOrder { warehouse_id: other.warehouse, ..new_po(&s, vec![line(v, 1, 1)]) };
    assert_eq!(code(h.agora.create_purchase_order(&s.admin, s.id, wrong_wh).await), "not_found");
    assert_eq!(
        code(h.agora.create_purchase_order(&other.admin, s.id, new_po(&s, vec![line(v, 1, 1)])).await),
        "not_found"
    );
    assert_eq!(code(h.agora.create_purchase_order(&c.actor, s.id, new_po(&s, vec![line(v, 1, 1)])).await), "not_found");
    assert_eq!(h.snapshot().await, before, "nothing written");
    let po = h.agora.create_purchase_order(&s.admin, s.id, new_po(&s, vec![line(v, 5, 1)])).await.unwrap();
    let id = PurchaseOrderId(po.id);
    h.agora.move_purchase_order(&s.admin, id, PurchaseOrderStatus::Submitted).await.unwrap();
    assert_eq!(code(h.agora.get_purchase_order(&other.admin, id).await), "not_found");
    assert_eq!(
        code(h.agora.receive_purchase_order(&other.admin, id, Some("x"), receive(&[(v, 1)])).await),
        "not_found"
    );
    assert_eq!(code(h.agora.receive_purchase_order(&s.admin, id, Some("x"), receive(&[(v, 6)])).await), "validation");
    assert_eq!(
        code(h.agora.receive_purchase_order(&s.admin, id, Some("y"), receive(&[(foreign, 1)])).await),
        "validation"
    );
    // Stock writes stop while the store is suspended.
    let sa = h.super_admin().await;
    h.agora
        .patch_store(&sa, s.id, StorePatch { status: Some("suspended".into()), ..Default::default() }, None)
        .await
        .unwrap();
    assert_eq!(
        code(h.agora.receive_purchase_order(&s.admin, id, Some("z"), receive(&[(v, 1)])).await),
        "store_suspended"
    );
    assert_eq!(
        code(h.agora.list_purchase_orders(&s.admin, s.id, Some("open"), &ListQuery::default()).await),
        "validation"
    );
}

pub async fn purchase_order_drafted_from_velocity(ts: TestStore) {
    let (sc, idle) = selling_scene(ts).await;
    let (h, s, v) = (&sc.h, &sc.s, sc.v);
    let from = PurchaseOrderFromVelocity { vendor: "Acme".into(), warehouse_id: s.warehouse, currency: None };
    assert_eq!(
        code(h.agora.purchase_order_from_velocity(&s.admin, s.id, from.clone()).await),
        "validation",
        "no job run yet"
    );
    velocity(h, s).await;
    let po = h.agora.purchase_order_from_velocity(&s.admin, s.id, from.clone()).await.unwrap();
    assert_eq!((po.status.as_str(), po.currency.as_str()), ("draft", "EUR"));
    assert_eq!(po.lines.iter().map(|l| (l.variant_id, l.qty)).collect::<Vec<_>>(), [(v, 15)]);
    assert!(!po.lines.iter().any(|l| l.variant_id == idle));
    // Once submitted, the reorder suggestion is covered.
    h.agora.move_purchase_order(&s.admin, PurchaseOrderId(po.id), PurchaseOrderStatus::Submitted).await.unwrap();
    h.clock.advance(Duration::minutes(1));
    velocity(h, s).await;
    assert_eq!(code(h.agora.purchase_order_from_velocity(&s.admin, s.id, from).await), "validation");
}

pub async fn receipts_into_a_new_stock_row_all_count(ts: TestStore) {
    let Scene { h, s, .. } = scene(ts, "PO-RACE", 100, 0).await;
    // A variant with no stock row in the receiving warehouse yet.
    let np = NewProduct {
        title: "Fresh".into(),
        currency: "EUR".into(),
        status: None,
        variants: vec![NewVariant { sku: "PO-FRESH".into(), name: "f".into(), price_minor: 1 }],
    };
    let p = h.agora.create_product(&s.admin, s.id, np).await.unwrap();
    let v = p.variants[0].id;
    let mut ids = Vec::new();
    for qty in [10, 5, 7] {
        let po = h.agora.create_purchase_order(&s.admin, s.id, new_po(&s, vec![line(v, qty, 1)])).await.unwrap();
        h.agora.move_purchase_order(&s.admin, PurchaseOrderId(po.id), PurchaseOrderStatus::Submitted).await.unwrap();
        ids.push((PurchaseOrderId(po.id), qty));
    }
    let receipts = ids.iter().map(|(id, qty)| {
        let (agora, admin, body) = (h.agora.clone(), s.admin.clone(), receive(&[(v, *qty)]));
        async move { agora.receive_purchase_order(&admin, *id, Some("all"), body).await }
    });
    for r in futures::future::join_all(receipts).await {
        assert_eq!(r.unwrap().order.status, "received");
    }
    assert_eq!(h.available(p.id, v).await, 22, "10 + 5 + 7: no receipt overwrote another");
}

pub async fn velocity_survives_a_stockout_beyond_the_calendar(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "VEL-FAR", 100, 1_000_000_000).await;
    configure(&h, &s, SettingsPatch { velocity_window_days: Some(365), ..Default::default() }).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    h.pay(&c, &o).await;
    let rows = velocity(&h, &s).await;
    let r = row(&rows, v);
    assert_eq!((r.units_sold, r.days_of_cover), (1, Some(999_999_999 * 365)));
    assert_eq!(r.stockout_at, None, "no date beyond a century");
    assert!(h.agora.has_due(agora_core::usecases::Sweep::Insights, s.id).await.unwrap());
    h.agora.refresh_insights(s.id).await.unwrap();
}
