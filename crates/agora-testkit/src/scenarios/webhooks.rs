//! Outgoing webhooks: endpoints, fan-out of the feed, signed deliveries in
//! seq order, retries with backoff, 4xx that stops, auto-disable, manual
//! retry. The harness's [`crate::harness::ScriptedReceiver`] answers.

use std::sync::Arc;

use agora_core::outgoing::{OutgoingWebhook, WebhookAnswer, sign_outgoing};
use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::{Harness, StoreFixture, TestStore};

// This module's scenarios, for `crate::conformance_tests!`: a new
// scenario is listed here, beside its code.
crate::__scenario_list!($ __scenarios_webhooks:
    webhook_endpoints_are_managed_by_their_store, webhook_targets_are_checked,
    deliveries_go_out_signed_in_seq_order, endpoints_get_only_their_events_once,
    failed_attempts_back_off_and_hold_the_queue, refusals_fail_one_delivery_and_the_queue_moves_on,
    an_endpoint_failing_for_three_days_is_disabled, failed_deliveries_can_be_retried,
    deleting_an_endpoint_removes_its_log, an_event_gone_from_the_feed_fails_its_delivery_at_once,
    settled_deliveries_are_kept_for_their_period,
);

/// The kind [`feed`]'s orders write, one event each.
const CREATED: &str = "order.created";

fn endpoint(url: &str, events: &[&str]) -> NewWebhookEndpoint {
    NewWebhookEndpoint { url: url.into(), events: events.iter().map(|e| (*e).to_owned()).collect(), description: None }
}

/// Writes `n` feed events (orders placed) and sequences them.
async fn feed(h: &Harness, s: &StoreFixture, n: usize) -> Vec<OrderView> {
    let (_, v) = h.product(s, &format!("WH-{}", Uuid::now_v7().simple()), 100, 1000).await;
    let c = h.customer(&format!("wh{}", Uuid::now_v7().simple())).await;
    let mut orders = Vec::new();
    for _ in 0..n {
        orders.push(h.order(&c, s, &[(v, 1)]).await.unwrap());
    }
    h.agora.sequence_events(s.id).await.unwrap();
    orders
}

/// Attempts every due head until none is due; returns the attempts made.
async fn deliver_all(h: &Harness, s: &StoreFixture) -> usize {
    h.agora.sequence_events(s.id).await.unwrap();
    h.agora.fan_out_webhooks(s.id, 10_000).await.unwrap();
    let mut attempts = 0;
    loop {
        let due = h.agora.due_webhook_endpoints(100).await.unwrap();
        let mut any = false;
        for id in due {
            while let Some(d) = h.agora.deliver_next_webhook(id).await.unwrap() {
                attempts += 1;
                any = true;
                if d.status == "pending" {
                    break;
                }
            }
        }
        if !any {
            return attempts;
        }
    }
}

fn header<'a>(r: &'a OutgoingWebhook, name: &str) -> &'a str {
    r.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

async fn deliveries(h: &Harness, s: &StoreFixture, id: Uuid, status: Option<&str>) -> Vec<WebhookDeliveryView> {
    let q = ListQuery { limit: Some(200), cursor: None };
    h.agora.list_webhook_deliveries(&s.admin, WebhookEndpointId(id), status, &q).await.unwrap().items
}

