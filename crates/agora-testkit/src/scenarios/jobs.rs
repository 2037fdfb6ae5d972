//! The worker's sweeps, the event feed and exports.

use std::sync::Arc;

use agora_core::views::*;
use agora_core::*;
use time::Duration;

use super::*;
use crate::harness::TestStore;

// This module's scenarios, for `crate::conformance_tests!`: a new
// scenario is listed here, beside its code.
crate::__scenario_list!($ __scenarios_jobs:
    unpaid_orders_time_out_and_release_stock, shipped_orders_are_auto_received, expired_sessions_and_keys_are_purged,
    reconciliation_records_drift_as_audit, event_feed_is_gapless_and_ordered,
    event_feed_misses_nothing_under_concurrency, export_lifecycle_csv_and_jsonl, export_expiry_deletes_file_and_audits,
    due_checks_match_what_the_sweeps_do, stale_exports_are_requeued_with_an_event,
);

pub async fn unpaid_orders_time_out_and_release_stock(ts: TestStore) {
    let Scene { h, s, p, v, c } = scene(ts, "TO-1", 100, 5).await;
    let o = h.order(&c, &s, &[(v, 2)]).await.unwrap();
    let kept = paid_order(&h, &c, &s, v).await;
    h.clock.advance(Duration::seconds(1799));
    assert_eq!(h.agora.expire_unpaid_orders(s.id, 100).await.unwrap().changed, 0);
    h.clock.advance(Duration::seconds(1));
    let r = h.agora.expire_unpaid_orders(s.id, 100).await.unwrap();
    assert_eq!((r.scanned, r.changed), (1, 1));
    let closed = h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!(closed.status, "CLOSED");
    assert_eq!(closed.close_reason.as_deref(), Some("timeout"));
    assert_eq!(h.agora.get_order(&c.actor, OrderId(kept.id)).await.unwrap().status, "PAID");
    assert_eq!(h.available(p.id, v).await, 4);
    assert_eq!(h.agora.expire_unpaid_orders(s.id, 100).await.unwrap().scanned, 0, "idempotent");
}

pub async fn shipped_orders_are_auto_received(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "AR-1", 100, 5).await;
    configure(&h, &s, SettingsPatch { auto_receive_seconds: Some(3600), ..Default::default() }).await;
    let c = h.customer("ann").await;
    let o = paid_order(&h, &c, &s, v).await;
    h.agora.ship_order(&s.admin, OrderId(o.id)).await.unwrap();
    h.clock.advance(Duration::seconds(3599));
    assert_eq!(h.agora.auto_receive_orders(s.id, 100).await.unwrap().changed, 0);
    h.clock.advance(Duration::seconds(1));
    assert_eq!(h.agora.auto_receive_orders(s.id, 100).await.unwrap().changed, 1);
    assert_eq!(h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap().status, "RECEIVED");
}

pub async fn expired_sessions_and_keys_are_purged(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "PU-1", 100, 5).await;
    h.order(&c, &s, &[(v, 1)]).await.unwrap();
    h.clock.advance(Duration::days(8));
    assert_eq!(h.agora.purge_expired_sessions(100).await.unwrap().changed, 1);
    assert_eq!(h.agora.purge_expired_idempotency(100).await.unwrap().changed, 1);
    let snap = h.snapshot().await;
    assert!(snap.rows::<Session>().is_empty() && snap.rows::<IdempotencyRecord>().is_empty());
    assert_eq!(snap.rows::<CustomerOrder>().len(), 1, "orders are kept");
}

pub async fn reconciliation_records_drift_as_audit(ts: TestStore) {
    let Scene { h, s, p, v, c } = scene(ts, "RC-1", 100, 10).await;
    h.order(&c, &s, &[(v, 2)]).await.unwrap();
    assert_eq!(h.agora.reconcile_inventory(s.id).await.unwrap().changed, 0, "no drift, no audit");
    let mut cs = Changeset::new();
    cs.stock(VariantId(v), WarehouseId(s.warehouse), h.clock.now(), StockChange::Adjust { on_hand: 0, reserved: 3 });
    h.store.apply(cs).await.unwrap();
    assert_eq!(h.available(p.id, v).await, 5);
    let r = h.agora.reconcile_inventory(s.id).await.unwrap();
    assert_eq!(r.changed, 1);
    assert_eq!(h.available(p.id, v).await, 8);
    let logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    let row = logs.iter().find(|l| l.key.starts_with("inventory_reserved:")).expect("drift audited");
    assert_eq!((row.from.as_deref(), row.to.as_deref()), (Some("5"), Some("2")));
}

