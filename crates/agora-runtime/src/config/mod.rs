//! Configuration: environment variables over `agora.toml` over defaults
//! (figment). Every key of `agora.toml` must be known: an unknown key is an
//! error naming it. From the environment only `AGORA_*` variables with a
//! known name are read, so unrelated variables (`AGORA_TEST_POSTGRES_URL`)
//! cannot break a start.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

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
    "partitions",
    "sequence_events",
    "relay_events",
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

/// agora's configuration. Field names are the `agora.toml` keys; the
/// environment variable of each is `AGORA_` + the name in upper case.
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
    /// How often each job rescans, in milliseconds.
    pub job_interval_ms: u64,
    /// Rows per job batch per store.
    pub job_batch_size: u32,
    /// Comma-separated jobs to run (default: all).
    pub jobs: String,
    /// Apply pending migrations at start.
    #[serde(deserialize_with = "on_off")]
    pub migrate: bool,
    /// Where generated secrets and export files live.
    pub data_dir: PathBuf,
    /// Export files: a local directory path, or `memory:`.
    pub blob_dir: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Per-request timeout in milliseconds.
    pub request_timeout_ms: u64,
    /// Requests per minute per client IP (0 disables).
    pub rate_limit_per_minute: u32,
    /// PostgreSQL pool size.
    pub pg_max_connections: u32,
    /// `single`, `dual_write` or `shadow_read`.
    pub storage_mode: StorageMode,
    /// The secondary store of a cutover.
    pub secondary_database_url: Option<String>,
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
            job_interval_ms: 1000,
            job_batch_size: 100,
            jobs: ALL_JOBS.join(","),
            migrate: true,
            data_dir: PathBuf::from("."),
            blob_dir: None,
            log_format: LogFormat::Text,
            request_timeout_ms: 10_000,
            rate_limit_per_minute: 0,
            pg_max_connections: 16,
            storage_mode: StorageMode::Single,
            secondary_database_url: None,
        }
    }
}

/// Hides secrets and URL passwords.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("Config")
            .field("database_url", &agora_redis::redact_url(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(agora_redis::redact_url))
            .field("listen", &self.listen)
            .field("admin_key", &hide(&self.admin_key))
            .field("webhook_secret", &hide(&self.webhook_secret))
            .field("secret_keys", &hide(&self.secret_keys))
            .field("worker", &self.worker)
            .field("job_interval_ms", &self.job_interval_ms)
            .field("job_batch_size", &self.job_batch_size)
            .field("jobs", &self.jobs)
            .field("migrate", &self.migrate)
            .field("data_dir", &self.data_dir)
            .field("blob_dir", &self.blob_dir)
            .field("log_format", &self.log_format)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("pg_max_connections", &self.pg_max_connections)
            .field("storage_mode", &self.storage_mode)
            .field("secondary_database_url", &self.secondary_database_url.as_deref().map(agora_redis::redact_url))
            .finish()
    }
}

/// The configuration keys, as read from `AGORA_<KEY>`.
pub const KEYS: &[&str] = &[
    "database_url",
    "redis_url",
    "listen",
    "admin_key",
    "webhook_secret",
    "secret_keys",
    "worker",
    "job_interval_ms",
    "job_batch_size",
    "jobs",
    "migrate",
    "data_dir",
    "blob_dir",
    "log_format",
    "request_timeout_ms",
    "rate_limit_per_minute",
    "pg_max_connections",
    "storage_mode",
    "secondary_database_url",
];

