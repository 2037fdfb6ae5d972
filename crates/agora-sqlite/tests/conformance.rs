//! The shared conformance suite, the differential model test against the
//! memory reference, and the oversell race, all on a fresh SQLite file each.

use std::sync::Arc;

use agora_sqlite::{SqliteConfig, SqliteStore};

async fn fresh() -> agora_testkit::TestStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(SqliteConfig::new(dir.path().join("agora.db"))).await.expect("open sqlite store");
    agora_testkit::TestStore::new(Arc::new(store), dir)
}

agora_testkit::conformance_tests!(fresh);
agora_testkit::model_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_never_oversell_fifty_units() {
    let (placed, left) = agora_testkit::oversell_race(fresh().await, 32, 50).await;
    assert_eq!((placed, left), (50, 0));
}
