//! Configuration: environment variables over `agora.toml` over defaults
//! (figment), nested by part: the contract's keys at the top
//! (`database_url`, `listen`, ...), every other knob in its section
//! (`[http] trust_forwarded_for`, `[sqlite] synchronous`, `[postgres]
//! max_group`, ...). A key `a.b` is read from `AGORA_A_B`. Every key of
//! `agora.toml` must be known: an unknown key is an error naming it. From
//! the environment only the known `AGORA_*` names are read, so unrelated
//! variables (`AGORA_TEST_POSTGRES_URL`) cannot break a start. The flat
//! names of earlier versions (`job_batch_size`, `pg_max_connections`, ...)
//! are still read, as aliases of their new places.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value as FigValue;
use serde::{Deserialize, Deserializer, Serialize};

pub use agora_postgres::PgConfig;
pub use agora_sqlite::SqliteConfig;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is missing, malformed or unknown; the message names the key.
    #[error("configuration: {0}")]
    Invalid(String),
    /// The secrets file could not be read or written.
    #[error("secrets file {path}: {message}")]
    Secrets {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// `on`/`off` (also `true`/`false`, `1`/`0`).
fn on_off<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
        Int(i64),
    }
    match Flag::deserialize(d)? {
        Flag::Bool(b) => Ok(b),
        Flag::Int(1) => Ok(true),
        Flag::Int(0) => Ok(false),
        Flag::Text(s) => match s.to_ascii_lowercase().as_str() {
            "on" | "true" | "1" | "yes" => Ok(true),
            "off" | "false" | "0" | "no" => Ok(false),
            other => Err(serde::de::Error::custom(format!("expected on or off, got {other:?}"))),
        },
        Flag::Int(n) => Err(serde::de::Error::custom(format!("expected on or off, got {n}"))),
    }
}

/// Which jobs a worker runs.
pub const ALL_JOBS: &[&str] = &[
    "expire_orders",
    "auto_receive",
    "expire_tasks",
    "payouts",
    "exports",
    "retention",
    "maintenance",
    "sequence_events",
    "kpis",
    "velocity",
    "insights",
    "relay_events",
    "webhooks",
    "reconcile",
];

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How the primary and secondary stores are used (cutover).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageMode {
    /// Only the primary.
    Single,
    /// Every changeset to the primary, then to the secondary.
    DualWrite,
    /// Reads from the primary, compared with the secondary in the background.
    ShadowRead,
}

/// `[http]`: the api's knobs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Per-request timeout in milliseconds; over it the client gets 503.
    pub request_timeout_ms: u64,
    /// Requests per minute per client IP (0 disables).
    pub rate_limit_per_minute: u32,
    /// Take the client IP from the last `X-Forwarded-For` entry, the one the proxy appended (only
    /// behind a proxy that sets it); otherwise the peer address is used.
    #[serde(deserialize_with = "on_off")]
    pub trust_forwarded_for: bool,
    /// A connection must send a whole request head within this many
    /// milliseconds of opening or of its previous response (also the
    /// keep-alive idle timeout), else it is closed.
    pub header_read_timeout_ms: u64,
    /// Connections open at once; beyond it new ones wait in the kernel's
    /// backlog until one closes.
    pub max_connections: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout_ms: 10_000,
            rate_limit_per_minute: 0,
            trust_forwarded_for: false,
            header_read_timeout_ms: 10_000,
            max_connections: 10_000,
        }
    }
}

/// `[jobs]`: the scheduler's knobs (`AGORA_JOB_INTERVAL_MS` stays at the
/// top, as the contract names it).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Rows per job batch, shared out per store (1..=10000).
    pub batch_size: u32,
    /// Comma-separated jobs to run (default: all).
    pub run: String,
    /// How long a job's lease lives without a heartbeat, in milliseconds.
    pub lease_ttl_ms: u64,
    /// A running export older than this (seconds) whose worker holds no
    /// lease is given back to the queue.
    pub export_stale_after_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { batch_size: 100, run: ALL_JOBS.join(","), lease_ttl_ms: 30_000, export_stale_after_secs: 15 * 60 }
    }
}

/// `[log]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text }
    }
}

/// `[redis]`: knobs of the Redis parts (enabled by `redis_url`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSection {
    /// Longest a cached catalog value lives, in seconds (it only bounds
    /// memory and what other instances may see while Redis cannot be written).
    pub cache_ttl_secs: u64,
    /// Prepended to every key agora writes; two deployments sharing one
    /// Redis must use different prefixes.
    pub key_prefix: String,
}

