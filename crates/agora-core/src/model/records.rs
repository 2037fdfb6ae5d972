//! The cross-cutting records: audit log, idempotency, the event feed, exports.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::schema::Entity;

/// An audited change of a setting or decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "audit_log", key(id), immutable, deletable)]
pub struct AuditLog {
    /// Id.
    pub id: AuditId,
    /// The store.
    pub store_id: StoreId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Masked key of the actor.
    pub actor_masked: String,
    /// The actor's IP, when known.
    pub ip: Option<String>,
    /// What changed, e.g. `order_ttl_seconds`.
    pub key: String,
    /// The old value.
    #[column(name = "from_value")]
    pub from: Option<String>,
    /// The new value.
    #[column(name = "to_value")]
    pub to: Option<String>,
}

/// A security event of the whole market rather than of one store: today a
/// login refused by a rate limit. At most one row per `once_key` (the kind,
/// the subject and the minute), so a flood of refused attempts writes one
/// row a minute per subject, not one per attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(
    table = "security_event",
    key(id),
    immutable,
    deletable,
    unique(name = "security_event_once", columns(once_key))
)]
pub struct SecurityEvent {
    /// Id (time-ordered).
    pub id: SecurityEventId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What happened, e.g. `login.rate_limited`.
    pub kind: String,
    /// What it happened to, e.g. `email:ann@example.com` or `ip:203.0.113.9`.
    pub subject: String,
    /// The client's address, when known.
    pub ip: Option<String>,
    /// `kind|subject|minute`: the row of this minute for this subject.
    pub once_key: String,
}

/// A remembered response of an idempotent request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "idempotency_key", key(scope, key), deletable)]
pub struct IdempotencyRecord {
    /// The scope, e.g. `orders:<user id>`.
    pub scope: String,
    /// The client's key.
    pub key: String,
    /// Hex SHA-256 of the canonical request.
    pub fingerprint: String,
    /// HTTP status of the stored response.
    pub response_status: u16,
    /// The stored response body (JSON).
    pub response_body: String,
    /// The resource created, if any.
    pub resource_id: Option<uuid::Uuid>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Forgotten after this time.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An append-only fact about a store, written in the same changeset as the
/// change it describes; numbered later by the sequencer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "activity_event", key(id), deletable)]
pub struct ActivityEvent {
    /// Id.
    pub id: EventId,
    /// The store.
    pub store_id: StoreId,
    /// Position in the store's feed, 1, 2, 3, ...; `None` until sequenced.
    pub seq: Option<i64>,
    /// e.g. `order`.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: uuid::Uuid,
    /// e.g. `order.created`.
    pub kind: String,
    /// Details.
    pub payload: serde_json::Value,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The last seq the sequencer gave out in a store's feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "event_seq", key(store_id))]
pub struct EventSeq {
    /// The store.
    pub store_id: StoreId,
    /// Its last assigned seq (events 1..=last_seq are sequenced).
    pub last_seq: i64,
}

/// An asynchronous export of a store's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "export_job", key(id))]
pub struct ExportJob {
    /// Id.
    pub id: ExportId,
    /// The store.
    pub store_id: StoreId,
    /// What it exports.
    pub kind: ExportKind,
    /// File format.
    pub format: ExportFormat,
    /// State.
    pub status: ExportStatus,
    /// Rows written.
    pub rows: i64,
    /// Bytes written.
    pub bytes: i64,
    /// Where the file is in the blob store.
    pub blob_key: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Masked key of the requester.
    pub requested_by: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The file is deleted after this time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// An audit trail entry of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "export_audit_record", key(id), immutable)]
pub struct ExportAuditRecord {
    /// Id.
    pub id: ExportAuditId,
    /// The export.
    pub export_id: ExportId,
    /// The store.
    pub store_id: StoreId,
    /// What happened.
    pub action: ExportAction,
    /// Masked actor, or `system`.
    pub actor_masked: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
