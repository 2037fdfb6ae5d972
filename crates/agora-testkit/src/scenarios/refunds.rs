//! Refunds: partial and full, idempotent, never above the paid amount,
//! settled once per provider event, restocking in the settling commit.

use std::sync::Arc;

use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::{Customer, Harness, StoreFixture, TestStore};

// This module's scenarios, for `crate::conformance_tests!`: a new
// scenario is listed here, beside its code.
crate::__scenario_list!($ __scenarios_refunds:
    partial_refunds_settle_restock_and_end_refunded, refunds_never_exceed_the_paid_amount,
    refund_requests_are_idempotent, refunds_are_validated_and_scoped, refund_webhooks_take_effect_once,
    needs_refund_payment_is_refunded_in_full, concurrent_refunds_never_exceed_the_paid_amount,
    shipping_racing_a_refund_keeps_both, refunds_count_in_kpis, a_refunded_owner_order_holds_the_payout,
);

/// A PAID order of `qty` units of `v` by `c` (price from the scene).
async fn paid(h: &Harness, c: &Customer, s: &StoreFixture, v: Uuid, qty: i64) -> OrderView {
    let o = h.order(c, s, &[(v, qty)]).await.expect("order");
    h.pay(c, &o).await;
    h.agora.get_order(&c.actor, OrderId(o.id)).await.expect("order")
}

fn ask(amount: i64, restock: Option<Vec<RestockLine>>) -> NewRefund {
    NewRefund { amount_minor: amount, reason: "returned".into(), restock }
}

async fn refund(h: &Harness, s: &StoreFixture, o: &OrderView, key: &str, req: NewRefund) -> RefundView {
    h.agora.create_refund(&s.admin, OrderId(o.id), Some(key), req).await.expect("refund").refund
}

async fn stock(h: &Harness, v: Uuid, w: Uuid) -> (i64, i64) {
    let rows = h.store.list_inventory(&[VariantId(v)]).await.unwrap();
    let row = rows.iter().find(|r| r.warehouse_id == WarehouseId(w)).expect("stock row");
    (row.on_hand, row.reserved)
}

pub async fn partial_refunds_settle_restock_and_end_refunded(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-1", 500, 10).await;
    let o = paid(&h, &c, &s, v, 2).await;
    assert_eq!((o.pay_amount_minor, o.refunded_minor, o.refund_pending_minor), (1000, 0, 0));
    assert_eq!(stock(&h, v, s.warehouse).await, (8, 0));
    let back = vec![RestockLine { variant_id: v, warehouse_id: s.warehouse, qty: 1 }];
    let r1 = refund(&h, &s, &o, "k1", ask(300, Some(back.clone()))).await;
    assert_eq!((r1.status.as_str(), r1.amount_minor, r1.kind.as_str()), ("pending", 300, "order"));
    assert_eq!(r1.restock, back);
    assert_eq!(r1.succeeded_at, None);
    let pay = h.store.list_payments(OrderId(o.id)).await.unwrap();
    assert_eq!(r1.payment_id, pay[0].id.0, "refunded through the order's payment");
    let pending = h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap();
    assert_eq!((pending.status.as_str(), pending.refunded_minor, pending.refund_pending_minor), ("PAID", 0, 300));
    assert_eq!(stock(&h, v, s.warehouse).await, (8, 0), "no stock moves before the provider confirms");

    h.clock.advance(Duration::seconds(5));
    assert!(!h.refund_webhook("rf-1", "refund.succeeded", r1.id, 300).await.unwrap().duplicate);
    let after = h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap();
    assert_eq!((after.status.as_str(), after.refunded_minor, after.refund_pending_minor), ("PAID", 300, 0));
    assert_eq!(stock(&h, v, s.warehouse).await, (9, 0), "one unit back on hand");
    let listed = h.agora.list_refunds(&s.admin, OrderId(o.id), &ListQuery::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].status, "succeeded");
    assert_eq!(listed.items[0].succeeded_at, Some(h.clock.now()));
    let mine = h.agora.list_refunds(&c.actor, OrderId(o.id), &ListQuery::default()).await.unwrap();
    assert_eq!(mine.items, listed.items, "the owner sees the order's refunds too");

    // The rest, after shipping: the order ends REFUNDED.
    h.agora.ship_order(&s.admin, OrderId(o.id)).await.unwrap();
    let r2 = refund(&h, &s, &o, "k2", ask(700, None)).await;
    h.refund_webhook("rf-2", "refund.succeeded", r2.id, 700).await.unwrap();
    let done = h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!((done.status.as_str(), done.refunded_minor, done.refund_pending_minor), ("REFUNDED", 1000, 0));
    assert_eq!(stock(&h, v, s.warehouse).await, (9, 0), "no restock asked the second time");
    assert_eq!(
        code(h.agora.create_refund(&s.admin, OrderId(o.id), Some("k3"), ask(1, None)).await),
        "invalid_transition"
    );
    assert_eq!(code(h.agora.receive_order(&c.actor, OrderId(o.id)).await), "invalid_transition");
    let kinds = event_kinds(&h, o.id).await;
    assert_eq!(kinds.last().map(String::as_str), Some("order.refunded"));
    assert_eq!(event_kinds(&h, r1.id).await, ["refund.created", "refund.succeeded"]);
    let audit = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap();
    assert!(audit.items.iter().any(|a| a.key == format!("refund:{}", r2.id)), "a refund is audited");
    let by_status = ListQuery::default();
    let refunded = h.agora.list_store_orders(&s.admin, s.id, Some("REFUNDED"), &by_status).await.unwrap();
    assert_eq!(refunded.items.len(), 1);
}

