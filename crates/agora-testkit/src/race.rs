//! Concurrency drills shared by every adapter's tests.

use std::sync::Arc;

use agora_core::*;

use crate::harness::{Harness, TestStore};

/// `clients` concurrent customers keep ordering one unit of one SKU with
/// `stock` units until it is sold out. Returns (orders placed, units left).
/// A correct store gives exactly (`stock`, 0): never an oversell.
pub async fn oversell_race(ts: TestStore, clients: usize, stock: i64) -> (i64, i64) {
    let h = Arc::new(Harness::new(ts));
    let s = h.store_fixture("race.example.com").await;
    let (product, variant) = h.product(&s, "HOT-1", 100, stock).await;
    let mut customers = Vec::new();
    for i in 0..clients {
        customers.push(h.customer(&format!("racer{i}")).await);
    }
    let mut tasks = Vec::new();
    for c in customers {
        let h = h.clone();
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut placed = 0i64;
            loop {
                match h.order(&c, &s, &[(variant, 1)]).await {
                    Ok(_) => placed += 1,
                    Err(AgoraError::OutOfStock(_)) => return placed,
                    Err(AgoraError::Conflict { .. }) => continue,
                    Err(e) => panic!("unexpected error in race: {e:?}"),
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("racer panicked");
    }
    let left = h.available(product.id, variant).await;
    let snapshot = h.snapshot().await;
    assert_eq!(
        snapshot.rows::<CustomerOrder>().len() as i64,
        total,
        "orders in the store differ from acknowledged orders"
    );
    (total, left)
}
