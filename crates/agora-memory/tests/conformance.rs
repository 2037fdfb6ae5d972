//! The conformance suite, the model test and the oversell race on the memory adapter (the
//! model test here checks the harness is deterministic: memory vs memory).

async fn fresh() -> agora_testkit::TestStore {
    agora_testkit::TestStore::memory()
}

agora_testkit::adapter_tests!(fresh);
