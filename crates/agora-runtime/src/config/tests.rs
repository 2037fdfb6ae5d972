use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agora.toml");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

#[test]
fn defaults_match_the_contract() {
    let c = Config::load_from(None, env(&[])).unwrap();
    assert_eq!(c.database_url, "sqlite://agora.db");
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert!(c.worker && c.migrate);
    assert_eq!(c.job_interval_ms, 1000);
    assert!(c.redis_url.is_none());
    // The contract's file://./blobs, made absolute so it names one place
    // whatever directory a later read of it is made from.
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(c.object_store(), format!("file://{}", cwd.join("blobs").display()));
    assert_eq!(c.max_upload_bytes, 10 * 1024 * 1024);
    assert_eq!(c.postgres.max_group, 64);
    assert!(!c.http.trust_forwarded_for);
}

#[test]
fn env_overrides_file_overrides_defaults() {
    let (_d, file) = file_with("listen = \"0.0.0.0:9000\"\nworker = \"off\"\njob_interval_ms = 250\n");
    let c =
        Config::load_from(Some(&file), env(&[("AGORA_LISTEN", "127.0.0.1:7000"), ("AGORA_TEST_POSTGRES_URL", "x")]))
            .unwrap();
    assert_eq!(c.listen, "127.0.0.1:7000");
    assert!(!c.worker);
    assert_eq!(c.job_interval_ms, 250);
    let c = Config::load_from(Some(&file), env(&[("AGORA_WORKER", "on"), ("AGORA_DATABASE_URL", "memory:")])).unwrap();
    assert!(c.worker);
    assert_eq!(c.database_url, "memory:");
}

#[test]
fn sections_from_the_file_and_the_environment() {
    let text = "[http]\ntrust_forwarded_for = \"on\"\n[sqlite]\nsynchronous = \"normal\"\nread_connections = 2\n\
                [postgres]\nmax_group = 8\n[jobs]\nbatch_size = 7\n[domain]\nmax_attempts = 5\n";
    let (_d, file) = file_with(text);
    let c = Config::load_from(
        Some(&file),
        env(&[("AGORA_POSTGRES_MAX_GROUP", "1"), ("AGORA_SQLITE_BUSY_TIMEOUT_MS", "250")]),
    )
    .unwrap();
    assert!(c.http.trust_forwarded_for);
    assert_eq!(c.sqlite.synchronous, agora_sqlite::Synchronous::Normal);
    assert_eq!(c.sqlite.read_connections, 2);
    assert_eq!(c.sqlite.busy_timeout, std::time::Duration::from_millis(250));
    assert_eq!(c.postgres.max_group, 1, "the environment wins");
    assert_eq!(c.jobs.batch_size, 7);
    assert_eq!(c.domain.apply(agora_core::AgoraConfig::default()).max_attempts, 5);
}

#[test]
fn every_key_is_read_from_its_environment_variable() {
    for (path, kind) in KEYS {
        let value = match *path {
            "worker" | "migrate" | "http.trust_forwarded_for" => "off",
            "webhook_allow_private" => "on",
            "log.format" => "json",
            "sqlite.synchronous" => "normal",
            "cutover.mode" => "single",
            "admin_key" => "an-admin-key-of-at-least-32-characters",
            "jobs.run" => "payouts",
            _ if *kind == Kind::Number => "3",
            _ => "memory:",
        };
        let r = Config::load_from(None, env(&[(env_name(path).as_str(), value)]));
        assert!(r.is_ok(), "{} = {value}: {:?}", env_name(path), r.err());
    }
    assert_eq!(env_name("http.trust_forwarded_for"), "AGORA_HTTP_TRUST_FORWARDED_FOR");
}

#[test]
fn the_old_flat_names_still_work() {
    let (_d, file) =
        file_with("job_batch_size = 20\njobs = \"payouts,exports\"\nlog_format = \"json\"\nblob_dir = \"/tmp/x\"\n");
    let c = Config::load_from(
        Some(&file),
        env(&[("AGORA_PG_MAX_CONNECTIONS", "4"), ("AGORA_REQUEST_TIMEOUT_MS", "99"), ("AGORA_STORAGE_MODE", "single")]),
    )
    .unwrap();
    assert_eq!(c.jobs.batch_size, 20);
    assert_eq!(c.job_list(), ["payouts", "exports"]);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.object_store(), "file:///tmp/x");
    assert_eq!(c.postgres.max_connections, 4);
    assert_eq!(c.http.request_timeout_ms, 99);
    let c = Config::load_from(None, env(&[("AGORA_JOB_BATCH_SIZE", "9"), ("AGORA_JOBS_BATCH_SIZE", "11")])).unwrap();
    assert_eq!(c.jobs.batch_size, 11, "the new name wins over the old");
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let (_d, file) = file_with("databse_url = \"memory:\"\n");
    let err = Config::load_from(Some(&file), env(&[])).unwrap_err().to_string();
    assert!(err.contains("databse_url"), "{err}");
    let (_d, file) = file_with("[postgres]\nmax_grup = 3\n");
    let err = Config::load_from(Some(&file), env(&[])).unwrap_err().to_string();
    assert!(err.contains("max_grup"), "{err}");
    let err = Config::load_from(None, env(&[("AGORA_WORKER", "maybe")])).unwrap_err().to_string();
    assert!(err.contains("worker"), "{err}");
    let err = Config::load_from(None, env(&[("AGORA_JOBS_RUN", "expire_orders,nope")])).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    let err = Config::load_from(None, env(&[("AGORA_JOBS_BATCH_SIZE", "many")])).unwrap_err().to_string();
    assert!(err.contains("batch_size"), "{err}");
    let err = Config::load_from(None, env(&[("AGORA_CUTOVER_MODE", "dual_write")])).unwrap_err().to_string();
    assert!(err.contains("secondary_database_url"), "{err}");
}

#[test]
fn a_short_admin_key_is_refused() {
    let err = Config::load_from(None, env(&[("AGORA_ADMIN_KEY", "0123456789abcdefghijklmnopqrstu")])).unwrap_err();
    let err = err.to_string();
    assert!(err.contains("admin_key") && err.contains("32"), "{err}");
    assert!(!err.contains("0123456789"), "the key itself is not echoed: {err}");
    let key = "0123456789abcdefghijklmnopqrstuv";
    assert_eq!(Config::load_from(None, env(&[("AGORA_ADMIN_KEY", key)])).unwrap().admin_key.as_deref(), Some(key));
}

#[test]
fn debug_hides_secrets() {
    let c = Config::load_from(
        None,
        env(&[
            ("AGORA_ADMIN_KEY", "super-secret-admin-key-of-32-characters"),
            ("AGORA_DATABASE_URL", "postgres://u:hunter2@db/agora"),
            ("AGORA_CUTOVER_SECONDARY_DATABASE_URL", "postgres://u:hunter3@db2/agora"),
        ]),
    )
    .unwrap();
    let s = format!("{c:?}");
    assert!(!s.contains("super-secret-admin") && !s.contains("hunter2") && !s.contains("hunter3"), "{s}");
}
