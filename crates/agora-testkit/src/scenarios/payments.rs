//! Payments, provider webhooks, help tasks and the payout ledger.

use agora_core::guards;
use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::{Harness, TestStore};

// This module's scenarios, for `crate::conformance_tests!`: a new
// scenario is listed here, beside its code.
crate::__scenario_list!($ __scenarios_payments:
    payment_success_marks_paid_and_commits_stock, duplicate_webhook_has_no_second_effect, webhook_signature_is_required,
    webhook_amount_mismatch_fails_payment, webhook_success_after_close_needs_refund, webhook_malformed_body,
    payment_requires_created_order, task_requires_paid_order_and_is_unique, help_rules,
    task_qualifies_when_helps_are_valid, payout_is_written_once_per_task, payout_risk_rules_hold_it,
    payout_approve_and_reject_are_audited, open_tasks_expire,
);

pub async fn payment_success_marks_paid_and_commits_stock(ts: TestStore) {
    let Scene { h, s, p, v, c } = scene(ts, "PAY-1", 4999, 5).await;
    let o = h.order(&c, &s, &[(v, 2)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!((pay.status.as_str(), pay.amount_minor, pay.provider.as_str()), ("pending", 9998, "test"));
    let ack = h.webhook("evt-1", "payment.succeeded", pay.id, 9998).await.unwrap();
    assert_eq!(ack, WebhookAck { received: true, duplicate: false });
    let paid = h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!(paid.status, "PAID");
    assert_eq!(paid.paid_at, Some(h.clock.now()));
    assert_eq!(h.agora.get_payment(&c.actor, PaymentId(pay.id)).await.unwrap().status, "succeeded");
    let snap = h.snapshot().await;
    let inv = &snap.rows::<Inventory>()[0];
    assert_eq!((inv.on_hand, inv.reserved), (3, 0), "stock committed: on_hand reduced, hold gone");
    assert!(snap.rows::<InventoryReservation>().iter().all(|r| r.status == ReservationStatus::Committed));
    assert_eq!(h.available(p.id, v).await, 3);
    let ev = &snap.rows::<PaymentEvent>()[0];
    assert_eq!(ev.raw["event_id"], "evt-1", "raw payload kept");
    assert_eq!(ev.outcome, "applied");
}

pub async fn duplicate_webhook_has_no_second_effect(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "PAY-2", 100, 5).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    assert!(!h.webhook("evt-dup", "payment.succeeded", pay.id, 100).await.unwrap().duplicate);
    let before = h.snapshot().await;
    assert!(h.webhook("evt-dup", "payment.succeeded", pay.id, 100).await.unwrap().duplicate);
    assert!(h.webhook("evt-dup", "payment.failed", pay.id, 100).await.unwrap().duplicate);
    assert_eq!(h.snapshot().await, before, "a repeated event changes nothing");
}

pub async fn webhook_signature_is_required(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "PAY-3", 100, 5).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    let body = serde_json::to_vec(
        &serde_json::json!({"event_id": "e", "type": "payment.succeeded", "payment_id": pay.id, "amount_minor": 100}),
    )
    .unwrap();
    assert_eq!(code(h.agora.receive_payment_webhook(&body, None).await), "unauthorized");
    let wrong = agora_core::secrets::sign_webhook(b"wrong secret", &body);
    assert_eq!(code(h.agora.receive_payment_webhook(&body, Some(&wrong)).await), "unauthorized");
    let right = agora_core::secrets::sign_webhook(crate::harness::WEBHOOK_SECRET, &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(code(h.agora.receive_payment_webhook(&tampered, Some(&right)).await), "unauthorized");
    assert!(h.snapshot().await.rows::<PaymentEvent>().is_empty());
}

pub async fn webhook_amount_mismatch_fails_payment(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "PAY-4", 100, 5).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    h.webhook("evt-short", "payment.succeeded", pay.id, 99).await.unwrap();
    assert_eq!(h.agora.get_payment(&c.actor, PaymentId(pay.id)).await.unwrap().status, "failed");
    assert_eq!(h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap().status, "CREATED");
    let snap = h.snapshot().await;
    assert_eq!(snap.rows::<PaymentEvent>()[0].outcome, "amount_mismatch");
    let failed = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    h.webhook("evt-fail", "payment.failed", failed.id, 100).await.unwrap();
    assert_eq!(h.agora.get_payment(&c.actor, PaymentId(failed.id)).await.unwrap().status, "failed");
}