/// The keys whose values are numbers.
const NUMERIC_KEYS: &[&str] =
    &["job_interval_ms", "job_batch_size", "request_timeout_ms", "rate_limit_per_minute", "pg_max_connections"];

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
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file
            && path.exists()
        {
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only known AGORA_* names; values are parsed like TOML scalars.
        let mut dict = figment::value::Dict::new();
        for (k, v) in env {
            let Some(name) = k.strip_prefix("AGORA_") else { continue };
            let name = name.to_ascii_lowercase();
            if KEYS.contains(&name.as_str()) {
                // Numeric keys arrive as text; a malformed number stays text
                // so the error names the key.
                let value = match v.trim().parse::<u64>() {
                    Ok(n) if NUMERIC_KEYS.contains(&name.as_str()) => figment::value::Value::from(n),
                    _ => figment::value::Value::from(v),
                };
                dict.insert(name, value);
            }
        }
        figment = figment.merge(Serialized::defaults(dict));
        let config: Config = figment.extract().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for job in self.jobs.split(',').map(str::trim).filter(|j| !j.is_empty()) {
            if !ALL_JOBS.contains(&job) {
                return Err(ConfigError::Invalid(format!("jobs: unknown job {job:?}; known: {}", ALL_JOBS.join(", "))));
            }
        }
        if self.job_interval_ms == 0 {
            return Err(ConfigError::Invalid("job_interval_ms: must be at least 1".into()));
        }
        if !(1..=10_000).contains(&self.job_batch_size) {
            return Err(ConfigError::Invalid("job_batch_size: must be 1..=10000".into()));
        }
        if self.storage_mode != StorageMode::Single && self.secondary_database_url.is_none() {
            return Err(ConfigError::Invalid("storage_mode: needs secondary_database_url".into()));
        }
        Ok(())
    }

    /// The jobs to run.
    pub fn job_list(&self) -> Vec<String> {
        self.jobs.split(',').map(str::trim).filter(|j| !j.is_empty()).map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::load_from(None, env(&[])).unwrap();
        assert_eq!(c.database_url, "sqlite://agora.db");
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(c.worker && c.migrate);
        assert_eq!(c.job_interval_ms, 1000);
        assert!(c.redis_url.is_none());
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agora.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\nworker = \"off\"\njob_interval_ms = 250\n").unwrap();
        let c = Config::load_from(
            Some(&file),
            env(&[("AGORA_LISTEN", "127.0.0.1:7000"), ("AGORA_TEST_POSTGRES_URL", "x")]),
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000");
        assert!(!c.worker);
        assert_eq!(c.job_interval_ms, 250);
        let c =
            Config::load_from(Some(&file), env(&[("AGORA_WORKER", "on"), ("AGORA_DATABASE_URL", "memory:")])).unwrap();
        assert!(c.worker);
        assert_eq!(c.database_url, "memory:");
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agora.toml");
        std::fs::write(&file, "databse_url = \"memory:\"\n").unwrap();
        let err = Config::load_from(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(err.contains("databse_url"), "{err}");
        let err = Config::load_from(None, env(&[("AGORA_WORKER", "maybe")])).unwrap_err().to_string();
        assert!(err.contains("worker"), "{err}");
        let err = Config::load_from(None, env(&[("AGORA_JOBS", "expire_orders,nope")])).unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        let err = Config::load_from(None, env(&[("AGORA_JOB_BATCH_SIZE", "many")])).unwrap_err().to_string();
        assert!(err.contains("job_batch_size"), "{err}");
    }

    #[test]
    fn numbers_from_the_environment() {
        let c = Config::load_from(
            None,
            env(&[("AGORA_JOB_BATCH_SIZE", "20"), ("AGORA_JOB_INTERVAL_MS", "10"), ("AGORA_PG_MAX_CONNECTIONS", "4")]),
        )
        .unwrap();
        assert_eq!((c.job_batch_size, c.job_interval_ms, c.pg_max_connections), (20, 10, 4));
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Config::load_from(
            None,
            env(&[("AGORA_ADMIN_KEY", "super-secret-admin"), ("AGORA_DATABASE_URL", "postgres://u:hunter2@db/agora")]),
        )
        .unwrap();
        let s = format!("{c:?}");
        assert!(!s.contains("super-secret-admin") && !s.contains("hunter2"), "{s}");
    }
}
