//! Per-store retention of events, audit rows, connection checks and drafts.

use agora_core::views::*;
use agora_core::*;
use time::Duration;

use super::*;

// This module's scenarios, for `crate::conformance_tests!`.
crate::__scenario_list!($ __scenarios_retention:
    retention_deletes_what_is_past_its_period_and_keeps_the_feed_gapless,
    retention_keeps_the_events_the_kpi_job_has_not_read_and_bulk_purges_keep_the_feed_gapless,
    security_events_are_kept_for_their_period,
);

pub async fn retention_deletes_what_is_past_its_period_and_keeps_the_feed_gapless(ts: TestStore) {
    let Scene { h, s, c, .. } = scene(ts, "RET-1", 100, 5).await;
    let days = RetentionPatch { events: Some(10), audit_logs: Some(10), connection_events: Some(10), drafts: Some(10) };
    configure(&h, &s, SettingsPatch { retention_days: Some(days), ..Default::default() }).await;
    let check = NewConnectionCheck { target: "database".into(), endpoint_id: None };
    h.agora.run_connection_check(&s.admin, s.id, check.clone()).await.unwrap();
    let t = h
        .agora
        .create_ticket(&c.actor, NewTicket { store_id: s.id.0, subject: "S".into(), body: "B".into(), order_id: None });
    let t = TicketId(t.await.unwrap().id);
    let draft = |body: &str| NewDraft { body: body.into(), source: "human".into(), model: None, version: None };
    let sent = h.agora.create_draft(&s.admin, t, draft("sent")).await.unwrap();
    h.agora.send_draft(&s.admin, DraftId(sent.id), SendDraft::default()).await.unwrap();
    let dropped = h.agora.create_draft(&s.admin, t, draft("dropped")).await.unwrap();
    h.agora.discard_draft(&s.admin, DraftId(dropped.id), DiscardDraft::default()).await.unwrap();
    // The KPI job reads the feed up to here; later old events wait for it.
    h.agora.sequence_events(s.id).await.unwrap();
    h.agora.refresh_kpis(s.id, 1000).await.unwrap();
    let read_up_to = h.store.last_event_seq(s.id).await.unwrap();
    h.agora.run_connection_check(&s.admin, s.id, check.clone()).await.unwrap();
    h.agora.sequence_events(s.id).await.unwrap();
    let last_old = h.store.last_event_seq(s.id).await.unwrap();
    assert!(last_old > read_up_to);

    h.clock.advance(Duration::days(11));
    configure(&h, &s, SettingsPatch { low_stock_threshold: Some(2), ..Default::default() }).await;
    h.agora.run_connection_check(&s.admin, s.id, check).await.unwrap();
    h.agora.sequence_events(s.id).await.unwrap();
    // One row of each kind per batch: the old sent draft does not hold up
    // the unsent one behind it.
    h.agora.purge_retained(s.id, 1).await.unwrap();
    let left: Vec<String> = h.snapshot().await.rows::<ReplyDraft>().into_iter().map(|d| d.body.clone()).collect();
    assert_eq!(left, ["sent"]);
    let before = h.snapshot().await;
    let r = h.agora.purge_retained(s.id, 1000).await.unwrap();
    assert!(r.changed > 0, "{r:?}");
    let snap = h.snapshot().await;
    let feed = h.agora.list_events(&s.admin, s.id, 0, Some(200)).await.unwrap().items;
    assert_eq!(feed[0].seq, read_up_to + 1, "deleted from the bottom, never past what the KPI job read");
    let seqs: Vec<i64> = feed.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap-free above the floor: {seqs:?}");
    let audits =
        snap.rows::<AuditLog>().into_iter().filter(|a| a.store_id == s.id).map(|a| a.key.clone()).collect::<Vec<_>>();
    assert_eq!(audits, ["low_stock_threshold"], "only the recent audit row is kept");
    let checks = snap.rows::<ConnectionCheck>().into_iter().filter(|c| c.store_id == s.id).count();
    assert_eq!(checks, 1);
    let drafts: Vec<&str> = snap.rows::<ReplyDraft>().into_iter().map(|d| d.body.as_str()).collect();
    assert_eq!(drafts, ["sent"], "a sent draft is kept: its message refers to it");
    assert!(
        snap.rows::<TicketMessage>().len() == before.rows::<TicketMessage>().len(),
        "messages are not retained data"
    );
    // Once the KPI job has read on, the rest of the old feed goes.
    h.agora.refresh_kpis(s.id, 1000).await.unwrap();
    h.agora.purge_retained(s.id, 1000).await.unwrap();
    let feed = h.agora.list_events(&s.admin, s.id, 0, Some(200)).await.unwrap().items;
    assert_eq!(feed[0].seq, last_old + 1);
    // Nothing left past its period: a batch changes nothing.
    assert_eq!(h.agora.purge_retained(s.id, 1000).await.unwrap().changed, 0);
}

