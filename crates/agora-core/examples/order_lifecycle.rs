//! Embedding agora's domain crate: one order from creation to receipt on
//! the in-memory store.
//!
//! Run with `cargo run -p agora-core --example order_lifecycle`.

use std::sync::Arc;

use agora_core::secrets::{Argon2Cost, Argon2Passwords, hash_token, sign_webhook};
use agora_core::views::*;
use agora_core::{Actor, Agora, AgoraConfig, AgoraError, OrderId, StoreId};
use agora_memory::MemoryStore;

const SUPER_KEY: &str = "example-super-admin-key-please-change";
const WEBHOOK_SECRET: &[u8] = b"example-webhook-secret";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), AgoraError> {
    // Any `Arc<dyn Store>` works here: SQLite, PostgreSQL, or this one.
    let agora = Agora::builder(Arc::new(MemoryStore::new()))
        .passwords(Arc::new(Argon2Passwords::new(Argon2Cost::TESTING)))
        .config(AgoraConfig {
            super_admin_key_hash: Some(hash_token(SUPER_KEY)),
            webhook_secret: WEBHOOK_SECRET.to_vec(),
            ..AgoraConfig::default()
        })
        .build();

    // The operator creates a store and hands its admin a key.
    let operator = agora.authenticate_admin(SUPER_KEY).await?;
    let store = agora
        .create_store(
            &operator,
            NewStore { name: "Corner Shop".into(), domain: "corner.example.com".into(), access_token: None },
        )
        .await?;
    let store_id = StoreId(store.id);
    let key = agora.create_admin_key(&operator, store_id, Default::default()).await?;
    let admin = agora.authenticate_admin(&key.key).await?;

    // The store admin lists a product and puts stock in a warehouse.
    let product = agora
        .create_product(
            &admin,
            store_id,
            NewProduct {
                title: "Espresso beans 1 kg".into(),
                currency: "EUR".into(),
                status: None,
                variants: vec![NewVariant { sku: "BEANS-1KG".into(), name: "1 kg".into(), price_minor: 2490 }],
            },
        )
        .await?;
    let variant = product.variants[0].id;
    let warehouse = agora.create_warehouse(&admin, store_id, NewWarehouse { name: "Main".into() }).await?;
    agora
        .set_inventory(&admin, store_id, SetInventory { variant_id: variant, warehouse_id: warehouse.id, on_hand: 10 })
        .await?;

    // A customer registers, logs in and adds an address.
    agora
        .register_user(NewUser {
            name: "Ann".into(),
            email: "ann@example.com".into(),
            password: "correct horse battery".into(),
            phone: None,
        })
        .await?;
    let session =
        agora.login(Login { email: "ann@example.com".into(), password: "correct horse battery".into() }).await?;
    let ann = agora.authenticate_customer(&session.token).await?;
    let address = agora
        .add_address(
            &ann,
            NewAddress {
                line1: "1 Main St".into(),
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            },
        )
        .await?;

    // She orders two bags; retrying with the same key never orders twice.
    let request = PlaceOrder {
        store_id: store.id,
        address_id: address.id,
        items: vec![OrderLine { variant_id: variant, qty: 2 }],
        help_task_no: None,
    };
    let placed = agora.place_order(&ann, Some("checkout-42"), request.clone()).await?;
    let replay = agora.place_order(&ann, Some("checkout-42"), request).await?;
    assert!(replay.replayed && replay.recorded == placed.recorded);
    let order_id = OrderId(placed.order.id);
    println!(
        "placed {} for {} minor units ({})",
        placed.order.order_number, placed.order.amount_minor, placed.order.status
    );

    // The payment provider confirms the payment with a signed webhook.
    let payment = agora.create_payment(&ann, order_id).await?;
    let body = serde_json::to_vec(&serde_json::json!({
        "event_id": "evt_1", "type": "payment.succeeded", "payment_id": payment.id, "amount_minor": payment.amount_minor
    }))
    .expect("json");
    agora.receive_payment_webhook(&body, Some(&sign_webhook(WEBHOOK_SECRET, &body))).await?;

    // The store ships it, and Ann confirms receipt.
    agora.ship_order(&admin, order_id).await?;
    let received = agora.receive_order(&ann, order_id).await?;
    println!("order {} is {}", received.order_number, received.status);

    let left = agora.get_product(&Actor::Anonymous, agora_core::ProductId(product.id)).await?;
    println!("{} left in stock", left.variants[0].available);
    assert_eq!(received.status, "RECEIVED");
    assert_eq!(left.variants[0].available, 8);
    Ok(())
}