pub async fn webhook_endpoints_are_managed_by_their_store(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let created = h
        .agora
        .create_webhook_endpoint(
            &s.admin,
            s.id,
            endpoint("https://hooks.example.com/a", &["order.paid", "order.created"]),
        )
        .await
        .unwrap();
    let secret = created.secret.clone().expect("the secret is shown once");
    assert!(secret.starts_with("whsec_") && secret.len() > 30);
    assert_eq!((created.status.as_str(), created.events.len()), ("enabled", 2));
    let snap = h.snapshot().await;
    let row = &snap.rows::<WebhookEndpoint>()[0];
    assert!(!String::from_utf8_lossy(&row.secret.ciphertext).contains(&secret), "stored sealed");
    assert!(!serde_json::to_string(row).unwrap().contains(&secret));
    let listed = h.agora.list_webhook_endpoints(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].secret, None, "never shown again");
    let id = WebhookEndpointId(created.id);
    let patch = WebhookEndpointPatch {
        events: Some(vec!["*".into()]),
        status: Some("disabled".into()),
        description: Some("ERP".into()),
        ..Default::default()
    };
    let changed = h.agora.patch_webhook_endpoint(&s.admin, id, patch).await.unwrap();
    assert_eq!(
        (changed.status.as_str(), changed.events.clone(), changed.description.as_deref()),
        ("disabled", vec!["*".to_owned()], Some("ERP"))
    );
    let bad = WebhookEndpointPatch { status: Some("paused".into()), ..Default::default() };
    assert_eq!(code(h.agora.patch_webhook_endpoint(&s.admin, id, bad).await), "validation");
    // Other stores' admins and customers see nothing.
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(
        code(h.agora.patch_webhook_endpoint(&other.admin, id, WebhookEndpointPatch::default()).await),
        "not_found"
    );
    assert_eq!(code(h.agora.list_webhook_endpoints(&other.admin, s.id, &ListQuery::default()).await), "not_found");
    let c = h.customer("ann").await;
    assert_eq!(code(h.agora.list_webhook_deliveries(&c.actor, id, None, &ListQuery::default()).await), "not_found");
    assert_eq!(
        code(h.agora.create_webhook_endpoint(&Actor::Anonymous, s.id, endpoint("https://a.example.com", &["*"])).await),
        "unauthorized"
    );
    let audit = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    assert!(
        audit.iter().filter(|a| a.key == format!("webhook_endpoint:{}", created.id)).count() >= 2,
        "created and disabled are audited"
    );
}

pub async fn webhook_targets_are_checked(ts: TestStore) {
    let (h, s) = setup(ts).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.5/",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.1/",
        "ftp://hooks.example.com/",
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com/a b",
        "not a url",
    ] {
        let r = h.agora.create_webhook_endpoint(&s.admin, s.id, endpoint(url, &["*"])).await;
        assert_eq!(code(r), "validation", "{url}");
    }
    for events in [vec![], vec!["Order.Paid"], vec!["order"], vec!["order..paid"]] {
        let r = h.agora.create_webhook_endpoint(&s.admin, s.id, endpoint("https://hooks.example.com/", &events)).await;
        assert_eq!(code(r), "validation", "{events:?}");
    }
    let ok =
        h.agora.create_webhook_endpoint(&s.admin, s.id, endpoint("https://hooks.example.com/", &["*"])).await.unwrap();
    let to_private = WebhookEndpointPatch { url: Some("http://10.1.1.1/".into()), ..Default::default() };
    assert_eq!(
        code(h.agora.patch_webhook_endpoint(&s.admin, WebhookEndpointId(ok.id), to_private).await),
        "validation"
    );
    assert!(h.snapshot().await.rows::<WebhookEndpoint>().iter().all(|e| e.url == "https://hooks.example.com/"));
}

pub async fn deliveries_go_out_signed_in_seq_order(ts: TestStore) {
    let (h, s) = setup(ts).await;
    // Events before the endpoint existed are not sent.
    feed(&h, &s, 2).await;
    let ep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://hooks.example.com/all", &[CREATED]))
        .await
        .unwrap();
    let secret = ep.secret.clone().unwrap();
    let orders = feed(&h, &s, 5).await;
    assert_eq!(deliver_all(&h, &s).await, 5);
    let sent = h.receiver.sent();
    assert_eq!(sent.len(), 5);
    let mut seqs = Vec::new();
    for (r, o) in sent.iter().zip(&orders) {
        assert_eq!(r.url, "https://hooks.example.com/all");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["event"]["kind"], "order.created");
        assert_eq!(body["event"]["entity_id"], o.id.to_string(), "in the order the events were written");
        assert_eq!(header(r, "Agora-Delivery-Id"), body["delivery_id"].as_str().unwrap());
        assert_eq!(header(r, "Agora-Event-Id"), body["event"]["id"].as_str().unwrap());
        assert_eq!(header(r, "Content-Type"), "application/json");
        let signature = header(r, "Agora-Signature");
        let t: i64 = signature.strip_prefix("t=").and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
        assert_eq!(t, h.clock.now().unix_timestamp());
        assert_eq!(signature, sign_outgoing(secret.as_bytes(), t, &r.body), "signed over the exact body");
        seqs.push(body["event"]["seq"].as_i64().unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let log = deliveries(&h, &s, ep.id, Some("delivered")).await;
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|d| d.attempts == 1 && d.delivered_at.is_some() && d.last_status == Some(200)));
    assert_eq!(deliver_all(&h, &s).await, 0, "nothing twice");
}

