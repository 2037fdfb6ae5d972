//! The list reads `verify` compares, driven by the rows of each table as
//! it walks them: every answer of the port's list reads must be the same,
//! in the same order, on both stores.

use std::collections::HashMap;

use agora_core::query::Query;
use agora_core::schema::Value;
use agora_core::*;
use futures::future::BoxFuture;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::VerifyReport;
use crate::CutoverError;
use crate::merge::Pair;
use crate::shadow::differing_fields;

/// Far enough ahead that every time-bounded list returns all it can.
fn far_future() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(253_402_300_000 - 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Rows at most in a time-bounded list that is not paged.
const SWEEP: u32 = 10_000;

fn is<T: Entity>(table: &Table) -> bool {
    table.name == T::table().name
}

/// Bytes of keys one list read binds at most. A larger bind leaves the
/// client in several writes (TLS records under PostgreSQL's default
/// `sslmode=prefer`), and on a connection without `TCP_NODELAY`
/// (sqlx 0.9 sets none) the last one waits for the server's delayed ACK:
/// 40 ms per read, measured (verify of 100 000 orders took 44 s instead
/// of 26 s).
pub const LIST_KEY_BYTES: usize = 8 * 1024;

/// What a value adds to a read's bind, about (a length word, then text or a uuid).
fn value_bytes(v: &Value<'_>) -> usize {
    4 + if let Value::Text(s) = v { s.len() } else { 16 }
}

/// What a key adds to a read's bind.
fn key_bytes(key: &Key) -> usize {
    key.values().iter().map(value_bytes).sum()
}

/// `chunk` cut into runs whose keys bind at most [`LIST_KEY_BYTES`] (a
/// run holds at least one key).
fn runs(chunk: &[Pair]) -> impl Iterator<Item = &[Pair]> {
    let mut rest = chunk;
    std::iter::from_fn(move || {
        let (mut bytes, mut n) = (0, 0);
        for pair in rest {
            bytes += key_bytes(&pair.key);
            if n > 0 && bytes > LIST_KEY_BYTES {
                break;
            }
            n += 1;
        }
        let (run, tail) = rest.split_at(n);
        rest = tail;
        (!run.is_empty()).then_some(run)
    })
}

/// The uuid keys of a chunk's rows.
fn uuids(chunk: &[Pair]) -> Vec<Uuid> {
    chunk
        .iter()
        .filter_map(|p| match p.key.values() {
            [Value::Uuid(u)] => Some(*u),
            _ => None,
        })
        .collect()
}

/// Both stores, and what comparing their lists found.
pub(super) struct Lists<'a> {
    a: &'a dyn Store,
    b: &'a dyn Store,
    list_reads: u64,
    replays: u64,
    differences: Vec<String>,
}

impl<'a> Lists<'a> {
    pub(super) fn new(a: &'a dyn Store, b: &'a dyn Store) -> Self {
        Self { a, b, list_reads: 0, replays: 0, differences: Vec::new() }
    }

    /// Adds what was found to the report.
    pub(super) fn finish(self, report: &mut VerifyReport) {
        report.list_reads += self.list_reads;
        report.idempotency_replays += self.replays;
        report.differences.extend(self.differences);
    }

    /// Counts `reads` list reads and notes a difference of their answers.
    fn same<T: PartialEq + Serialize>(&mut self, what: String, a: &T, b: &T, reads: u64) {
        self.list_reads += reads;
        if a != b {
            self.differences.push(format!("list {what}: answers differ ({})", differing_fields(a, b).join(", ")));
        }
    }

