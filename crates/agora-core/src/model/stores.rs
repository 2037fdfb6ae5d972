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
    /// Bumped by every change; guards concurrent edits.
    pub version: i64,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
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
}