impl Default for RedisSection {
    fn default() -> Self {
        Self { cache_ttl_secs: 300, key_prefix: agora_redis::DEFAULT_KEY_PREFIX.to_owned() }
    }
}

/// `[cutover]`: moving a live deployment between stores.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CutoverConfig {
    /// `single`, `dual_write` or `shadow_read`.
    pub mode: StorageMode,
    /// The other store of a cutover.
    pub secondary_database_url: Option<String>,
}

impl Default for CutoverConfig {
    fn default() -> Self {
        Self { mode: StorageMode::Single, secondary_database_url: None }
    }
}

/// `[domain]`: the use cases' tunables (`agora_core::AgoraConfig`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainConfig {
    /// Lifetime of a login session, in seconds.
    pub session_ttl_secs: u64,
    /// How long idempotent responses are kept, in seconds.
    pub idempotency_ttl_secs: u64,
    /// How long an in-flight idempotency marker lives, in milliseconds.
    pub idempotency_lease_ms: u64,
    /// How long export files are kept, in seconds.
    pub export_ttl_secs: u64,
    /// Failed logins per email per minute before 429 (each attempt takes
    /// its place before its password is checked; a success gives it back).
    pub login_failures_per_minute: u32,
    /// Failed logins per client address per minute before 429, whatever
    /// the email (password spraying).
    pub login_failures_per_ip_per_minute: u32,
    /// How long market-wide security events are kept, in days (0: for ever).
    pub security_event_retention_days: u64,
    /// How long delivered and failed webhook deliveries are kept, in days (0: for ever).
    pub webhook_delivery_retention_days: u64,
    /// Attempts of a use case whose guard lost a race before it gives up.
    pub max_attempts: u32,
    /// Password hashes and checks (argon2id, about 19 MiB each) running at
    /// once; default the number of CPUs.
    pub max_concurrent_password_hashes: u32,
    /// How long a login or registration waits for a hashing turn before it
    /// is 503 with `Retry-After`, in milliseconds.
    pub password_hash_wait_ms: u64,
}

impl Default for DomainConfig {
    fn default() -> Self {
        let d = agora_core::AgoraConfig::default();
        let secs = |t: time::Duration| u64::try_from(t.whole_seconds()).unwrap_or(0);
        Self {
            session_ttl_secs: secs(d.session_ttl),
            idempotency_ttl_secs: secs(d.idempotency_ttl),
            idempotency_lease_ms: u64::try_from(d.idempotency_lease.as_millis()).unwrap_or(u64::MAX),
            export_ttl_secs: secs(d.export_ttl),
            login_failures_per_minute: d.login_failures_per_minute,
            login_failures_per_ip_per_minute: d.login_failures_per_ip_per_minute,
            security_event_retention_days: u64::try_from(d.security_event_retention.whole_days()).unwrap_or(0),
            webhook_delivery_retention_days: u64::try_from(d.webhook_delivery_retention.whole_days()).unwrap_or(0),
            max_attempts: d.max_attempts,
            max_concurrent_password_hashes: std::thread::available_parallelism()
                .map_or(2, |n| u32::try_from(n.get()).unwrap_or(2)),
            password_hash_wait_ms: 2_000,
        }
    }
}

impl DomainConfig {
    /// These tunables over `base` (which carries the secrets).
    pub fn apply(&self, base: agora_core::AgoraConfig) -> agora_core::AgoraConfig {
        let secs = |s: u64| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
        agora_core::AgoraConfig {
            session_ttl: secs(self.session_ttl_secs),
            idempotency_ttl: secs(self.idempotency_ttl_secs),
            idempotency_lease: std::time::Duration::from_millis(self.idempotency_lease_ms),
            export_ttl: secs(self.export_ttl_secs),
            login_failures_per_minute: self.login_failures_per_minute,
            login_failures_per_ip_per_minute: self.login_failures_per_ip_per_minute,
            security_event_retention: time::Duration::days(
                i64::try_from(self.security_event_retention_days).unwrap_or(i64::MAX / 86_400).min(36_500),
            ),
            webhook_delivery_retention: time::Duration::days(
                i64::try_from(self.webhook_delivery_retention_days).unwrap_or(i64::MAX / 86_400).min(36_500),
            ),
            max_attempts: self.max_attempts.max(1),
            ..base
        }
    }
}