pub async fn event_feed_is_gapless_and_ordered(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "EV-1", 100, 5).await;
    let o = paid_order(&h, &c, &s, v).await;
    let page = h.agora.list_events(&s.admin, s.id, 0, Some(200)).await.unwrap();
    let seqs: Vec<i64> = page.items.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "1, 2, 3, ... without gaps");
    assert_eq!(page.next_after, *seqs.last().unwrap());
    let kinds: Vec<&str> = page.items.iter().map(|e| e.kind.as_str()).collect();
    for k in ["store.created", "product.created", "order.created", "order.paid"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(page.items.iter().any(|e| e.entity_id == o.id));
    let tail = h.agora.list_events(&s.admin, s.id, 2, Some(2)).await.unwrap();
    assert_eq!(tail.items.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    let empty = h.agora.list_events(&s.admin, s.id, page.next_after, None).await.unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.next_after, page.next_after);
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.list_events(&other.admin, s.id, 0, None).await), "not_found");
    let first_other = h.agora.list_events(&other.admin, other.id, 0, None).await.unwrap();
    assert_eq!(first_other.items[0].seq, 1, "seqs are per store");
}

pub async fn event_feed_misses_nothing_under_concurrency(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let h = Arc::new(h);
    let (_, v) = h.product(&s, "EV-2", 100, 1000).await;
    let mut customers = Vec::new();
    for i in 0..4 {
        customers.push(h.customer(&format!("c{i}")).await);
    }
    let writers: Vec<_> = customers
        .into_iter()
        .map(|c| {
            let (h, s) = (h.clone(), s.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    h.order(&c, &s, &[(v, 1)]).await.unwrap();
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let page = h.agora.list_events(&s.admin, s.id, after, Some(200)).await.unwrap();
        for e in &page.items {
            assert_eq!(e.seq, after + 1, "a reader polling with `after` must never skip");
            after = e.seq;
            seen.push(e.id);
        }
        if done && page.items.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    let snap = h.snapshot().await;
    let total = snap.rows::<ActivityEvent>().iter().filter(|e| e.store_id == s.id).count();
    assert_eq!(seen.len(), total, "every committed event was read exactly once");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());
}

pub async fn export_lifecycle_csv_and_jsonl(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "X-1", 100, 50).await;
    for _ in 0..3 {
        h.order(&c, &s, &[(v, 1)]).await.unwrap();
    }
    let job = h
        .agora
        .request_export(&s.admin, s.id, NewExport { kind: "orders".into(), format: "csv".into() })
        .await
        .unwrap();
    assert_eq!(job.status, "queued");
    assert_eq!(code(h.agora.download_export(&s.admin, ExportId(job.id)).await), "conflict", "not ready yet");
    let jsonl = h
        .agora
        .request_export(&s.admin, s.id, NewExport { kind: "orders".into(), format: "jsonl".into() })
        .await
        .unwrap();
    let report = h.agora.run_queued_exports(10, &|_, _| {}).await.unwrap();
    assert_eq!(report.changed, 2);
    let ready = h.agora.get_export(&s.admin, ExportId(job.id)).await.unwrap();
    assert_eq!((ready.status.as_str(), ready.rows), ("ready", 3));
    assert_eq!(ready.expires_at, Some(h.clock.now() + Duration::days(7)));
    let file = h.agora.download_export(&s.admin, ExportId(job.id)).await.unwrap();
    assert_eq!(file.content_type, "text/csv");
    assert_eq!(file.bytes as i64, ready.bytes);
    let text = String::from_utf8(super::read_all(file).await).unwrap();
    assert_eq!(text.len() as i64, ready.bytes);
    assert_eq!(text.lines().count(), 4, "header + 3 rows");
    assert!(text.starts_with("id,order_number"));
    let lines = h.agora.download_export(&s.admin, ExportId(jsonl.id)).await.unwrap();
    for line in String::from_utf8(super::read_all(lines).await).unwrap().lines() {
        let o: OrderView = serde_json::from_str(line).unwrap();
        assert_eq!(o.store_id, s.id.0);
    }
    let audit = h.store.list_export_audit(ExportId(job.id)).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|a| a.action).collect();
    assert_eq!(actions, [ExportAction::Requested, ExportAction::Downloaded]);
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.get_export(&other.admin, ExportId(job.id)).await), "not_found");
    let bad = h.agora.request_export(&s.admin, s.id, NewExport { kind: "users".into(), format: "xml".into() }).await;
    assert_eq!(code(bad), "validation");
}

