//! The shared conformance suite, the differential model test against the
//! memory reference, and the oversell race, all on a fresh SQLite file each.
//!
//! Every handle is strict: in debug builds a read that scans a table fails
//! the test (as does `every_read_is_served_by_an_index`), except the
//! queries the query-contract scenario marks `unindexed` on purpose.

use std::sync::Arc;

use agora_sqlite::{SqliteConfig, SqliteStore};

async fn fresh() -> agora_testkit::TestStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(SqliteConfig::new(dir.path().join("agora.db"))).await.expect("open sqlite store");
    agora_testkit::TestStore::new(Arc::new(store), dir)
}

agora_testkit::adapter_tests!(fresh);
