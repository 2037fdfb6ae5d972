//! Fixtures shared by the scenarios: an [`Agora`] over the store under test
//! with a manual clock, cheap password hashing and known secrets.

use std::any::Any;
use std::sync::Arc;

use agora_core::local::MemoryBlobs;
use agora_core::secrets::{Argon2Cost, Argon2Passwords, hash_token, sign_webhook};
use agora_core::views::*;
use agora_core::*;
use uuid::Uuid;

/// A fresh, empty store under test plus whatever must outlive it (a temp
/// directory, a throwaway database).
pub struct TestStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped after the scenario (cleanup happens in its `Drop`).
    pub keep_alive: Box<dyn Any + Send + Sync>,
}

impl TestStore {
    /// Wraps a store with something to keep alive.
    pub fn new(store: Arc<dyn Store>, keep_alive: impl Any + Send + Sync) -> Self {
        Self { store, keep_alive: Box::new(keep_alive) }
    }

    /// A fresh memory store.
    pub fn memory() -> Self {
        Self::new(Arc::new(agora_memory::MemoryStore::new()), ())
    }
}

/// The super admin key every harness accepts.
pub const SUPER_KEY: &str = "agora-test-super-admin-key-0123456789";
/// The webhook secret every harness uses.
pub const WEBHOOK_SECRET: &[u8] = b"agora-test-webhook-secret";

/// A customer fixture.
#[derive(Clone, Debug)]
pub struct Customer {
    /// The user.
    pub user: UserView,
    /// Logged in.
    pub actor: Actor,
    /// Their address.
    pub address_id: Uuid,
    /// Their session token.
    pub token: String,
}

/// A store fixture.
#[derive(Clone, Debug)]
pub struct StoreFixture {
    /// The store.
    pub store: StoreView,
    /// Its id.
    pub id: StoreId,
    /// Its admin (via a store admin key).
    pub admin: Actor,
    /// A warehouse.
    pub warehouse: Uuid,
}

/// An [`Agora`] builder over `store` with what every test deployment
/// shares: cheap password hashing, blobs in memory, [`SUPER_KEY`] and
/// [`WEBHOOK_SECRET`]. The caller adds its clock (and keyring) and builds.
pub fn agora_builder(store: Arc<dyn Store>) -> AgoraBuilder {
    Agora::builder(store)
        .passwords(Arc::new(Argon2Passwords::new(Argon2Cost::TESTING)))
        .blobs(Arc::new(MemoryBlobs::default()))
        .config(AgoraConfig {
            super_admin_key_hash: Some(hash_token(SUPER_KEY)),
            webhook_secret: WEBHOOK_SECRET.to_vec(),
            ..AgoraConfig::default()
        })
}

/// The harness's webhook sender: records every request and answers from a
/// script (200 once the script is empty). Targets are checked like the
/// real sender checks address literals, with private ones refused.
#[derive(Default)]
pub struct ScriptedReceiver {
    sent: parking_lot::Mutex<Vec<agora_core::outgoing::OutgoingWebhook>>,
    script: parking_lot::Mutex<std::collections::VecDeque<agora_core::outgoing::WebhookAnswer>>,
}

impl ScriptedReceiver {
    /// The requests sent so far, in order.
    pub fn sent(&self) -> Vec<agora_core::outgoing::OutgoingWebhook> {
        self.sent.lock().clone()
    }

    /// Forgets the answers not used yet (200 from now on).
    pub fn clear_script(&self) {
        self.script.lock().clear();
    }

    /// Answers the next requests with these, in order.
    pub fn answer(&self, answers: impl IntoIterator<Item = agora_core::outgoing::WebhookAnswer>) {
        self.script.lock().extend(answers);
    }
}

#[async_trait::async_trait]
impl agora_core::outgoing::WebhookSender for ScriptedReceiver {
    async fn check_target(&self, url: &str) -> Result<(), String> {
        agora_core::outgoing::check_url_form(url, false)
    }

