//! Registration, login and addresses.

use std::time::Duration as StdDuration;

use crate::catalogue::Record;
use crate::changeset::{Changeset, Guard};
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::ports::RateDecision;
use crate::query::Query;
use crate::reads::Reads;
use crate::secrets::{hash_token, random_token, sha256_hex};
use crate::validate::{Validator, normalize_email, valid_phone};
use crate::views::*;

use super::{Actor, Agora, failed_guard, require_customer};

/// What an erased account's name and address lines become.
const ERASED: &str = "erased";

/// An erased account's password hash: no PHC string, so no password
/// matches it (the `!` of a locked Unix account).
const LOCKED: &str = "!erased";

/// Whether a password hash is [`LOCKED`] (or any `!` lock).
fn is_locked(password_hash: &str) -> bool {
    password_hash.starts_with('!')
}

/// An address with nothing left that locates a person (the country stays,
/// for the stores' tax books).
fn anonymised(a: UserAddress) -> UserAddress {
    UserAddress {
        line1: ERASED.to_owned(),
        city: ERASED.to_owned(),
        postal_code: ERASED.to_owned(),
        address_hash: sha256_hex(format!("erased:{}", a.id.0).as_bytes()),
        ..a
    }
}

/// A valid argon2id hash of a random password, verified against when the
/// email is unknown so a login takes as long whether or not the user exists.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Yh0bUVz4SfRWW1QYZ9/S3NtxpLDOQW7nDd6gGGyZ/Ts";

