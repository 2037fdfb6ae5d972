//! How to reach the database and how to use it: [`PgConfig`], readable from
//! a configuration file (`[postgres]`) and from a URL's own parameters.

use std::fmt;
use std::time::Duration;

use agora_core::StoreError;
use serde::Deserialize;

use crate::StoreResult;

/// Default [`PgConfig::max_group`].
pub const DEFAULT_MAX_GROUP: usize = 64;

/// URL parameters agora reads itself (and removes before the URL reaches
/// sqlx or the PostgreSQL tools), overriding the configured defaults.
const URL_PARAMS: [&str; 3] = ["max_connections", "max_group", "acquire_timeout_ms"];

/// How to reach and use the database. Deserializable (unknown keys are
/// refused), so a runtime can expose it as a `[postgres]` section; every
/// field has a default. `Debug` never shows the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgConfig {
    /// A `postgres://user:password@host:port/database?sslmode=...` URL.
    pub url: String,
    /// Pool size (default 16).
    pub max_connections: u32,
    /// How long a caller waits for a pooled connection before `Unavailable`
    /// (default 5 s; `acquire_timeout_ms` in configuration).
    #[serde(rename = "acquire_timeout_ms", deserialize_with = "millis")]
    pub acquire_timeout: Duration,
    /// Group commit: at most this many changesets share one transaction
    /// (default 64; 1 turns group commit off: one transaction per changeset).
    /// The committer keeps up to 4 connections of its own besides the pool.
    pub max_group: usize,
}

fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            max_group: DEFAULT_MAX_GROUP,
        }
    }
}

impl PgConfig {
    /// A config for `url` with the default pool size, timeout and grouping.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Self::default() }
    }

    /// A config for `url`, taking `max_connections`, `max_group` and
    /// `acquire_timeout_ms` from the URL's parameters when it sets them
    /// (they are removed from the URL) and from `defaults` otherwise.
    ///
    /// # Errors
    /// [`StoreError::Schema`] for a URL that is not `postgres://` or
    /// `postgresql://`, or a parameter that is not a number.
    pub fn from_url(url: &str, defaults: &PgConfig) -> StoreResult<PgConfig> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Schema(format!(
                "a PostgreSQL URL starts with postgres:// or postgresql://, not {}",
                redact_url(url)
            )));
        }
        let mut config = PgConfig { url: String::new(), ..defaults.clone() };
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !URL_PARAMS.contains(&key) {
                kept.push(pair);
                continue;
            }
            let number: u64 = value.parse().map_err(|_| {
                StoreError::Schema(format!("PostgreSQL URL parameter {key}={value:?} is not a whole number"))
            })?;
            let bad = |_| StoreError::Schema(format!("PostgreSQL URL parameter {key}={value} is too large"));
            match key {
                "max_connections" => config.max_connections = u32::try_from(number).map_err(bad)?,
                "max_group" => config.max_group = usize::try_from(number).map_err(bad)?,
                _ => config.acquire_timeout = Duration::from_millis(number),
            }
        }
        config.url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        Ok(config)
    }
}

/// The URL with its password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match split_password(url) {
        (_, None) => url.to_owned(),
        (clean, Some(_)) => {
            let (scheme, rest) = clean.split_at(clean.find("://").map_or(0, |i| i + 3));
            let at = rest.find('@').unwrap_or(0);
            format!("{scheme}{}:***{}", &rest[..at], &rest[at..])
        }
    }
}

/// `postgres://user:pass@host/db` -> (`postgres://user@host/db`, `pass`
/// percent-decoded), so tools get the password in `PGPASSWORD` rather than
/// on their command line.
pub(crate) fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return (url.to_owned(), None) };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return (url.to_owned(), None) };
    match rest[..at].split_once(':') {
        Some((user, password)) => {
            (format!("{}{user}{}", &url[..scheme_end], &rest[at..]), Some(percent_decode(password)))
        }
        None => (url.to_owned(), None),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("max_group", &self.max_group)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://u:p@ss@h/db?x=@"), "postgres://u:***@h/db?x=@");
        let c = PgConfig::new("postgres://u:hunter2@h/db");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            split_password("postgres://u:a%40b@h:5/db"),
            ("postgres://u@h:5/db".to_owned(), Some("a@b".to_owned()))
        );
    }

    #[test]
    fn url_parameters_override_the_defaults_and_are_removed() {
        let defaults = PgConfig { max_group: 8, ..PgConfig::default() };
        let c = PgConfig::from_url("postgres://h/db?sslmode=disable&max_group=1&max_connections=3", &defaults).unwrap();
        assert_eq!((c.url.as_str(), c.max_group, c.max_connections), ("postgres://h/db?sslmode=disable", 1, 3));
        let c = PgConfig::from_url("postgresql://h/db?acquire_timeout_ms=250", &defaults).unwrap();
        assert_eq!((c.url.as_str(), c.max_group), ("postgresql://h/db", 8));
        assert_eq!(c.acquire_timeout, Duration::from_millis(250));
        assert!(PgConfig::from_url("postgres://h/db?max_group=many", &defaults).is_err());
        assert!(PgConfig::from_url("sqlite://x.db", &defaults).is_err());
    }

    #[test]
    fn the_config_deserializes_and_refuses_unknown_keys() {
        let c: PgConfig = serde_json::from_str(r#"{"max_group": 1, "acquire_timeout_ms": 1500}"#).unwrap();
        assert_eq!((c.max_group, c.max_connections), (1, 16));
        assert_eq!(c.acquire_timeout, Duration::from_millis(1500));
        let e = serde_json::from_str::<PgConfig>(r#"{"max_grup": 1}"#).unwrap_err().to_string();
        assert!(e.contains("max_grup"), "{e}");
    }
}
