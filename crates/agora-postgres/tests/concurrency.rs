//! Races, killed backends, and advisory-lock leases.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use agora_core::*;
use agora_postgres::testing::throwaway_database;
use agora_postgres::{PgLocks, PgStore};
use agora_testkit::{Harness, TestStore, oversell_race};
use sqlx::{ConnectOptions, Connection};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_connections_sell_exactly_the_stock() {
    let (mut config, guard) = throwaway_database().await;
    config.max_connections = 32;
    let pg = PgStore::connect(config).await.expect("connect");
    let (orders, left) = oversell_race(TestStore::new(Arc::new(pg.clone()), ()), 32, 1_000).await;
    assert_eq!((orders, left), (1_000, 0));
    let stock: (i64, i64) =
        sqlx::query_as("SELECT on_hand, reserved FROM inventory").fetch_one(pg.pool()).await.expect("inventory");
    assert_eq!(stock, (1_000, 1_000));
    let orders_in_db: i64 =
        sqlx::query_scalar("SELECT count(*) FROM customer_order").fetch_one(pg.pool()).await.expect("count");
    assert_eq!(orders_in_db, 1_000);
    pg.pool().close().await;
    drop(guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_backends_lose_nothing_acknowledged_and_leave_nothing_partial() {
    let (config, guard) = throwaway_database().await;
    let pg = PgStore::connect(config.clone()).await.expect("connect");
    let h = Arc::new(Harness::new(TestStore::new(Arc::new(pg.clone()), ())));
    let s = h.store_fixture("fault.example.com").await;
    let (_, v1) = h.product(&s, "F-1", 100, 1_000_000).await;
    let (_, v2) = h.product(&s, "F-2", 250, 1_000_000).await;
    let mut customers = Vec::new();
    for i in 0..6 {
        customers.push(h.customer(&format!("fault{i}")).await);
    }

    // The killer: terminates every other backend of the database, again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (stop, kills) = (stop.clone(), kills.clone());
        let options: sqlx::postgres::PgConnectOptions = config.url.parse().expect("url");
        tokio::spawn(async move {
            let mut conn = options.connect().await.expect("killer connection");
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                )
                .fetch_one(&mut conn)
                .await
                .expect("terminate");
                kills.fetch_add(n as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
            let _ = conn.close().await;
        })
    };

    let mut writers = Vec::new();
    for c in customers.clone() {
        let (h, s) = (h.clone(), s.clone());
        writers.push(tokio::spawn(async move {
            let (mut acked, mut failed) = (Vec::new(), 0u32);
            for _ in 0..40 {
                match h.order(&c, &s, &[(v1, 1), (v2, 2)]).await {
                    Ok(o) => acked.push(o.id),
                    Err(AgoraError::Unavailable(_)) => failed += 1,
                    Err(e) => panic!("unexpected error under faults: {e:?}"),
                }
            }
            (acked, failed)
        }));
    }
    let mut acked = Vec::new();
    let mut failed = 0;
    for w in writers {
        let (a, f) = w.await.expect("writer");
        acked.extend(a);
        failed += f;
    }
    stop.store(true, Ordering::Relaxed);
    killer.await.expect("killer");
    assert!(kills.load(Ordering::Relaxed) > 0, "the killer never hit a backend");
    assert!(!acked.is_empty(), "nothing got through at all");
    eprintln!("acknowledged {}, failed {failed}, backends killed {}", acked.len(), kills.load(Ordering::Relaxed));

    // The pool recovers: every later changeset succeeds.
    for c in &customers {
        for _ in 0..3 {
            let o = h.order(c, &s, &[(v1, 1), (v2, 2)]).await.expect("order after the faults");
            acked.push(o.id);
        }
    }

    let snap = common::snapshot(&pg).await;
    let orders: HashSet<uuid::Uuid> = snap.rows::<CustomerOrder>().iter().map(|o| o.id.0).collect();
    for id in &acked {
        assert!(orders.contains(id), "acknowledged order {id} is missing");
    }
    // None partial: every order that exists has both lines, both holds, its
    // idempotency record and its event; stock agrees with the holds.
    let mut lines: HashMap<OrderId, usize> = HashMap::new();
    for i in snap.rows::<OrderItem>() {
        *lines.entry(i.order_id).or_default() += 1;
    }
    let mut holds: HashMap<OrderId, i64> = HashMap::new();
    for r in snap.rows::<InventoryReservation>() {
        *holds.entry(r.order_id).or_default() += r.qty;
    }
    let idem: HashSet<uuid::Uuid> = snap.rows::<IdempotencyRecord>().iter().filter_map(|r| r.resource_id).collect();
    let events: HashSet<uuid::Uuid> =
        snap.rows::<ActivityEvent>().iter().filter(|e| e.kind == "order.created").map(|e| e.entity_id).collect();
    let orders = snap.rows::<CustomerOrder>();
    for o in &orders {
        assert_eq!(lines.get(&o.id), Some(&2), "order {} lines", o.id);
        assert_eq!(holds.get(&o.id), Some(&3), "order {} holds", o.id);
        assert!(idem.contains(&o.id.0), "order {} idempotency record", o.id);
        assert!(events.contains(&o.id.0), "order {} event", o.id);
    }
    let reserved: i64 = snap.rows::<Inventory>().iter().map(|r| r.reserved).sum();
    assert_eq!(reserved, 3 * orders.len() as i64, "stock agrees with the holds");
    drop(h);
    pg.pool().close().await;
    drop(guard);
}

#[tokio::test]
async fn advisory_lock_leases_exclude_expire_and_detect_loss() {
    let (pg, _config, _guard) = common::store().await;
    let a = PgLocks::new(pg.pool().clone());
    let b = PgLocks::new(pg.pool().clone());
    let ttl = Duration::from_secs(30);

    let lease = a.try_acquire("sweep:orders", ttl).await.unwrap().expect("first acquire");
    assert!(b.try_acquire("sweep:orders", ttl).await.unwrap().is_none(), "held elsewhere");
    assert!(a.try_acquire("sweep:orders", ttl).await.unwrap().is_none(), "not re-entrant");
    let other = b.try_acquire("sweep:tasks", ttl).await.unwrap().expect("another name is free");
    assert!(a.extend(&lease, ttl).await.unwrap());
    let forged = Lease { name: lease.name.clone(), token: "not-the-token".into() };
    assert!(!a.release(&forged).await.unwrap(), "only the holder releases");
    assert!(a.release(&lease).await.unwrap());
    assert!(!a.release(&lease).await.unwrap(), "released once");
    assert!(!a.extend(&lease, ttl).await.unwrap());
    let again = b.try_acquire("sweep:orders", ttl).await.unwrap().expect("free after release");
    assert!(b.release(&again).await.unwrap());
    assert!(b.release(&other).await.unwrap());

    // A lease that is not extended lapses at its TTL.
    let short = a.try_acquire("job", Duration::from_millis(200)).await.unwrap().expect("acquire");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!a.extend(&short, ttl).await.unwrap(), "lapsed");
    let taken = b.try_acquire("job", ttl).await.unwrap().expect("free after the TTL");

    // A lease whose session dies is lost, and PostgreSQL frees the lock.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l \
         WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(pg.pool())
    .await
    .unwrap();
    assert_eq!(killed, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!b.extend(&taken, ttl).await.unwrap(), "loss detected");
    let mut relock = None;
    for _ in 0..20 {
        relock = a.try_acquire("job", ttl).await.unwrap();
        if relock.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(relock.is_some(), "the dead session's lock was freed");
}

/// Group commit under a hot SKU: orders arrive together, are written in
/// shared transactions (one statement per run of orders, reservations of
/// the SKU coalesced), and when the run no longer fits the stock, one by one
/// — exactly the stock is sold, and a key sent twice at once makes one order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_sells_exactly_the_stock_and_dedupes_twin_requests() {
    let (mut config, guard) = throwaway_database().await;
    config.max_connections = 32;
    let pg = PgStore::connect(config).await.expect("connect");
    let h = Arc::new(Harness::new(TestStore::new(Arc::new(pg.clone()), ())));
    let s = h.store_fixture("group.example.com").await;
    let (product, variant) = h.product(&s, "G-1", 100, 150).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let c = h.customer(&format!("grouper{i}")).await;
        let (h, s) = (h.clone(), s.clone());
        tasks.push(tokio::spawn(async move {
            let mut ids = HashSet::new();
            let one = [(variant, 1)];
            for round in 0.. {
                let key = format!("k-{i}-{round}");
                // Every other round the same request goes twice at once.
                let (a, b) = if round % 2 == 0 {
                    tokio::join!(h.order_with_key(&c, &s, &one, &key, None), h.order_with_key(&c, &s, &one, &key, None))
                } else {
                    (h.order_with_key(&c, &s, &one, &key, None).await, Err(AgoraError::OutOfStock(String::new())))
                };
                let mut placed = Vec::new();
                for r in [a, b] {
                    match r {
                        Ok(p) => placed.push(p.order.id),
                        Err(AgoraError::OutOfStock(_)) | Err(AgoraError::Conflict { .. }) => {}
                        Err(e) => panic!("unexpected error: {e:?}"),
                    }
                }
                placed.dedup();
                assert!(placed.len() <= 1, "one key made two orders: {placed:?}");
                match placed.pop() {
                    Some(id) => {
                        ids.insert(id);
                    }
                    None if h.available(product.id, variant).await == 0 => return ids,
                    None => {}
                }
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for t in tasks {
        let ids = t.await.expect("task");
        assert!(ids.is_disjoint(&all), "two customers got the same order");
        all.extend(ids);
    }
    assert_eq!(all.len(), 150);
    let stock: (i64, i64) =
        sqlx::query_as("SELECT on_hand, reserved FROM inventory").fetch_one(pg.pool()).await.expect("inventory");
    assert_eq!(stock, (150, 150));
    let in_db: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_order").fetch_one(pg.pool()).await.expect("n");
    assert_eq!(in_db, 150);
    let g = pg.group_stats();
    assert!(g.commits < g.changesets, "changesets were never grouped: {g:?}");
    assert!(g.batched > 0, "orders were never written as one statement: {g:?}");
    pg.pool().close().await;
    drop(guard);
}

/// Foreign keys are checked at COMMIT, so under group commit a changeset
/// that references a missing row fails its whole group's COMMIT; the others
/// must still be applied (each is retried alone) and only it reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changeset_failing_at_commit_does_not_fail_the_rest_of_its_group() {
    let (pg, _config, guard) = common::store().await;
    let shop = common::shop("commit.example.com");
    let mut cs = Changeset::new();
    cs.insert(shop.clone());
    pg.apply(cs).await.expect("store");
    let audit = |store_id: StoreId| {
        let mut cs = Changeset::new();
        cs.insert(AuditLog {
            id: AuditId(common::id()),
            store_id,
            at: common::t(1_700_000_000, 0),
            actor_masked: "adm_****".into(),
            ip: None,
            key: "order_ttl_seconds".into(),
            from: None,
            to: Some("60".into()),
        });
        cs
    };
    for _ in 0..5 {
        let mut all: Vec<Changeset> = (0..30).map(|_| audit(shop.id)).collect();
        all.insert(15, audit(StoreId(common::id())));
        let outcomes = futures::future::join_all(all.into_iter().map(|cs| pg.apply(cs))).await;
        for (i, r) in outcomes.iter().enumerate() {
            if i == 15 {
                assert!(matches!(r, Err(StoreError::Missing(_))), "the bad changeset: {r:?}");
            } else {
                assert!(r.is_ok(), "changeset {i} failed with its group: {r:?}");
            }
        }
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(pg.pool()).await.expect("count");
    assert_eq!(n, 150);
    assert!(pg.group_stats().commits < pg.group_stats().changesets, "never grouped: {:?}", pg.group_stats());
    drop(pg);
    drop(guard);
}
