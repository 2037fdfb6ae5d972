//! The operator CLI, run as a process.

use std::path::Path;
use std::process::{Command, Output};

fn agora(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(args)
        .current_dir(dir)
        .env("AGORA_DATA_DIR", dir)
        .env_remove("AGORA_DATABASE_URL")
        .env_remove("AGORA_STORAGE_MODE")
        .env_remove("AGORA_SECONDARY_DATABASE_URL")
        .output()
        .expect("run agora");
    eprintln!(
        "$ agora {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = agora(dir, args);
    assert!(out.status.success(), "agora {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["migrate"],
        &["migrate", "up"],
        &["migrate", "status"],
        &["seed"],
        &["export"],
        &["import"],
        &["backup"],
        &["restore"],
        &["copy"],
        &["verify"],
        &["keys"],
        &["keys", "rotate"],
        &["admin-key"],
        &["admin-key", "create"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let text = ok(dir.path(), &args);
        assert!(text.contains("Usage: agora"), "{c:?}: {text}");
        assert!(text.contains("--database-url"), "{c:?}: the global option is documented");
    }
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

#[test]
fn sqlite_seed_export_import_backup_restore_copy_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (a, b, c, d) = (sqlite(dir, "a.db"), sqlite(dir, "b.db"), sqlite(dir, "c.db"), sqlite(dir, "d.db"));
    ok(dir, &["--database-url", &a, "migrate", "up"]);
    assert!(ok(dir, &["--database-url", &a, "migrate", "status"]).contains("0 pending"));
    let seeded = ok(dir, &["--database-url", &a, "seed", "--demo"]);
    assert!(seeded.contains("store admin key (shown once): agk_"), "{seeded}");
    assert!(seeded.contains("customer: ada@demo.agora.test password demo-"));
    assert!(!agora(dir, &["--database-url", &a, "seed", "--demo"]).status.success(), "seeding twice is refused");

    // export / import
    let file = dir.join("a.jsonl");
    ok(dir, &["--database-url", &a, "export", "--to", file.to_str().unwrap()]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().next(), Some(r#"{"format":"agora-export","version":1}"#));
    assert!(ok(dir, &["--database-url", &b, "import", "--from", file.to_str().unwrap()]).contains("imported"));
    assert!(!agora(dir, &["--database-url", &b, "import", "--from", file.to_str().unwrap()]).status.success());
    assert!(ok(dir, &["verify", "--from", &a, "--to", &b]).contains("0 differences"));

    // backup / restore
    let backup = dir.join("a.backup");
    ok(dir, &["--database-url", &a, "backup", "--to", backup.to_str().unwrap()]);
    ok(dir, &["--database-url", &c, "restore", "--from", backup.to_str().unwrap()]);
    assert!(ok(dir, &["verify", "--from", &a, "--to", &c]).contains("0 differences"));

    // copy (twice: the second pass has nothing to do)
    ok(dir, &["copy", "--from", &a, "--to", &d]);
    assert!(ok(dir, &["copy", "--from", &a, "--to", &d]).contains("0 inserted, 0 updated, 0 deleted, 0 conflicts"));

    // a difference: an admin key made on one side only; verify exits 1.
    let export: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let store_id = export.iter().find(|v| v["table"] == "store").unwrap()["row"]["id"].as_str().unwrap().to_owned();
    let key = ok(dir, &["--database-url", &d, "admin-key", "create", "--store", &store_id]);
    assert!(key.contains("agk_"));
    let out = agora(dir, &["verify", "--from", &a, "--to", &d]);
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.contains("admin_key") && report.contains("DIFFERS"), "{report}");
    assert!(ok(dir, &["--database-url", &d, "keys", "rotate"]).contains("re-sealed 0 store secrets"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_and_restore_with_pg_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let (a, _ga) = agora_postgres::testing::throwaway_database().await;
    // pg_restore needs a new, empty database.
    let (b, _gb) = agora_postgres::testing::empty_database().await;
    let (a, b) = (a.url.clone(), b.url.clone());
    tokio::task::spawn_blocking(move || {
        ok(&dir, &["--database-url", &a, "seed", "--demo"]);
        let backup = dir.join("pg.dump");
        ok(&dir, &["--database-url", &a, "backup", "--to", backup.to_str().unwrap()]);
        ok(&dir, &["--database-url", &b, "restore", "--from", backup.to_str().unwrap()]);
        assert!(ok(&dir, &["--database-url", &b, "migrate", "status"]).contains("0 pending"));
        assert!(ok(&dir, &["verify", "--from", &a, "--to", &b]).contains("0 differences"));
    })
    .await
    .unwrap();
}
