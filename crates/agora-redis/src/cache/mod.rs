//! A read-through cache for catalog reads in front of any [`Store`].
//!
//! What is cached is the policy of [`policy`]: a product by id, the
//! variants of one product, a store's listing pages, a store's tickets with
//! unread customer messages (so `GET /v1/stores/{id}/unread`, polled by
//! every open dashboard, is served from Redis). Every other query,
//! every stock read and [`Store::order_context`] go straight to the inner
//! store, so placing an order keeps the inner store's one-call read.
//!
//! # Never stale after a write: generations
//! Every cached value hangs off a *generation key* holding a random token:
//! `cache:gen:product:{id}` for a product and its variants,
//! `cache:gen:listing:{store}` for a store's listing pages,
//! `cache:gen:unread:{store}` for its unread tickets. A value is
//! stored as `token \n json` and is a hit only while its token equals the
//! generation key's current token.
//!
//! - A read fetches the current token (creating one if absent) together with
//!   the value, in one script. On a miss it reads the inner store and then
//!   stores the value *only if the generation still holds the token it
//!   started with* (another script, so compare and set are one step).
//! - After `apply` returns from the inner store, every generation key the
//!   changeset's product, variant and ticket writes touched gets a fresh
//!   random token, before `apply` returns to the caller.
//!
//! So a reader that read the old row before a commit cannot publish it after
//! the invalidation (its token is gone: the read-populate-after-invalidate
//! race), and a read that starts after `apply` returned finds the new token
//! and misses. Tokens are random rather than counters, so a generation key
//! that expired or was evicted can never come back to an old value's token.
//!
//! If the invalidation itself fails (Redis down or slow), the generation keys
//! are kept in a pending list; until they have been bumped, this instance
//! reads nothing from the cache. Other instances that can still reach Redis
//! may serve the old value until the TTL ends (the documented bound).
//!
//! With Redis unreachable every read goes to the inner store; nothing fails
//! and [`RedisClient::errors`] rises. A value Redis lost (eviction, restart,
//! flush, failover) is a miss: it is rebuilt from the inner store by the
//! next read, under the same token guard, so a count served from Redis is
//! always the store's.

mod policy;

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use agora_core::query::Query;
use agora_core::schema::Value;
use agora_core::*;
use async_trait::async_trait;
use redis::Script;
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::policy::Cached;
use crate::client::{RedisClient, millis, random_token};

/// Pending invalidations kept at most (beyond this, the TTL bounds staleness).
const MAX_PENDING: usize = 10_000;

/// KEYS = gen1, val1, gen2, val2, ...; ARGV = a fresh token per pair, then the
/// generation TTL in ms. Returns token1, value1, token2, value2, ...
static LOOKUP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for i = 1, #KEYS, 2 do
  local tok = redis.call('GET', KEYS[i])
  if not tok then
    tok = ARGV[(i + 1) / 2]
    redis.call('SET', KEYS[i], tok, 'PX', ARGV[#ARGV])
  end
  out[#out + 1] = tok
  out[#out + 1] = redis.call('GET', KEYS[i + 1])
end
return out",
    )
});

/// KEYS = gen1, val1, ...; ARGV = value TTL ms, generation TTL ms, token1,
/// json1, token2, json2, ... Stores each value only while its generation
/// still holds the token the read started with.
static POPULATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = 0
for i = 1, #KEYS, 2 do
  local j = i + 2
  if redis.call('GET', KEYS[i]) == ARGV[j] then
    redis.call('SET', KEYS[i + 1], ARGV[j] .. '\n' .. ARGV[j + 1], 'PX', ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    n = n + 1
  end
end
return n",
    )
});

/// One cached value and the generation it depends on.
#[derive(Clone, Debug)]
struct Slot {
    generation: String,
    value: String,
}

/// What a lookup found for one slot.
#[derive(Debug)]
struct Found {
    token: String,
    value: Option<String>,
}

