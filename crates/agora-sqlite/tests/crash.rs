//! Crash safety: a child process applies changesets as fast as it can and
//! prints the id of each one the store acknowledged; the parent SIGKILLs it
//! mid-stream, reopens the file and checks that every acknowledged
//! changeset is there, that no changeset is there in part, and that
//! `PRAGMA integrity_check` says ok.
//!
//! The child is this same test binary, re-run with `CHILD_ENV` set, so the
//! one test plays both roles.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use agora_core::clock::truncate_to_micros;
use agora_core::*;
use agora_sqlite::{SqliteConfig, SqliteStore};
use uuid::Uuid;

const CHILD_ENV: &str = "AGORA_SQLITE_CRASH_CHILD_DB";
const ACK: &str = "ACK ";

/// One changeset = a user, their address, a session and an event: four rows
/// that must appear together or not at all.
fn changeset(i: u64) -> (UserId, Changeset) {
    let now = truncate_to_micros(time::OffsetDateTime::now_utc());
    let user = AppUser {
        id: UserId(Uuid::now_v7()),
        name: format!("crash {i}"),
        email: format!("crash{i}-{}@example.com", Uuid::now_v7().simple()),
        phone: None,
        password_hash: "$argon2id$crash".into(),
        created_at: now,
    };
    let mut cs = Changeset::new();
    cs.guard(agora_core::guards::email_free(&user.email))
        .insert(Record::User(user.clone()))
        .insert(Record::Address(UserAddress {
            id: AddressId(Uuid::now_v7()),
            user_id: user.id,
            line1: format!("{i} Crash Lane"),
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
            address_hash: format!("{i:064}"),
            created_at: now,
        }))
        .insert(Record::Session(Session {
            id: SessionId(Uuid::now_v7()),
            user_id: user.id,
            // Unique across rounds, like the email: the child restarts its counter.
            token_hash: format!("{i:032x}{}", Uuid::now_v7().simple()),
            created_at: now,
            expires_at: now + time::Duration::hours(1),
        }))
        .insert(Record::Event(ActivityEvent {
            id: EventId(Uuid::now_v7()),
            store_id: StoreId(Uuid::nil()),
            seq: None,
            entity_type: "user".into(),
            entity_id: user.id.0,
            kind: "user.registered".into(),
            payload: serde_json::json!({ "i": i, "padding": "x".repeat(512) }),
            at: now,
        }));
    (user.id, cs)
}

/// The child: 8 concurrent writers until killed (or 120 s as a safety net).
async fn child(path: String) {
    let store = SqliteStore::open(SqliteConfig::new(path)).await.expect("child open");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while Instant::now() < deadline {
                let (id, cs) = changeset(i);
                store.apply(cs).await.expect("child apply");
                println!("{ACK}{id}");
                i += 8;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_stream_loses_no_acknowledged_changeset() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(path).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    // Create the schema first so the child starts writing at once.
    SqliteStore::open(SqliteConfig::new(&path)).await.unwrap().close().await;

    let mut acked = BTreeSet::new();
    // Kill at a different point each round; several rounds on one file.
    for (round, kill_after) in [150usize, 401, 777].into_iter().enumerate() {
        let mut proc = Command::new(std::env::current_exe().unwrap())
            .args(["sigkill_mid_stream_loses_no_acknowledged_changeset", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = proc.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(id) = line.strip_prefix(ACK) {
                    let _ = tx.send(id.to_owned());
                }
            }
        });
        let started = Instant::now();
        let mut this_round = 0;
        while this_round < kill_after {
            let id = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
                let _ = proc.kill();
                panic!("round {round}: child acknowledged only {this_round} changesets in {:?}", started.elapsed())
            });
            acked.insert(id);
            this_round += 1;
        }
        proc.kill().expect("SIGKILL the child"); // SIGKILL on Unix
        let status = proc.wait().unwrap();
        assert!(!status.success(), "round {round}: the child must have been killed, not exited: {status:?}");
        reader.join().unwrap();
        // Lines the child printed before it died are acknowledged too.
        acked.extend(rx.try_iter());

        // Killed mid-stream, not closed: the WAL is still there to recover.
        assert!(path.with_file_name("crash.db-wal").exists(), "round {round}: no WAL left by the killed child");

        // Reopen (recovers the WAL) and check.
        let raw = rusqlite::Connection::open(&path).unwrap();
        let check: String = raw.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "round {round}");
        let fk: Option<String> = raw.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).ok();
        assert_eq!(fk, None, "round {round}: dangling foreign keys");
        drop(raw);

        let store = SqliteStore::open(SqliteConfig::new(&path)).await.unwrap();
        store.integrity_check().await.unwrap();
        let snap = Snapshot::read(&store).await.unwrap();
        let (users, addresses) = (snap.rows::<AppUser>(), snap.rows::<UserAddress>());
        let (sessions, events) = (snap.rows::<Session>(), snap.rows::<ActivityEvent>());
        let ids: BTreeSet<String> = users.iter().map(|u| u.id.to_string()).collect();
        let missing: Vec<&String> = acked.difference(&ids).collect();
        assert!(missing.is_empty(), "round {round}: {} acknowledged changesets lost: {missing:?}", missing.len());
        // None partial: every user has exactly its address, session and event.
        let with = |ids: Vec<UserId>| ids.into_iter().map(|u| u.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(with(addresses.iter().map(|a| a.user_id).collect()), ids, "round {round}: addresses");
        assert_eq!(with(sessions.iter().map(|s| s.user_id).collect()), ids, "round {round}: sessions");
        assert_eq!(
            events.iter().map(|e| e.entity_id.to_string()).collect::<BTreeSet<_>>(),
            ids,
            "round {round}: events"
        );
        assert_eq!(users.len(), addresses.len());
        assert_eq!(users.len(), sessions.len());
        assert_eq!(users.len(), events.len());
        assert!(ids.len() >= acked.len());
        store.close().await;
    }
}
