//! Two stores' scans of one table merged by primary key, page by page:
//! what copy and verify walk, in memory bounded by two pages however large
//! the table is.

use agora_core::schema::{Key, Table};
use agora_core::{Record, Store, StoreResult, scan_page};

/// One primary key and the row each store holds under it.
#[derive(Debug)]
pub(crate) struct Pair {
    /// The key.
    pub key: Key,
    /// The row of the store read first (`None`: it has none).
    pub first: Option<Record>,
    /// The row of the store read second.
    pub second: Option<Record>,
}

/// A merged scan of `table` on two stores. Each step reads a page of the
/// first store, then a page of the second, both after the same key, and
/// yields the keys up to the smaller of the two pages' last keys (or every
/// key, at the end), so each row of the second store was read after the
/// first store's row under the same key.
pub(crate) struct MergedScan<'a> {
    first: &'a dyn Store,
    second: &'a dyn Store,
    table: &'static Table,
    page: u32,
    after: Option<Key>,
    done: bool,
}

impl<'a> MergedScan<'a> {
    /// A merged scan of `table`, `page` rows per read of each store.
    pub(crate) fn new(first: &'a dyn Store, second: &'a dyn Store, table: &'static Table, page: u32) -> Self {
        Self { first, second, table, page: page.max(1), after: None, done: false }
    }

    /// The next keys in primary-key order, `None` once the table is done.
    ///
    /// # Errors
    /// As [`Store::fetch`].
    pub(crate) async fn next_chunk(&mut self) -> StoreResult<Option<Vec<Pair>>> {
        if self.done {
            return Ok(None);
        }
        let (a, a_more) = scan_page(self.first, self.table, self.after.as_ref(), self.page).await?;
        let (b, b_more) = scan_page(self.second, self.table, self.after.as_ref(), self.page).await?;
        // Past the end of a full page that store may hold more keys: stop there.
        let bound = match (a_more, b_more) {
            (None, None) => None,
            (Some(k), None) | (None, Some(k)) => Some(k),
            (Some(x), Some(y)) => Some(x.min(y)),
        };
        let pairs = merge(a, b, bound.as_ref());
        self.done = bound.is_none();
        self.after = bound;
        Ok(if pairs.is_empty() && self.done { None } else { Some(pairs) })
    }
}

/// Merges two key-ordered pages, keeping keys up to `bound` (inclusive).
fn merge(a: Vec<Record>, b: Vec<Record>, bound: Option<&Key>) -> Vec<Pair> {
    let within = |k: &Key| bound.is_none_or(|b| k <= b);
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let mut a = a.into_iter().map(|r| (r.key(), r)).peekable();
    let mut b = b.into_iter().map(|r| (r.key(), r)).peekable();
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
        };
        let pair = match order {
            std::cmp::Ordering::Less => a.next().map(|(key, r)| Pair { key, first: Some(r), second: None }),
            std::cmp::Ordering::Greater => b.next().map(|(key, r)| Pair { key, first: None, second: Some(r) }),
            std::cmp::Ordering::Equal => match (a.next(), b.next()) {
                (Some((key, x)), Some((_, y))) => Some(Pair { key, first: Some(x), second: Some(y) }),
                _ => None,
            },
        };
        match pair {
            Some(p) if within(&p.key) => out.push(p),
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use agora_core::query::Query;
    use agora_core::{Changeset, Entity, Session, SessionId, UserId};
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;

    fn session(n: u128) -> Session {
        let at = OffsetDateTime::UNIX_EPOCH;
        Session {
            id: SessionId(Uuid::from_u128(n)),
            user_id: UserId(Uuid::from_u128(1)),
            token_hash: format!("h{n}"),
            created_at: at,
            expires_at: at,
        }
    }

    async fn store_with(ids: &[u128]) -> Arc<dyn Store> {
        let store = Arc::new(agora_memory::MemoryStore::new());
        let mut cs = Changeset::new();
        for n in ids {
            cs.insert(session(*n));
        }
        store.apply(cs).await.expect("insert");
        store
    }

    #[tokio::test]
    async fn every_key_once_in_order_whatever_the_pages() {
        let a: Vec<u128> = (1..40).filter(|n| n % 3 != 0).collect();
        let b: Vec<u128> = (1..40).filter(|n| n % 5 != 0).collect();
        let (sa, sb) = (store_with(&a).await, store_with(&b).await);
        for page in [1, 2, 3, 7, 100] {
            let mut scan = MergedScan::new(sa.as_ref(), sb.as_ref(), Session::table(), page);
            let mut seen = Vec::new();
            while let Some(chunk) = scan.next_chunk().await.expect("scan") {
                for p in chunk {
                    let n = (1..40u128).find(|n| Key::from(SessionId(Uuid::from_u128(*n))) == p.key).expect("key");
                    assert_eq!(p.first.is_some(), a.contains(&n), "page {page}, {n}");
                    assert_eq!(p.second.is_some(), b.contains(&n), "page {page}, {n}");
                    seen.push(n);
                }
            }
            let want: Vec<u128> = (1..40).filter(|n| a.contains(n) || b.contains(n)).collect();
            assert_eq!(seen, want, "page {page}");
        }
        let empty = store_with(&[]).await;
        let mut scan = MergedScan::new(empty.as_ref(), empty.as_ref(), Session::table(), 5);
        assert!(scan.next_chunk().await.expect("scan").is_none());
        assert!(empty.fetch(&Query::of::<Session>()).await.expect("read").is_empty());
    }
}
