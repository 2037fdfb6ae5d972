//! The cap on concurrent password hashing: logins are reachable without
//! authentication, so argon2 work (19 MiB each) must be bounded, and a check
//! that cannot get a turn is "unavailable" (503), never "wrong password".

use std::sync::Arc;
use std::time::Duration;

use agora_core::secrets::Argon2Cost;
use agora_core::{AgoraError, PasswordHasher};
use agora_runtime::BlockingPasswords;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_cannot_get_a_turn_is_unavailable_not_wrong() {
    // No wait at all for a turn: the test is about a taken turn, not about
    // how long a production-cost check lasts on a loaded machine.
    let passwords = Arc::new(BlockingPasswords::new(Argon2Cost::PRODUCTION, 1, Duration::ZERO));
    let hash = passwords.hash("correct horse battery", [7; 16]).await.expect("hash");
    let busy = {
        let (p, h) = (passwords.clone(), hash.clone());
        tokio::spawn(async move { p.verify("correct horse battery", &h).await })
    };
    // Until the first check holds the only turn (a fixed sleep raced it
    // under load).
    while passwords.free_turns() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    match passwords.verify("correct horse battery", &hash).await {
        Err(AgoraError::Unavailable(msg)) => assert!(msg.contains("saturated"), "{msg}"),
        other => panic!("a second check while the only turn is taken: {other:?}"),
    }
    assert!(busy.await.expect("join").expect("the first check ran"));
    // Once the turn is free again, checks run (and wrong is wrong).
    assert!(!passwords.verify("wrong", &hash).await.expect("ran"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_beyond_the_cap_wait_their_turn() {
    let passwords = Arc::new(BlockingPasswords::new(Argon2Cost::TESTING, 2, Duration::from_secs(60)));
    let hash = passwords.hash("pw", [1; 16]).await.expect("hash");
    let mut checks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (p, h) = (passwords.clone(), hash.clone());
        checks.spawn(async move { p.verify(if i % 2 == 0 { "pw" } else { "no" }, &h).await });
    }
    let mut right = 0;
    while let Some(r) = checks.join_next().await {
        right += usize::from(r.expect("join").expect("every check gets a turn"));
    }
    assert_eq!(right, 8);
}
