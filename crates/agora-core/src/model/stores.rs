//! Stores, their settings, users, sessions and admin keys.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::schema::{ColumnShape, ColumnType, DecodeError, Entity, Field, Value, Values};

/// A merchant on the market (the `store` table; named `Shop` in code so it
/// never clashes with the [`crate::Store`] port).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "store", key(id), unique(name = "store_domain_key", columns(domain)))]
pub struct Shop {
    /// Id.
    pub id: StoreId,
    /// Display name.
    pub name: String,
    /// Unique shop domain, lower case.
    pub domain: String,
    /// Plan level, `basic` unless changed.
    pub plan: String,
    /// Trading or suspended.
    pub status: StoreStatus,
    /// The shop's platform access token, sealed by the keyring; never plaintext.
    #[column(names(encryption_version, access_token_ciphertext))]
    pub access_token: Option<SealedSecret>,
    /// Onboarding checklist: step name to done (`{"add_product": true}`).
    #[serde(default = "empty_object")]
    pub onboarding: serde_json::Value,
    /// Bumped by every change; guards concurrent edits.
    #[serde(default = "first_version")]
    pub version: i64,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A secret encrypted with an AEAD under a versioned key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// Which key of the keyring sealed it (the `encryption_version` column).
    pub key_version: u32,
    /// Nonce followed by ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// Two columns: the key version, then the ciphertext.
impl Field for SealedSecret {
    const WIDTH: usize = 2;
    fn shape() -> Vec<ColumnShape> {
        vec![
            ColumnShape { ty: ColumnType::Int, nullable: false },
            ColumnShape { ty: ColumnType::Bytes, nullable: false },
        ]
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Int(i64::from(self.key_version)));
        out.push(Value::Bytes(std::borrow::Cow::Borrowed(&self.ciphertext)));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        let key_version = u32::decode(values)?;
        let ciphertext = Vec::<u8>::decode(values)?;
        Ok(Self { key_version, ciphertext })
    }
}

