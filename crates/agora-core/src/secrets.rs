//! Secrets: the versioned AEAD keyring for secrets at rest, random tokens
//! stored only as hashes, masking for logs, argon2 passwords and the
//! webhook signature check.

use argon2::password_hash::{PasswordHash, PasswordVerifier, SaltString};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Entropy;
use crate::error::AgoraError;
use crate::model::SealedSecret;
use crate::ports::PasswordHasher;

/// A 256-bit AEAD key with its version.
#[derive(Clone)]
pub struct SecretKey {
    /// Version recorded next to every secret it seals.
    pub version: u32,
    key: [u8; 32],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(v{}, ***)", self.version)
    }
}

/// Encryption keys for secrets at rest. The first key seals; every key can
/// open what it sealed, so keys rotate by prepending a new one and running
/// `keys rotate` to re-seal old secrets.
#[derive(Clone, Debug)]
pub struct Keyring {
    keys: Vec<SecretKey>,
}

impl Keyring {
    /// Parses `version:base64key,...` (the `AGORA_SECRET_KEYS` format).
    ///
    /// # Errors
    /// [`AgoraError::Validation`] on a malformed entry, a key that is not 32
    /// bytes, a duplicate version or an empty list.
    pub fn parse(spec: &str) -> Result<Self, AgoraError> {
        let mut keys = Vec::new();
        for (i, part) in spec.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let field = format!("AGORA_SECRET_KEYS[{i}]");
            let (version, b64) =
                part.split_once(':').ok_or_else(|| AgoraError::validation(&field, "expected version:base64key"))?;
            let version: u32 =
                version.parse().map_err(|_| AgoraError::validation(&field, "version must be a positive integer"))?;
            let raw = STANDARD
                .decode(b64)
                .or_else(|_| URL_SAFE_NO_PAD.decode(b64))
                .map_err(|_| AgoraError::validation(&field, "key is not base64"))?;
            let key: [u8; 32] = raw.try_into().map_err(|_| AgoraError::validation(&field, "key must be 32 bytes"))?;
            if keys.iter().any(|k: &SecretKey| k.version == version) {
                return Err(AgoraError::validation(&field, "duplicate key version"));
            }
            keys.push(SecretKey { version, key });
        }
        if keys.is_empty() {
            return Err(AgoraError::validation("AGORA_SECRET_KEYS", "no keys"));
        }
        Ok(Self { keys })
    }

    /// A keyring with one fresh random key of version 1.
    pub fn generate(entropy: &dyn Entropy) -> Self {
        let mut key = [0u8; 32];
        entropy.fill(&mut key);
        Self { keys: vec![SecretKey { version: 1, key }] }
    }

    /// Formats the keyring as `version:base64key,...`.
    pub fn to_spec(&self) -> String {
        self.keys.iter().map(|k| format!("{}:{}", k.version, STANDARD.encode(k.key))).collect::<Vec<_>>().join(",")
    }

    /// The version new secrets are sealed with.
    pub fn current_version(&self) -> u32 {
        self.keys[0].version
    }

    /// Encrypts `plaintext` under the current key with a random nonce.
    pub fn seal(&self, plaintext: &str, entropy: &dyn Entropy) -> SealedSecret {
        let key = &self.keys[0];
        let cipher = XChaCha20Poly1305::new((&key.key).into());
        let mut nonce = [0u8; 24];
        entropy.fill(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail.
        let ct = cipher.encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes()).unwrap_or_default();
        out.extend_from_slice(&ct);
        SealedSecret { key_version: key.version, ciphertext: out }
    }

    /// Decrypts a sealed secret with the key of its version.
    ///
    /// # Errors
    /// [`AgoraError::Internal`] when the key version is unknown or the
    /// ciphertext was tampered with.
    pub fn open(&self, sealed: &SealedSecret) -> Result<String, AgoraError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.version == sealed.key_version)
            .ok_or_else(|| AgoraError::Internal(format!("no key of version {}", sealed.key_version)))?;
        if sealed.ciphertext.len() < 24 {
            return Err(AgoraError::Internal("sealed secret too short".into()));
        }
        let (nonce, ct) = sealed.ciphertext.split_at(24);
        let cipher = XChaCha20Poly1305::new((&key.key).into());
        let pt = cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| AgoraError::Internal("secret failed authentication".into()))?;
        String::from_utf8(pt).map_err(|_| AgoraError::Internal("secret is not UTF-8".into()))
    }

    /// Re-seals a secret under the current key when an older key sealed it.
    ///
    /// # Errors
    /// As [`Keyring::open`].
    pub fn reseal(&self, sealed: &SealedSecret, entropy: &dyn Entropy) -> Result<Option<SealedSecret>, AgoraError> {
        if sealed.key_version == self.current_version() {
            return Ok(None);
        }
        Ok(Some(self.seal(&self.open(sealed)?, entropy)))
    }
}

/// A new random bearer token `prefix` + 43 base64url characters (256 bits).
pub fn random_token(prefix: &str, entropy: &dyn Entropy) -> String {
    let mut raw = [0u8; 32];
    entropy.fill(&mut raw);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw))
}

