//! The use cases: every flow of the HTTP contract, as methods of [`Agora`].
//! Each reads what it needs, decides with the state machines and rules of
//! core, and writes through one [`crate::Changeset`].

mod catalog;
mod events;
mod exports;
mod files;
mod flags;
mod insights;
mod kpis;
mod lifecycle;
mod orders;
mod payments;
mod purchasing;
mod refunds;
mod retention;
mod security;
mod stores;
mod support;
mod sweeps;
mod tasks;
mod users;
mod velocity;
mod webhooks;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub use files::{DERIVED_KINDS, FileDownload, MAX_CONTENT_TYPE, MAX_DERIVED_BYTES, MAX_PRODUCT_IMAGES};
pub use kpis::{KPI_JOB, MAX_KPI_DAYS, day_key, parse_day};
pub use lifecycle::{MAX_FLAG_NAMES, PLANS};
pub use orders::{MAX_LINES, MAX_QTY, PlacedOrder};
pub use purchasing::{MAX_PO_LINES, MAX_PO_QTY, ReceivedPurchaseOrder};
pub use refunds::{CreatedRefund, MAX_REFUND_REASON, MAX_RESTOCK_LINES};
pub use sweeps::{Sweep, SweepReport};
pub use velocity::VELOCITY_JOB;
pub use webhooks::{ENDPOINT_SECRET_PREFIX, MAX_ENDPOINT_EVENTS, MAX_ENDPOINT_URL};

use crate::catalogue::Record;
use crate::changeset::Condition;
use crate::clock::{Clock, Entropy, OsEntropy, SystemClock};
use crate::error::{AgoraError, StoreError};
use crate::ids::*;
use crate::model::*;
use crate::ports::*;
use crate::reads::Reads;
use crate::secrets::{Argon2Cost, Argon2Passwords, Keyring, hash_token};

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Nobody authenticated.
    Anonymous,
    /// The deployment's super admin (`AGORA_ADMIN_KEY`).
    SuperAdmin {
        /// For audit rows: always [`SUPER_ADMIN_LABEL`], never a form of the key.
        masked: String,
    },
    /// An admin of one store.
    StoreAdmin {
        /// The store.
        store_id: StoreId,
        /// Masked key, for audit rows.
        masked: String,
    },
    /// A logged-in customer.
    Customer {
        /// The user.
        user_id: UserId,
    },
}

/// How the super admin appears in audit rows and exports.
pub const SUPER_ADMIN_LABEL: &str = "super_admin";

impl Actor {
    /// Whether the actor administers `store_id` (a super admin administers all).
    pub fn administers(&self, store_id: StoreId) -> bool {
        match self {
            Actor::SuperAdmin { .. } => true,
            Actor::StoreAdmin { store_id: s, .. } => *s == store_id,
            _ => false,
        }
    }

    /// The masked key of an admin, for audit rows.
    pub fn masked(&self) -> String {
        match self {
            Actor::SuperAdmin { masked } | Actor::StoreAdmin { masked, .. } => masked.clone(),
            Actor::Customer { user_id } => format!("user:{user_id}"),
            Actor::Anonymous => "anonymous".to_owned(),
        }
    }
}

/// Tunables of the use cases. Defaults suit production.
#[derive(Clone, Debug)]
pub struct AgoraConfig {
    /// Hex SHA-256 of the super admin key; `None` disables super admin.
    pub super_admin_key_hash: Option<String>,
    /// HMAC key of payment webhooks.
    pub webhook_secret: Vec<u8>,
    /// Lifetime of a login session.
    pub session_ttl: Duration,
    /// How long idempotent responses are kept.
    pub idempotency_ttl: Duration,
    /// How long an in-flight idempotency marker lives.
    pub idempotency_lease: std::time::Duration,
    /// How long export files are kept.
    pub export_ttl: Duration,
    /// Failed logins per email per minute before 429 (each attempt takes
    /// its place before its password is checked; a success gives it back).
    pub login_failures_per_minute: u32,
    /// Failed logins per client address per minute before 429 (any email).
    pub login_failures_per_ip_per_minute: u32,
    /// How long market-wide security events are kept (zero: for ever).
    pub security_event_retention: Duration,
    /// How long delivered and failed webhook deliveries are kept (zero: for ever).
    pub webhook_delivery_retention: Duration,
    /// Attempts of a use case whose guard lost a race before it gives up.
    pub max_attempts: u32,
    /// Largest attachment accepted, in bytes.
    pub max_upload_bytes: u64,
}