    async fn send(&self, request: &agora_core::outgoing::OutgoingWebhook) -> agora_core::outgoing::WebhookAnswer {
        self.sent.lock().push(request.clone());
        self.script.lock().pop_front().unwrap_or(agora_core::outgoing::WebhookAnswer::Status(200))
    }
}

/// The scenario harness.
pub struct Harness {
    /// The service under test.
    pub agora: Agora,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// Where its outgoing webhooks go.
    pub receiver: Arc<ScriptedReceiver>,
    /// The store under test.
    pub store: Arc<dyn Store>,
    /// Its blob store (in memory).
    pub blobs: Arc<MemoryBlobs>,
    _keep: Box<dyn Any + Send + Sync>,
}

impl Harness {
    /// Every table of the store under test, read now.
    pub async fn snapshot(&self) -> Snapshot {
        Snapshot::read(&*self.store).await.expect("snapshot")
    }

    /// A harness over `ts`.
    pub fn new(ts: TestStore) -> Self {
        Self::with_entropy(ts, Arc::new(OsEntropy::default()))
    }

    /// A harness with a given randomness source (the model test seeds it).
    pub fn with_entropy(ts: TestStore, entropy: Arc<dyn Entropy>) -> Self {
        let clock = Arc::new(ManualClock::at_epoch());
        let receiver = Arc::new(ScriptedReceiver::default());
        let blobs = Arc::new(MemoryBlobs::default());
        let agora = agora_builder(ts.store.clone())
            .blobs(blobs.clone())
            .clock(clock.clone())
            .entropy(entropy.clone())
            .keyring(agora_core::secrets::Keyring::generate(entropy.as_ref()))
            .webhook_sender(receiver.clone())
            .build();
        Self { agora, clock, receiver, store: ts.store, blobs, _keep: ts.keep_alive }
    }

    /// The super admin.
    pub async fn super_admin(&self) -> Actor {
        self.agora.authenticate_admin(SUPER_KEY).await.expect("super key")
    }

    /// A store with an admin key and one warehouse.
    pub async fn store_fixture(&self, domain: &str) -> StoreFixture {
        let sa = self.super_admin().await;
        let store = self
            .agora
            .create_store(&sa, NewStore { name: format!("Store {domain}"), domain: domain.into(), access_token: None })
            .await
            .expect("create store");
        let id = StoreId(store.id);
        let key = self.agora.create_admin_key(&sa, id, Default::default()).await.expect("admin key");
        let admin = self.agora.authenticate_admin(&key.key).await.expect("admin auth");
        let wh =
            self.agora.create_warehouse(&admin, id, NewWarehouse { name: "main".into() }).await.expect("warehouse");
        StoreFixture { store, id, admin, warehouse: wh.id }
    }

    /// A product with one variant priced `price` with `stock` units in the store's warehouse.
    pub async fn product(&self, s: &StoreFixture, sku: &str, price: i64, stock: i64) -> (ProductView, Uuid) {
        let p = self
            .agora
            .create_product(
                &s.admin,
                s.id,
                NewProduct {
                    title: format!("Product {sku}"),
                    currency: "EUR".into(),
                    status: None,
                    variants: vec![NewVariant { sku: sku.into(), name: "default".into(), price_minor: price }],
                },
            )
            .await
            .expect("create product");
        let vid = p.variants[0].id;
        self.agora
            .set_inventory(&s.admin, s.id, SetInventory { variant_id: vid, warehouse_id: s.warehouse, on_hand: stock })
            .await
            .expect("set inventory");
        (p, vid)
    }

    /// A draft product (hidden from the public) with one variant and no stock.
    pub async fn draft_product(&self, s: &StoreFixture, title: &str, sku: &str) -> ProductView {
        let variants = vec![NewVariant { sku: sku.into(), name: "d".into(), price_minor: 5 }];
        let draft = NewProduct { title: title.into(), currency: "EUR".into(), status: Some("draft".into()), variants };
        self.agora.create_product(&s.admin, s.id, draft).await.expect("create draft product")
    }

    /// A registered, logged-in customer with one address.
    pub async fn customer(&self, name: &str) -> Customer {
        self.customer_at(name, "1 Main St", None).await
    }

