//! The shared conformance scenarios and the differential model test, on
//! PostgreSQL: every test gets its own throwaway database.

use std::sync::Arc;

use agora_postgres::{PgStore, testing};

async fn fresh() -> agora_testkit::TestStore {
    let (config, guard) = testing::throwaway_database().await;
    let store = PgStore::connect(config).await.expect("connect and migrate the throwaway database");
    // The store (and its pool) must be dropped before the guard drops the
    // database; the guard forces the drop anyway.
    agora_testkit::TestStore::new(Arc::new(store), guard)
}

agora_testkit::conformance_tests!(fresh);
agora_testkit::model_tests!(fresh);

/// The same scenarios with group commit off: one transaction per changeset.
mod without_group_commit {
    use super::*;

    async fn fresh() -> agora_testkit::TestStore {
        let (mut config, guard) = testing::throwaway_database().await;
        config.max_group = 1;
        let store = PgStore::connect(config).await.expect("connect and migrate the throwaway database");
        agora_testkit::TestStore::new(Arc::new(store), guard)
    }

    agora_testkit::conformance_tests!(fresh);
}