impl Default for AgoraConfig {
    fn default() -> Self {
        Self {
            super_admin_key_hash: None,
            webhook_secret: Vec::new(),
            session_ttl: Duration::days(7),
            idempotency_ttl: Duration::hours(24),
            idempotency_lease: std::time::Duration::from_secs(30),
            export_ttl: Duration::days(7),
            login_failures_per_minute: 10,
            login_failures_per_ip_per_minute: 100,
            security_event_retention: Duration::days(90),
            webhook_delivery_retention: Duration::days(30),
            max_attempts: 64,
            max_upload_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The domain service: every use case of agora over the chosen ports.
#[derive(Clone)]
pub struct Agora {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    keyring: Keyring,
    passwords: Arc<dyn PasswordHasher>,
    limiter: Arc<dyn RateLimiter>,
    locks: Arc<dyn LockManager>,
    blobs: Arc<dyn BlobStore>,
    idempotency_cache: Option<Arc<dyn IdempotencyCache>>,
    probes: Vec<Arc<dyn ConnectionProbe>>,
    webhooks: Arc<dyn crate::outgoing::WebhookSender>,
    guard_observer: Option<GuardObserver>,
    key_usage: Arc<lifecycle::KeyUsage>,
    recent_security_events: Arc<security::RecentSecurityEvents>,
    config: AgoraConfig,
}

/// Called with every guard that failed inside an apply (a lost race or a
/// refused write), e.g. to count conflicts by kind in metrics.
pub type GuardObserver = Arc<dyn Fn(&Condition) + Send + Sync>;

impl std::fmt::Debug for Agora {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agora").field("backend", &self.store.backend()).finish_non_exhaustive()
    }
}

/// Builds an [`Agora`]; everything but the store has a default.
pub struct AgoraBuilder {
    store: Arc<dyn Store>,
    clock: Option<Arc<dyn Clock>>,
    entropy: Option<Arc<dyn Entropy>>,
    keyring: Option<Keyring>,
    passwords: Option<Arc<dyn PasswordHasher>>,
    limiter: Option<Arc<dyn RateLimiter>>,
    locks: Option<Arc<dyn LockManager>>,
    blobs: Option<Arc<dyn BlobStore>>,
    idempotency_cache: Option<Arc<dyn IdempotencyCache>>,
    probes: Vec<Arc<dyn ConnectionProbe>>,
    webhooks: Option<Arc<dyn crate::outgoing::WebhookSender>>,
    guard_observer: Option<GuardObserver>,
    config: AgoraConfig,
}

impl AgoraBuilder {
    /// Uses this clock (default: the wall clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Uses this randomness (default: the OS).
    pub fn entropy(mut self, entropy: Arc<dyn Entropy>) -> Self {
        self.entropy = Some(entropy);
        self
    }
    /// Uses this keyring (default: a fresh random key, lost on exit).
    pub fn keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(keyring);
        self
    }
    /// Uses this password hasher (default: argon2id at production cost, inline).
    pub fn passwords(mut self, passwords: Arc<dyn PasswordHasher>) -> Self {
        self.passwords = Some(passwords);
        self
    }
    /// Uses this rate limiter (default: in-process).
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }
    /// Uses this lock manager (default: in-process).
    pub fn locks(mut self, locks: Arc<dyn LockManager>) -> Self {
        self.locks = Some(locks);
        self
    }
    /// Uses this blob store for exports (default: in-process memory).
    pub fn blobs(mut self, blobs: Arc<dyn BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }
    /// Adds the shared idempotency fast path.
    pub fn idempotency_cache(mut self, cache: Arc<dyn IdempotencyCache>) -> Self {
        self.idempotency_cache = Some(cache);
        self
    }
    /// Adds a dependency connection checks can reach (Redis, the object store).
    pub fn probe(mut self, probe: Arc<dyn ConnectionProbe>) -> Self {
        self.probes.push(probe);
        self
    }
    /// Sends outgoing webhooks with this (default: [`crate::outgoing::NoWebhookSender`],
    /// which checks URLs and sends nothing).
    pub fn webhook_sender(mut self, sender: Arc<dyn crate::outgoing::WebhookSender>) -> Self {
        self.webhooks = Some(sender);
        self
    }
    /// Observes every failed guard (for metrics by guard kind).
    pub fn guard_observer(mut self, observer: GuardObserver) -> Self {
        self.guard_observer = Some(observer);
        self
    }
    /// Sets the tunables.
    pub fn config(mut self, config: AgoraConfig) -> Self {
        self.config = config;
        self
    }
    /// Builds the service.
    pub fn build(self) -> Agora {
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let entropy: Arc<dyn Entropy> = self.entropy.unwrap_or_else(|| Arc::new(OsEntropy::default()));
        let keyring = self.keyring.unwrap_or_else(|| Keyring::generate(entropy.as_ref()));
        Agora {
            store: self.store,
            limiter: self.limiter.unwrap_or_else(|| Arc::new(crate::local::LocalRateLimiter::new(clock.clone()))),
            locks: self.locks.unwrap_or_else(|| Arc::new(crate::local::LocalLocks::new(entropy.clone()))),
            blobs: self.blobs.unwrap_or_else(|| Arc::new(crate::local::MemoryBlobs::default())),
            passwords: self.passwords.unwrap_or_else(|| Arc::new(Argon2Passwords::new(Argon2Cost::PRODUCTION))),
            clock,
            entropy,
            keyring,
            idempotency_cache: self.idempotency_cache,
            probes: self.probes,
            webhooks: self.webhooks.unwrap_or_else(|| Arc::new(crate::outgoing::NoWebhookSender::default())),
            guard_observer: self.guard_observer,
            key_usage: Arc::default(),
            recent_security_events: Arc::default(),
            config: self.config,
        }
    }
}