/// The shortest super admin key (`admin_key`) accepted.
pub const MIN_ADMIN_KEY_CHARS: usize = 32;

/// agora's configuration. Field names are the `agora.toml` keys (sections
/// are tables); the environment variable of `a.b` is `AGORA_A_B`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `memory:`, `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// `redis://...`; enables the Redis parts.
    pub redis_url: Option<String>,
    /// Address the api binds.
    pub listen: String,
    /// Super admin key; generated on first start and printed once if unset.
    pub admin_key: Option<String>,
    /// HMAC key of payment webhooks; generated on first start if unset.
    pub webhook_secret: Option<String>,
    /// `version:base64key,...`; generated on first start if unset.
    pub secret_keys: Option<String>,
    /// `on`: agora-api also runs the jobs in-process.
    #[serde(deserialize_with = "on_off")]
    pub worker: bool,
    /// `on`: outgoing webhooks may target loopback and private addresses.
    #[serde(deserialize_with = "on_off")]
    pub webhook_allow_private: bool,
    /// How often each job rescans, in milliseconds.
    pub job_interval_ms: u64,
    /// Apply pending migrations at start.
    #[serde(deserialize_with = "on_off")]
    pub migrate: bool,
    /// Where generated secrets live (and files, by default).
    pub data_dir: PathBuf,
    /// Where attachments, images and export files go: `file://DIR`,
    /// `memory:` or `s3://BUCKET[/PREFIX]`. Unset: the location the
    /// database records (every process on it uses the same), or on first
    /// start `file://<data_dir>/blobs` made absolute and recorded.
    pub object_store_url: Option<String>,
    /// Largest attachment, in bytes.
    pub max_upload_bytes: u64,
    /// The api.
    pub http: HttpConfig,
    /// The job scheduler.
    pub jobs: JobsConfig,
    /// Logging.
    pub log: LogConfig,
    /// The SQLite store (`synchronous`, `read_connections`,
    /// `busy_timeout_ms`); a `sqlite://` URL's own parameters win.
    pub sqlite: SqliteConfig,
    /// The PostgreSQL store (`max_connections`, `max_group`,
    /// `acquire_timeout_ms`); a `postgres://` URL's own parameters win.
    #[serde(skip_serializing)]
    pub postgres: PgConfig,
    /// The Redis parts.
    pub redis: RedisSection,
    /// Cutover between stores.
    pub cutover: CutoverConfig,
    /// The use cases' tunables.
    pub domain: DomainConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://agora.db".into(),
            redis_url: None,
            listen: "127.0.0.1:8080".into(),
            admin_key: None,
            webhook_secret: None,
            secret_keys: None,
            worker: true,
            webhook_allow_private: false,
            job_interval_ms: 1000,
            migrate: true,
            data_dir: PathBuf::from("."),
            object_store_url: None,
            max_upload_bytes: 10 * 1024 * 1024,
            http: HttpConfig::default(),
            jobs: JobsConfig::default(),
            log: LogConfig::default(),
            sqlite: SqliteConfig::default(),
            postgres: PgConfig::default(),
            redis: RedisSection::default(),
            cutover: CutoverConfig::default(),
            domain: DomainConfig::default(),
        }
    }
}

/// Hides secrets and URL passwords.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &Option<String>| s.as_ref().map(|_| "***");
        let redact = |s: &Option<String>| s.as_deref().map(agora_redis::redact_url);
        f.debug_struct("Config")
            .field("database_url", &agora_redis::redact_url(&self.database_url))
            .field("redis_url", &redact(&self.redis_url))
            .field("listen", &self.listen)
            .field("admin_key", &hide(&self.admin_key))
            .field("webhook_secret", &hide(&self.webhook_secret))
            .field("secret_keys", &hide(&self.secret_keys))
            .field("worker", &self.worker)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("job_interval_ms", &self.job_interval_ms)
            .field("migrate", &self.migrate)
            .field("data_dir", &self.data_dir)
            .field("object_store_url", &redact(&self.object_store_url))
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("http", &self.http)
            .field("jobs", &self.jobs)
            .field("log", &self.log)
            .field("sqlite", &self.sqlite)
            .field("postgres", &self.postgres)
            .field("redis", &self.redis)
            .field("cutover.mode", &self.cutover.mode)
            .field("cutover.secondary_database_url", &redact(&self.cutover.secondary_database_url))
            .field("domain", &self.domain)
            .finish()
    }
}