/// A [`Store`] that caches catalog reads in Redis and delegates everything
/// else (and every write) to the wrapped store.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    client: RedisClient,
    ttl: Duration,
    pending: tokio::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("backend", &self.inner.backend())
            .field("client", &self.client)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CachedStore {
    /// Caches `inner`'s catalog reads in `client` for at most `ttl` (a few
    /// minutes is plenty; the TTL only bounds memory and the staleness other
    /// instances may see while Redis cannot be written).
    pub fn new(inner: Arc<dyn Store>, client: RedisClient, ttl: Duration) -> Self {
        Self { inner, client, ttl, pending: tokio::sync::Mutex::new(Vec::new()) }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// Redis failures seen by this cache's client (shared with its clones).
    pub fn errors(&self) -> u64 {
        self.client.errors()
    }

    fn gen_ttl(&self) -> u64 {
        millis(self.ttl).saturating_mul(2).saturating_add(1000)
    }

    fn product_gen(&self, id: ProductId) -> String {
        self.client.key(&format!("cache:gen:product:{id}"))
    }

    fn listing_gen(&self, store_id: StoreId) -> String {
        self.client.key(&format!("cache:gen:listing:{store_id}"))
    }

    fn unread_gen(&self, store_id: StoreId) -> String {
        self.client.key(&format!("cache:gen:unread:{store_id}"))
    }

    fn unread_slot(&self, store_id: StoreId) -> Slot {
        Slot { generation: self.unread_gen(store_id), value: self.client.key(&format!("cache:unread:{store_id}")) }
    }

    fn product_slot(&self, id: ProductId) -> Slot {
        Slot { generation: self.product_gen(id), value: self.client.key(&format!("cache:product:{id}")) }
    }

    fn variants_slot(&self, id: ProductId) -> Slot {
        Slot { generation: self.product_gen(id), value: self.client.key(&format!("cache:variants:{id}")) }
    }

    fn listing_slot(&self, store_id: StoreId, status: Option<&str>, limit: u32, before: Option<uuid::Uuid>) -> Slot {
        let status = status.unwrap_or("*");
        let before = before.map_or_else(|| "-".to_owned(), |b| b.to_string());
        Slot {
            generation: self.listing_gen(store_id),
            value: self.client.key(&format!("cache:listing:{store_id}:{status}:{limit}:{before}")),
        }
    }

    /// The generation keys `changeset` makes stale once applied. Deleted
    /// cached rows are read first to learn their product or store (agora
    /// never deletes them today; a failed read means the delete fails too).
    async fn generations_for(&self, changeset: &Changeset) -> Vec<String> {
        let stale = policy::stale(changeset);
        let (mut products, mut unread) = (stale.products, stale.unread);
        for (table, key) in &stale.deleted {
            if let Ok(rows) = self.inner.fetch(&Query::by_key(table, key)).await {
                products.extend(rows.iter().filter_map(policy::product_of));
                unread.extend(rows.iter().filter_map(policy::ticket_store));
            }
        }
        let mut out = Vec::with_capacity(products.len() * 2 + unread.len());
        for (product_id, store_id) in products {
            out.push(self.product_gen(product_id));
            out.push(self.listing_gen(store_id));
        }
        out.extend(unread.into_iter().map(|s| self.unread_gen(s)));
        out.sort();
        out.dedup();
        out
    }

    /// Gives each generation a fresh token. On failure they stay pending and
    /// this instance bypasses the cache until they are done.
    async fn invalidate(&self, generations: Vec<String>) {
        let mut pending = self.pending.lock().await;
        pending.extend(generations);
        pending.sort();
        pending.dedup();
        if self.bump(&pending).await.is_ok() {
            pending.clear();
        } else if pending.len() > MAX_PENDING {
            let excess = pending.len() - MAX_PENDING;
            pending.drain(..excess);
        }
    }

    async fn bump(&self, generations: &[String]) -> Result<(), StoreError> {
        if generations.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let gen_ttl = self.gen_ttl();
        for g in generations {
            pipe.cmd("SET").arg(g).arg(random_token()).arg("PX").arg(gen_ttl).ignore();
        }
        let mut conn = self.client.conn();
        self.client.run("cache invalidate", async move { pipe.query_async::<()>(&mut conn).await }).await
    }

    /// The current tokens and values of `slots`, or `None` when the cache
    /// must be bypassed (Redis failed, or invalidations are still pending).
    async fn lookup(&self, slots: &[Slot]) -> Option<Vec<Found>> {
        {
            let mut pending = self.pending.lock().await;
            if !pending.is_empty() {
                if self.bump(&pending).await.is_err() {
                    return None;
                }
                pending.clear();
            }
        }
        let mut inv = LOOKUP.prepare_invoke();
        for s in slots {
            inv.key(&s.generation).key(&s.value);
            inv.arg(random_token());
        }
        inv.arg(self.gen_ttl());
        let mut conn = self.client.conn();
        let raw: Vec<Option<String>> =
            self.client.run("cache lookup", async move { inv.invoke_async(&mut conn).await }).await.ok()?;
        if raw.len() != slots.len() * 2 {
            self.client.count_error();
            return None;
        }
        let mut out = Vec::with_capacity(slots.len());
        let mut it = raw.into_iter();
        while let (Some(token), Some(value)) = (it.next(), it.next()) {
            let token = token?;
            let value = value.and_then(|v| match v.split_once('\n') {
                Some((t, json)) if t == token => Some(json.to_owned()),
                _ => None,
            });
            out.push(Found { token, value });
        }
        Some(out)
    }

    /// Stores values read from the inner store under the tokens their reads
    /// started with; a value whose generation moved on is dropped.
    async fn populate(&self, items: Vec<(Slot, String, String)>) {
        if items.is_empty() {
            return;
        }
        let mut inv = POPULATE.prepare_invoke();
        inv.arg(millis(self.ttl)).arg(self.gen_ttl());
        for (slot, token, json) in &items {
            inv.key(&slot.generation).key(&slot.value);
            inv.arg(token).arg(json);
        }
        let mut conn = self.client.conn();
        let _ = self.client.run("cache populate", async move { inv.invoke_async::<i64>(&mut conn).await }).await;
    }

    fn decode<T: DeserializeOwned>(&self, json: &str) -> Option<T> {
        match serde_json::from_str(json) {
            Ok(v) => Some(v),
            Err(_) => {
                self.client.count_error();
                None
            }
        }
    }

    /// Read-through of one value: a hit is decoded; a miss reads `fetch` and
    /// stores what `keep` says is worth caching.
    async fn read_through<T, F, Fut>(&self, slot: Slot, keep: fn(&T) -> bool, fetch: F) -> StoreResult<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let found = self.lookup(std::slice::from_ref(&slot)).await.and_then(|mut v| v.pop());
        if let Some(Found { value: Some(json), .. }) = &found
            && let Some(v) = self.decode(json)
        {
            return Ok(v);
        }
        let fresh = fetch().await?;
        if let Some(Found { token, .. }) = found
            && keep(&fresh)
            && let Ok(json) = serde_json::to_string(&fresh)
        {
            self.populate(vec![(slot, token, json)]).await;
        }
        Ok(fresh)
    }
}

