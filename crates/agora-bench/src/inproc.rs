//! Fixtures and the place-order driver through core (`Agora::place_order`
//! over the adapter chosen by URL).

use std::sync::Arc;
use std::time::Instant;

use agora_core::Reads;
use agora_core::secrets::{Argon2Cost, Argon2Passwords};
use agora_core::views::{
    NewAddress, NewProduct, NewStore, NewUser, NewVariant, NewWarehouse, OrderLine, PlaceOrder, SetInventory,
};
use agora_core::{Actor, AddressId, Agora, ProductId, StoreId, UserId};
use anyhow::Context;
use uuid::Uuid;

use crate::measure::{Outcome, Pick, Plan, Tally, run_tasks};

/// Stock of every variant: the largest `on_hand` core accepts.
pub const HUGE_STOCK: i64 = 1_000_000_000;

/// One orderable variant.
#[derive(Clone, Debug)]
pub struct VariantFx {
    /// Variant id.
    pub id: Uuid,
    /// Its product.
    pub product_id: Uuid,
    /// SKU.
    pub sku: String,
    /// Price, minor units.
    pub price_minor: i64,
}

/// One customer with an address.
#[derive(Clone, Debug)]
pub struct CustomerFx {
    /// User id.
    pub user_id: Uuid,
    /// Address id.
    pub address_id: Uuid,
    /// The address hash core stores on orders.
    pub address_hash: String,
    /// Session token (HTTP only).
    pub token: Option<String>,
}

/// A store with variants, one warehouse holding huge stock, and customers.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// Store id.
    pub store_id: Uuid,
    /// The warehouse.
    pub warehouse_id: Uuid,
    /// Three-letter currency of every product.
    pub currency: String,
    /// Seconds until a reservation expires (the store's `order_ttl_seconds`).
    pub order_ttl_seconds: i64,
    /// The variants.
    pub variants: Vec<VariantFx>,
    /// The customers.
    pub customers: Vec<CustomerFx>,
}

impl Fixture {
    /// Client `c`'s customer (clients share them round robin) and its own variant picker.
    pub fn client(&self, c: usize) -> (&CustomerFx, Pick) {
        (&self.customers[c % self.customers.len()], Pick::new(c))
    }

    /// The variant client `pick` orders next (always the first when `hot`).
    pub fn variant(&self, hot: bool, pick: &mut Pick) -> &VariantFx {
        if hot { &self.variants[0] } else { &self.variants[pick.below(self.variants.len())] }
    }
}

/// The domain service over `store`, with the cheapest password hashing
/// (argon2 is not on the order path; it only makes the fixtures quick).
pub fn agora_over(store: Arc<dyn agora_core::Store>) -> Agora {
    Agora::builder(store).passwords(Arc::new(Argon2Passwords::new(Argon2Cost::TESTING))).build()
}

fn super_admin() -> Actor {
    Actor::SuperAdmin { masked: "bench".into() }
}

/// Creates the fixture through the use cases: `skus` products of one
/// variant each (one product per SKU, so the product page and the order
/// path read one product per line) and `customers` customers.
pub async fn create_fixture(
    agora: &Agora,
    db: &dyn agora_core::Store,
    skus: usize,
    customers: usize,
) -> anyhow::Result<Fixture> {
    let admin = super_admin();
    let tag = Uuid::new_v4().simple().to_string();
    let store = agora
        .create_store(
            &admin,
            NewStore { name: "bench".into(), domain: format!("bench-{tag}.example"), access_token: None },
        )
        .await
        .context("create_store")?;
    let store_id = StoreId(store.id);
    let wh = agora
        .create_warehouse(&admin, store_id, NewWarehouse { name: "main".into() })
        .await
        .context("create_warehouse")?;
    let mut variants = Vec::with_capacity(skus);
    for i in 0..skus.max(1) {
        let p = agora
            .create_product(
                &admin,
                store_id,
                NewProduct {
                    title: format!("Product {i}"),
                    currency: "EUR".into(),
                    status: Some("active".into()),
                    variants: vec![NewVariant {
                        sku: format!("SKU-{i:05}"),
                        name: "default".into(),
                        price_minor: 1000 + i as i64,
                    }],
                },
            )
            .await
            .context("create_product")?;
        let v = &p.variants[0];
        agora
            .set_inventory(
                &admin,
                store_id,
                SetInventory { variant_id: v.id, warehouse_id: wh.id, on_hand: HUGE_STOCK },
            )
            .await
            .context("set_inventory")?;
        variants.push(VariantFx { id: v.id, product_id: p.id, sku: v.sku.clone(), price_minor: v.price_minor });
    }
    let mut out = Vec::with_capacity(customers);
    for i in 0..customers.max(1) {
        let u = agora
            .register_user(NewUser {
                name: format!("Customer {i}"),
                email: format!("c{i}-{tag}@bench.example"),
                password: "bench-password".into(),
                phone: None,
            })
            .await
            .context("register_user")?;
        let actor = Actor::Customer { user_id: UserId(u.id) };
        let a = agora
            .add_address(
                &actor,
                NewAddress {
                    line1: format!("{i} Bench Street"),
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country: "DE".into(),
                },
            )
            .await
            .context("add_address")?;
        let addr =
            db.get_address(AddressId(a.id)).await.context("get_address")?.context("address just added is missing")?;
        out.push(CustomerFx { user_id: u.id, address_id: a.id, address_hash: addr.address_hash, token: None });
    }
    let settings = agora.get_settings(&admin, store_id).await.context("get_settings")?;
    Ok(Fixture {
        store_id: store.id,
        warehouse_id: wh.id,
        currency: "EUR".into(),
        order_ttl_seconds: settings.order_ttl_seconds,
        variants,
        customers: out,
    })
}

/// `clients` tasks placing one-line, one-unit orders through core.
pub async fn run_agora(agora: &Agora, fx: &Fixture, clients: usize, hot: bool, plan: Plan) -> Outcome {
    run_tasks(plan, clients, |c, window| {
        let (agora, fx) = (agora.clone(), fx.clone());
        async move {
            let mut tally = Tally::default();
            let (cust, mut pick) = fx.client(c);
            let actor = Actor::Customer { user_id: UserId(cust.user_id) };
            while window.running() {
                let v = fx.variant(hot, &mut pick);
                let req = PlaceOrder {
                    store_id: fx.store_id,
                    address_id: cust.address_id,
                    items: vec![OrderLine { variant_id: v.id, qty: 1 }],
                    help_task_no: None,
                };
                let key = Uuid::new_v4().simple().to_string();
                let t0 = Instant::now();
                let r = agora.place_order(&actor, Some(&key), req).await.map(|_| ()).map_err(|e| e.to_string());
                window.record(t0, r, &mut tally);
            }
            tally
        }
    })
    .await
}

/// `clients` tasks reading the product page (`Agora::get_product`).
pub async fn run_product_page(agora: &Agora, fx: &Fixture, clients: usize, plan: Plan) -> Outcome {
    run_tasks(plan, clients, |c, window| {
        let (agora, fx) = (agora.clone(), fx.clone());
        async move {
            let mut tally = Tally::default();
            let mut pick = Pick::new(c);
            while window.running() {
                let v = fx.variant(false, &mut pick);
                let t0 = Instant::now();
                let r = agora
                    .get_product(&Actor::Anonymous, ProductId(v.product_id))
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                window.record(t0, r, &mut tally);
            }
            tally
        }
    })
    .await
}