pub async fn refunds_never_exceed_the_paid_amount(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-2", 500, 10).await;
    let o = paid(&h, &c, &s, v, 2).await;
    let r1 = refund(&h, &s, &o, "a", ask(600, None)).await;
    let over = h.agora.create_refund(&s.admin, OrderId(o.id), Some("b"), ask(401, None)).await;
    assert_eq!(code(over), "conflict", "600 pending + 401 > 1000");
    refund(&h, &s, &o, "c", ask(400, None)).await;
    assert_eq!(code(h.agora.create_refund(&s.admin, OrderId(o.id), Some("d"), ask(1, None)).await), "conflict");
    // A refused refund gives its room back.
    h.refund_webhook("f-1", "refund.failed", r1.id, 600).await.unwrap();
    let o2 = h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap();
    assert_eq!((o2.refunded_minor, o2.refund_pending_minor), (0, 400));
    let r3 = refund(&h, &s, &o, "e", ask(600, None)).await;
    // A provider answer with another amount fails the refund.
    h.refund_webhook("m-1", "refund.succeeded", r3.id, 599).await.unwrap();
    let snap = h.snapshot().await;
    let failed = snap.rows::<Refund>().into_iter().find(|r| r.id == RefundId(r3.id)).unwrap();
    assert_eq!((failed.status, failed.failed_at.is_some()), (RefundStatus::Failed, true));
    let ev = snap.rows::<PaymentEvent>().into_iter().find(|e| e.event_id == "m-1").unwrap();
    assert_eq!(ev.outcome, "amount_mismatch");
    let o3 = h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap();
    assert_eq!((o3.status.as_str(), o3.refunded_minor, o3.refund_pending_minor), ("PAID", 0, 400));
}

pub async fn refund_requests_are_idempotent(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-3", 500, 10).await;
    let o = paid(&h, &c, &s, v, 1).await;
    let first = h.agora.create_refund(&s.admin, OrderId(o.id), Some("same"), ask(100, None)).await.unwrap();
    assert!(!first.replayed);
    let again = h.agora.create_refund(&s.admin, OrderId(o.id), Some("same"), ask(100, None)).await.unwrap();
    assert!(again.replayed);
    assert_eq!((again.refund, again.recorded), (first.refund, first.recorded));
    assert_eq!(h.snapshot().await.rows::<Refund>().len(), 1, "a retried request creates nothing");
    let other = h.agora.create_refund(&s.admin, OrderId(o.id), Some("same"), ask(101, None)).await;
    assert_eq!(code(other), "idempotency_key_reused");
    assert_eq!(
        code(h.agora.create_refund(&s.admin, OrderId(o.id), None, ask(100, None)).await),
        "idempotency_key_missing"
    );
    assert_eq!(
        code(h.agora.create_refund(&s.admin, OrderId(o.id), Some("  "), ask(100, None)).await),
        "idempotency_key_missing"
    );
    let o2 = h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap();
    assert_eq!(o2.refund_pending_minor, 100);
}