impl Agora {
    /// Registers a customer. The password is stored only as an argon2id hash.
    ///
    /// # Errors
    /// `validation` (bad email, password under 8 characters, ...);
    /// `conflict` when the email is taken.
    pub async fn register_user(&self, req: NewUser) -> Result<UserView, AgoraError> {
        let mut v = Validator::new();
        v.text("name", &req.name, 1, 200);
        let email = normalize_email(&req.email);
        v.check(email.is_some(), "email", "must be a valid email address");
        let pw_len = req.password.chars().count();
        v.check(pw_len >= 8, "password", "must be at least 8 characters");
        v.check(pw_len <= 1024, "password", "must be at most 1024 characters");
        if let Some(p) = &req.phone {
            v.check(valid_phone(p), "phone", "must be 6 to 15 digits, optionally after +");
        }
        v.finish()?;
        let email = email.unwrap_or_default();
        if self.store.get_user_by_email(&email).await?.is_some() {
            return Err(AgoraError::conflict("email is already registered"));
        }
        let mut salt = [0u8; 16];
        self.entropy.fill(&mut salt);
        let password_hash = self.passwords.hash(&req.password, salt).await?;
        let user = AppUser {
            id: UserId(self.new_uuid()),
            name: req.name.trim().to_owned(),
            email: email.clone(),
            phone: req.phone.clone(),
            password_hash,
            created_at: self.now(),
        };
        let mut cs = Changeset::new();
        cs.guard(guards::email_free(&email)).insert(Record::User(user.clone()));
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(UserView { id: user.id.0, name: user.name, email: user.email, created_at: user.created_at }),
            Err(e) if failed_guard(&e).is_some() => Err(AgoraError::conflict("email is already registered")),
            Err(e) => Err(e.into()),
        }
    }

    /// Logs a customer in: a new session token, stored only as a hash.
    /// More than the configured failures per minute for one email is 429,
    /// without checking the password: each attempt is counted before its
    /// check (and given back when it succeeds), so a burst gets no more
    /// guesses checked than the limit.
    ///
    /// # Errors
    /// `unauthorized` for a wrong email or password; `rate_limited`.
    pub async fn login(&self, req: Login) -> Result<SessionCreated, AgoraError> {
        self.login_from(req, None).await
    }

    /// [`Agora::login`] from the client address `client_ip`, which has a
    /// budget of its own (`login_failures_per_ip_per_minute`): spraying one
    /// password over many emails from one address is limited too.
    ///
    /// # Errors
    /// As [`Agora::login`].
    pub async fn login_from(&self, req: Login, client_ip: Option<&str>) -> Result<SessionCreated, AgoraError> {
        let email = normalize_email(&req.email).unwrap_or_else(|| req.email.trim().to_lowercase());
        let window = StdDuration::from_secs(60);
        // Every attempt takes its place in the failure budgets *before* its
        // password is checked, and gives it back when the password was
        // right (or could not be checked): counted after the check, a burst
        // sent at once would have every guess checked while the count was
        // still low.
        let mut taken: Vec<String> = Vec::with_capacity(2);
        let budgets = [
            client_ip.map(|ip| {
                let bucket = address_bucket(ip);
                (format!("login-ip:{bucket}"), self.config.login_failures_per_ip_per_minute, format!("ip:{bucket}"))
            }),
            Some((
                format!("login:{}", sha256_hex(email.as_bytes())),
                self.config.login_failures_per_minute,
                format!("email:{}", email.chars().take(254).collect::<String>()),
            )),
        ];
        for (key, limit, subject) in budgets.into_iter().flatten() {
            if let RateDecision::Limited { retry_after } = self.limiter.hit(&key, limit, window).await? {
                for earlier in &taken {
                    self.limiter.refund(earlier).await?;
                }
                self.record_security_event("login.rate_limited", &subject, client_ip).await;
                return Err(AgoraError::RateLimited { retry_after });
            }
            taken.push(key);
        }
        let checked = async {
            let user = self.store.get_user_by_email(&email).await?;
            // An erased account is locked: checked against the dummy hash
            // (same time as any other) and never right.
            let user = user.filter(|u| !is_locked(&u.password_hash));
            let hash = user.as_ref().map_or(DUMMY_HASH, |u| u.password_hash.as_str());
            let right = self.passwords.verify(&req.password, hash).await?;
            Ok::<_, AgoraError>(user.filter(|_| right))
        }
        .await;
        // Only a checked wrong password keeps its place; a right one, or an
        // attempt that could not be checked (store or hasher unavailable),
        // gives it back. A failed refund only leaves one extra count.
        if !matches!(checked, Ok(None)) {
            for key in &taken {
                let _ = self.limiter.refund(key).await;
            }
        }
        let Some(user) = checked? else {
            return Err(AgoraError::Unauthorized);
        };
        let token = random_token(crate::SESSION_TOKEN_PREFIX, self.entropy.as_ref());
        let now = self.now();
        let session = Session {
            id: SessionId(self.new_uuid()),
            user_id: user.id,
            token_hash: hash_token(&token),
            created_at: now,
            expires_at: now + self.config.session_ttl,
        };
        let mut cs = Changeset::new();
        // Only while the password checked is still the account's: an account
        // erased (or a password changed) during the check gets no session.
        cs.guard(Guard::row_is::<AppUser>(user.id, &[("password_hash", user.password_hash.clone().into())]))
            .insert(Record::Session(session.clone()));
        match self.apply_changeset(cs).await {
            Ok(()) => {}
            Err(e) if failed_guard(&e).is_some() => return Err(AgoraError::Unauthorized),
            Err(e) => return Err(e.into()),
        }
        Ok(SessionCreated { token, user_id: user.id.0, expires_at: session.expires_at })
    }

    /// Ends a session (logout).
    ///
    /// # Errors
    /// `unauthorized` for an unknown token.
    pub async fn logout(&self, token: &str) -> Result<(), AgoraError> {
        let s = self.store.get_session_by_hash(&hash_token(token)).await?.ok_or(AgoraError::Unauthorized)?;
        let mut cs = Changeset::new();
        cs.delete::<Session>(s.id);
        self.apply_changeset(cs).await?;
        Ok(())
    }

    /// Erases the calling customer's account (`DELETE /v1/users/me`), after
    /// checking their password: in one commit the name, email, phone and
    /// password become anonymous values (the email can register again),
    /// every address is anonymised (country kept, for the stores' tax
    /// books), the account is locked (no password opens it, no address or
    /// session can be added), every session ends, the security events naming the email go,
    /// and an `account.erased` security event records it. Orders, payments
    /// and ledger rows stay, with the user id, for the stores' books. A wrong
    /// password counts against the email's login limit.
    ///
    /// # Errors
    /// `unauthorized` (no customer, or a wrong password); `rate_limited`.
    pub async fn erase_account(
        &self,
        actor: &Actor,
        req: EraseAccount,
        client_ip: Option<&str>,
    ) -> Result<(), AgoraError> {
        let user_id = require_customer(actor)?;
        let user = self.store.get_user(user_id).await?.ok_or(AgoraError::Unauthorized)?;
        if is_locked(&user.password_hash) {
            return Err(AgoraError::Unauthorized);
        }
        // A wrong password here is a guess like a login's: same budget,
        // taken before the check and given back when it was right.
        let budget = format!("login:{}", sha256_hex(user.email.as_bytes()));
        let window = StdDuration::from_secs(60);
        if let RateDecision::Limited { retry_after } =
            self.limiter.hit(&budget, self.config.login_failures_per_minute, window).await?
        {
            self.record_security_event("login.rate_limited", &format!("email:{}", user.email), client_ip).await;
            return Err(AgoraError::RateLimited { retry_after });
        }
        let verified = user.password_hash.clone();
        let right = self.passwords.verify(&req.password, &verified).await;
        if !matches!(right, Ok(false)) {
            let _ = self.limiter.refund(&budget).await;
        }
        if !right? {
            return Err(AgoraError::Unauthorized);
        }
        // Unguessable, so nobody can take the address first and block the
        // erasure on the unique email.
        let mut local = [0u8; 16];
        self.entropy.fill(&mut local);
        let erased_email = format!("erased-{}@erased.invalid", hex::encode(local));
        for _ in 0..self.config.max_attempts {
            let Some(user) = self.store.get_user(user_id).await? else { return Err(AgoraError::Unauthorized) };
            // Erased meanwhile (a second request), or the password changed:
            // the password checked is no longer the account's.
            if user.password_hash != verified {
                return Err(AgoraError::Unauthorized);
            }
            let addresses: Vec<UserAddress> =
                self.store.fetch_all(Query::of::<UserAddress>().eq("user_id", user_id)).await?;
            let sessions: Vec<Session> = self.store.fetch_all(Query::of::<Session>().eq("user_id", user_id)).await?;
            let naming: Vec<SecurityEvent> = self
                .store
                .fetch_all(Query::of::<SecurityEvent>().eq("subject", format!("email:{}", user.email)))
                .await?;
            let now = self.now();
            let mut cs = Changeset::new();
            cs.guard(Guard::row_is::<AppUser>(
                user_id,
                &[("email", user.email.clone().into()), ("password_hash", user.password_hash.clone().into())],
            ))
            .update(Record::User(AppUser {
                name: ERASED.to_owned(),
                email: erased_email.clone(),
                phone: None,
                password_hash: LOCKED.to_owned(),
                ..user.clone()
            }));
            for a in addresses {
                cs.update(Record::Address(anonymised(a)));
            }
            for session in &sessions {
                cs.delete::<Session>(session.id);
            }
            for event in &naming {
                cs.delete::<SecurityEvent>(event.id);
            }
            cs.insert(Record::SecurityEvent(SecurityEvent {
                id: SecurityEventId(self.new_uuid()),
                at: now,
                kind: "account.erased".into(),
                subject: format!("user:{}", user_id.0),
                ip: client_ip.map(str::to_owned),
                once_key: format!("account.erased|{}", user_id.0),
            }));
            match self.apply_changeset(cs).await {
                Ok(()) => return self.sweep_erased(user_id).await,
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(super::too_contended())
    }

    /// After an erasure committed: a login or an address that committed
    /// between the erasure's reads and its commit went by unseen. None can
    /// commit any more (both are guarded on the account's old password hash
    /// or email), so one more look finds every straggler.
    async fn sweep_erased(&self, user_id: UserId) -> Result<(), AgoraError> {
        let sessions: Vec<Session> = self.store.fetch_all(Query::of::<Session>().eq("user_id", user_id)).await?;
        let mut addresses: Vec<UserAddress> =
            self.store.fetch_all(Query::of::<UserAddress>().eq("user_id", user_id)).await?;
        addresses.retain(|a| a.line1 != ERASED);
        if sessions.is_empty() && addresses.is_empty() {
            return Ok(());
        }
        let mut cs = Changeset::new();
        for session in &sessions {
            cs.delete::<Session>(session.id);
        }
        for a in addresses {
            cs.update(Record::Address(anonymised(a)));
        }
        self.apply_changeset(cs).await?;
        Ok(())
    }

    /// Adds a shipping address for the calling customer.
    ///
    /// # Errors
    /// `unauthorized`; `validation`.
    pub async fn add_address(&self, actor: &Actor, req: NewAddress) -> Result<AddressView, AgoraError> {
        let user_id = require_customer(actor)?;
        let mut v = Validator::new();
        v.text("line1", &req.line1, 1, 200);
        v.text("city", &req.city, 1, 100);
        v.text("postal_code", &req.postal_code, 1, 20);
        v.check(
            req.country.len() == 2 && req.country.chars().all(|c| c.is_ascii_uppercase()),
            "country",
            "must be an ISO 3166 alpha-2 code such as DE",
        );
        v.finish()?;
        let canonical = format!(
            "{}|{}|{}|{}",
            req.line1.trim().to_lowercase(),
            req.city.trim().to_lowercase(),
            req.postal_code.trim().to_lowercase().replace(' ', ""),
            req.country
        );
        let a = UserAddress {
            id: AddressId(self.new_uuid()),
            user_id,
            line1: req.line1.trim().to_owned(),
            city: req.city.trim().to_owned(),
            postal_code: req.postal_code.trim().to_owned(),
            country: req.country.clone(),
            address_hash: sha256_hex(canonical.as_bytes()),
            created_at: self.now(),
        };
        // Never onto an erased account, nor onto one erased between this
        // read and the commit (the guard): its addresses are anonymised.
        let user = self.store.get_user(user_id).await?.ok_or(AgoraError::Unauthorized)?;
        if is_locked(&user.password_hash) {
            return Err(AgoraError::Unauthorized);
        }
        let mut cs = Changeset::new();
        cs.guard(Guard::row_is::<AppUser>(user_id, &[("password_hash", user.password_hash.into())]))
            .insert(Record::Address(a.clone()));
        match self.apply_changeset(cs).await {
            Ok(()) => {}
            Err(e) if failed_guard(&e).is_some() => return Err(AgoraError::Unauthorized),
            Err(e) => return Err(e.into()),
        }
        Ok(AddressView {
            id: a.id.0,
            line1: a.line1,
            city: a.city,
            postal_code: a.postal_code,
            country: a.country,
            created_at: a.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHash;

    #[test]
    fn the_dummy_hash_parses_so_unknown_emails_cost_a_full_verify() {
        let parsed = PasswordHash::new(super::DUMMY_HASH).expect("valid PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(
            !crate::secrets::Argon2Passwords::new(crate::secrets::Argon2Cost::TESTING)
                .verify_sync("x", super::DUMMY_HASH)
        );
    }
}

/// The budget an address counts against: an IPv4 address itself, an IPv6
/// address's /64 (one host usually owns a whole /64 and could otherwise
/// rotate through 2^64 addresses).
fn address_bucket(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(|| ip.to_owned(), |v4| v4.to_string()),
        _ => ip.to_owned(),
    }
}

#[cfg(test)]
mod address_tests {
    use super::address_bucket;

    #[test]
    fn ipv6_addresses_share_their_64_and_ipv4_stands_alone() {
        assert_eq!(address_bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_bucket("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_bucket("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_bucket("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(address_bucket("not an address"), "not an address");
    }
}
