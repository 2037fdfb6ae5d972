//! Retention by whole monthly partitions of `activity_event`: a partition
//! goes only when every event in it is below its store's floor, oldest
//! first, and the feeds stay gap-free.

use std::sync::Arc;

use agora_core::views::*;
use agora_core::*;
use agora_postgres::{PgStore, testing};
use agora_testkit::{Harness, TestStore};
use time::Duration;

/// Monthly partitions of `activity_event` for the first months of 2026 (the
/// harness clock starts at the epoch), made the way the partitions job makes
/// them, before any event exists.
async fn months_of_2026(store: &PgStore) {
    for month in 1..=4 {
        let sql = format!(
            "CREATE TABLE activity_event_p2026{month:02} PARTITION OF activity_event \
             FOR VALUES FROM ('2026-{month:02}-01 00:00:00+00') TO ('2026-{:02}-01 00:00:00+00')",
            month + 1
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(store.pool()).await.expect("create a 2026 partition");
    }
}

async fn partitions(store: &PgStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid \
         WHERE h.inhparent = 'activity_event'::regclass AND c.relname BETWEEN 'activity_event_p202601' AND 'activity_event_p202604' ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .expect("partitions")
}

async fn rows_in(store: &PgStore, part: &str) -> i64 {
    // `part` is one of this file's partition names.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {part}")))
        .fetch_one(store.pool())
        .await
        .expect("count")
}

async fn retain_events(h: &Harness, s: &agora_testkit::harness::StoreFixture, days: i64) {
    let days = RetentionPatch { events: Some(days), ..Default::default() };
    let patch = SettingsPatch { retention_days: Some(days), ..Default::default() };
    h.agora.patch_settings(&s.admin, s.id, patch, None).await.expect("settings");
}

/// Every seq of the store's feed, which must be consecutive.
async fn gapless_feed(h: &Harness, s: &agora_testkit::harness::StoreFixture) -> Vec<i64> {
    let feed = h.agora.list_events(&s.admin, s.id, 0, Some(200)).await.expect("feed").items;
    let seqs: Vec<i64> = feed.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "the feed has a gap: {seqs:?}");
    seqs
}

#[tokio::test]
async fn whole_months_of_events_are_dropped_only_when_every_store_is_done_with_them() {
    let (config, guard) = testing::throwaway_database().await;
    let pg = PgStore::connect(config).await.expect("connect");
    months_of_2026(&pg).await;
    let h = Harness::new(TestStore::new(Arc::new(pg.clone()), guard));

    // January: two stores write; a keeps events 10 days, b for ever.
    let a = h.store_fixture("a.example.com").await;
    let b = h.store_fixture("b.example.com").await;
    h.product(&a, "A-1", 100, 5).await;
    h.product(&b, "B-1", 100, 5).await;
    retain_events(&h, &a, 10).await;
    for s in [&a, &b] {
        h.agora.sequence_events(s.id).await.expect("sequence");
        h.agora.refresh_kpis(s.id, 1000).await.expect("kpis");
    }
    let january = rows_in(&pg, "activity_event_p202601").await;
    assert!(january > 4, "{january}");
    // February: a writes more, which its KPI job has not read yet.
    h.clock.advance(Duration::days(40));
    h.product(&a, "A-2", 100, 5).await;
    h.agora.sequence_events(a.id).await.expect("sequence");
    let february = rows_in(&pg, "activity_event_p202602").await;
    assert!(february > 0);
    let a_read = h.store.last_event_seq(a.id).await.expect("seq") - february;

    // March 20: January is past a's period, but b keeps its events for ever.
    h.clock.advance(Duration::days(38));
    let both = [a.id, b.id];
    assert_eq!(h.agora.purge_events_in_bulk(&both).await.expect("bulk").changed, 0);
    assert_eq!(partitions(&pg).await.len(), 4, "nothing dropped while b keeps its events");

    // b keeps 10 days too: January goes whole; February waits for a's KPI job.
    retain_events(&h, &b, 10).await;
    h.agora.sequence_events(b.id).await.expect("sequence");
    h.agora.refresh_kpis(b.id, 1000).await.expect("kpis");
    let r = h.agora.purge_events_in_bulk(&both).await.expect("bulk");
    assert_eq!(r.changed, january as u64, "every January event went with its partition");
    assert_eq!(partitions(&pg).await, ["activity_event_p202602", "activity_event_p202603", "activity_event_p202604"]);
    let a_feed = gapless_feed(&h, &a).await;
    assert_eq!(a_feed.first(), Some(&(a_read + 1)), "a's feed starts after what January held");
    gapless_feed(&h, &b).await;

    // Once a's KPI job read February, February goes too; March (b's
    // settings change, inside b's period) stays.
    h.agora.refresh_kpis(a.id, 1000).await.expect("kpis");
    let r = h.agora.purge_events_in_bulk(&both).await.expect("bulk");
    assert_eq!(r.changed, february as u64);
    assert_eq!(partitions(&pg).await, ["activity_event_p202603", "activity_event_p202604"]);
    assert!(gapless_feed(&h, &a).await.is_empty(), "all of a's events were past its period");
    assert!(!gapless_feed(&h, &b).await.is_empty(), "b's March events are kept");
    assert_eq!(h.agora.purge_events_in_bulk(&both).await.expect("bulk").changed, 0);
}

/// An event of the same store with a lower seq outside the partition (a
/// clock that ran behind, a copied row) keeps the partition: dropping it
/// would open a gap in the feed.
#[tokio::test]
async fn a_partition_stays_while_its_store_has_older_seqs_elsewhere() {
    let (config, guard) = testing::throwaway_database().await;
    let pg = PgStore::connect(config).await.expect("connect");
    months_of_2026(&pg).await;
    let h = Harness::new(TestStore::new(Arc::new(pg.clone()), guard));
    let a = h.store_fixture("a.example.com").await;
    retain_events(&h, &a, 10).await;
    h.agora.sequence_events(a.id).await.expect("sequence");
    h.agora.refresh_kpis(a.id, 1000).await.expect("kpis");
    // The store's first event moved into February, as a late clock would put it.
    let moved = sqlx::query("UPDATE activity_event SET at = '2026-02-02 00:00:00+00' WHERE store_id = $1 AND seq = 1")
        .bind(a.id.0)
        .execute(pg.pool())
        .await
        .expect("move");
    assert_eq!(moved.rows_affected(), 1);
    h.clock.advance(Duration::days(100));
    let floor = h.agora.event_floor(a.id).await.expect("floor").expect("a floor");
    assert_eq!(pg.purge_events_in_bulk(&[floor]).await.expect("bulk"), 0);
    assert_eq!(partitions(&pg).await.len(), 4, "January stays: seq 1 lives in February");
    gapless_feed(&h, &a).await;
    // Without a floor for the store, nothing of it goes either.
    let other = EventFloor { store_id: StoreId(uuid::Uuid::now_v7()), ..floor };
    assert_eq!(pg.purge_events_in_bulk(&[other]).await.expect("bulk"), 0);
}