    /// A customer with a given street line and phone.
    pub async fn customer_at(&self, name: &str, line1: &str, phone: Option<&str>) -> Customer {
        new_customer(&self.agora, name, line1, phone).await
    }

    /// Places an order of `lines` with a fresh idempotency key.
    pub async fn order(&self, c: &Customer, s: &StoreFixture, lines: &[(Uuid, i64)]) -> Result<OrderView, AgoraError> {
        let key = Uuid::now_v7().to_string();
        self.order_with_key(c, s, lines, &key, None).await.map(|p| p.order)
    }

    /// Places an order with a given key and optional help task.
    pub async fn order_with_key(
        &self,
        c: &Customer,
        s: &StoreFixture,
        lines: &[(Uuid, i64)],
        key: &str,
        help_task_no: Option<&str>,
    ) -> Result<agora_core::usecases::PlacedOrder, AgoraError> {
        self.agora
            .place_order(
                &c.actor,
                Some(key),
                PlaceOrder {
                    store_id: s.id.0,
                    address_id: c.address_id,
                    items: lines.iter().map(|(v, q)| OrderLine { variant_id: *v, qty: *q }).collect(),
                    help_task_no: help_task_no.map(str::to_owned),
                },
            )
            .await
    }

    /// Sends a signed webhook.
    pub async fn webhook(
        &self,
        event_id: &str,
        kind: &str,
        payment_id: Uuid,
        amount: i64,
    ) -> Result<WebhookAck, AgoraError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "event_id": event_id, "type": kind, "payment_id": payment_id, "amount_minor": amount
        }))
        .expect("json");
        let sig = sign_webhook(WEBHOOK_SECRET, &body);
        self.agora.receive_payment_webhook(&body, Some(&sig)).await
    }

    /// Sends a signed refund event of the provider.
    pub async fn refund_webhook(
        &self,
        event_id: &str,
        kind: &str,
        refund_id: Uuid,
        amount: i64,
    ) -> Result<WebhookAck, AgoraError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "event_id": event_id, "type": kind, "refund_id": refund_id, "amount_minor": amount
        }))
        .expect("json");
        let sig = sign_webhook(WEBHOOK_SECRET, &body);
        self.agora.receive_payment_webhook(&body, Some(&sig)).await
    }

    /// Creates a payment for an order and pays it in full.
    pub async fn pay(&self, c: &Customer, order: &OrderView) -> PaymentView {
        let p = self.agora.create_payment(&c.actor, OrderId(order.id)).await.expect("payment");
        let ack =
            self.webhook(&format!("evt-{}", p.id), "payment.succeeded", p.id, p.amount_minor).await.expect("webhook");
        assert!(!ack.duplicate);
        p
    }

    /// Available units of a variant as the public product page shows them.
    pub async fn available(&self, product: Uuid, variant: Uuid) -> i64 {
        let p = self.agora.get_product(&Actor::Anonymous, ProductId(product)).await.expect("product");
        p.variants.iter().find(|v| v.id == variant).map(|v| v.available).expect("variant")
    }

    /// The error code of a result, or "ok".
    pub fn code<T>(r: &Result<T, AgoraError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }
}

/// A customer registered through `agora` as `name@example.com`, logged in,
/// with one address at `line1`, Berlin.
pub async fn new_customer(agora: &Agora, name: &str, line1: &str, phone: Option<&str>) -> Customer {
    let email = format!("{name}@example.com");
    let user = agora
        .register_user(NewUser {
            name: name.into(),
            email: email.clone(),
            password: "correct horse battery".into(),
            phone: phone.map(str::to_owned),
        })
        .await
        .expect("register");
    let session = agora.login(Login { email, password: "correct horse battery".into() }).await.expect("login");
    let actor = agora.authenticate_customer(&session.token).await.expect("session");
    let address =
        NewAddress { line1: line1.into(), city: "Berlin".into(), postal_code: "10115".into(), country: "DE".into() };
    let addr = agora.add_address(&actor, address).await.expect("address");
    Customer { user, actor, address_id: addr.id, token: session.token }
}