pub async fn endpoints_get_only_their_events_once(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let paid_only = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://a.example.com/", &["order.paid"]))
        .await
        .unwrap();
    let all =
        h.agora.create_webhook_endpoint(&s.admin, s.id, endpoint("https://b.example.com/", &["*"])).await.unwrap();
    let (_, v) = h.product(&s, "WH-F", 100, 10).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    h.pay(&c, &o).await;
    h.agora.sequence_events(s.id).await.unwrap();
    // Two workers fan out the same stretch at once: one set of deliveries.
    let h = Arc::new(h);
    let (a, b) = tokio::join!(h.agora.fan_out_webhooks(s.id, 1000), h.agora.fan_out_webhooks(s.id, 1000));
    a.unwrap();
    b.unwrap();
    h.agora.fan_out_webhooks(s.id, 1000).await.unwrap();
    let only_paid = deliveries(&h, &s, paid_only.id, None).await;
    assert_eq!(only_paid.iter().map(|d| d.kind.as_str()).collect::<Vec<_>>(), ["order.paid"]);
    let every = deliveries(&h, &s, all.id, None).await;
    let events = h.snapshot().await.rows::<ActivityEvent>().into_iter().filter(|e| e.store_id == s.id).count();
    assert_eq!(every.len(), events, "one delivery per event, however many fan-outs ran");
    let mut seqs: Vec<i64> = every.iter().map(|d| d.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), every.len());
}

pub async fn failed_attempts_back_off_and_hold_the_queue(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let ep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://slow.example.com/", &[CREATED]))
        .await
        .unwrap();
    feed(&h, &s, 3).await;
    h.receiver.answer([
        WebhookAnswer::Status(500),
        WebhookAnswer::Error("timed out after 10 s".into()),
        WebhookAnswer::Status(429),
        WebhookAnswer::Status(408),
    ]);
    assert_eq!(deliver_all(&h, &s).await, 1, "the first attempt fails; the rest waits");
    let first = deliveries(&h, &s, ep.id, Some("pending")).await;
    let head = first.iter().min_by_key(|d| d.seq).unwrap().clone();
    assert_eq!((head.attempts, head.last_status), (1, Some(500)));
    assert!(
        first.iter().filter(|d| d.id != head.id).all(|d| d.next_attempt_at.is_none()),
        "only the head is scheduled"
    );
    let wait = head.next_attempt_at.unwrap() - h.clock.now();
    assert!(wait >= Duration::milliseconds(500) && wait <= Duration::seconds(1), "{wait}");
    assert_eq!(deliver_all(&h, &s).await, 0, "not due yet");
    let mut waits = vec![wait];
    for expected_attempts in 2..=4 {
        h.clock.advance(Duration::hours(2));
        assert_eq!(deliver_all(&h, &s).await, 1);
        let d = deliveries(&h, &s, ep.id, Some("pending")).await.into_iter().find(|d| d.id == head.id).unwrap();
        assert_eq!(d.attempts, expected_attempts);
        waits.push(d.next_attempt_at.unwrap() - h.clock.now());
        if expected_attempts == 2 {
            assert_eq!((d.last_status, d.last_error.as_deref()), (None, Some("timed out after 10 s")));
        }
    }
    // 1 s, 2 s, 4 s, 8 s before jitter (half to all of it).
    for (i, w) in waits.iter().enumerate() {
        let base = Duration::seconds(1 << i);
        assert!(*w >= base / 2 && *w <= base, "attempt {}: {w}", i + 1);
    }
    let e = h.agora.list_webhook_endpoints(&s.admin, s.id, &ListQuery::default()).await.unwrap().items.remove(0);
    assert!(e.failing_since.is_some());
    h.clock.advance(Duration::hours(2));
    assert_eq!(deliver_all(&h, &s).await, 3, "the answer is 200 again: all three go, in order");
    assert_eq!(deliveries(&h, &s, ep.id, Some("delivered")).await.len(), 3);
    let e = h.agora.list_webhook_endpoints(&s.admin, s.id, &ListQuery::default()).await.unwrap().items.remove(0);
    assert_eq!(e.failing_since, None, "a success ends the failure run");
}