    /// One read on both stores.
    async fn check<T, F>(&mut self, what: String, call: F) -> Result<(), CutoverError>
    where
        T: PartialEq + Serialize,
        F: for<'s> Fn(&'s dyn Store) -> BoxFuture<'s, StoreResult<T>>,
    {
        let (ra, rb) = (call(self.a).await?, call(self.b).await?);
        self.same(what, &ra, &rb, 1);
        Ok(())
    }

    /// One query on both stores: the per-key lists of `keys` keys at once.
    async fn query(&mut self, what: String, q: Query, keys: usize) -> Result<(), CutoverError> {
        let (ra, rb) = (self.a.fetch(&q).await?, self.b.fetch(&q).await?);
        self.same(what, &ra, &rb, keys as u64);
        Ok(())
    }

    /// Pages through a newest-first list on both stores and compares every page.
    async fn paged<T, F>(&mut self, what: &str, call: F) -> Result<(), CutoverError>
    where
        T: Entity + PartialEq + Serialize,
        F: for<'s> Fn(&'s dyn Store, Page) -> BoxFuture<'s, StoreResult<Vec<T>>>,
    {
        let mut page = Page::first(200);
        loop {
            let (ra, rb) = (call(self.a, page).await?, call(self.b, page).await?);
            self.same(format!("{what} page before {:?}", page.before), &ra, &rb, 1);
            match ra.last().map(|r| r.key()) {
                Some(Key(last)) if ra.len() == page.limit as usize && ra == rb => match last.as_slice() {
                    [Value::Uuid(id)] => page.before = Some(*id),
                    _ => return Ok(()),
                },
                _ => return Ok(()),
            }
        }
    }

    /// The list reads keyed by the rows of `table` in `chunk`, a run of
    /// keys at a time (see [`LIST_KEY_BYTES`]).
    pub(super) async fn keyed_by(&mut self, table: &Table, chunk: &[Pair]) -> Result<(), CutoverError> {
        for run in runs(chunk) {
            self.keyed_by_run(table, run).await?;
        }
        Ok(())
    }

    async fn keyed_by_run(&mut self, table: &Table, chunk: &[Pair]) -> Result<(), CutoverError> {
        if is::<Shop>(table) {
            for id in uuids(chunk) {
                self.store_pages(StoreId(id)).await?;
                self.store_feeds(StoreId(id)).await?;
            }
        } else if is::<AppUser>(table) {
            for id in uuids(chunk) {
                let user_id = UserId(id);
                self.paged(&format!("orders_by_user({id})"), move |s, p| s.list_orders_by_user(user_id, p)).await?;
            }
        } else if is::<CustomerOrder>(table) {
            self.orders(uuids(chunk).into_iter().map(OrderId).collect()).await?;
        } else if is::<Product>(table) {
            self.products(uuids(chunk).into_iter().map(ProductId).collect()).await?;
        } else if is::<HelpTask>(table) {
            let ids = uuids(chunk);
            let q = Query::of::<Help>().any("task_id", ids.iter().copied()).asc("task_id").asc("id");
            self.query("helps (per task)".into(), q, ids.len()).await?;
        } else if is::<ExportJob>(table) {
            let ids = uuids(chunk);
            let q = Query::of::<ExportAuditRecord>().any("export_id", ids.iter().copied());
            self.query("export_audit (per export)".into(), q.asc("export_id").asc("id"), ids.len()).await?;
        } else if is::<IdempotencyRecord>(table) {
            self.replays(chunk).await?;
        }
        Ok(())
    }

    /// A newest-first list without and with each status filter.
    async fn by_status<S, T, F>(&mut self, what: &str, all: &[S], call: F) -> Result<(), CutoverError>
    where
        S: Copy + std::fmt::Debug,
        T: Entity + PartialEq + Serialize,
        F: for<'s> Fn(&'s dyn Store, Option<S>, Page) -> BoxFuture<'s, StoreResult<Vec<T>>>,
    {
        for status in std::iter::once(None).chain(all.iter().copied().map(Some)) {
            self.paged(&format!("{what}, {status:?})"), |s, p| call(s, status, p)).await?;
        }
        Ok(())
    }

    /// A store's newest-first lists, each with every status filter.
    async fn store_pages(&mut self, store_id: StoreId) -> Result<(), CutoverError> {
        let sid = store_id.0;
        self.paged(&format!("audit_logs({sid})"), move |s, p| s.list_audit_logs(store_id, p)).await?;
        let what = format!("products({sid}");
        self.by_status(&what, ProductStatus::ALL, |s, st, p| s.list_products(store_id, st, p)).await?;
        let what = format!("orders_by_store({sid}");
        self.by_status(&what, OrderStatus::ALL, |s, st, p| s.list_orders_by_store(store_id, st, p)).await?;
        let what = format!("payouts({sid}");
        self.by_status(&what, PayoutStatus::ALL, |s, st, p| s.list_payouts(store_id, st, p)).await
    }

    /// A store's stock, event feed and the jobs' sweeps.
    async fn store_feeds(&mut self, store_id: StoreId) -> Result<(), CutoverError> {
        let (sid, far) = (store_id.0, far_future());
        self.check(format!("store_inventory({sid})"), move |s| s.list_store_inventory(store_id)).await?;
        self.check(format!("active_reservation_totals({sid})"), move |s| s.active_reservation_totals(store_id)).await?;
        let mut after = 0;
        loop {
            let (ra, rb) =
                (self.a.list_events(store_id, after, 500).await?, self.b.list_events(store_id, after, 500).await?);
            self.same(format!("events({sid}, after {after})"), &ra, &rb, 1);
            match ra.last().and_then(|e| e.seq) {
                Some(seq) if ra.len() == 500 && ra == rb => after = seq,
                _ => break,
            }
        }
        self.check(format!("unsequenced_events({sid})"), move |s| s.list_unsequenced_events(store_id, SWEEP)).await?;
        self.check(format!("last_event_seq({sid})"), move |s| s.last_event_seq(store_id)).await?;
        self.check(format!("unpaid_expired({sid})"), move |s| s.list_unpaid_expired(store_id, far, SWEEP)).await?;
        self.check(format!("shipped_before({sid})"), move |s| s.list_shipped_before(store_id, far, SWEEP)).await?;
        self.check(format!("tasks_expired({sid})"), move |s| s.list_tasks_expired(store_id, far, SWEEP)).await?;
        self.check(format!("tasks_payout_due({sid})"), move |s| s.list_tasks_payout_due(store_id, far, SWEEP)).await
    }

    /// A page of orders: their lines, reservations and payments.
    async fn orders(&mut self, ids: Vec<OrderId>) -> Result<(), CutoverError> {
        let (ra, rb) = (self.a.list_order_items(&ids).await?, self.b.list_order_items(&ids).await?);
        self.same("order_items (batch)".into(), &ra, &rb, 1);
        let q = Query::of::<InventoryReservation>().any("order_id", ids.iter().copied()).asc("order_id").asc("id");
        self.query("reservations (per order)".into(), q, ids.len()).await?;
        let q = Query::of::<Payment>().any("order_id", ids.iter().copied()).asc("order_id");
        self.query("payments (per order)".into(), q.asc("created_at").asc("id"), ids.len()).await
    }

    /// A page of products: their variants, the variants' stock, their images.
    async fn products(&mut self, ids: Vec<ProductId>) -> Result<(), CutoverError> {
        let (ra, rb) = (self.a.list_variants(&ids).await?, self.b.list_variants(&ids).await?);
        self.same("variants (batch)".into(), &ra, &rb, 1);
        let mut variants: Vec<VariantId> = ra.iter().chain(&rb).map(|v| v.id).collect();
        variants.sort_unstable();
        variants.dedup();
        let (ia, ib) = (self.a.list_inventory(&variants).await?, self.b.list_inventory(&variants).await?);
        self.same("inventory (batch)".into(), &ia, &ib, 1);
        let q = Query::of::<ProductImage>().any("product_id", ids.iter().copied()).asc("product_id");
        self.query("images (per product)".into(), q.asc("position").asc("id"), ids.len()).await
    }

    /// The stored response of every idempotency key of a chunk, read back
    /// by key from both stores: one query per store and chunk (its scopes
    /// and its keys), not one per key.
    async fn replays(&mut self, chunk: &[Pair]) -> Result<(), CutoverError> {
        let keys: Vec<(&str, &str)> = chunk
            .iter()
            .filter_map(|p| match p.key.values() {
                [Value::Text(scope), Value::Text(key)] => Some((scope.as_ref(), key.as_ref())),
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let mut scopes: Vec<&str> = keys.iter().map(|(s, _)| *s).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let q = Query::of::<IdempotencyRecord>()
            .any("scope", scopes.iter().map(|s| (*s).to_owned()))
            .any("key", keys.iter().map(|(_, k)| (*k).to_owned()));
        let ra: Vec<IdempotencyRecord> = self.a.fetch_all(q.clone()).await?;
        let rb: Vec<IdempotencyRecord> = self.b.fetch_all(q).await?;
        let (ra, rb) = (by_key(&ra), by_key(&rb));
        for (scope, key) in keys {
            let (ra, rb) = (ra.get(&(scope, key)).copied(), rb.get(&(scope, key)).copied());
            self.replays += 1;
            if ra != rb {
                self.differences.push(format!(
                    "idempotency ({scope}, {key}): stored responses differ ({})",
                    differing_fields(&ra, &rb).join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The lists no table's rows key: every store, the export queues,
    /// expired sessions.
    pub(super) async fn global(&mut self) -> Result<(), CutoverError> {
        let far = far_future();
        self.paged("stores", |s, p| s.list_stores(p)).await?;
        for &status in ExportStatus::ALL {
            self.check(format!("exports_by_status({status})"), move |s| s.list_exports_by_status(status, SWEEP))
                .await?;
        }
        self.check("exports_expired".into(), move |s| s.list_exports_expired(far, SWEEP)).await?;
        self.check("expired_sessions".into(), move |s| s.list_expired_sessions(far, SWEEP)).await
    }
}

/// Idempotency records by their key.
fn by_key(rows: &[IdempotencyRecord]) -> HashMap<(&str, &str), &IdempotencyRecord> {
    rows.iter().map(|r| ((r.scope.as_str(), r.key.as_str()), r)).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use agora_memory::MemoryStore;
    use async_trait::async_trait;

    use super::*;
    use crate::copy::NoProgress;
    use crate::wrap::{Wrapped, Wrapper};

    /// Records, per read of the idempotency table, the bytes its lists bind.
    struct Binds {
        inner: Arc<dyn Store>,
        seen: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl Wrapper for Binds {
        fn reads(&self) -> &Arc<dyn Store> {
            &self.inner
        }

        fn fetched(&self, query: &Query, _rows: &[Record]) {
            if query.table.name != IdempotencyRecord::table().name {
                return;
            }
            let bytes = query
                .filters
                .iter()
                .map(|f| match f {
                    Filter::In { values, .. } => values.iter().map(value_bytes).sum(),
                    _ => 0,
                })
                .sum();
            self.seen.lock().expect("lock").push(bytes);
        }
    }

    fn record(scope: usize, n: usize) -> IdempotencyRecord {
        let at = OffsetDateTime::UNIX_EPOCH;
        IdempotencyRecord {
            scope: format!("orders:{scope}"),
            key: format!("{n:0>100}"),
            fingerprint: "f".into(),
            response_status: 201,
            response_body: format!("{{\"n\":{n}}}"),
            resource_id: None,
            created_at: at,
            expires_at: at,
        }
    }

    /// Keys of 100 bytes: about 80 a read.
    const RECORDS: usize = 1_500;

    async fn store(body_of_7: &str) -> Wrapped<Binds> {
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut cs = Changeset::new();
        for n in 0..RECORDS {
            let mut r = record(n % 3, n);
            if n == 7 {
                r.response_body = body_of_7.into();
            }
            cs.insert(r);
        }
        inner.apply(cs).await.expect("records");
        Wrapped(Binds { inner, seen: Mutex::new(Vec::new()) })
    }

    #[tokio::test]
    async fn replays_are_read_back_in_runs_of_bounded_binds() {
        let (a, b) = (store("{\"n\":7}").await, store("{\"n\":\"seven\"}").await);
        let report = crate::verify(&a, &b, &NoProgress).await.expect("verify");
        assert_eq!(report.idempotency_replays, RECORDS as u64);
        let replay = report.differences.iter().filter(|d| d.contains("stored responses differ")).count();
        assert_eq!(replay, 1, "the one record that differs, and only it: {:#?}", report.differences);
        for store in [&a, &b] {
            let binds = store.seen.lock().expect("lock").clone();
            assert!(binds.iter().all(|b| *b <= LIST_KEY_BYTES), "a read binds more than allowed: {binds:?}");
            assert!(binds.len() < RECORDS / 50, "{} reads for {RECORDS} records: one per key?", binds.len());
        }
    }

    #[test]
    fn runs_cover_the_chunk_in_order_within_the_budget() {
        let pair = |key: Key| Pair { key, first: None, second: None };
        let mut chunk: Vec<Pair> = (0..1_000u128).map(|n| pair(Key::from(OrderId(Uuid::from_u128(n))))).collect();
        chunk.push(pair(Key(vec![Value::Text("x".repeat(LIST_KEY_BYTES * 2).into())])));
        chunk.push(pair(Key::from(OrderId(Uuid::from_u128(1_000)))));
        let runs: Vec<&[Pair]> = runs(&chunk).collect();
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), chunk.len());
        assert!(runs.len() > 2, "{} runs", runs.len());
        for run in &runs {
            let bytes: usize = run.iter().map(|p| key_bytes(&p.key)).sum();
            assert!(bytes <= LIST_KEY_BYTES || run.len() == 1, "a run of {} keys binds {bytes}", run.len());
        }
        let flat: Vec<&Key> = runs.iter().flat_map(|r| r.iter().map(|p| &p.key)).collect();
        assert!(flat.iter().zip(&chunk).all(|(a, b)| *a == &b.key), "in order");
    }
}
