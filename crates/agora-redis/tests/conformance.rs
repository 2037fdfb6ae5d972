//! The adapter conformance suite and the differential model test on a
//! `CachedStore` (Redis cache in front of the memory store): a cache that
//! ever served a stale catalog row would make core decide differently.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agora_memory::MemoryStore;
use agora_redis::CachedStore;

async fn fresh() -> agora_testkit::TestStore {
    let redis = common::TestRedis::new().await;
    let store = CachedStore::new(Arc::new(MemoryStore::new()), redis.client.clone(), Duration::from_secs(60));
    // The TestRedis deletes the test's keys when the scenario drops it.
    agora_testkit::TestStore::new(Arc::new(store), redis)
}

agora_testkit::adapter_tests!(fresh);