/// A store's thresholds and toggles. Every change is audited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "store_settings", key(store_id))]
pub struct StoreSettings {
    /// The store.
    pub store_id: StoreId,
    /// Unpaid orders close after this many seconds.
    pub order_ttl_seconds: i64,
    /// Shipped orders are received automatically after this many seconds.
    pub auto_receive_seconds: i64,
    /// Valid helps a task needs to qualify.
    pub required_helpers: i64,
    /// OPEN tasks expire after this many seconds.
    pub help_task_ttl_seconds: i64,
    /// Seconds between qualification and payout.
    pub payout_cooling_seconds: i64,
    /// Percent of the owner's order paid out.
    pub help_payout_percent: i64,
    /// Named feature switches (`{"name": bool}`, names `[a-z0-9_]{1,64}`).
    #[serde(default = "empty_object")]
    pub feature_toggles: serde_json::Value,
    /// A variant at or below this many available is low on stock.
    #[serde(default = "defaults::low_stock_threshold")]
    pub low_stock_threshold: i64,
    /// Days of sales the velocity job averages over.
    #[serde(default = "defaults::velocity_window_days")]
    pub velocity_window_days: i64,
    /// Days a purchase order takes to arrive.
    #[serde(default = "defaults::reorder_lead_days")]
    pub reorder_lead_days: i64,
    /// Days of sales a reorder should cover after it arrives.
    #[serde(default = "defaults::reorder_cover_days")]
    pub reorder_cover_days: i64,
    /// Orders of at least this amount get a `fraud_risk` flag; 0 = off.
    #[serde(default)]
    pub flag_amount_minor: i64,
    /// Days events are kept; 0 = for ever.
    #[serde(default)]
    pub retention_events_days: i64,
    /// Days audit rows are kept; 0 = for ever.
    #[serde(default)]
    pub retention_audit_logs_days: i64,
    /// Days connection checks are kept; 0 = for ever.
    #[serde(default = "defaults::retention_connection_events_days")]
    pub retention_connection_events_days: i64,
    /// Days reply drafts are kept; 0 = for ever.
    #[serde(default = "defaults::retention_drafts_days")]
    pub retention_drafts_days: i64,
    /// When the store's sealed secrets were last re-sealed under a new key.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub secrets_rotated_at: Option<OffsetDateTime>,
    /// When an admin key of the store was last made or revoked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub admin_keys_rotated_at: Option<OffsetDateTime>,
    /// Bumped by every change; guards concurrent edits.
    pub version: i64,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An empty JSON object, the default of JSON flag maps (rows exported
/// before the column existed import with it).
pub(crate) fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// The version of a row exported before it had one.
fn first_version() -> i64 {
    1
}

/// The contract's defaults of settings added in v1.1, also used when an
/// export made before they existed is imported.
mod defaults {
    pub(super) fn low_stock_threshold() -> i64 {
        5
    }
    pub(super) fn velocity_window_days() -> i64 {
        28
    }
    pub(super) fn reorder_lead_days() -> i64 {
        14
    }
    pub(super) fn reorder_cover_days() -> i64 {
        30
    }
    pub(super) fn retention_connection_events_days() -> i64 {
        90
    }
    pub(super) fn retention_drafts_days() -> i64 {
        180
    }
}

impl StoreSettings {
    /// The settings a new store starts with (see the contract), version 1.
    pub fn defaults(store_id: StoreId, at: OffsetDateTime) -> Self {
        Self {
            store_id,
            order_ttl_seconds: 1800,
            auto_receive_seconds: 864_000,
            required_helpers: 3,
            help_task_ttl_seconds: 86_400,
            payout_cooling_seconds: 604_800,
            help_payout_percent: 100,
            feature_toggles: empty_object(),
            low_stock_threshold: defaults::low_stock_threshold(),
            velocity_window_days: defaults::velocity_window_days(),
            reorder_lead_days: defaults::reorder_lead_days(),
            reorder_cover_days: defaults::reorder_cover_days(),
            flag_amount_minor: 0,
            retention_events_days: 0,
            retention_audit_logs_days: 0,
            retention_connection_events_days: defaults::retention_connection_events_days(),
            retention_drafts_days: defaults::retention_drafts_days(),
            secrets_rotated_at: None,
            admin_keys_rotated_at: None,
            version: 1,
            updated_at: at,
        }
    }
}

/// A customer account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "app_user", key(id), unique(name = "app_user_email_key", columns(email)))]
pub struct AppUser {
    /// Id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Unique, normalised to lower case.
    pub email: String,
    /// Optional phone number, digits and a leading `+` only.
    pub phone: Option<String>,
    /// Argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A shipping address of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "user_address", key(id))]
pub struct UserAddress {
    /// Id.
    pub id: AddressId,
    /// Owner.
    pub user_id: UserId,
    /// Street line.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166 alpha-2 country.
    pub country: String,
    /// SHA-256 of the normalised address, for risk rules.
    pub address_hash: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A customer login session. Only the token's hash is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "session", key(id), unique(name = "session_token_hash_key", columns(token_hash)), deletable)]
pub struct Session {
    /// Id.
    pub id: SessionId,
    /// Who logged in.
    pub user_id: UserId,
    /// Hex SHA-256 of the bearer token.
    pub token_hash: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The token stops working at this time.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A store admin key. Only its hash is stored; the key is shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "admin_key", key(id), unique(name = "admin_key_hash_key", columns(key_hash)))]
pub struct AdminKey {
    /// Id.
    pub id: AdminKeyId,
    /// The one store this key administers.
    pub store_id: StoreId,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// A masked form safe to log and show, e.g. `agk_Ab3d…x9Yz`.
    pub masked: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The key stops working at this time, if set.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Revoked at this time: the key no longer works.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Last successful use, written in batches (minutes behind at most a
    /// flush interval), never once per request.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl AdminKey {
    /// Whether the key authenticates at `now`: not revoked, not expired.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}
