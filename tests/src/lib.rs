//! The end-to-end harness: [`spawn_app`] starts the real api
//! ([`agora_http::router`] served by [`agora_http::serve`]) on a real
//! socket (127.0.0.1:0) over a fresh memory, SQLite (temp dir) or
//! PostgreSQL (throwaway database) store, and [`TestApp`] talks to it with
//! reqwest. The tests are in tests/*.rs of this package.
//!
//! PostgreSQL is named by `AGORA_TEST_POSTGRES_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`); an unreachable server fails
//! the test, it is never skipped.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agora_core::secrets::{Argon2Cost, Argon2Passwords, hash_token};
use agora_core::{Agora, AgoraConfig, Store};
use hmac::{Hmac, Mac};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::Sha256;

pub use reqwest;
pub use serde_json;

/// The super admin key of every test app.
pub const SUPER_KEY: &str = "e2e-super-admin-key";
/// The webhook HMAC key of every test app.
pub const WEBHOOK_SECRET: &[u8] = b"e2e-webhook-secret";

/// Which store the app runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `agora-memory`.
    Memory,
    /// `agora-sqlite` on a file in a temp dir.
    Sqlite,
    /// `agora-postgres` on a throwaway database.
    Postgres,
}

/// A running api and a client for it. Dropping it stops the server and
/// removes its database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The client.
    pub http: reqwest::Client,
    /// The service behind the server (to run jobs the worker would run).
    pub agora: Agora,
    /// The store behind it (to look at rows no route shows).
    pub store: Arc<dyn Store>,
    /// The backend.
    pub backend: Backend,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _keep: Box<dyn Any + Send + Sync>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Opens a fresh, empty store of `backend`, and what must outlive it.
pub async fn fresh_store(backend: Backend) -> (Arc<dyn Store>, Box<dyn Any + Send + Sync>) {
    match backend {
        Backend::Memory => (Arc::new(agora_memory::MemoryStore::new()), Box::new(())),
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = agora_sqlite::SqliteStore::open(agora_sqlite::SqliteConfig::new(dir.path().join("agora.db")))
                .await
                .expect("open sqlite");
            (Arc::new(store), Box::new(dir))
        }
        Backend::Postgres => {
            let (config, guard) = agora_postgres::testing::throwaway_database().await;
            let store = agora_postgres::PgStore::connect(config)
                .await
                .unwrap_or_else(|e| panic!("cannot open the PostgreSQL test database (AGORA_TEST_POSTGRES_URL): {e}"));
            (Arc::new(store), Box::new(guard))
        }
    }
}