pub async fn refunds_are_validated_and_scoped(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-4", 500, 10).await;
    let (_, other_variant) = h.product(&s, "RF-4B", 100, 5).await;
    let o = paid(&h, &c, &s, v, 2).await;
    let id = OrderId(o.id);
    let try_refund = |req: NewRefund| {
        let h = &h;
        let admin = s.admin.clone();
        async move { h.agora.create_refund(&admin, id, Some(&Uuid::now_v7().to_string()), req).await }
    };
    assert_eq!(code(try_refund(ask(0, None)).await), "validation");
    assert_eq!(code(try_refund(NewRefund { reason: " ".into(), ..ask(1, None) }).await), "validation");
    let line =
        |variant: Uuid, warehouse: Uuid, qty: i64| RestockLine { variant_id: variant, warehouse_id: warehouse, qty };
    let w = s.warehouse;
    assert_eq!(code(try_refund(ask(1, Some(vec![line(other_variant, w, 1)]))).await), "validation", "not on the order");
    assert_eq!(code(try_refund(ask(1, Some(vec![line(v, w, 3)]))).await), "validation", "more than ordered");
    assert_eq!(code(try_refund(ask(1, Some(vec![line(v, w, 1), line(v, w, 1)]))).await), "validation", "twice");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(try_refund(ask(1, Some(vec![line(v, other.warehouse, 1)]))).await), "not_found");
    // Units restocked by earlier refunds count; a failed refund's do not.
    let first = try_refund(ask(1, Some(vec![line(v, w, 2)]))).await.unwrap().refund;
    assert_eq!(code(try_refund(ask(1, Some(vec![line(v, w, 1)]))).await), "validation", "both units asked already");
    h.refund_webhook("rf-fail", "refund.failed", first.id, 1).await.unwrap();
    try_refund(ask(1, Some(vec![line(v, w, 2)]))).await.expect("the failed refund's units are free again");
    // Who may ask.
    assert_eq!(code(h.agora.create_refund(&Actor::Anonymous, id, Some("x"), ask(1, None)).await), "unauthorized");
    assert_eq!(code(h.agora.create_refund(&c.actor, id, Some("x"), ask(1, None)).await), "not_found");
    assert_eq!(code(h.agora.create_refund(&other.admin, id, Some("x"), ask(1, None)).await), "not_found");
    assert_eq!(code(h.agora.list_refunds(&other.admin, id, &ListQuery::default()).await), "not_found");
    let stranger = h.customer("bob").await;
    assert_eq!(code(h.agora.list_refunds(&stranger.actor, id, &ListQuery::default()).await), "not_found");
    // Only paid, shipped or received orders.
    let unpaid = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let r = h.agora.create_refund(&s.admin, OrderId(unpaid.id), Some("y"), ask(1, None)).await;
    assert_eq!(code(r), "invalid_transition");
    assert_eq!(
        code(h.agora.create_refund(&s.admin, OrderId(Uuid::now_v7()), Some("z"), ask(1, None)).await),
        "not_found"
    );
}

