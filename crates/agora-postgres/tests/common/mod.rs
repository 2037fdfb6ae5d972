//! Shared fixtures of the adapter tests.
#![allow(dead_code)]

use agora_core::*;
use agora_postgres::testing::{DropGuard, throwaway_database};
use agora_postgres::{PgConfig, PgStore};
use time::OffsetDateTime;
use uuid::Uuid;

/// A migrated store on its own database.
pub async fn store() -> (PgStore, PgConfig, DropGuard) {
    let (config, guard) = throwaway_database().await;
    let store = PgStore::connect(config.clone()).await.expect("connect");
    (store, config, guard)
}

/// A time with microseconds, as core's clocks produce.
pub fn t(secs: i64, micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(secs) * 1_000_000_000 + i128::from(micros) * 1_000)
        .expect("time")
}

pub fn id() -> Uuid {
    Uuid::now_v7()
}

pub fn shop(domain: &str) -> Shop {
    Shop {
        id: StoreId(id()),
        name: format!("Shop {domain}"),
        domain: domain.into(),
        plan: "basic".into(),
        status: StoreStatus::Active,
        access_token: Some(SealedSecret { key_version: u32::MAX, ciphertext: vec![0, 1, 2, 255] }),
        created_at: t(1_700_000_000, 123_456),
        updated_at: t(1_700_000_001, 1),
    }
}

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

/// A store, a user with an address: the parents most rows need.
pub async fn parents(store: &PgStore, tag: &str) -> (Shop, AppUser, UserAddress) {
    let s = shop(&format!("{tag}.example.com"));
    let u = user(&format!("{tag}@example.com"));
    let a = address(&u);
    let mut cs = Changeset::new();
    cs.insert(Record::Store(s.clone())).insert(Record::User(u.clone())).insert(Record::Address(a.clone()));
    store.apply(cs).await.expect("parents");
    (s, u, a)
}
