//! The event relay against a real redis-server, with an XREAD consumer.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agora_core::views::ProductPatch;
use agora_core::*;
use agora_memory::MemoryStore;
use agora_redis::EventRelay;
use common::{TestRedis, World};
use redis::Value;

/// One stream entry as a consumer sees it.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    id: String,
    fields: BTreeMap<String, String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    }
}

/// Parses an XREAD reply for one stream (nil when nothing arrived).
fn parse_xread(v: Value) -> Vec<Entry> {
    let Value::Array(streams) = v else { return Vec::new() };
    let mut out = Vec::new();
    for s in streams {
        let Value::Array(pair) = s else { panic!("stream") };
        let Value::Array(entries) = &pair[1] else { panic!("entries") };
        for e in entries {
            let Value::Array(e) = e else { panic!("entry") };
            let Value::Array(kv) = &e[1] else { panic!("fields") };
            let fields = kv.chunks(2).map(|c| (text(&c[0]), text(&c[1]))).collect();
            out.push(Entry { id: text(&e[0]), fields });
        }
    }
    out
}

/// A world whose store has `n` product changes besides its own events, all
/// sequenced, and the last seq of its feed.
async fn world_with_events(n: usize, tag: &str) -> (World, i64) {
    let w = World::new(Arc::new(MemoryStore::new()), None, 5).await;
    more_events(&w, n, tag).await;
    let total = w.store.last_event_seq(w.store_id).await.unwrap();
    (w, total)
}

async fn more_events(w: &World, n: usize, tag: &str) {
    for i in 0..n {
        w.agora
            .patch_product(
                &w.admin,
                ProductId(w.product.id),
                ProductPatch { title: Some(format!("{tag}{i}")), status: None },
            )
            .await
            .unwrap();
    }
    w.agora.sequence_events(w.store_id).await.unwrap();
}

#[tokio::test]
async fn a_consumer_misses_nothing_while_the_relay_restarts_half_way() {
    let t = TestRedis::new().await;
    let (w, _) = world_with_events(12, "a").await;

    let relay_a = EventRelay::new(t.another().await, 10_000).with_batch(5);
    let stream = relay_a.stream_key(w.store_id);
    assert_eq!(stream, format!("{}events:{}", t.prefix, w.store_id));

    // The consumer reads the stream as it grows, from the beginning.
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let mut conn = t.raw().await;
        let (stream, stop) = (stream.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut last = "0".to_owned();
            loop {
                let reply: Value = redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(4)
                    .arg("BLOCK")
                    .arg(100)
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg(&last)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let batch = parse_xread(reply);
                if batch.is_empty() && stop.load(Ordering::SeqCst) {
                    return seen;
                }
                if let Some(e) = batch.last() {
                    last = e.id.clone();
                }
                seen.extend(batch);
            }
        })
    };

    // Relay A moves part of the feed and then dies.
    let mut moved = 0;
    for _ in 0..2 {
        moved += relay_a.relay_once(w.store.as_ref(), w.store_id).await.unwrap();
    }
    assert_eq!(moved, 10);
    assert_eq!(relay_a.checkpoint(w.store_id).await.unwrap(), 10);
    drop(relay_a);

    // The feed keeps growing while no relay runs; the checkpoint is lost too
    // (as if Redis dropped that key): the stream's own last id still counts.
    more_events(&w, 9, "b").await;
    let mut raw = t.raw().await;
    let _: i64 =
        redis::cmd("DEL").arg(format!("{}relay:{}", t.prefix, w.store_id)).query_async(&mut raw).await.unwrap();

    // Relay B, a new process, picks up where A stopped.
    let relay_b = EventRelay::new(t.another().await, 10_000).with_batch(5);
    assert_eq!(relay_b.checkpoint(w.store_id).await.unwrap(), 10);
    let rest = relay_b.relay_all(w.store.as_ref(), w.store_id).await.unwrap();
    let total = w.store.last_event_seq(w.store_id).await.unwrap();
    assert!(total > 20, "{total}");
    assert_eq!(moved + rest, total as usize, "every event relayed exactly once");
    assert_eq!(relay_b.relay_once(w.store.as_ref(), w.store_id).await.unwrap(), 0, "caught up");

    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = tokio::time::timeout(Duration::from_secs(10), consumer).await.expect("consumer ends").unwrap();

    let events = w.store.list_events(w.store_id, 0, 1000).await.unwrap();
    assert_eq!(events.len(), total as usize);
    let seqs: Vec<i64> = seen.iter().map(|e| e.fields["seq"].parse().unwrap()).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "no event missed, none twice, in order");
    for (entry, event) in seen.iter().zip(&events) {
        assert_eq!(entry.id, format!("{}-0", event.seq.unwrap()));
        assert_eq!(entry.fields["event_id"], event.id.to_string());
        assert_eq!(entry.fields["kind"], event.kind);
        assert_eq!(entry.fields["store_id"], w.store_id.to_string());
        assert_eq!(entry.fields["entity_id"], event.entity_id.to_string());
        let payload: serde_json::Value = serde_json::from_str(&entry.fields["payload"]).unwrap();
        assert_eq!(payload, event.payload);
        let at =
            time::OffsetDateTime::parse(&entry.fields["at"], &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(at, event.at);
    }
    let len: i64 = redis::cmd("XLEN").arg(&stream).query_async(&mut raw).await.unwrap();
    assert_eq!(len, total);
}