/// The rows of `T` among `rows` (a query of `T`'s table answers only those).
fn typed<T: Catalogued>(rows: Vec<Record>) -> Vec<T> {
    rows.into_iter().filter_map(T::from_record).collect()
}

fn records<T: Catalogued>(rows: impl IntoIterator<Item = T>) -> Vec<Record> {
    rows.into_iter().map(Catalogued::into_record).collect()
}

/// `rows` in `query`'s order (they come from several cached slots).
fn in_order(query: &Query, rows: Vec<Record>) -> Vec<Record> {
    if query.order.is_empty() {
        return rows;
    }
    let mut keyed: Vec<(Vec<Value<'static>>, Record)> = rows
        .into_iter()
        .map(|r| {
            let mut values = Vec::with_capacity(query.table.columns.len());
            r.encode(&mut values);
            let values = values.into_iter().map(Value::into_owned).collect();
            (values, r)
        })
        .collect();
    keyed.sort_by(|a, b| query.compare(&a.0, &b.0));
    keyed.into_iter().map(|(_, r)| r).collect()
}

impl CachedStore {
    /// A cached read: a hit from Redis, or the inner store's answer (kept for next time).
    async fn cached(&self, query: &Query, read: Cached) -> StoreResult<Vec<Record>> {
        let inner = || async { self.inner.fetch(query).await };
        match read {
            Cached::Product(id) => {
                // Absent products are not cached: ids that do not exist must not fill Redis.
                let fetch = || async { Ok(typed::<Product>(inner().await?).into_iter().next()) };
                Ok(records(self.read_through(self.product_slot(id), Option::is_some, fetch).await?))
            }
            Cached::Listing { store_id, status, limit, before } => {
                let slot = self.listing_slot(store_id, status, limit, before);
                let fetch = || async { Ok(typed::<Product>(inner().await?)) };
                Ok(records(self.read_through(slot, |_| true, fetch).await?))
            }
            Cached::Variants(ids) => self.variants(query, &ids).await,
            Cached::StoreUnread(store_id) => {
                let fetch = || async { Ok(typed::<Ticket>(inner().await?)) };
                Ok(records(self.read_through(self.unread_slot(store_id), |_| true, fetch).await?))
            }
        }
    }

    /// The variants of `ids`, one cached slot per product: hits from Redis,
    /// the misses in one read of the inner store.
    async fn variants(&self, query: &Query, ids: &[ProductId]) -> StoreResult<Vec<Record>> {
        if ids.is_empty() {
            return self.inner.fetch(query).await;
        }
        let slots: Vec<Slot> = ids.iter().map(|id| self.variants_slot(*id)).collect();
        let Some(found) = self.lookup(&slots).await else {
            return self.inner.fetch(query).await;
        };
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for ((id, slot), f) in ids.iter().zip(slots).zip(found) {
            match f.value.as_deref().and_then(|json| self.decode::<Vec<ProductVariant>>(json)) {
                Some(vs) => out.extend(records(vs)),
                None => missing.push((*id, slot, f.token)),
            }
        }
        if !missing.is_empty() {
            let misses = Query::of::<ProductVariant>().any("product_id", missing.iter().map(|(id, ..)| *id));
            let fresh: Vec<ProductVariant> = typed(self.inner.fetch(&misses).await?);
            let mut to_store = Vec::with_capacity(missing.len());
            for (id, slot, token) in missing {
                let mine: Vec<&ProductVariant> = fresh.iter().filter(|v| v.product_id == id).collect();
                if let Ok(json) = serde_json::to_string(&mine) {
                    to_store.push((slot, token, json));
                }
            }
            out.extend(records(fresh));
            self.populate(to_store).await;
        }
        Ok(in_order(query, out))
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        let generations = self.generations_for(&changeset).await;
        let result = self.inner.apply(changeset).await;
        // Unavailable may hide a commit whose answer was lost: invalidate then too.
        let maybe_written = matches!(result, Ok(()) | Err(StoreError::Unavailable(_)));
        if maybe_written && !generations.is_empty() {
            self.invalidate(generations).await;
        }
        result
    }

    async fn fetch(&self, query: &Query) -> StoreResult<Vec<Record>> {
        match policy::recognise(query) {
            Some(read) => self.cached(query, read).await,
            None => self.inner.fetch(query).await,
        }
    }

    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        // Stock and idempotency must be fresh: the inner store's one-call read.
        self.inner.order_context(q).await
    }

    async fn search_products(&self, q: &ProductSearchQuery<'_>) -> StoreResult<Vec<SearchHit>> {
        // Not cached: a search must see the commit that changed a title.
        self.inner.search_products(q).await
    }

    async fn purge_events_in_bulk(&self, floors: &[EventFloor]) -> StoreResult<u64> {
        // Events are not cached.
        self.inner.purge_events_in_bulk(floors).await
    }

    async fn health(&self) -> StoreResult<()> {
        // Redis is optional: the store's health is the inner store's.
        self.inner.health().await
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisConfig;
    use time::OffsetDateTime;

    async fn client() -> RedisClient {
        let url = std::env::var("AGORA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let prefix = format!("agoratest:{}:", uuid::Uuid::now_v7().simple());
        RedisClient::connect(RedisConfig::new(url.clone()).with_prefix(prefix))
            .await
            .unwrap_or_else(|e| panic!("no redis-server at AGORA_TEST_REDIS_URL={url}: {e}"))
    }

    fn product(title: &str, version: i64) -> Product {
        let at = OffsetDateTime::UNIX_EPOCH;
        Product {
            id: ProductId(uuid::Uuid::from_u128(7)),
            store_id: StoreId(uuid::Uuid::from_u128(1)),
            title: title.into(),
            status: ProductStatus::Active,
            currency: Currency::parse("EUR").expect("currency"),
            version,
            created_at: at,
            updated_at: at,
        }
    }

    /// The read-populate-after-invalidate race, made deterministic: a read
    /// misses and fetches the old row; the write commits and invalidates
    /// *before* the read stores what it fetched. The stale value must not
    /// be served afterwards.
    #[tokio::test]
    async fn a_read_that_raced_a_write_cannot_publish_the_old_value() {
        let client = client().await;
        let inner = Arc::new(agora_memory::MemoryStore::new());
        let store = CachedStore::new(inner.clone(), client.clone(), Duration::from_secs(60));
        let old = product("old", 1);
        let mut cs = Changeset::new();
        cs.insert(Record::Product(old.clone()));
        store.apply(cs).await.expect("insert");

        let id = old.id;
        let slot = store.product_slot(id);
        let raced = store
            .read_through(slot, Option::is_some, || async {
                let fetched = inner.get_product(id).await;
                let mut cs = Changeset::new();
                cs.update(Record::Product(product("new", 2)));
                store.apply(cs).await.expect("update");
                fetched
            })
            .await
            .expect("read");
        assert_eq!(raced.expect("row").title, "old", "the racing read itself may return the old row");
        assert_eq!(store.get_product(id).await.expect("read").expect("row").title, "new");
        assert_eq!(store.get_product(id).await.expect("read").expect("row").title, "new", "and it is cached now");
        let listing = store.list_products(old.store_id, None, Page::first(5)).await.expect("list");
        assert_eq!(listing[0].title, "new");
        assert_eq!(client.errors(), 0);
        client.purge_prefix().await.expect("clean up");
    }

    fn ticket(n: u128, unread_for_store: i64) -> Ticket {
        let at = OffsetDateTime::UNIX_EPOCH;
        Ticket {
            id: TicketId(uuid::Uuid::from_u128(n)),
            number: format!("T-{n}"),
            store_id: StoreId(uuid::Uuid::from_u128(1)),
            user_id: UserId(uuid::Uuid::from_u128(2)),
            order_id: None,
            subject: "where is my parcel".into(),
            status: TicketStatus::Open,
            priority: TicketPriority::Normal,
            unread_for_customer: 0,
            unread_for_store,
            last_message_at: at,
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    /// A store's unread tickets are served from Redis, and when Redis loses
    /// them (a flush, an eviction, a restart) the next read rebuilds them
    /// from the store: the count is the store's again, and cached again.
    #[tokio::test]
    async fn unread_tickets_are_served_from_redis_and_rebuilt_when_redis_lost_them() {
        let client = client().await;
        let inner = Arc::new(agora_memory::MemoryStore::new());
        let store = CachedStore::new(inner.clone(), client.clone(), Duration::from_secs(60));
        let store_id = StoreId(uuid::Uuid::from_u128(1));
        let unread = || Query::of::<Ticket>().eq("store_id", store_id).gt("unread_for_store", 0i64);
        let sum = |rows: Vec<Record>| typed::<Ticket>(rows).iter().map(|t| t.unread_for_store).sum::<i64>();
        let mut cs = Changeset::new();
        cs.insert(ticket(1, 2)).insert(ticket(2, 1)).insert(ticket(3, 0));
        store.apply(cs).await.expect("insert");
        assert_eq!(sum(store.fetch(&unread()).await.expect("read")), 3);
        let value_key = store.unread_slot(store_id).value;
        let mut conn = client.conn();
        let exists: bool = redis::cmd("EXISTS").arg(&value_key).query_async(&mut conn).await.expect("exists");
        assert!(exists, "the first read populated {value_key}");

        // Served from Redis: a write that bypasses the cache is not seen...
        let mut cs = Changeset::new();
        cs.update(ticket(3, 5));
        inner.apply(cs).await.expect("write behind the cache's back");
        assert_eq!(sum(store.fetch(&unread()).await.expect("read")), 3, "the cached rows answer");
        // ...until Redis loses the value: then the store's count is rebuilt.
        assert!(client.purge_prefix().await.expect("flush") > 0);
        assert_eq!(sum(store.fetch(&unread()).await.expect("read")), 8, "rebuilt from the store");
        let exists: bool = redis::cmd("EXISTS").arg(&value_key).query_async(&mut conn).await.expect("exists");
        assert!(exists, "and cached again");

        // A write through the cache is exact at once.
        let mut cs = Changeset::new();
        cs.update(ticket(1, 0));
        store.apply(cs).await.expect("read it");
        assert_eq!(sum(store.fetch(&unread()).await.expect("read")), 6);
        assert_eq!(client.errors(), 0);
        client.purge_prefix().await.expect("clean up");
    }

    #[test]
    fn catalog_writes_bump_their_product_and_listing() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async {
            let client = RedisClient::connect_lazy(RedisConfig::new("redis://127.0.0.1:1")).expect("lazy");
            let store = CachedStore::new(Arc::new(agora_memory::MemoryStore::new()), client, Duration::from_secs(1));
            let p = product("p", 1);
            let mut cs = Changeset::new();
            cs.insert(p.clone()).insert(p.clone());
            cs.stock(
                VariantId(uuid::Uuid::from_u128(9)),
                WarehouseId(uuid::Uuid::from_u128(1)),
                p.created_at,
                StockChange::Reserve(1),
            );
            let gens = store.generations_for(&cs).await;
            let (pid, sid) = (p.id, p.store_id);
            assert_eq!(gens, vec![format!("agora:cache:gen:listing:{sid}"), format!("agora:cache:gen:product:{pid}")]);
        });
    }
}
