//! A read-through cache for catalog reads in front of any [`Store`].
//!
//! Cached: `get_product` (by id), `list_variants` (per product) and
//! `list_products` (a store's listing pages). Not cached: stock
//! (`list_inventory`, `list_store_inventory`: it changes on every order) and
//! everything else; those calls go straight to the inner store.
//!
//! # Never stale after a write: generations
//! Every cached value hangs off a *generation key* holding a random token:
//! `cache:gen:product:{id}` for a product and its variants,
//! `cache:gen:listing:{store}` for a store's listing pages. A value is
//! stored as `token \n json` and is a hit only while its token equals the
//! generation key's current token.
//!
//! - A read fetches the current token (creating one if absent) together with
//!   the value, in one script. On a miss it reads the inner store and then
//!   stores the value *only if the generation still holds the token it
//!   started with* (another script, so compare and set are one step).
//! - After `apply` returns from the inner store, every generation key the
//!   changeset touched (from [`Changeset::touched`]) gets a fresh random
//!   token, before `apply` returns to the caller.
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
//! and [`RedisClient::errors`] rises.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use agora_core::ports::*;
use agora_core::*;
use async_trait::async_trait;
use redis::Script;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

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

    fn product_slot(&self, id: ProductId) -> Slot {
        Slot { generation: self.product_gen(id), value: self.client.key(&format!("cache:product:{id}")) }
    }

    fn variants_slot(&self, id: ProductId) -> Slot {
        Slot { generation: self.product_gen(id), value: self.client.key(&format!("cache:variants:{id}")) }
    }

    fn listing_slot(&self, store_id: StoreId, status: Option<ProductStatus>, page: Page) -> Slot {
        let status = status.map_or("*", |s| s.as_str());
        let before = page.before.map_or_else(|| "-".to_owned(), |b| b.to_string());
        Slot {
            generation: self.listing_gen(store_id),
            value: self.client.key(&format!("cache:listing:{store_id}:{status}:{}:{before}", page.limit)),
        }
    }

    /// The generation keys a committed changeset makes stale.
    fn generations_for(&self, touched: &[EntityRef]) -> Vec<String> {
        let mut out = Vec::new();
        for t in touched {
            // Stock, images, stores, ... are not cached: nothing to do for them.
            if let EntityRef::Product { product_id, store_id } = t {
                out.push(self.product_gen(*product_id));
                out.push(self.listing_gen(*store_id));
            }
        }
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

/// Generates an `impl $trait for CachedStore` whose methods all delegate.
macro_rules! delegate {
    ($trait:ident { $(fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for CachedStore {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

delegate!(StoreRepository {
    fn get_store(&self, id: StoreId) -> StoreResult<Option<Shop>>;
    fn list_stores(&self, page: Page) -> StoreResult<Vec<Shop>>;
    fn get_settings(&self, store_id: StoreId) -> StoreResult<Option<StoreSettings>>;
    fn get_admin_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<AdminKey>>;
    fn list_audit_logs(&self, store_id: StoreId, page: Page) -> StoreResult<Vec<AuditLog>>;
});

delegate!(UserRepository {
    fn get_user(&self, id: UserId) -> StoreResult<Option<AppUser>>;
    fn get_user_by_email(&self, email: &str) -> StoreResult<Option<AppUser>>;
    fn get_address(&self, id: AddressId) -> StoreResult<Option<UserAddress>>;
    fn get_session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    fn list_expired_sessions(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Session>>;
});

delegate!(OrderRepository {
    fn get_order(&self, id: OrderId) -> StoreResult<Option<CustomerOrder>>;
    fn list_order_items(&self, order_ids: &[OrderId]) -> StoreResult<Vec<OrderItem>>;
    fn list_orders_by_user(&self, user_id: UserId, page: Page) -> StoreResult<Vec<CustomerOrder>>;
    fn list_orders_by_store(&self, store_id: StoreId, status: Option<OrderStatus>, page: Page)
        -> StoreResult<Vec<CustomerOrder>>;
    fn list_unpaid_expired(&self, store_id: StoreId, now: OffsetDateTime, limit: u32)
        -> StoreResult<Vec<CustomerOrder>>;
    fn list_shipped_before(&self, store_id: StoreId, cutoff: OffsetDateTime, limit: u32)
        -> StoreResult<Vec<CustomerOrder>>;
    fn list_reservations(&self, order_id: OrderId) -> StoreResult<Vec<InventoryReservation>>;
});

delegate!(PaymentRepository {
    fn get_payment(&self, id: PaymentId) -> StoreResult<Option<Payment>>;
    fn list_payments(&self, order_id: OrderId) -> StoreResult<Vec<Payment>>;
    fn get_payment_event(&self, provider: &str, event_id: &str) -> StoreResult<Option<PaymentEvent>>;
});

delegate!(TaskRepository {
    fn get_task(&self, id: TaskId) -> StoreResult<Option<HelpTask>>;
    fn get_task_by_no(&self, task_no: &str) -> StoreResult<Option<HelpTask>>;
    fn get_task_by_order(&self, order_id: OrderId) -> StoreResult<Option<HelpTask>>;
    fn list_helps(&self, task_id: TaskId) -> StoreResult<Vec<Help>>;
    fn get_help_by_order(&self, order_id: OrderId) -> StoreResult<Option<Help>>;
    fn list_tasks_expired(&self, store_id: StoreId, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<HelpTask>>;
    fn list_tasks_payout_due(&self, store_id: StoreId, now: OffsetDateTime, limit: u32)
        -> StoreResult<Vec<HelpTask>>;
    fn get_payout(&self, id: PayoutId) -> StoreResult<Option<PayoutLedger>>;
    fn get_payout_by_task(&self, task_id: TaskId) -> StoreResult<Option<PayoutLedger>>;
    fn list_payouts(&self, store_id: StoreId, status: Option<PayoutStatus>, page: Page)
        -> StoreResult<Vec<PayoutLedger>>;
});

delegate!(IdempotencyRepository {
    fn get_idempotency(&self, scope: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>>;
    fn list_expired_idempotency(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<IdempotencyRecord>>;
});

delegate!(EventRepository {
    fn list_events(&self, store_id: StoreId, after: i64, limit: u32) -> StoreResult<Vec<ActivityEvent>>;
    fn list_unsequenced_events(&self, store_id: StoreId, limit: u32) -> StoreResult<Vec<ActivityEvent>>;
    fn last_event_seq(&self, store_id: StoreId) -> StoreResult<i64>;
});

delegate!(ExportRepository {
    fn get_export(&self, id: ExportId) -> StoreResult<Option<ExportJob>>;
    fn list_exports_by_status(&self, status: ExportStatus, limit: u32) -> StoreResult<Vec<ExportJob>>;
    fn list_exports_expired(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<ExportJob>>;
    fn list_export_audit(&self, export_id: ExportId) -> StoreResult<Vec<ExportAuditRecord>>;
});

#[async_trait]
impl CatalogRepository for CachedStore {
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>> {
        // Absent products are not cached: ids that do not exist must not fill Redis.
        self.read_through(self.product_slot(id), Option::is_some, || self.inner.get_product(id)).await
    }

    async fn list_products(
        &self,
        store_id: StoreId,
        status: Option<ProductStatus>,
        page: Page,
    ) -> StoreResult<Vec<Product>> {
        self.read_through(
            self.listing_slot(store_id, status, page),
            |_| true,
            || self.inner.list_products(store_id, status, page),
        )
        .await
    }

    async fn list_variants(&self, product_ids: &[ProductId]) -> StoreResult<Vec<ProductVariant>> {
        let mut ids = product_ids.to_vec();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return self.inner.list_variants(product_ids).await;
        }
        let slots: Vec<Slot> = ids.iter().map(|id| self.variants_slot(*id)).collect();
        let Some(found) = self.lookup(&slots).await else {
            return self.inner.list_variants(product_ids).await;
        };
        let mut out: Vec<ProductVariant> = Vec::new();
        let mut missing = Vec::new();
        for ((id, slot), f) in ids.iter().zip(slots).zip(found) {
            match f.value.as_deref().and_then(|json| self.decode::<Vec<ProductVariant>>(json)) {
                Some(vs) => out.extend(vs),
                None => missing.push((*id, slot, f.token)),
            }
        }
        if !missing.is_empty() {
            let missing_ids: Vec<ProductId> = missing.iter().map(|(id, ..)| *id).collect();
            let fresh = self.inner.list_variants(&missing_ids).await?;
            let mut to_store = Vec::with_capacity(missing.len());
            for (id, slot, token) in missing {
                let mine: Vec<&ProductVariant> = fresh.iter().filter(|v| v.product_id == id).collect();
                if let Ok(json) = serde_json::to_string(&mine) {
                    to_store.push((slot, token, json));
                }
            }
            out.extend(fresh);
            self.populate(to_store).await;
        }
        // The inner store's order: (product, created, id).
        out.sort_by_key(|a| (a.product_id, a.created_at, a.id));
        Ok(out)
    }

    async fn get_variants(&self, ids: &[VariantId]) -> StoreResult<Vec<ProductVariant>> {
        self.inner.get_variants(ids).await
    }

    async fn list_images(&self, product_id: ProductId) -> StoreResult<Vec<ProductImage>> {
        self.inner.list_images(product_id).await
    }

    async fn get_warehouse(&self, id: WarehouseId) -> StoreResult<Option<Warehouse>> {
        self.inner.get_warehouse(id).await
    }

    async fn list_inventory(&self, variant_ids: &[VariantId]) -> StoreResult<Vec<Inventory>> {
        // Stock changes with every order: never cached.
        self.inner.list_inventory(variant_ids).await
    }

    async fn list_store_inventory(&self, store_id: StoreId) -> StoreResult<Vec<Inventory>> {
        self.inner.list_store_inventory(store_id).await
    }

    async fn active_reservation_totals(&self, store_id: StoreId) -> StoreResult<Vec<(VariantId, WarehouseId, i64)>> {
        self.inner.active_reservation_totals(store_id).await
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        let generations = self.generations_for(&changeset.touched());
        let result = self.inner.apply(changeset).await;
        // Unavailable may hide a commit whose answer was lost: invalidate then too.
        let maybe_written = matches!(result, Ok(()) | Err(StoreError::Unavailable(_)));
        if maybe_written && !generations.is_empty() {
            self.invalidate(generations).await;
        }
        result
    }

    async fn snapshot(&self) -> StoreResult<Snapshot> {
        self.inner.snapshot().await
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

    #[test]
    fn only_products_invalidate() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async {
            let client = RedisClient::connect_lazy(RedisConfig::new("redis://127.0.0.1:1")).expect("lazy");
            let store = CachedStore::new(Arc::new(agora_memory::MemoryStore::new()), client, Duration::from_secs(1));
            let p = ProductId(uuid::Uuid::from_u128(5));
            let s = StoreId(uuid::Uuid::from_u128(6));
            let gens = store.generations_for(&[
                EntityRef::Stock(VariantId(uuid::Uuid::from_u128(9))),
                EntityRef::Product { product_id: p, store_id: s },
                EntityRef::Product { product_id: p, store_id: s },
                EntityRef::Store(s),
            ]);
            assert_eq!(gens, vec![format!("agora:cache:gen:listing:{s}"), format!("agora:cache:gen:product:{p}")]);
        });
    }
}
