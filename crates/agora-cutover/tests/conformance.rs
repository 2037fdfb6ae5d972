//! The conformance suite behind each cutover wrapper: a dual-write store
//! (memory primary, SQLite secondary that replays every changeset) and a
//! shadow-read store (SQLite primary, memory shadow compared in the
//! background) must behave exactly like a plain store.

use std::sync::Arc;

use agora_cutover::{DualWriteStore, ShadowReadStore};
use agora_sqlite::{SqliteConfig, SqliteStore};

async fn sqlite(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    let config = SqliteConfig::new(dir.path().join("agora.db"));
    Arc::new(SqliteStore::open(config).await.expect("open sqlite store"))
}

mod dual_write {
    use super::*;

    async fn fresh() -> agora_testkit::TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let secondary = sqlite(&dir).await;
        let store = DualWriteStore::new(Arc::new(agora_memory::MemoryStore::new()), secondary);
        agora_testkit::TestStore::new(Arc::new(store), dir)
    }

    agora_testkit::conformance_tests!(fresh);
}

mod shadow_read {
    use super::*;

    async fn fresh() -> agora_testkit::TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let primary = sqlite(&dir).await;
        let store = ShadowReadStore::new(primary, Arc::new(agora_memory::MemoryStore::new()));
        agora_testkit::TestStore::new(Arc::new(store), dir)
    }

    agora_testkit::conformance_tests!(fresh);
}