/// Hex SHA-256 of a token: what is stored instead of the token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Hex SHA-256 of arbitrary bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A form of a secret safe for logs and audit rows: its first 8 and last 4
/// characters around an ellipsis, or `***` when it is too short to mask.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return "***".to_owned();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Constant-time equality of two byte strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Checks an `Agora-Signature: sha256=<hex>` header against the HMAC-SHA256
/// of the raw body keyed by `secret`, in constant time.
pub fn verify_webhook_signature(secret: &[u8], raw_body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return false;
    };
    mac.update(raw_body);
    mac.verify_slice(&given).is_ok()
}

/// The `Agora-Signature` header value for a body (for clients and tests).
pub fn sign_webhook(secret: &[u8], raw_body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(raw_body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Cost {
    /// OWASP's recommendation for argon2id (19 MiB, 2 passes, 1 lane).
    pub const PRODUCTION: Argon2Cost = Argon2Cost { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };
    /// The cheapest legal cost: for tests only.
    pub const TESTING: Argon2Cost = Argon2Cost { memory_kib: 8, iterations: 1, parallelism: 1 };
}

/// Argon2id passwords, computed inline on the calling thread.
#[derive(Clone, Debug)]
pub struct Argon2Passwords {
    cost: Argon2Cost,
}

impl Argon2Passwords {
    /// Hashing at `cost`.
    pub fn new(cost: Argon2Cost) -> Self {
        Self { cost }
    }

    fn argon2(&self) -> argon2::Argon2<'static> {
        let params = argon2::Params::new(self.cost.memory_kib, self.cost.iterations, self.cost.parallelism, None)
            .unwrap_or_default();
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
    }

    /// Hashes synchronously.
    ///
    /// # Errors
    /// [`AgoraError::Internal`] if argon2 refuses the input.
    pub fn hash_sync(&self, password: &str, salt: [u8; 16]) -> Result<String, AgoraError> {
        use argon2::password_hash::PasswordHasher as _;
        let salt = SaltString::encode_b64(&salt).map_err(|e| AgoraError::Internal(e.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AgoraError::Internal(e.to_string()))
    }

    /// Verifies synchronously; the cost is read from the hash itself.
    pub fn verify_sync(&self, password: &str, hash: &str) -> bool {
        PasswordHash::new(hash)
            .map(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    }
}

#[async_trait]
impl PasswordHasher for Argon2Passwords {
    async fn hash(&self, password: &str, salt: [u8; 16]) -> Result<String, AgoraError> {
        self.hash_sync(password, salt)
    }

    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AgoraError> {
        Ok(self.verify_sync(password, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededEntropy;

    #[test]
    fn keyring_seals_opens_and_rotates() {
        let e = SeededEntropy::new(1);
        let old = Keyring::generate(&e);
        let sealed = old.seal("shpat_secret", &e);
        assert_eq!(sealed.key_version, 1);
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("shpat_secret"));
        assert_eq!(old.open(&sealed).unwrap(), "shpat_secret");

        let new_key = STANDARD.encode([9u8; 32]);
        let rotated = Keyring::parse(&format!("2:{new_key},{}", old.to_spec())).unwrap();
        let resealed = rotated.reseal(&sealed, &e).unwrap().unwrap();
        assert_eq!(resealed.key_version, 2);
        assert_eq!(rotated.open(&resealed).unwrap(), "shpat_secret");
        assert!(rotated.reseal(&resealed, &e).unwrap().is_none());
        assert!(old.open(&resealed).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let e = SeededEntropy::new(2);
        let k = Keyring::generate(&e);
        let mut sealed = k.seal("x", &e);
        let last = sealed.ciphertext.len() - 1;
        sealed.ciphertext[last] ^= 1;
        assert!(k.open(&sealed).is_err());
    }

    #[test]
    fn keyring_parse_rejects_bad_specs() {
        assert!(Keyring::parse("").is_err());
        assert!(Keyring::parse("1:notbase64!").is_err());
        assert!(Keyring::parse(&format!("1:{}", STANDARD.encode([1u8; 16]))).is_err());
        let k = STANDARD.encode([1u8; 32]);
        assert!(Keyring::parse(&format!("1:{k},1:{k}")).is_err());
    }

    #[test]
    fn webhook_signature_roundtrip() {
        let body = br#"{"event_id":"e1"}"#;
        let sig = sign_webhook(b"secret", body);
        assert!(verify_webhook_signature(b"secret", body, Some(&sig)));
        assert!(!verify_webhook_signature(b"other", body, Some(&sig)));
        assert!(!verify_webhook_signature(b"secret", b"{}", Some(&sig)));
        assert!(!verify_webhook_signature(b"secret", body, None));
        assert!(!verify_webhook_signature(b"secret", body, Some("sha256=zz")));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let p = Argon2Passwords::new(Argon2Cost::TESTING);
        let h = p.hash_sync("correct horse", [7; 16]).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        assert!(p.verify_sync("correct horse", &h));
        assert!(!p.verify_sync("wrong horse", &h));
    }

    #[test]
    fn mask_hides_the_middle() {
        let t = "agk_0123456789abcdefXYZW";
        assert_eq!(mask(t), "agk_0123…XYZW");
        assert_eq!(mask("short"), "***");
    }
}
