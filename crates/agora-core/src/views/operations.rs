//! Request and response shapes of the v1.1 store operations: store
//! lifecycle, admin keys and order flags.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `PATCH /v1/stores/{id}` body (super admin): any subset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StorePatch {
    /// Display name, 1..=200 characters.
    pub name: Option<String>,
    /// `basic`, `pro` or `enterprise`.
    pub plan: Option<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
    /// Onboarding steps to set (names `[a-z0-9_]{1,64}`, at most 64 in
    /// all); steps not given keep their value.
    pub onboarding: Option<std::collections::BTreeMap<String, bool>>,
}

/// `POST /v1/stores/{id}/admin-keys` body; optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAdminKey {
    /// The key stops working this many seconds from now (60..=315360000);
    /// absent: it works until revoked.
    pub expires_in_seconds: Option<i64>,
}

/// An admin key as listed (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AdminKeyView {
    /// Id.
    pub id: Uuid,
    /// Masked key.
    pub masked: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Stops working at this time, if set.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Revoked at this time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Last use, recorded in batches (up to a flush interval behind).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// `POST /v1/orders/{id}/flags` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewFlag {
    /// `fraud_risk`, `address_issue`, `customer_request` or `other`.
    pub reason: String,
    /// Up to 2000 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// `PATCH /v1/flags/{id}` body: any subset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlagPatch {
    /// `in_review`, `resolved` or `dismissed`.
    pub status: Option<String>,
    /// Up to 2000 characters.
    pub note: Option<String>,
    /// Up to 2000 characters.
    pub resolution: Option<String>,
}

/// An order flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FlagView {
    /// Id.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// The order's store.
    pub store_id: Uuid,
    /// Why.
    pub reason: String,
    /// `open`, `in_review`, `resolved` or `dismissed`.
    pub status: String,
    /// Note.
    pub note: Option<String>,
    /// How it was dealt with.
    pub resolution: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Resolved or dismissed at.
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
}

/// `GET /v1/stores/{id}/kpis` query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KpiQuery {
    /// First UTC day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last UTC day, `YYYY-MM-DD` (default: today).
    pub to: Option<String>,
    /// Which currency, when the store sold in several.
    pub currency: Option<String>,
}

/// A store's KPIs over a span of UTC days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KpiView {
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// The currency of the money figures; `null` when nothing was sold.
    pub currency: Option<String>,
    /// Orders created in the span.
    pub orders_created: i64,
    /// Orders paid in the span.
    pub orders_paid: i64,
    /// Orders closed (cancelled or timed out) in the span.
    pub orders_closed: i64,
    /// Paid amounts of the orders paid in the span.
    pub revenue_minor: i64,
    /// Refunded in the span.
    pub refunded_minor: i64,
    /// Units of the orders paid in the span.
    pub units_sold: i64,
    /// `revenue_minor / orders_paid`, rounded down; 0 without paid orders.
    pub average_order_minor: i64,
    /// Every day of the span, oldest first.
    pub days: Vec<KpiDayView>,
    /// When the `kpis` job last ran for the store; `null` before its first run.
    #[serde(with = "time::serde::rfc3339::option")]
    pub computed_at: Option<OffsetDateTime>,
}

/// One day of [`KpiView`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KpiDayView {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// Orders created.
    pub orders_created: i64,
    /// Orders paid.
    pub orders_paid: i64,
    /// Paid amounts.
    pub revenue_minor: i64,
    /// Units paid for.
    pub units_sold: i64,
}