/// How a key's value is read from the environment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Kept as text (booleans are text too: `on`/`off`).
    Text,
    /// A whole number; malformed stays text so the error names the key.
    Number,
}

use Kind::{Number as N, Text as T};

/// Every key by its path, with how its environment variable (`AGORA_` +
/// the path with `.` as `_`, upper case: [`env_name`]) is read.
const KEYS: &[(&str, Kind)] = &[
    ("database_url", T),
    ("redis_url", T),
    ("listen", T),
    ("admin_key", T),
    ("webhook_secret", T),
    ("secret_keys", T),
    ("worker", T),
    ("webhook_allow_private", T),
    ("job_interval_ms", N),
    ("migrate", T),
    ("data_dir", T),
    ("object_store_url", T),
    ("max_upload_bytes", N),
    ("http.request_timeout_ms", N),
    ("http.rate_limit_per_minute", N),
    ("http.trust_forwarded_for", T),
    ("http.header_read_timeout_ms", N),
    ("http.max_connections", N),
    ("jobs.batch_size", N),
    ("jobs.run", T),
    ("jobs.lease_ttl_ms", N),
    ("jobs.export_stale_after_secs", N),
    ("log.format", T),
    ("sqlite.synchronous", T),
    ("sqlite.read_connections", N),
    ("sqlite.busy_timeout_ms", N),
    ("postgres.max_connections", N),
    ("postgres.max_group", N),
    ("postgres.acquire_timeout_ms", N),
    ("redis.cache_ttl_secs", N),
    ("redis.key_prefix", T),
    ("cutover.mode", T),
    ("cutover.secondary_database_url", T),
    ("domain.session_ttl_secs", N),
    ("domain.idempotency_ttl_secs", N),
    ("domain.idempotency_lease_ms", N),
    ("domain.export_ttl_secs", N),
    ("domain.login_failures_per_minute", N),
    ("domain.login_failures_per_ip_per_minute", N),
    ("domain.security_event_retention_days", N),
    ("domain.webhook_delivery_retention_days", N),
    ("domain.max_concurrent_password_hashes", N),
    ("domain.password_hash_wait_ms", N),
    ("domain.max_attempts", N),
];

/// The flat names of earlier versions and where they live now.
const ALIASES: &[(&str, &str)] = &[
    ("job_batch_size", "jobs.batch_size"),
    ("jobs", "jobs.run"),
    ("log_format", "log.format"),
    ("request_timeout_ms", "http.request_timeout_ms"),
    ("rate_limit_per_minute", "http.rate_limit_per_minute"),
    ("pg_max_connections", "postgres.max_connections"),
    ("storage_mode", "cutover.mode"),
    ("secondary_database_url", "cutover.secondary_database_url"),
    ("blob_dir", "object_store_url"),
];

fn kind(path: &str) -> Kind {
    KEYS.iter().find(|(key, _)| *key == path).map_or(T, |(_, kind)| *kind)
}

/// The environment variable of a key path.
pub fn env_name(path: &str) -> String {
    format!("AGORA_{}", path.replace('.', "_").to_ascii_uppercase())
}

/// A value from the environment, typed for `path`.
fn env_value(path: &str, raw: &str) -> FigValue {
    match (kind(path), raw.trim().parse::<u64>()) {
        (N, Ok(n)) => FigValue::from(n),
        _ => FigValue::from(raw.to_owned()),
    }
}

/// An old `blob_dir` (a directory or `memory:`) as an object store URL.
fn blob_dir_url(v: &str) -> String {
    if v == "memory:" || v.contains("://") { v.to_owned() } else { format!("file://{v}") }
}

/// Moves the old flat keys of a TOML file to their new places (so one
/// extraction checks everything, and unknown keys still fail by name).
fn lift_aliases(mut dict: figment::value::Dict) -> Result<figment::value::Dict, ConfigError> {
    let mut lifted = Vec::new();
    for (old, new) in ALIASES {
        let Some(v) = dict.get(*old) else { continue };
        // `jobs` as a table is the new section, not the old list.
        if *old == "jobs" && v.as_dict().is_some() {
            continue;
        }
        let v = dict.remove(*old).unwrap_or(FigValue::from(""));
        let v = match (*old, v.as_str()) {
            ("blob_dir", Some(s)) => FigValue::from(blob_dir_url(s)),
            _ => v,
        };
        lifted.push((*new, v));
    }
    for (path, v) in lifted {
        let (section, key) = path.split_once('.').unwrap_or(("", path));
        if section.is_empty() {
            dict.insert(key.to_owned(), v);
            continue;
        }
        let table = dict.entry(section.to_owned()).or_insert_with(|| FigValue::from(figment::value::Dict::new()));
        match table {
            FigValue::Dict(_, d) => {
                d.insert(key.to_owned(), v);
            }
            _ => return Err(ConfigError::Invalid(format!("{section}: expected a table"))),
        }
    }
    Ok(dict)
}