pub async fn webhook_success_after_close_needs_refund(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "PAY-5", 100, 5).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    h.agora.cancel_order(&c.actor, OrderId(o.id)).await.unwrap();
    h.webhook("evt-late", "payment.succeeded", pay.id, 100).await.unwrap();
    assert_eq!(h.agora.get_payment(&c.actor, PaymentId(pay.id)).await.unwrap().status, "needs_refund");
    assert_eq!(h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap().status, "CLOSED");
    let unknown = h.webhook("evt-unknown", "payment.succeeded", Uuid::now_v7(), 100).await.unwrap();
    assert!(!unknown.duplicate);
    let snap = h.snapshot().await;
    assert!(snap.rows::<PaymentEvent>().iter().any(|e| e.outcome == "unknown_payment"), "every event is stored raw");
}

pub async fn webhook_malformed_body(ts: TestStore) {
    let h = Harness::new(ts);
    let sign = |b: &[u8]| agora_core::secrets::sign_webhook(crate::harness::WEBHOOK_SECRET, b);
    let truncated = br#"{"event_id": "e1", "type""#;
    assert_eq!(code(h.agora.receive_payment_webhook(truncated, Some(&sign(truncated))).await), "malformed_json");
    let wrong_type = br#"{"event_id": "e1", "type": "payment.succeeded", "payment_id": "nope", "amount_minor": 1}"#;
    assert_eq!(code(h.agora.receive_payment_webhook(wrong_type, Some(&sign(wrong_type))).await), "validation");
    let bad_kind =
        format!(r#"{{"event_id": "e1", "type": "refund", "payment_id": "{}", "amount_minor": 1}}"#, Uuid::now_v7());
    let r = h.agora.receive_payment_webhook(bad_kind.as_bytes(), Some(&sign(bad_kind.as_bytes()))).await;
    assert_eq!(code(r), "validation");
}

pub async fn payment_requires_created_order(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "PAY-6", 100, 5).await;
    let o = paid_order(&h, &c, &s, v).await;
    assert_eq!(code(h.agora.create_payment(&c.actor, OrderId(o.id)).await), "invalid_transition");
    let bob = h.customer("bob").await;
    assert_eq!(code(h.agora.create_payment(&bob.actor, OrderId(o.id)).await), "not_found");
}

pub async fn task_requires_paid_order_and_is_unique(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "TK-1", 100, 5).await;
    let unpaid = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    assert_eq!(code(h.agora.create_task(&c.actor, NewTask { order_id: unpaid.id }).await), "invalid_transition");
    let paid = paid_order(&h, &c, &s, v).await;
    let t = h.agora.create_task(&c.actor, NewTask { order_id: paid.id }).await.unwrap();
    assert_eq!((t.status.as_str(), t.required_helpers, t.helps_valid), ("OPEN", 3, 0));
    assert_eq!(t.expires_at, h.clock.now() + Duration::seconds(86400));
    assert!(t.qualified_at.is_none() && t.payout_at.is_none());
    assert_eq!(code(h.agora.create_task(&c.actor, NewTask { order_id: paid.id }).await), "conflict");
    let bob = h.customer("bob").await;
    assert_eq!(code(h.agora.create_task(&bob.actor, NewTask { order_id: paid.id }).await), "not_found");
    let got = h.agora.get_task(&t.task_no).await.unwrap();
    assert_eq!(got.helps.as_deref(), Some(&[][..]));
    assert_eq!(code(h.agora.get_task("T-NOPE").await), "not_found");
}

pub async fn help_rules(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "HP-1", 100, 50).await;
    let owner = h.customer("owner").await;
    let paid = paid_order(&h, &owner, &s, v).await;
    let t = h.agora.create_task(&owner.actor, NewTask { order_id: paid.id }).await.unwrap();
    let own = h.order_with_key(&owner, &s, &[(v, 1)], "own", Some(&t.task_no)).await;
    assert_eq!(code(own), "conflict", "owners cannot help their own task");
    let helper = h.customer_at("helper", "9 Elm St", None).await;
    let o = h.order_with_key(&helper, &s, &[(v, 1)], "h1", Some(&t.task_no)).await.unwrap();
    assert_eq!(o.order.help_task_no.as_deref(), Some(t.task_no.as_str()));
    let twice = h.order_with_key(&helper, &s, &[(v, 1)], "h2", Some(&t.task_no)).await;
    assert_eq!(code(twice), "conflict", "one help per helper per task");
    let unknown = h.order_with_key(&helper, &s, &[(v, 1)], "h3", Some("T-UNKNOWN")).await;
    assert_eq!(code(unknown), "not_found");
    let helps = h.agora.get_task(&t.task_no).await.unwrap().helps.unwrap();
    assert_eq!(helps.len(), 1);
    assert_eq!(helps[0].status, "PENDING");
    h.clock.advance(Duration::days(2));
    h.agora.expire_tasks(s.id, 100).await.unwrap();
    let late = h.customer_at("late", "5 Oak St", None).await;
    assert_eq!(code(h.order_with_key(&late, &s, &[(v, 1)], "h4", Some(&t.task_no)).await), "conflict", "task not open");
}

