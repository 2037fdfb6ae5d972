//! The shared conformance suite, the differential model test against the
//! memory reference, and the oversell race, all on a fresh SQLite file each.
//!
//! The conformance suite includes the query-contract scenario, whose ad-hoc
//! queries (by price, by a nullable timestamp, ...) no index serves, so it
//! runs on a handle that permits scans. The model test and the race drive
//! only core's own reads, on a strict handle: in debug builds any of those
//! that scans a table fails them (as does `every_read_is_served_by_an_index`).

use std::sync::Arc;

use agora_sqlite::{SqliteConfig, SqliteStore};

async fn open() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(SqliteConfig::new(dir.path().join("agora.db"))).await.expect("open sqlite store");
    (store, dir)
}

async fn fresh() -> agora_testkit::TestStore {
    let (store, dir) = open().await;
    agora_testkit::TestStore::new(Arc::new(store.permitting_scans()), dir)
}

async fn strict() -> agora_testkit::TestStore {
    let (store, dir) = open().await;
    agora_testkit::TestStore::new(Arc::new(store), dir)
}

agora_testkit::conformance_tests!(fresh);
agora_testkit::model_tests!(strict);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_never_oversell_fifty_units() {
    let (placed, left) = agora_testkit::oversell_race(strict().await, 32, 50).await;
    assert_eq!((placed, left), (50, 0));
}