pub async fn retention_keeps_the_events_the_kpi_job_has_not_read_and_bulk_purges_keep_the_feed_gapless(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "RET-2", 100, 5).await;
    let days = RetentionPatch { events: Some(10), ..Default::default() };
    configure(&h, &s, SettingsPatch { retention_days: Some(days), ..Default::default() }).await;
    paid_order(&h, &c, &s, v).await;
    h.agora.sequence_events(s.id).await.unwrap();
    let last = h.store.last_event_seq(s.id).await.unwrap();
    h.clock.advance(Duration::days(11));

    // The KPI job never ran for the store: nothing is derived from its
    // events yet, so none goes, by rows or in bulk.
    assert_eq!(h.agora.event_floor(s.id).await.unwrap(), None);
    h.agora.purge_retained(s.id, 1000).await.unwrap();
    assert_eq!(h.agora.purge_events_in_bulk(&[s.id]).await.unwrap().changed, 0);
    let feed = h.agora.list_events(&s.admin, s.id, 0, Some(200)).await.unwrap().items;
    assert_eq!(feed.first().map(|e| e.seq), Some(1), "every event is kept");

    h.agora.refresh_kpis(s.id, 1000).await.unwrap();
    let floor = h.agora.event_floor(s.id).await.unwrap().expect("a floor once the KPI job read the feed");
    assert_eq!((floor.store_id, floor.up_to_seq), (s.id, last));
    assert_eq!(floor.before, h.clock.now() - Duration::days(10));
    // A bulk purge may remove less than the rows would, never more, and
    // never opens a gap; the row deletes then reach the rest.
    h.agora.purge_events_in_bulk(&[s.id]).await.unwrap();
    let feed = h.agora.list_events(&s.admin, s.id, 0, Some(200)).await.unwrap().items;
    let seqs: Vec<i64> = feed.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gap-free: {seqs:?}");
    assert!(seqs.first().is_none_or(|&first| first == 1 || first == last + 1), "{seqs:?}");
    h.agora.purge_retained(s.id, 1000).await.unwrap();
    let feed = h.agora.list_events(&s.admin, s.id, 0, Some(200)).await.unwrap().items;
    assert!(feed.iter().all(|e| e.seq > last), "everything the KPI job read is past its period and gone");
    assert_eq!(h.agora.event_floor(StoreId(Uuid::now_v7())).await.unwrap(), None, "an unknown store keeps all");
}

/// Market-wide security events go after `security_event_retention` (90
/// days by default), oldest first; zero keeps them for ever.
pub async fn security_events_are_kept_for_their_period(ts: TestStore) {
    let h = crate::harness::Harness::new(ts);
    let refuse = |email: &'static str| {
        let agora = h.agora.clone();
        async move {
            let guess = || Login { email: email.into(), password: "guess".into() };
            while code(agora.login(guess()).await) != "rate_limited" {}
        }
    };
    refuse("old@example.com").await;
    h.clock.advance(Duration::days(89));
    refuse("new@example.com").await;
    h.clock.advance(Duration::days(1) + Duration::seconds(1));
    let forever = AgoraConfig { security_event_retention: Duration::ZERO, ..h.agora.config().clone() };
    let keeper = crate::harness::agora_builder(h.store.clone()).clock(h.clock.clone()).config(forever).build();
    assert_eq!(keeper.purge_old_security_events(100).await.unwrap().changed, 0, "zero keeps them");
    assert_eq!(h.agora.purge_old_security_events(100).await.unwrap().changed, 1);
    assert_eq!(h.agora.purge_old_security_events(100).await.unwrap().changed, 0);
    let sa = h.super_admin().await;
    let left = h.agora.list_security_events(&sa, &ListQuery::default()).await.unwrap().items;
    let subjects: Vec<&str> = left.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["email:new@example.com"]);
}
