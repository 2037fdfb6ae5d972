//! Outgoing webhooks without I/O: the request agora sends, the port that
//! sends it, the signature, the retry schedule and the address rules of the
//! SSRF guard. The runtime's sender does the network part.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a receiver has to answer.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// First retry delay (before jitter).
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest retry delay (before jitter).
pub const LONGEST_RETRY: Duration = Duration::from_secs(3600);
/// An endpoint failing this long is disabled.
pub const DISABLE_AFTER: time::Duration = time::Duration::days(3);

/// One signed POST to an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingWebhook {
    /// The endpoint's URL.
    pub url: String,
    /// Headers (`Content-Type`, `Agora-Event-Id`, `Agora-Delivery-Id`, `Agora-Signature`).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body, exactly as signed.
    pub body: Vec<u8>,
}

/// What an attempt got back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookAnswer {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: refused target, connection error, timeout (in words safe
    /// to show the store's admins).
    Error(String),
}

impl WebhookAnswer {
    /// A 2xx answer: delivered.
    pub fn delivered(&self) -> bool {
        matches!(self, WebhookAnswer::Status(200..=299))
    }

    /// A 4xx other than 408 and 429: the receiver refuses this delivery
    /// for good; retrying will not help.
    pub fn refused(&self) -> bool {
        matches!(self, WebhookAnswer::Status(s @ 400..=499) if *s != 408 && *s != 429)
    }
}

/// Sends outgoing webhooks. The runtime's sender speaks HTTP with a
/// [`DELIVERY_TIMEOUT`], follows no redirects, and refuses targets
/// [`refused_address`] names (unless configured to allow private ones),
/// checked on every resolved address at send time.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// Checks a URL before an endpoint is saved with it.
    ///
    /// # Errors
    /// Why the target is refused (a private address, a name that does not
    /// resolve, a malformed URL), in words for a 422.
    async fn check_target(&self, url: &str) -> Result<(), String>;

    /// Sends one request and reports what came back; never panics, never
    /// retries (the caller schedules retries).
    async fn send(&self, request: &OutgoingWebhook) -> WebhookAnswer;
}

/// A sender for deployments without one: targets are checked with the rules
/// core can apply without a network (the URL's form, an address literal
/// against [`refused_address`]), and nothing is sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoWebhookSender {
    /// Accept private address literals (`AGORA_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
}

#[async_trait]
impl WebhookSender for NoWebhookSender {
    async fn check_target(&self, url: &str) -> Result<(), String> {
        check_url_form(url, self.allow_private)
    }

    async fn send(&self, _request: &OutgoingWebhook) -> WebhookAnswer {
        WebhookAnswer::Error("this deployment sends no webhooks (no sender configured)".into())
    }
}

/// Checks the parts of an endpoint URL that need no network: `http` or
/// `https`, a host, no credentials, and a literal address that
/// [`refused_address`] accepts (unless `allow_private`).
///
/// # Errors
/// What is wrong, in words for a 422.
pub fn check_url_form(url: &str, allow_private: bool) -> Result<(), String> {
    let host = url_host(url)?;
    if let Some(ip) = literal_ip(&host)
        && !allow_private
        && let Some(why) = refused_address(ip)
    {
        return Err(format!("{ip} is a {why} address"));
    }
    Ok(())
}

/// The host of an endpoint URL, lower-cased, after checking the URL's
/// form: `http://` or `https://`, a host name of letters, digits and
/// hyphens whose last label starts with a letter, or an IPv4 address; an
/// optional port 1..=65535; then a path, query or fragment without white
/// space or control characters. (IPv6 literals and credentials are not
/// accepted; `/openapi.json` states the same pattern.)
///
/// # Errors
/// What is wrong, in words for a 422.
pub fn url_host(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "must start with http:// or https://".to_owned())?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if tail.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain white space or control characters".into());
    }
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if let Some(p) = port {
        let valid = !p.is_empty()
            && !p.starts_with('0')
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !valid {
            return Err("has a port that is not 1 to 65535".into());
        }
    }
    if host.parse::<Ipv4Addr>().is_ok() && host.split('.').all(|o| o == "0" || !o.starts_with('0')) {
        return Ok(host.to_owned());
    }
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let last_ok = labels.last().is_some_and(|l| l.as_bytes().first().is_some_and(u8::is_ascii_alphabetic));
    if host.is_empty() || !labels.iter().all(label_ok) || !last_ok {
        return Err(
            "must name a host (letters, digits, hyphens; the last label starting with a letter) or an IPv4 address"
                .into(),
        );
    }
    Ok(host.to_ascii_lowercase())
}