#[tokio::test]
async fn racing_relays_and_a_lost_checkpoint_never_duplicate() {
    let t = TestRedis::new().await;
    let (w, total) = world_with_events(20, "x").await;

    let mut tasks = Vec::new();
    for _ in 0..4 {
        let relay = EventRelay::new(t.another().await, 10_000).with_batch(3);
        let store = w.store.clone();
        let sid = w.store_id;
        tasks.push(tokio::spawn(async move { relay.relay_all(store.as_ref(), sid).await.unwrap() }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let relay = EventRelay::new(t.client.clone(), 10_000);
    let mut raw = t.raw().await;
    let stream = relay.stream_key(w.store_id);
    let len: i64 = redis::cmd("XLEN").arg(&stream).query_async(&mut raw).await.unwrap();
    assert_eq!(len, total, "racing relays append each event once");

    // Lose the checkpoint and the stream's entries (but not the stream):
    // the relay replays nothing the stream already passed.
    let _: i64 =
        redis::cmd("DEL").arg(format!("{}relay:{}", t.prefix, w.store_id)).query_async(&mut raw).await.unwrap();
    assert_eq!(relay.checkpoint(w.store_id).await.unwrap(), total);
    relay.relay_all(w.store.as_ref(), w.store_id).await.unwrap();
    let len: i64 = redis::cmd("XLEN").arg(&stream).query_async(&mut raw).await.unwrap();
    assert_eq!(len, total);

    // Redis loses everything: the relay starts again (at least once).
    t.client.purge_prefix().await.unwrap();
    assert_eq!(relay.checkpoint(w.store_id).await.unwrap(), 0);
    assert_eq!(relay.relay_all(w.store.as_ref(), w.store_id).await.unwrap(), total as usize);
}

#[tokio::test]
async fn the_stream_is_capped() {
    let t = TestRedis::new().await;
    let (w, total) = world_with_events(300, "c").await;
    let relay = EventRelay::new(t.client.clone(), 50).with_batch(1000);
    assert_eq!(relay.relay_all(w.store.as_ref(), w.store_id).await.unwrap(), total as usize);
    let mut raw = t.raw().await;
    let len: i64 = redis::cmd("XLEN").arg(relay.stream_key(w.store_id)).query_async(&mut raw).await.unwrap();
    // `MAXLEN ~` trims whole macro nodes (100 entries by default): about 50, never everything.
    assert!((50..=200).contains(&len) && len < total, "len {len} of {total}");
    assert_eq!(relay.checkpoint(w.store_id).await.unwrap(), total);
}

#[tokio::test]
async fn relay_reports_an_unreachable_redis() {
    let w = World::new(Arc::new(MemoryStore::new()), None, 5).await;
    let client = common::unreachable_client();
    let relay = EventRelay::new(client.clone(), 100);
    assert!(matches!(relay.relay_once(w.store.as_ref(), w.store_id).await, Err(StoreError::Unavailable(_))));
    assert!(client.errors() >= 1);
}