pub async fn refusals_fail_one_delivery_and_the_queue_moves_on(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let ep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://strict.example.com/", &[CREATED]))
        .await
        .unwrap();
    feed(&h, &s, 3).await;
    h.receiver.answer([WebhookAnswer::Status(410)]);
    assert_eq!(deliver_all(&h, &s).await, 3);
    let failed = deliveries(&h, &s, ep.id, Some("failed")).await;
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].attempts, failed[0].last_status, failed[0].next_attempt_at), (1, Some(410), None));
    assert_eq!(deliveries(&h, &s, ep.id, Some("delivered")).await.len(), 2);
    assert_eq!(
        code(
            h.agora
                .list_webhook_deliveries(&s.admin, WebhookEndpointId(ep.id), Some("lost"), &ListQuery::default())
                .await
        ),
        "validation"
    );
}

pub async fn an_endpoint_failing_for_three_days_is_disabled(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let ep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://down.example.com/", &[CREATED]))
        .await
        .unwrap();
    feed(&h, &s, 2).await;
    h.receiver.answer(std::iter::repeat_n(WebhookAnswer::Status(503), 200));
    let started = h.clock.now();
    let mut attempts = 0;
    while h.clock.now() - started < Duration::days(4) {
        attempts += deliver_all(&h, &s).await;
        h.clock.advance(Duration::hours(1));
    }
    let e = h.agora.list_webhook_endpoints(&s.admin, s.id, &ListQuery::default()).await.unwrap().items.remove(0);
    assert_eq!(e.status, "disabled");
    assert!(e.disabled_reason.as_deref().is_some_and(|r| r.contains("3 days")));
    // Hourly at most after the first hours: about 3 days of attempts, then none.
    assert!((70..=90).contains(&attempts), "{attempts} attempts");
    let sent_before = h.receiver.sent().len();
    h.clock.advance(Duration::days(1));
    assert_eq!(deliver_all(&h, &s).await, 0, "a disabled endpoint gets nothing");
    assert_eq!(h.receiver.sent().len(), sent_before);
    let audit = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    assert!(audit.iter().any(|a| a.key == format!("webhook_endpoint:{}", ep.id)
        && a.actor_masked == "agora"
        && a.to.as_deref() == Some("disabled")));
    // Events written while it was disabled wait for it; enabled again, the
    // receiver answers 200 and everything goes.
    feed(&h, &s, 1).await;
    h.receiver.clear_script();
    let enable = WebhookEndpointPatch { status: Some("enabled".into()), ..Default::default() };
    let back = h.agora.patch_webhook_endpoint(&s.admin, WebhookEndpointId(ep.id), enable).await.unwrap();
    assert_eq!((back.status.as_str(), back.disabled_reason, back.failing_since), ("enabled", None, None));
    assert_eq!(deliver_all(&h, &s).await, 3);
    assert_eq!(deliveries(&h, &s, ep.id, Some("delivered")).await.len(), 3, "nothing lost while disabled");
}