/// Starts the api over a fresh store of `backend` on 127.0.0.1:0.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let (store, keep) = fresh_store(backend).await;
    // Files in a real directory of the test's own, as a default deployment keeps them.
    let files = tempfile::tempdir().expect("temp dir");
    let blobs = agora_runtime::blobs::open(&format!("file://{}", files.path().join("blobs").display()))
        .expect("blob directory");
    let agora = Agora::builder(store.clone())
        .passwords(Arc::new(Argon2Passwords::new(Argon2Cost::TESTING)))
        .blobs(blobs)
        // The real sender, allowed to reach the tests' loopback receivers.
        .webhook_sender(Arc::new(agora_runtime::webhooks::HttpWebhookSender::new(true).expect("webhook sender")))
        .config(AgoraConfig {
            super_admin_key_hash: Some(hash_token(SUPER_KEY)),
            webhook_secret: WEBHOOK_SECRET.to_vec(),
            ..Default::default()
        })
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let router = agora_http::router(agora_http::AppState::new(agora.clone()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = agora_http::serve(listener, router, async move {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client"),
        agora,
        store,
        backend,
        shutdown: Some(tx),
        _keep: Box::new((keep, files)),
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub text: String,
    /// Body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Resp {
    /// Asserts the status, printing the body when it differs; returns the JSON.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        &self.json
    }

    /// Asserts a problem+json with this status and code.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(
            self.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "not problem+json: {}",
            self.text
        );
        assert_eq!(self.json["code"], code, "unexpected code; body: {}", self.text);
        assert_eq!(self.json["status"], status, "body: {}", self.text);
        for key in ["type", "title", "detail"] {
            assert!(self.json[key].is_string(), "problem without {key}: {}", self.text);
        }
        &self.json
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `json[key]` as a string (panics when absent).
    #[track_caller]
    pub fn str(&self, key: &str) -> String {
        self.json[key].as_str().unwrap_or_else(|| panic!("no string {key} in {}", self.text)).to_owned()
    }
}

/// A store with an admin key and a warehouse.
#[derive(Clone, Debug)]
pub struct Shop {
    /// Store id.
    pub id: String,
    /// Store admin key.
    pub key: String,
    /// A warehouse of it.
    pub warehouse: String,
}

/// A registered, logged-in customer with an address.
#[derive(Clone, Debug)]
pub struct Customer {
    /// User id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Session token.
    pub token: String,
    /// Address id.
    pub address: String,
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// A process-unique suffix.
pub fn unique() -> String {
    format!("{}{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// `sha256=<hex HMAC-SHA256 of body keyed by WEBHOOK_SECRET>`.
pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl TestApp {
    /// A request builder for `path`, with a bearer token when given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let mut b = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        b
    }

    /// Sends and reads the whole response.
    pub async fn send(&self, b: reqwest::RequestBuilder) -> Resp {
        let res = b.send().await.expect("request failed at the transport level");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, text, json }
    }

    /// A JSON request.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut b = self.request(method, path, token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        self.send(b).await
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::GET, path, token, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// POST without a body.
    pub async fn post_empty(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::POST, path, token, None).await
    }

    /// A new store (super admin) with an admin key and a warehouse.
    pub async fn shop(&self) -> Shop {
        let n = unique();
        let store = self
            .post(
                "/v1/stores",
                Some(SUPER_KEY),
                json!({"name": format!("Shop {n}"), "domain": format!("shop{n}.test")}),
            )
            .await;
        let id = store.expect(201)["id"].as_str().expect("id").to_owned();
        let key = self.post_empty(&format!("/v1/stores/{id}/admin-keys"), Some(SUPER_KEY)).await;
        let key = key.expect(201)["key"].as_str().expect("key").to_owned();
        let wh = self.post(&format!("/v1/stores/{id}/warehouses"), Some(&key), json!({"name": "Main"})).await;
        let warehouse = wh.expect(201)["id"].as_str().expect("warehouse id").to_owned();
        Shop { id, key, warehouse }
    }

    /// A product of one variant at `price` with `stock` units on hand:
    /// (product id, variant id).
    pub async fn product(&self, shop: &Shop, price: i64, stock: i64) -> (String, String) {
        let sku = format!("SKU-{}", unique());
        let p = self
            .post(
                &format!("/v1/stores/{}/products", shop.id),
                Some(&shop.key),
                json!({"title": "Mug", "currency": "EUR", "variants": [{"sku": sku, "name": "Blue", "price_minor": price}]}),
            )
            .await;
        let product = p.expect(201)["id"].as_str().expect("product id").to_owned();
        let variant = p.json["variants"][0]["id"].as_str().expect("variant id").to_owned();
        self.set_stock(shop, &variant, stock).await.expect(200);
        (product, variant)
    }

    /// PUT inventory.
    pub async fn set_stock(&self, shop: &Shop, variant: &str, on_hand: i64) -> Resp {
        self.call(
            Method::PUT,
            &format!("/v1/stores/{}/inventory", shop.id),
            Some(&shop.key),
            Some(json!({"variant_id": variant, "warehouse_id": shop.warehouse, "on_hand": on_hand})),
        )
        .await
    }

    /// Registers, logs in and adds an address.
    pub async fn customer(&self) -> Customer {
        let email = format!("user{}@example.com", unique());
        let u = self
            .post("/v1/users", None, json!({"name": "Ann", "email": email, "password": "correct horse battery"}))
            .await;
        let id = u.expect(201)["id"].as_str().expect("user id").to_owned();
        let s = self.post("/v1/sessions", None, json!({"email": email, "password": "correct horse battery"})).await;
        let token = s.expect(201)["token"].as_str().expect("token").to_owned();
        let a = self
            .post(
                "/v1/users/me/addresses",
                Some(&token),
                json!({"line1": "1 Main St", "city": "Lyon", "postal_code": "69001", "country": "FR"}),
            )
            .await;
        let address = a.expect(201)["id"].as_str().expect("address id").to_owned();
        Customer { id, email, token, address }
    }

    /// POST /v1/orders with this idempotency key and body.
    pub async fn place(&self, c: &Customer, key: &str, body: &Value) -> Resp {
        self.send(self.request(Method::POST, "/v1/orders", Some(&c.token)).header("Idempotency-Key", key).json(body))
            .await
    }

    /// The body of an order of `qty` x `variant`.
    pub fn order_body(c: &Customer, shop: &Shop, variant: &str, qty: i64) -> Value {
        json!({"store_id": shop.id, "address_id": c.address, "items": [{"variant_id": variant, "qty": qty}]})
    }

    /// Places an order with a fresh key.
    pub async fn order(&self, c: &Customer, shop: &Shop, variant: &str, qty: i64) -> Resp {
        self.place(c, &format!("k-{}", unique()), &Self::order_body(c, shop, variant, qty)).await
    }

    /// A signed webhook.
    pub async fn webhook(&self, body: &Value) -> Resp {
        let raw = serde_json::to_vec(body).expect("json");
        self.send(
            self.request(Method::POST, "/v1/webhooks/payments", None)
                .header("Agora-Signature", sign(&raw))
                .header("content-type", "application/json")
                .body(raw),
        )
        .await
    }

    /// Creates a payment for the order and reports it succeeded with
    /// `amount`: (payment id, webhook response).
    pub async fn pay_with(&self, c: &Customer, order_id: &str, amount: Option<i64>) -> (String, Resp) {
        let p = self.post_empty(&format!("/v1/orders/{order_id}/payments"), Some(&c.token)).await;
        let payment = p.expect(201)["id"].as_str().expect("payment id").to_owned();
        let amount = amount.unwrap_or_else(|| p.json["amount_minor"].as_i64().expect("amount"));
        let ack = self
            .webhook(&json!({"event_id": format!("evt-{}", unique()), "type": "payment.succeeded", "payment_id": payment, "amount_minor": amount}))
            .await;
        (payment, ack)
    }

    /// Pays the order in full.
    pub async fn pay(&self, c: &Customer, order_id: &str) {
        let (_, ack) = self.pay_with(c, order_id, None).await;
        assert_eq!(ack.expect(200)["duplicate"], false);
    }

    /// `available` of the first variant of a product.
    pub async fn available(&self, product: &str) -> i64 {
        let p = self.get(&format!("/v1/products/{product}"), None).await;
        p.expect(200)["variants"][0]["available"].as_i64().expect("available")
    }
}
