//! Shared fixtures of the adapter tests.
#![allow(dead_code)]

use agora_core::*;
use agora_postgres::testing::{DropGuard, throwaway_database};
use agora_postgres::{PgConfig, PgStore};

pub use agora_postgres::testing::rows::*;

/// A migrated store on its own database.
pub async fn store() -> (PgStore, PgConfig, DropGuard) {
    let (config, guard) = throwaway_database().await;
    let store = PgStore::connect(config.clone()).await.expect("connect");
    (store, config, guard)
}

/// Every table of the store, read now.
pub async fn snapshot(store: &dyn Store) -> Snapshot {
    Snapshot::read(store).await.expect("snapshot")
}

/// A store, a user with an address: the parents most rows need.
pub async fn parents(store: &dyn Store, tag: &str) -> (Shop, AppUser, UserAddress) {
    let s = shop(&format!("{tag}.example.com"));
    let u = user(&format!("{tag}@example.com"));
    let a = address(&u);
    let mut cs = Changeset::new();
    cs.insert(s.clone()).insert(u.clone()).insert(a.clone());
    store.apply(cs).await.expect("parents");
    (s, u, a)
}