pub async fn failed_deliveries_can_be_retried(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let ep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://picky.example.com/", &[CREATED]))
        .await
        .unwrap();
    feed(&h, &s, 2).await;
    h.receiver.answer([WebhookAnswer::Status(400), WebhookAnswer::Status(400)]);
    deliver_all(&h, &s).await;
    let failed = deliveries(&h, &s, ep.id, Some("failed")).await;
    assert_eq!(failed.len(), 2);
    let oldest = failed.iter().min_by_key(|d| d.seq).unwrap();
    let again = h.agora.retry_webhook_delivery(&s.admin, WebhookDeliveryId(oldest.id)).await.unwrap();
    assert_eq!((again.status.as_str(), again.next_attempt_at), ("pending", Some(h.clock.now())));
    let newest = failed.iter().max_by_key(|d| d.seq).unwrap();
    let queued = h.agora.retry_webhook_delivery(&s.admin, WebhookDeliveryId(newest.id)).await.unwrap();
    assert_eq!((queued.status.as_str(), queued.next_attempt_at), ("pending", None), "waits behind the older one");
    assert_eq!(deliver_all(&h, &s).await, 2);
    let done = deliveries(&h, &s, ep.id, Some("delivered")).await;
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|d| d.attempts == 2));
    let r = h.agora.retry_webhook_delivery(&s.admin, WebhookDeliveryId(oldest.id)).await;
    assert_eq!(code(r), "invalid_transition");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.retry_webhook_delivery(&other.admin, WebhookDeliveryId(oldest.id)).await), "not_found");
}

pub async fn deleting_an_endpoint_removes_its_log(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let ep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://gone.example.com/", &[CREATED]))
        .await
        .unwrap();
    let keep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://kept.example.com/", &[CREATED]))
        .await
        .unwrap();
    feed(&h, &s, 3).await;
    deliver_all(&h, &s).await;
    h.agora.delete_webhook_endpoint(&s.admin, WebhookEndpointId(ep.id)).await.unwrap();
    let snap = h.snapshot().await;
    assert!(snap.rows::<WebhookDelivery>().iter().all(|d| d.endpoint_id == WebhookEndpointId(keep.id)));
    assert_eq!(snap.rows::<WebhookEndpoint>().len(), 1);
    assert_eq!(code(h.agora.delete_webhook_endpoint(&s.admin, WebhookEndpointId(ep.id)).await), "not_found");
    assert_eq!(deliveries(&h, &s, keep.id, Some("delivered")).await.len(), 3);
}

pub async fn an_event_gone_from_the_feed_fails_its_delivery_at_once(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let ep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://late.example.com/", &[CREATED]))
        .await
        .unwrap();
    feed(&h, &s, 2).await;
    h.agora.fan_out_webhooks(s.id, 100).await.unwrap();
    let queued = deliveries(&h, &s, ep.id, Some("pending")).await;
    let first = queued.iter().min_by_key(|d| d.seq).unwrap();
    // Retention took the event before it was sent.
    let mut cs = Changeset::new();
    cs.delete::<ActivityEvent>(EventId(first.event_id));
    h.store.apply(cs).await.unwrap();
    assert_eq!(deliver_all(&h, &s).await, 2);
    let failed = deliveries(&h, &s, ep.id, Some("failed")).await;
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].id, failed[0].last_error.as_deref()), (first.id, Some("the event is no longer in the feed")));
    assert_eq!(deliveries(&h, &s, ep.id, Some("delivered")).await.len(), 1, "the queue moved on");
    assert_eq!(h.receiver.sent().len(), 1);
    let e = h.agora.list_webhook_endpoints(&s.admin, s.id, &ListQuery::default()).await.unwrap().items.remove(0);
    assert_eq!(e.failing_since, None, "not the receiver's failure");
}

pub async fn settled_deliveries_are_kept_for_their_period(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let ep = h
        .agora
        .create_webhook_endpoint(&s.admin, s.id, endpoint("https://kept.example.com/", &[CREATED]))
        .await
        .unwrap();
    feed(&h, &s, 3).await;
    h.receiver.answer([WebhookAnswer::Status(400), WebhookAnswer::Status(200), WebhookAnswer::Status(500)]);
    deliver_all(&h, &s).await;
    assert_eq!(h.agora.purge_old_webhook_deliveries(100).await.unwrap().changed, 0, "all young");
    h.clock.advance(Duration::days(31));
    assert_eq!(h.agora.purge_old_webhook_deliveries(100).await.unwrap().changed, 2, "one failed, one delivered");
    let left = deliveries(&h, &s, ep.id, None).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, "pending", "a pending delivery is never removed");
}