pub async fn refund_webhooks_take_effect_once(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-5", 500, 10).await;
    let o = paid(&h, &c, &s, v, 2).await;
    let back = vec![RestockLine { variant_id: v, warehouse_id: s.warehouse, qty: 2 }];
    let r = refund(&h, &s, &o, "k", ask(1000, Some(back))).await;
    assert!(!h.refund_webhook("once", "refund.succeeded", r.id, 1000).await.unwrap().duplicate);
    let before = h.snapshot().await;
    assert!(h.refund_webhook("once", "refund.succeeded", r.id, 1000).await.unwrap().duplicate);
    assert_eq!(h.snapshot().await, before, "a repeated event changes nothing");
    // A second event id for a settled refund is recorded and ignored.
    assert!(!h.refund_webhook("twice", "refund.succeeded", r.id, 1000).await.unwrap().duplicate);
    let snap = h.snapshot().await;
    let ev = snap.rows::<PaymentEvent>().into_iter().find(|e| e.event_id == "twice").unwrap();
    assert_eq!(ev.outcome, "ignored_refund_not_pending");
    assert_eq!(stock(&h, v, s.warehouse).await, (10, 0), "restocked once");
    let o2 = h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap();
    assert_eq!((o2.status.as_str(), o2.refunded_minor), ("REFUNDED", 1000));
    // Unknown refunds are recorded, nothing else.
    h.refund_webhook("ghost", "refund.succeeded", Uuid::now_v7(), 5).await.unwrap();
    let snap = h.snapshot().await;
    let ev = snap.rows::<PaymentEvent>().into_iter().find(|e| e.event_id == "ghost").unwrap();
    assert_eq!(ev.outcome, "unknown_refund");
    // A refund event must name its refund.
    let body = serde_json::to_vec(&serde_json::json!({"event_id": "x", "type": "refund.succeeded", "amount_minor": 1}))
        .unwrap();
    let sig = agora_core::secrets::sign_webhook(crate::harness::WEBHOOK_SECRET, &body);
    assert_eq!(code(h.agora.receive_payment_webhook(&body, Some(&sig)).await), "validation");
}

pub async fn needs_refund_payment_is_refunded_in_full(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-6", 500, 10).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    h.agora.cancel_order(&c.actor, OrderId(o.id)).await.unwrap();
    h.webhook("late", "payment.succeeded", pay.id, 500).await.unwrap();
    let stray = PaymentId(pay.id);
    assert_eq!(h.agora.get_payment(&c.actor, stray).await.unwrap().status, "needs_refund");
    assert_eq!(code(h.agora.refund_payment(&c.actor, stray).await), "not_found", "admins only");
    let r = h.agora.refund_payment(&s.admin, stray).await.unwrap();
    assert_eq!((r.kind.as_str(), r.amount_minor, r.status.as_str(), r.payment_id), ("payment", 500, "pending", pay.id));
    assert_eq!(h.agora.get_payment(&c.actor, stray).await.unwrap().status, "refunding");
    assert_eq!(code(h.agora.refund_payment(&s.admin, stray).await), "invalid_transition", "one refund at a time");
    h.refund_webhook("no", "refund.failed", r.id, 500).await.unwrap();
    assert_eq!(h.agora.get_payment(&c.actor, stray).await.unwrap().status, "needs_refund");
    let r2 = h.agora.refund_payment(&s.admin, stray).await.unwrap();
    h.refund_webhook("yes", "refund.succeeded", r2.id, 500).await.unwrap();
    assert_eq!(h.agora.get_payment(&c.actor, stray).await.unwrap().status, "refunded");
    assert_eq!(code(h.agora.refund_payment(&s.admin, stray).await), "invalid_transition");
    let closed = h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!((closed.status.as_str(), closed.refunded_minor), ("CLOSED", 0), "the order never took the money");
    assert_eq!(event_kinds(&h, pay.id).await.last().map(String::as_str), Some("payment.refunded"));
    // A payment that succeeded normally is not refunded this way.
    let o2 = paid(&h, &c, &s, v, 1).await;
    let ok = h.store.list_payments(OrderId(o2.id)).await.unwrap()[0].id;
    assert_eq!(code(h.agora.refund_payment(&s.admin, ok).await), "invalid_transition");
}