pub async fn task_qualifies_when_helps_are_valid(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "Q-1", 1000, 50).await;
    let (_, t) = qualified_task(&h, &s, v, 2, false).await;
    assert_eq!(t.status, "QUALIFIED");
    assert_eq!(t.helps_valid, 2);
    assert_eq!(t.qualified_at, Some(h.clock.now()));
    assert_eq!(t.payout_at, Some(h.clock.now() + Duration::seconds(604800)));
    assert!(t.helps.unwrap().iter().all(|h| h.status == "VALID"));
}

pub async fn payout_is_written_once_per_task(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PO-1", 1000, 50).await;
    configure(&h, &s, SettingsPatch { help_payout_percent: Some(50), ..Default::default() }).await;
    let (owner, t) = qualified_task(&h, &s, v, 1, false).await;
    assert_eq!(h.agora.settle_due_payouts(s.id, 100).await.unwrap().changed, 0, "not due yet");
    h.clock.advance(Duration::seconds(604800));
    let first = h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    assert_eq!(first.changed, 1);
    let again = h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    assert_eq!(again.changed, 0);
    let rows = h.agora.list_payouts(&s.admin, s.id, None, &ListQuery::default()).await.unwrap().items;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].task_no, t.task_no);
    assert_eq!(rows[0].amount_minor, 500);
    assert_eq!(rows[0].payout_status, "PENDING");
    assert_eq!(rows[0].risk_level, "low");
    assert_eq!(rows[0].user_id, owner.user.id);
    assert_eq!(h.agora.get_task(&t.task_no).await.unwrap().status, "SETTLED");
    let task_id = h.store.get_task_by_no(&t.task_no).await.unwrap().unwrap().id;
    let mut cs = Changeset::new();
    cs.guard(guards::no_payout_for_task(task_id));
    cs.delete::<Session>(SessionId(Uuid::now_v7()));
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::GuardFailed(_))), "the guard sees the row");
}

pub async fn payout_risk_rules_hold_it(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PO-2", 1000, 50).await;
    let (_, _t) = qualified_task(&h, &s, v, 1, true).await;
    h.clock.advance(Duration::seconds(604800));
    h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    let rows = h.agora.list_payouts(&s.admin, s.id, Some("HELD"), &ListQuery::default()).await.unwrap().items;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].risk_level, "high");
    assert!(rows[0].risk_reasons.iter().any(|r| r.contains("address")), "{:?}", rows[0].risk_reasons);
    assert!(rows[0].risk_reasons.iter().any(|r| r.contains("younger")), "{:?}", rows[0].risk_reasons);
}

pub async fn payout_approve_and_reject_are_audited(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PO-3", 1000, 50).await;
    qualified_task(&h, &s, v, 1, true).await;
    h.clock.advance(Duration::seconds(604800));
    h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    let row = h.agora.list_payouts(&s.admin, s.id, None, &ListQuery::default()).await.unwrap().items.remove(0);
    let id = PayoutId(row.id);
    let c = h.customer("mallory").await;
    assert_eq!(code(h.agora.decide_payout(&c.actor, id, true, PayoutDecision::default(), None).await), "not_found");
    let paid = h
        .agora
        .decide_payout(
            &s.admin,
            id,
            true,
            PayoutDecision { note: Some("checked by phone".into()) },
            Some("198.51.100.7"),
        )
        .await
        .unwrap();
    assert_eq!(paid.payout_status, "PAID");
    assert_eq!(paid.note.as_deref(), Some("checked by phone"));
    assert!(paid.operator.is_some());
    assert_eq!(
        code(h.agora.decide_payout(&s.admin, id, false, PayoutDecision::default(), None).await),
        "invalid_transition"
    );
    let logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    let row = logs.iter().find(|l| l.key.starts_with("payout:")).expect("audited");
    assert_eq!((row.from.as_deref(), row.to.as_deref()), (Some("HELD"), Some("PAID")));
    assert_eq!(row.ip.as_deref(), Some("198.51.100.7"));
}

pub async fn open_tasks_expire(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "EX-1", 100, 5).await;
    let paid = paid_order(&h, &c, &s, v).await;
    let t = h.agora.create_task(&c.actor, NewTask { order_id: paid.id }).await.unwrap();
    h.clock.advance(Duration::seconds(86399));
    assert_eq!(h.agora.expire_tasks(s.id, 100).await.unwrap().changed, 0);
    h.clock.advance(Duration::seconds(1));
    assert_eq!(h.agora.expire_tasks(s.id, 100).await.unwrap().changed, 1);
    assert_eq!(h.agora.get_task(&t.task_no).await.unwrap().status, "EXPIRED");
    assert_eq!(h.agora.expire_tasks(s.id, 100).await.unwrap().scanned, 0);
}
