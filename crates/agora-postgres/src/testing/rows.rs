//! Sample rows with every kind of column filled (money at its limits,
//! NULLs, sealed secrets, microsecond times), for tests of this crate and
//! others that write rows without going through the use cases.

use agora_core::*;
use time::OffsetDateTime;
use uuid::Uuid;

/// A time with microseconds, as core's clocks produce.
pub fn t(secs: i64, micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(secs) * 1_000_000_000 + i128::from(micros) * 1_000)
        .expect("time")
}

/// A fresh UUID v7.
pub fn id() -> Uuid {
    Uuid::now_v7()
}

/// A store with a sealed access token.
pub fn shop(domain: &str) -> Shop {
    Shop {
        id: StoreId(id()),
        name: format!("Shop {domain}"),
        domain: domain.into(),
        plan: "basic".into(),
        status: StoreStatus::Active,
        access_token: Some(SealedSecret { key_version: u32::MAX, ciphertext: vec![0, 1, 2, 255] }),
        onboarding: serde_json::json!({}),
        version: 1,
        created_at: t(1_700_000_000, 123_456),
        updated_at: t(1_700_000_001, 1),
    }
}

/// A user without a phone.
pub fn user(email: &str) -> AppUser {
    AppUser {
        id: UserId(id()),
        name: "Ann".into(),
        email: email.into(),
        phone: None,
        password_hash: "$argon2id$fake".into(),
        created_at: t(1_700_000_000, 999_999),
    }
}

/// An address of `user`.
pub fn address(user: &AppUser) -> UserAddress {
    UserAddress {
        id: AddressId(id()),
        user_id: user.id,
        line1: "1 Main St".into(),
        city: "Berlin".into(),
        postal_code: "10115".into(),
        country: "DE".into(),
        address_hash: "h".into(),
        created_at: t(1_700_000_002, 0),
    }
}

/// A CREATED order of `amount` minor units.
pub fn order(shop: &Shop, user: &AppUser, addr: &UserAddress, number: &str, amount: i64) -> CustomerOrder {
    CustomerOrder {
        id: OrderId(id()),
        order_number: number.into(),
        store_id: shop.id,
        user_id: user.id,
        address_id: addr.id,
        address_hash: addr.address_hash.clone(),
        status: OrderStatus::Created,
        amount_minor: amount,
        pay_amount_minor: amount,
        refunded_minor: 0,
        refund_pending_minor: 0,
        currency: Currency::parse("EUR").expect("currency"),
        help_task_no: None,
        created_at: t(1_700_000_003, 10),
        paid_at: None,
        shipped_at: Some(t(1_700_000_004, 20)),
        received_at: None,
        closed_at: None,
        close_reason: Some(CloseReason::Timeout),
        reservation_expires_at: t(1_700_000_900, 30),
        updated_at: t(1_700_000_003, 10),
    }
}

/// An active EUR product of `shop`.
pub fn product(shop: &Shop) -> Product {
    Product {
        id: ProductId(id()),
        store_id: shop.id,
        title: "P".into(),
        status: ProductStatus::Active,
        currency: Currency::parse("EUR").expect("currency"),
        version: 1,
        created_at: t(1_700_000_000, 5),
        updated_at: t(1_700_000_000, 5),
    }
}

/// An active variant of `product` with this SKU and price.
pub fn variant(product: &Product, sku: &str, price_minor: i64) -> ProductVariant {
    ProductVariant {
        id: VariantId(id()),
        product_id: product.id,
        store_id: product.store_id,
        sku: sku.into(),
        name: "default".into(),
        price_minor,
        status: ProductStatus::Active,
        created_at: product.created_at,
    }
}

/// A warehouse of `shop`.
pub fn warehouse(shop: &Shop) -> Warehouse {
    Warehouse { id: WarehouseId(id()), store_id: shop.id, name: "main".into(), created_at: t(1_700_000_000, 6) }
}