fn literal_ip(host: &str) -> Option<IpAddr> {
    host.parse::<IpAddr>().ok()
}

/// Why an address may not be a webhook target, or `None` when it may:
/// loopback, private (RFC 1918, IPv6 unique local), link-local, shared
/// (CGNAT), unspecified, broadcast, multicast, documentation and
/// IPv4-mapped forms of those.
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("multicast or reserved")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast or reserved")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation")
    } else {
        None
    }
}

/// The `Agora-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>" keyed by the endpoint's secret>` (Stripe's scheme: the
/// timestamp inside the signature lets receivers refuse replays).
pub fn sign_outgoing(secret: &[u8], unix_seconds: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac key");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={unix_seconds},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `attempts + 1` after `attempts` failed ones:
/// 1 s doubling up to 1 h, times `jitter` (drawn from `0.5..=1.0`), so
/// receivers that fail together are not retried together.
pub fn retry_delay(attempts: i64, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let base = FIRST_RETRY.saturating_mul(1 << doublings).min(LONGEST_RETRY);
    base.mul_f64(jitter.clamp(0.5, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(refused_address(ip.parse().unwrap()).is_some(), "{ip} must be refused");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1", "172.32.0.1"] {
            assert_eq!(refused_address(ip.parse().unwrap()), None, "{ip} is public");
        }
    }

    #[test]
    fn url_forms() {
        assert_eq!(url_host("https://Example.com:8443/hook?x=1").unwrap(), "example.com");
        assert_eq!(url_host("http://10.0.0.1").unwrap(), "10.0.0.1");
        for bad in [
            "ftp://example.com",
            "https://user:pw@example.com/",
            "https:///path",
            "http://[::1]:80/",
            "http://a.com:0/",
            "http://a.com:65536/",
            "http://a.com:080/",
            "http://a_b.com/",
            "http://1.2.3.4.5/",
            "http://a.com/x y",
            "http://a..com/",
            "http://a.1com/",
        ] {
            assert!(url_host(bad).is_err(), "{bad}");
        }
        assert!(check_url_form("http://127.0.0.1:9/", false).is_err());
        assert!(check_url_form("http://127.0.0.1:9/", true).is_ok());
        assert!(check_url_form("https://hooks.example.com/x", false).is_ok());
    }

    #[test]
    fn retries_double_up_to_an_hour_with_jitter() {
        assert_eq!(retry_delay(1, 1.0), Duration::from_secs(1));
        assert_eq!(retry_delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(retry_delay(5, 1.0), Duration::from_secs(16));
        assert_eq!(retry_delay(13, 1.0), Duration::from_secs(3600));
        assert_eq!(retry_delay(1000, 1.0), Duration::from_secs(3600));
        assert_eq!(retry_delay(3, 0.5), Duration::from_secs(2));
        assert_eq!(retry_delay(3, 0.0), Duration::from_secs(2), "jitter never below half");
    }

    #[test]
    fn signature_matches_the_documented_scheme() {
        // Python: hmac.new(b"secret", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign_outgoing(b"secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert!(WebhookAnswer::Status(204).delivered());
        assert!(WebhookAnswer::Status(410).refused());
        assert!(!WebhookAnswer::Status(429).refused() && !WebhookAnswer::Status(408).refused());
        assert!(!WebhookAnswer::Status(500).refused() && !WebhookAnswer::Status(500).delivered());
    }
}
