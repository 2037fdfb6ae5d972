//! The conformance suite and the model test on the memory adapter (the
//! model test here checks the harness is deterministic: memory vs memory).

async fn fresh() -> agora_testkit::TestStore {
    agora_testkit::TestStore::memory()
}

agora_testkit::conformance_tests!(fresh);
agora_testkit::model_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_never_oversell_fifty_units() {
    let (placed, left) = agora_testkit::oversell_race(fresh().await, 32, 50).await;
    assert_eq!((placed, left), (50, 0));
}
