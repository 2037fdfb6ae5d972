//! What a store runs on beside its orders (API.md v1.1): order flags.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::schema::Entity;

crate::ids::typed_id! {
    /// Identifies an [`crate::OrderFlag`].
    FlagId,
}

/// A flag an admin (or the order rules) raised on an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "order_flag", key(id))]
pub struct OrderFlag {
    /// Id.
    pub id: FlagId,
    /// The flagged order.
    pub order_id: OrderId,
    /// The order's store.
    pub store_id: StoreId,
    /// Why.
    pub reason: FlagReason,
    /// Lifecycle state.
    pub status: FlagStatus,
    /// Free text of whoever raised or reviewed it.
    pub note: Option<String>,
    /// How it was dealt with.
    pub resolution: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it was resolved or dismissed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
}