impl Config {
    /// Loads `./agora.toml` (if present, or the file named by
    /// `AGORA_CONFIG`) under the process environment.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the offending key.
    pub fn load() -> Result<Config, ConfigError> {
        let file = std::env::var_os("AGORA_CONFIG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("agora.toml"));
        Self::load_from(Some(&file), std::env::vars())
    }

    /// Loads from an optional TOML file and the given environment.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the offending key.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |e: figment::Error| ConfigError::Invalid(e.to_string());
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file
            && path.exists()
        {
            let dict = Figment::from(Toml::file_exact(path)).extract::<figment::value::Dict>().map_err(invalid)?;
            figment = figment.merge(Serialized::defaults(lift_aliases(dict)?));
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        // Old names first, so the new name wins when both are set.
        for (old, new) in ALIASES {
            if let Some((_, v)) = env.iter().find(|(k, _)| *k == env_name(old)) {
                let v = if *old == "blob_dir" { blob_dir_url(v) } else { v.clone() };
                figment = figment.merge(Serialized::default(new, env_value(new, &v)));
            }
        }
        for (path, _) in KEYS {
            if let Some((_, v)) = env.iter().find(|(k, _)| *k == env_name(path)) {
                figment = figment.merge(Serialized::default(path, env_value(path, v)));
            }
        }
        let config: Config = figment.extract().map_err(invalid)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for job in self.job_list() {
            if crate::jobs::Job::parse(&job).is_none() {
                let known = ALL_JOBS.join(", ");
                return Err(ConfigError::Invalid(format!("jobs.run: unknown job {job:?}; known: {known}")));
            }
        }
        if self.job_interval_ms == 0 {
            return Err(ConfigError::Invalid("job_interval_ms: must be at least 1".into()));
        }
        if !(1..=10_000).contains(&self.jobs.batch_size) {
            return Err(ConfigError::Invalid("jobs.batch_size: must be 1..=10000".into()));
        }
        if self.cutover.mode != StorageMode::Single && self.cutover.secondary_database_url.is_none() {
            return Err(ConfigError::Invalid("cutover.mode: needs cutover.secondary_database_url".into()));
        }
        // A super admin key is a bearer credential for every store: too short
        // to resist guessing is refused at start, not discovered later.
        if let Some(key) = &self.admin_key
            && key.chars().count() < MIN_ADMIN_KEY_CHARS
        {
            return Err(ConfigError::Invalid(format!(
                "admin_key: at least {MIN_ADMIN_KEY_CHARS} characters (leave it unset to have one generated)"
            )));
        }
        if self.domain.max_concurrent_password_hashes == 0 {
            return Err(ConfigError::Invalid("domain.max_concurrent_password_hashes: at least 1".into()));
        }
        if self.http.header_read_timeout_ms == 0 || self.http.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "http.header_read_timeout_ms and http.max_connections: at least 1".into(),
            ));
        }
        if self.max_upload_bytes == 0 {
            return Err(ConfigError::Invalid("max_upload_bytes: at least 1".into()));
        }
        if self.postgres.max_group == 0 || self.postgres.max_connections == 0 {
            return Err(ConfigError::Invalid("postgres.max_group and postgres.max_connections: at least 1".into()));
        }
        Ok(())
    }

    /// The jobs to run.
    pub fn job_list(&self) -> Vec<String> {
        self.jobs.run.split(',').map(str::trim).filter(|j| !j.is_empty()).map(str::to_owned).collect()
    }

    /// Where files go by this process's own settings: `object_store_url`,
    /// or `file://<data_dir>/blobs` with the directory made absolute (so
    /// the URL means the same from any working directory).
    pub fn object_store(&self) -> String {
        match &self.object_store_url {
            Some(url) => url.clone(),
            None => {
                let dir = self.data_dir.join("blobs");
                let dir = std::path::absolute(&dir).unwrap_or(dir);
                format!("file://{}", dir.display())
            }
        }
    }
}

#[cfg(test)]
mod tests;