impl Agora {
    /// Starts building a service over `store`.
    pub fn builder(store: Arc<dyn Store>) -> AgoraBuilder {
        AgoraBuilder {
            store,
            clock: None,
            entropy: None,
            keyring: None,
            passwords: None,
            limiter: None,
            locks: None,
            blobs: None,
            idempotency_cache: None,
            probes: Vec::new(),
            webhooks: None,
            guard_observer: None,
            config: AgoraConfig::default(),
        }
    }

    /// The largest attachment accepted, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.config.max_upload_bytes
    }

    /// The name of the store's backend (`memory`, `sqlite`, `postgres`).
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// A page of the stores, newest first (the worker shares its batches
    /// out per store).
    ///
    /// # Errors
    /// Store errors.
    pub async fn stores_page(&self, page: Page) -> Result<Vec<StoreId>, AgoraError> {
        Ok(self.store.list_stores(page).await?.into_iter().map(|s| s.id).collect())
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The lock manager.
    pub fn locks(&self) -> &Arc<dyn LockManager> {
        &self.locks
    }

    /// The keyring.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The tunables.
    pub fn config(&self) -> &AgoraConfig {
        &self.config
    }

    /// The one place use cases write: applies a changeset and reports a
    /// failed guard to the observer.
    pub(crate) async fn apply_changeset(&self, cs: crate::changeset::Changeset) -> Result<(), StoreError> {
        let result = self.store.apply(cs).await;
        if let (Err(StoreError::GuardFailed(f)), Some(observe)) = (&result, &self.guard_observer) {
            observe(&f.condition);
        }
        result
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub(crate) fn new_uuid(&self) -> Uuid {
        self.entropy.uuid_v7(self.clock.now())
    }

    /// A new id and the time it stands for, from one clock reading
    /// ([`Entropy::stamp`]).
    pub(crate) fn new_stamp(&self) -> (Uuid, OffsetDateTime) {
        self.entropy.stamp(self.clock.as_ref())
    }

    pub(crate) fn random_code(&self, prefix: &str, len: usize) -> String {
        // Crockford base32 without look-alikes, for human-facing numbers.
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let mut raw = vec![0u8; len];
        self.entropy.fill(&mut raw);
        let mut s = String::with_capacity(prefix.len() + len);
        s.push_str(prefix);
        s.extend(raw.iter().map(|b| ALPHABET[(*b & 31) as usize] as char));
        s
    }

    pub(crate) fn event(
        &self,
        store_id: StoreId,
        entity_type: &str,
        entity_id: Uuid,
        kind: &str,
        payload: serde_json::Value,
    ) -> Record {
        Record::Event(ActivityEvent {
            id: EventId(self.new_uuid()),
            store_id,
            seq: None,
            entity_type: entity_type.to_owned(),
            entity_id,
            kind: kind.to_owned(),
            payload,
            at: self.now(),
        })
    }

    /// The row of `T` with `key` when `actor` administers the store
    /// `store_of` names; `not_found` (`what`) for anyone else, `unauthorized`
    /// when anonymous.
    pub(crate) async fn admin_row<T, K>(
        &self,
        actor: &Actor,
        key: K,
        what: &'static str,
        store_of: impl Fn(&T) -> StoreId,
    ) -> Result<T, AgoraError>
    where
        T: crate::catalogue::Catalogued,
        K: Into<crate::schema::Key> + Send,
    {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let row = self.store.get::<T, K>(key).await?;
        row.filter(|r| actor.administers(store_of(r))).ok_or(AgoraError::NotFound(what))
    }

    /// Resolves an `Authorization: Bearer` admin key: the super admin key or
    /// a store admin key.
    ///
    /// # Errors
    /// [`AgoraError::Unauthorized`] when it is neither.
    pub async fn authenticate_admin(&self, key: &str) -> Result<Actor, AgoraError> {
        let hash = hash_token(key);
        if let Some(expected) = &self.config.super_admin_key_hash
            && crate::secrets::constant_time_eq(expected.as_bytes(), hash.as_bytes())
        {
            // A fixed label: store admins read audit rows, and even a masked
            // form of the deployment's key would show them 12 of its characters.
            return Ok(Actor::SuperAdmin { masked: SUPER_ADMIN_LABEL.to_owned() });
        }
        match self.store.get_admin_key_by_hash(&hash).await? {
            Some(k) if k.is_live(self.now()) => {
                self.note_key_use(k.id);
                Ok(Actor::StoreAdmin { store_id: k.store_id, masked: k.masked })
            }
            _ => Err(AgoraError::Unauthorized),
        }
    }

    /// Resolves a customer session token.
    ///
    /// # Errors
    /// [`AgoraError::Unauthorized`] when it is unknown or expired.
    pub async fn authenticate_customer(&self, token: &str) -> Result<Actor, AgoraError> {
        match self.store.get_session_by_hash(&hash_token(token)).await? {
            Some(s) if s.expires_at > self.now() => Ok(Actor::Customer { user_id: s.user_id }),
            _ => Err(AgoraError::Unauthorized),
        }
    }

    /// Resolves any bearer token: a customer session, else an admin key.
    ///
    /// # Errors
    /// [`AgoraError::Unauthorized`] when it is none of them.
    pub async fn authenticate(&self, token: &str) -> Result<Actor, AgoraError> {
        if token.starts_with(crate::SESSION_TOKEN_PREFIX) {
            return self.authenticate_customer(token).await;
        }
        self.authenticate_admin(token).await
    }

    /// Ok when the store is healthy.
    ///
    /// # Errors
    /// [`AgoraError::Unavailable`] otherwise.
    pub async fn health(&self) -> Result<(), AgoraError> {
        self.store.health().await.map_err(AgoraError::from)
    }
}

/// Requires an admin of `store_id`; others get `not_found` for the store
/// (they may not know it exists) or `unauthorized` when anonymous.
pub(crate) fn require_admin(actor: &Actor, store_id: StoreId) -> Result<(), AgoraError> {
    match actor {
        Actor::Anonymous => Err(AgoraError::Unauthorized),
        a if a.administers(store_id) => Ok(()),
        _ => Err(AgoraError::NotFound("store")),
    }
}

pub(crate) fn require_super(actor: &Actor) -> Result<(), AgoraError> {
    match actor {
        Actor::SuperAdmin { .. } => Ok(()),
        Actor::Anonymous => Err(AgoraError::Unauthorized),
        _ => Err(AgoraError::Forbidden),
    }
}

pub(crate) fn require_customer(actor: &Actor) -> Result<UserId, AgoraError> {
    match actor {
        Actor::Customer { user_id } => Ok(*user_id),
        Actor::Anonymous => Err(AgoraError::Unauthorized),
        _ => Err(AgoraError::Forbidden),
    }
}

/// Limit and cursor of a list request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// 1..=200, default 50.
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The page size: `limit`, 50 when absent.
    pub(crate) fn limit(&self) -> Result<u32, AgoraError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(AgoraError::validation("limit", "must be between 1 and 200"));
        }
        Ok(limit)
    }

    pub(crate) fn page(&self) -> Result<Page, AgoraError> {
        let limit = self.limit()?;
        let before = match &self.cursor {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| AgoraError::validation("cursor", "is not a valid cursor"))?),
        };
        Ok(Page { limit, before })
    }
}

/// Encodes an id as an opaque cursor (base64url of its 16 bytes).
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&raw).ok()
}

/// The cursor of the next page: the last item's id when the page is full.
pub(crate) fn next_cursor<T>(items: &[T], page: &Page, id: impl Fn(&T) -> Uuid) -> Option<String> {
    if items.len() == page.limit as usize { items.last().map(|i| encode_cursor(id(i))) } else { None }
}

/// What to do after a changeset lost a race.
pub(crate) fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::GuardFailed(_) | StoreError::Duplicate(_))
}

pub(crate) fn failed_guard(e: &StoreError) -> Option<&Condition> {
    match e {
        StoreError::GuardFailed(f) => Some(&f.condition),
        _ => None,
    }
}

pub(crate) fn too_contended() -> AgoraError {
    AgoraError::Conflict { message: "too many concurrent changes; retry".into(), retry_after: Some(1) }
}
