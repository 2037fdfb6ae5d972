//! `agora seed --demo`: a store with an admin key, a warehouse, a catalog
//! with stock, and two customers, written through the use cases.

use std::time::Instant;

use agora_core::StoreId;
use agora_core::views::*;
use agora_runtime::Config;

use agora_runtime::redact;

use crate::operator;

pub(crate) async fn demo(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let url = config.database_url.clone();
    let rt = agora_runtime::Runtime::build(config).await?;
    for (name, value) in &rt.generated {
        println!("generated {name} (saved in the data dir; shown once): {value}");
    }
    let agora = &rt.agora;
    let op = operator();
    let store = agora
        .create_store(&op, NewStore { name: "Demo Shop".into(), domain: "demo.agora.test".into(), access_token: None })
        .await
        .map_err(|e| anyhow::anyhow!("creating the demo store ({e}); is this store seeded already?"))?;
    let store_id = StoreId(store.id);
    let key = agora.create_admin_key(&op, store_id, Default::default()).await?;
    let wh = agora.create_warehouse(&op, store_id, NewWarehouse { name: "Main warehouse".into() }).await?;
    let catalog = [("DEMO-TEE", "T-shirt", 1999, 100), ("DEMO-MUG", "Mug", 1250, 50), ("DEMO-CAP", "Cap", 1500, 25)];
    for (sku, title, price, stock) in catalog {
        let p = agora
            .create_product(
                &op,
                store_id,
                NewProduct {
                    title: title.into(),
                    currency: "EUR".into(),
                    status: None,
                    variants: vec![NewVariant { sku: sku.into(), name: "default".into(), price_minor: price }],
                },
            )
            .await?;
        agora
            .set_inventory(
                &op,
                store_id,
                SetInventory { variant_id: p.variants[0].id, warehouse_id: wh.id, on_hand: stock },
            )
            .await?;
    }
    let mut users = Vec::new();
    for (name, email) in [("Ada Demo", "ada@demo.agora.test"), ("Bob Demo", "bob@demo.agora.test")] {
        let password = format!("demo-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        agora
            .register_user(NewUser { name: name.into(), email: email.into(), password: password.clone(), phone: None })
            .await?;
        let session = agora.login(Login { email: email.into(), password: password.clone() }).await?;
        let actor = agora.authenticate_customer(&session.token).await?;
        agora
            .add_address(
                &actor,
                NewAddress {
                    line1: "1 Demo Street".into(),
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country: "DE".into(),
                },
            )
            .await?;
        users.push((email, password));
    }
    println!("demo store: {} ({}) id {}", store.name, store.domain, store.id);
    println!("store admin key (shown once): {}", key.key);
    for (email, password) in &users {
        println!("customer: {email} password {password}");
    }
    println!(
        "seeded {}: 1 store, 1 warehouse, {} products with stock, {} customers in {:.1?}",
        redact(&url),
        catalog.len(),
        users.len(),
        started.elapsed()
    );
    rt.close().await;
    Ok(())
}
