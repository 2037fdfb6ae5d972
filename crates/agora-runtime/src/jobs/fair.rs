//! Sharing one job pass's batch out over the stores.
//!
//! A pass has a budget of `job_batch_size` rows. The stores are visited
//! round-robin from a rotating start; each store with work gets an equal
//! share of what is left of the budget (at least one row). A store that
//! fills its share may have more and stays in the next round; budget left by
//! stores with little work goes to the others. So a store with a backlog of
//! a million rows gets the budget only after every other store has had its
//! share, and the next pass starts with the store after the last one served.

use std::future::Future;

use agora_core::StoreId;

/// What one store batch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// It ran and looked at this many rows.
    Ran(u64),
    /// Nothing to do, the claim was held by another worker, or it failed.
    Skipped,
}

/// The outcome of a pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shared {
    /// Rows looked at over every store.
    pub scanned: u64,
    /// The budget ran out while some store still had a full share: there
    /// is probably more work.
    pub saturated: bool,
    /// Where the next pass should start.
    pub next_start: usize,
    /// Store batches run.
    pub batches: u64,
}

/// Runs `run(store, limit)` over `stores` until the budget is spent or no
/// store has more; stops early when `stop()` turns true.
pub async fn share_out<F, Fut>(
    stores: &[StoreId],
    start: usize,
    budget: u32,
    stop: &(dyn Fn() -> bool + Send + Sync),
    mut run: F,
) -> Shared
where
    F: FnMut(StoreId, u32) -> Fut,
    Fut: Future<Output = Batch>,
{
    let n = stores.len();
    let mut out = Shared { next_start: if n == 0 { 0 } else { start % n }, ..Shared::default() };
    if n == 0 || budget == 0 {
        return out;
    }
    let first = start % n;
    let mut active: Vec<StoreId> = (0..n).map(|i| stores[(first + i) % n]).collect();
    let mut remaining = u64::from(budget);
    let mut round = 0;
    while remaining > 0 && !active.is_empty() {
        let share = (remaining / active.len() as u64).max(1);
        let mut next = Vec::new();
        let mut visited = 0;
        for store in &active {
            if remaining == 0 || stop() {
                break;
            }
            visited += 1;
            let limit = share.min(remaining);
            if let Batch::Ran(scanned) = run(*store, limit as u32).await {
                out.batches += 1;
                out.scanned += scanned;
                remaining = remaining.saturating_sub(scanned.min(limit));
                if scanned >= limit {
                    next.push(*store);
                }
            }
        }
        if round == 0 {
            // The next pass starts after the last store this round reached.
            out.next_start = (first + visited.max(1)) % n;
        }
        if stop() {
            break;
        }
        if remaining == 0 && !next.is_empty() {
            out.saturated = true;
        }
        active = next;
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    fn ids(n: u128) -> Vec<StoreId> {
        (1..=n).map(|i| StoreId(uuid::Uuid::from_u128(i))).collect()
    }

    /// Simulates stores with backlogs; returns rows taken per store.
    async fn pass(backlog: &Mutex<BTreeMap<StoreId, u64>>, stores: &[StoreId], start: usize, budget: u32) -> Shared {
        share_out(stores, start, budget, &|| false, |s, limit| {
            let mut b = backlog.lock().unwrap();
            let left = b.get_mut(&s).unwrap();
            let take = (*left).min(u64::from(limit));
            *left -= take;
            std::future::ready(if take == 0 { Batch::Skipped } else { Batch::Ran(take) })
        })
        .await
    }

    #[tokio::test]
    async fn a_backlog_does_not_starve_small_stores() {
        let stores = ids(3);
        let backlog = Mutex::new(BTreeMap::from([(stores[0], 10_000), (stores[1], 3), (stores[2], 5)]));
        let out = pass(&backlog, &stores, 0, 30).await;
        let b = backlog.lock().unwrap();
        assert_eq!((b[&stores[1]], b[&stores[2]]), (0, 0), "small stores served in the first pass");
        assert_eq!(b[&stores[0]], 10_000 - 22, "the big store gets the rest of the budget");
        assert!(out.saturated);
        assert_eq!(out.scanned, 30);
    }

    #[tokio::test]
    async fn a_budget_smaller_than_the_store_count_rotates() {
        let stores = ids(5);
        let backlog = Mutex::new(stores.iter().map(|s| (*s, 100)).collect::<BTreeMap<_, _>>());
        let mut start = 0;
        for _ in 0..5 {
            let out = pass(&backlog, &stores, start, 2).await;
            assert_eq!(out.scanned, 2);
            start = out.next_start;
        }
        let b = backlog.lock().unwrap();
        assert!(b.values().all(|left| *left == 98), "every store served twice: {b:?}");
    }

    #[tokio::test]
    async fn idle_stores_cost_no_budget_and_stop_is_honoured() {
        let stores = ids(4);
        let backlog = Mutex::new(BTreeMap::from([(stores[0], 0), (stores[1], 0), (stores[2], 7), (stores[3], 0)]));
        let out = pass(&backlog, &stores, 0, 100).await;
        assert_eq!(out.scanned, 7);
        assert!(!out.saturated);
        let out = share_out(&stores, 0, 100, &|| true, |_, _| async { Batch::Ran(1) }).await;
        assert_eq!(out.batches, 0);
    }
}