pub async fn concurrent_refunds_never_exceed_the_paid_amount(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-7", 500, 10).await;
    let o = paid(&h, &c, &s, v, 2).await;
    let h = Arc::new(h);
    // Eight admins ask for 300 each of 1000 at once: exactly three fit.
    let asks: Vec<_> = (0..8)
        .map(|i| {
            let (h, admin) = (h.clone(), s.admin.clone());
            tokio::spawn(async move {
                h.agora.create_refund(&admin, OrderId(o.id), Some(&format!("race-{i}")), ask(300, None)).await
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for a in asks {
        match a.await.unwrap() {
            Ok(_) => ok += 1,
            Err(AgoraError::Conflict { .. }) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, refused), (3, 5));
    let after = h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap();
    assert_eq!(after.refund_pending_minor, 900);
    assert_eq!(h.snapshot().await.rows::<Refund>().len(), 3);
    // Two that together exceed what is left: exactly one succeeds.
    let (a, b) = tokio::join!(
        h.agora.create_refund(&s.admin, OrderId(o.id), Some("last-a"), ask(60, None)),
        h.agora.create_refund(&s.admin, OrderId(o.id), Some("last-b"), ask(60, None)),
    );
    assert_eq!([code(a), code(b)].iter().filter(|c| **c == "ok").count(), 1);
    assert_eq!(h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap().refund_pending_minor, 960);
}

pub async fn shipping_racing_a_refund_keeps_both(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-8", 500, 10).await;
    for round in 0..4 {
        let o = paid(&h, &c, &s, v, 1).await;
        let key = format!("ship-{round}");
        let (shipped, refunded) = tokio::join!(
            h.agora.ship_order(&s.admin, OrderId(o.id)),
            h.agora.create_refund(&s.admin, OrderId(o.id), Some(&key), ask(100, None)),
        );
        shipped.expect("ship");
        refunded.expect("refund");
        let after = h.agora.get_order(&s.admin, OrderId(o.id)).await.unwrap();
        assert_eq!((after.status.as_str(), after.refund_pending_minor), ("SHIPPED", 100), "round {round}");
    }
}

pub async fn refunds_count_in_kpis(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RF-9", 500, 10).await;
    let o = paid(&h, &c, &s, v, 2).await;
    let r = refund(&h, &s, &o, "k", ask(250, None)).await;
    // A stray payment's refund never counted as revenue, so not here either.
    let late = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(late.id)).await.unwrap();
    h.agora.cancel_order(&c.actor, OrderId(late.id)).await.unwrap();
    h.webhook("late", "payment.succeeded", pay.id, 500).await.unwrap();
    let stray = h.agora.refund_payment(&s.admin, PaymentId(pay.id)).await.unwrap();
    h.refund_webhook("stray", "refund.succeeded", stray.id, 500).await.unwrap();
    h.agora.sequence_events(s.id).await.unwrap();
    h.agora.refresh_kpis(s.id, 10_000).await.unwrap();
    let day = agora_core::usecases::day_key(h.clock.now().date());
    let q = KpiQuery { from: Some(day.clone()), to: Some(day.clone()), currency: None };
    assert_eq!(h.agora.get_kpis(&s.admin, s.id, &q).await.unwrap().refunded_minor, 0, "pending is not refunded");
    // Settled the next day: counted on that day.
    h.clock.advance(Duration::days(1));
    h.refund_webhook("ok", "refund.succeeded", r.id, 250).await.unwrap();
    h.agora.sequence_events(s.id).await.unwrap();
    h.agora.refresh_kpis(s.id, 10_000).await.unwrap();
    let next = agora_core::usecases::day_key(h.clock.now().date());
    let q = KpiQuery { from: Some(day), to: Some(next), currency: None };
    let k = h.agora.get_kpis(&s.admin, s.id, &q).await.unwrap();
    assert_eq!((k.refunded_minor, k.revenue_minor), (250, 1000));
    assert_eq!(k.days.iter().map(|d| d.refunded_minor).collect::<Vec<_>>(), [0, 250]);
}

pub async fn a_refunded_owner_order_holds_the_payout(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "RF-10", 1000, 50).await;
    let (_, t) = qualified_task(&h, &s, v, 1, false).await;
    let owner_order = h.agora.get_order(&s.admin, OrderId(t.order_id)).await.unwrap();
    refund(&h, &s, &owner_order, "back", ask(1, None)).await;
    h.clock.advance(Duration::seconds(604800));
    h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    let held = h.agora.list_payouts(&s.admin, s.id, Some("HELD"), &ListQuery::default()).await.unwrap().items;
    assert_eq!(held.len(), 1, "clean helpers, but the owner's order was refunded");
    assert!(held[0].risk_reasons.iter().any(|r| r.contains("was refunded")), "{:?}", held[0].risk_reasons);
}
