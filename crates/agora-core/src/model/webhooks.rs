//! Outgoing webhooks: a store's endpoints and the deliveries of its feed
//! events to them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::schema::Entity;

/// A URL of a store's that receives its feed events, signed with the
/// endpoint's own secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "webhook_endpoint", key(id), deletable)]
pub struct WebhookEndpoint {
    /// Id (time-ordered).
    pub id: WebhookEndpointId,
    /// The store.
    pub store_id: StoreId,
    /// Where events are POSTed (`http` or `https`).
    pub url: String,
    /// Event kinds it receives (`order.paid`, ...), or `*` for all.
    pub events: Vec<String>,
    /// Free text of the store's.
    pub description: Option<String>,
    /// Whether deliveries are sent.
    pub status: WebhookEndpointStatus,
    /// The signing secret, sealed by the keyring; shown once at creation.
    #[column(names(encryption_version, secret_ciphertext))]
    pub secret: SealedSecret,
    /// The last feed seq turned into deliveries (or skipped as not
    /// matching); events after it are still to be looked at.
    pub fanned_out_seq: i64,
    /// Start of the current run of failed attempts; `None` after a success.
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
    /// Why agora disabled it, when it did.
    pub disabled_reason: Option<String>,
    /// Bumped by every change: fan-out, attempts and edits serialise on it.
    pub version: i64,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One feed event for one endpoint. An endpoint's pending deliveries go
/// out in seq order: only the lowest (the head) has a `next_attempt_at`;
/// the rest wait behind it with none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(
    table = "webhook_delivery",
    key(id),
    unique(name = "webhook_delivery_endpoint_seq_key", columns(endpoint_id, seq)),
    deletable
)]
pub struct WebhookDelivery {
    /// Id (time-ordered); sent as `delivery_id` and `Agora-Delivery-Id`.
    pub id: WebhookDeliveryId,
    /// The endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// The store.
    pub store_id: StoreId,
    /// The feed event (`Agora-Event-Id`).
    pub event_id: EventId,
    /// The event's seq in the store's feed.
    pub seq: i64,
    /// The event's kind.
    pub kind: String,
    /// State.
    pub status: WebhookDeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// HTTP status of the last answer, if there was one.
    pub last_status: Option<i64>,
    /// What went wrong last, if anything.
    pub last_error: Option<String>,
    /// When it is tried next (the endpoint's head only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When a 2xx answer came.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