pub async fn export_expiry_deletes_file_and_audits(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let job = h
        .agora
        .request_export(&s.admin, s.id, NewExport { kind: "orders".into(), format: "csv".into() })
        .await
        .unwrap();
    h.agora.run_queued_exports(10, &|_, _| {}).await.unwrap();
    h.clock.advance(Duration::days(7));
    let r = h.agora.expire_exports(10).await.unwrap();
    assert_eq!(r.changed, 1);
    assert_eq!(h.agora.get_export(&s.admin, ExportId(job.id)).await.unwrap().status, "expired");
    assert_eq!(code(h.agora.download_export(&s.admin, ExportId(job.id)).await), "conflict");
    let audit = h.store.list_export_audit(ExportId(job.id)).await.unwrap();
    assert_eq!(audit.last().unwrap().action, ExportAction::Expired);
    assert_eq!(h.agora.expire_exports(10).await.unwrap().scanned, 0);
}

pub async fn due_checks_match_what_the_sweeps_do(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let due = async |sweep| h.agora.has_due(sweep, s.id).await.unwrap();
    assert!(due(Sweep::SequenceEvents).await, "creating the store wrote events");
    assert_eq!(h.agora.run_sweep(Sweep::SequenceEvents, s.id, 100).await.unwrap().conflicts, 0);
    assert!(!due(Sweep::SequenceEvents).await);
    let (_, v) = h.product(&s, "DUE-1", 100, 9).await;
    let c = h.customer("ann").await;
    let unpaid = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let shipped = paid_order(&h, &c, &s, v).await;
    h.agora.ship_order(&s.admin, OrderId(shipped.id)).await.unwrap();
    for sweep in [Sweep::ExpireOrders, Sweep::AutoReceive, Sweep::ExpireTasks, Sweep::Payouts] {
        assert!(!due(sweep).await, "{sweep:?} has nothing to do yet");
    }
    h.clock.advance(Duration::seconds(1801));
    assert!(due(Sweep::ExpireOrders).await);
    assert_eq!(h.agora.run_sweep(Sweep::ExpireOrders, s.id, 10).await.unwrap().changed, 1);
    assert!(!due(Sweep::ExpireOrders).await);
    assert_eq!(h.agora.get_order(&c.actor, OrderId(unpaid.id)).await.unwrap().status, "CLOSED");
    h.clock.advance(Duration::seconds(864_000));
    assert!(due(Sweep::AutoReceive).await);
    assert_eq!(h.agora.run_sweep(Sweep::AutoReceive, s.id, 10).await.unwrap().changed, 1);
    assert!(!due(Sweep::AutoReceive).await);
    assert!(due(Sweep::SequenceEvents).await);
}

pub async fn stale_exports_are_requeued_with_an_event(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let req = NewExport { kind: "orders".into(), format: "csv".into() };
    let view = h.agora.request_export(&s.admin, s.id, req).await.unwrap();
    let mut job = h.store.get_export(ExportId(view.id)).await.unwrap().unwrap();
    // A worker started it and died.
    job.status = ExportStatus::Running;
    job.started_at = Some(h.clock.now());
    let mut cs = Changeset::new();
    cs.update(job.clone());
    h.store.apply(cs).await.unwrap();
    let stale_after = Duration::minutes(10);
    assert!(h.agora.stale_exports(stale_after, 10).await.unwrap().is_empty(), "not stale yet");
    h.clock.advance(Duration::minutes(11));
    let stale = h.agora.stale_exports(stale_after, 10).await.unwrap();
    assert_eq!(stale.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
    assert!(h.agora.requeue_export(&stale[0]).await.unwrap());
    assert!(!h.agora.requeue_export(&stale[0]).await.unwrap(), "a second requeue finds it queued");
    assert_eq!(h.agora.get_export(&s.admin, job.id).await.unwrap().status, "queued");
    let feed = h.agora.list_events(&s.admin, s.id, 0, None).await.unwrap();
    assert!(feed.items.iter().any(|e| e.kind == "export.requeued"));
    h.agora.run_queued_exports(10, &|_, _| {}).await.unwrap();
    assert_eq!(h.agora.get_export(&s.admin, job.id).await.unwrap().status, "ready");
}
