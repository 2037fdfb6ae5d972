//! Shared test fixtures: a real redis-server under a random key prefix
//! (deleted afterwards), and an agora over a memory store.
#![allow(dead_code)]

use std::sync::Arc;

use agora_core::secrets::{Argon2Cost, Argon2Passwords, hash_token};
use agora_core::views::*;
use agora_core::*;
use agora_redis::{RedisClient, RedisConfig};
use uuid::Uuid;

/// The variable naming the test server.
pub const URL_VAR: &str = "AGORA_TEST_REDIS_URL";

/// The test server's URL.
pub fn redis_url() -> String {
    std::env::var(URL_VAR).unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A port nothing listens on.
pub const CLOSED_URL: &str = "redis://127.0.0.1:1";

/// A live Redis under a fresh prefix; every key under it is deleted on drop
/// (also when the test panics).
pub struct TestRedis {
    pub client: RedisClient,
    pub prefix: String,
}

impl TestRedis {
    /// Connects, failing the test with a clear message when no server answers.
    pub async fn new() -> Self {
        let prefix = format!("agoratest:{}:", Uuid::now_v7().simple());
        let client = connect(&prefix).await;
        Self { client, prefix }
    }

    /// A second, independent client (its own connection) on the same prefix:
    /// another api instance.
    pub async fn another(&self) -> RedisClient {
        connect(&self.prefix).await
    }

    /// A fresh prefix and two instances made by `make`, each on its own
    /// connection: two api instances sharing one Redis.
    pub async fn two<T>(make: impl Fn(RedisClient) -> T) -> (Self, T, T) {
        let t = Self::new().await;
        let (a, b) = (make(t.client.clone()), make(t.another().await));
        (t, a, b)
    }

    /// A plain redis connection for checks the API does not offer.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(redis_url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("redis-server at {URL_VAR}={} unreachable: {e}", redis_url()))
    }

    /// Keys under the prefix.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.raw().await;
        let mut keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query_async(&mut conn).await.expect("KEYS");
        keys.sort();
        keys
    }
}

async fn connect(prefix: &str) -> RedisClient {
    let url = redis_url();
    RedisClient::connect(RedisConfig::new(url.clone()).with_prefix(prefix))
        .await
        .unwrap_or_else(|e| panic!("no redis-server at {URL_VAR}={url} ({e}); start one or point {URL_VAR} at one"))
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        // Synchronous clean-up so it also runs while a failed test unwinds.
        let Ok(client) = redis::Client::open(redis_url()) else { return };
        let Ok(mut conn) = client.get_connection() else { return };
        let mut cursor: u64 = 0;
        loop {
            let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
            else {
                return;
            };
            if !keys.is_empty() {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

/// A client of a Redis that is not there.
pub fn unreachable_client() -> RedisClient {
    RedisClient::connect_lazy(RedisConfig::new(CLOSED_URL).with_prefix("agoratest:unreachable:")).expect("lazy client")
}

pub const SUPER_KEY: &str = "agora-redis-test-super-admin-key-0123";

/// An agora with one store, one product (one variant, stock in one
/// warehouse) and one customer.
pub struct World {
    pub agora: Agora,
    pub store: Arc<dyn Store>,
    pub store_id: StoreId,
    pub admin: Actor,
    pub warehouse: Uuid,
    pub product: ProductView,
    pub variant: Uuid,
    pub customer: Actor,
    pub address: Uuid,
}

/// An agora over `store`, optionally with an idempotency fast path.
pub fn agora(store: Arc<dyn Store>, cache: Option<Arc<dyn IdempotencyCache>>) -> Agora {
    let mut b = Agora::builder(store)
        .passwords(Arc::new(Argon2Passwords::new(Argon2Cost::TESTING)))
        .config(AgoraConfig { super_admin_key_hash: Some(hash_token(SUPER_KEY)), ..AgoraConfig::default() });
    if let Some(c) = cache {
        b = b.idempotency_cache(c);
    }
    b.build()
}

impl World {
    pub async fn new(store: Arc<dyn Store>, cache: Option<Arc<dyn IdempotencyCache>>, stock: i64) -> Self {
        let agora = agora(store.clone(), cache);
        let sa = agora.authenticate_admin(SUPER_KEY).await.expect("super admin");
        let domain = format!("s{}.example.com", Uuid::now_v7().simple());
        let shop = agora
            .create_store(&sa, NewStore { name: "Shop".into(), domain, access_token: None })
            .await
            .expect("create store");
        let store_id = StoreId(shop.id);
        let key = agora.create_admin_key(&sa, store_id, Default::default()).await.expect("admin key");
        let admin = agora.authenticate_admin(&key.key).await.expect("admin auth");
        let warehouse =
            agora.create_warehouse(&admin, store_id, NewWarehouse { name: "main".into() }).await.expect("warehouse").id;
        let product = agora
            .create_product(
                &admin,
                store_id,
                NewProduct {
                    title: "Kettle".into(),
                    currency: "EUR".into(),
                    status: None,
                    variants: vec![NewVariant { sku: "K-1".into(), name: "default".into(), price_minor: 1999 }],
                },
            )
            .await
            .expect("create product");
        let variant = product.variants[0].id;
        agora
            .set_inventory(
                &admin,
                store_id,
                SetInventory { variant_id: variant, warehouse_id: warehouse, on_hand: stock },
            )
            .await
            .expect("set inventory");
        let email = format!("{}@example.com", Uuid::now_v7().simple());
        agora
            .register_user(NewUser {
                name: "Ann".into(),
                email: email.clone(),
                password: "correct horse battery".into(),
                phone: None,
            })
            .await
            .expect("register");
        let session = agora.login(Login { email, password: "correct horse battery".into() }).await.expect("login");
        let customer = agora.authenticate_customer(&session.token).await.expect("session");
        let address = agora
            .add_address(
                &customer,
                NewAddress {
                    line1: "1 Main St".into(),
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country: "DE".into(),
                },
            )
            .await
            .expect("address")
            .id;
        Self { agora, store, store_id, admin, warehouse, product, variant, customer, address }
    }

    pub fn order_request(&self, qty: i64) -> PlaceOrder {
        PlaceOrder {
            store_id: self.store_id.0,
            address_id: self.address,
            items: vec![OrderLine { variant_id: self.variant, qty }],
            help_task_no: None,
        }
    }

    pub async fn orders_of_store(&self) -> Vec<CustomerOrder> {
        self.store.list_orders_by_store(self.store_id, None, Page::first(200)).await.expect("orders")
    }
}
