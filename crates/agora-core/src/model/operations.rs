//! What a store runs on beside its orders (API.md v1.1): order flags, the
//! KPI cache and the cursors of the jobs that derive data from the feed.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::money::Currency;
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

/// One UTC day of a store's figures in one currency: the KPI cache the
/// `kpis` job keeps (a recount from orders; see [`crate::Agora::refresh_kpis`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "kpi_day", key(store_id, day, currency))]
pub struct KpiDay {
    /// The store.
    pub store_id: StoreId,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The orders' currency.
    pub currency: Currency,
    /// Orders created that day.
    pub orders_created: i64,
    /// Orders paid that day.
    pub orders_paid: i64,
    /// Orders closed (cancelled or timed out) that day.
    pub orders_closed: i64,
    /// Sum of `pay_amount_minor` of the orders paid that day.
    pub revenue_minor: i64,
    /// Sum of the order refunds that succeeded that day.
    pub refunded_minor: i64,
    /// Units of the orders paid that day.
    pub units_sold: i64,
    /// When the job last wrote these figures.
    #[serde(with = "time::serde::rfc3339")]
    pub computed_at: OffsetDateTime,
}

/// How far a store's derived-data job (`kpis`, ...) has read the store's
/// event feed; the job moves it in the commit of what it derived, guarded
/// on the value it read, so two workers never both apply one stretch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "job_cursor", key(store_id, job))]
pub struct JobCursor {
    /// The store.
    pub store_id: StoreId,
    /// The job's name, e.g. `kpis`.
    pub job: String,
    /// The last event seq the job has taken into account.
    pub last_seq: i64,
    /// The UTC day (`YYYY-MM-DD`) of the job's last run for the store.
    pub run_day: String,
    /// When the job last ran for the store.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

crate::ids::typed_id! {
    /// Identifies an [`crate::Insight`].
    InsightId,
    /// Identifies a [`crate::ConnectionCheck`].
    ConnectionCheckId,
}

/// Something the `insights` job noticed about a store's resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "insight", key(id), unique(name = "insight_live_key", columns(store_id, live_key)))]
pub struct Insight {
    /// Id.
    pub id: InsightId,
    /// The store.
    pub store_id: StoreId,
    /// What was noticed, e.g. `low_stock`.
    pub kind: String,
    /// How much it matters.
    pub severity: InsightSeverity,
    /// State.
    pub status: InsightStatus,
    /// The kind of resource, e.g. `variant`.
    pub resource_type: String,
    /// The resource.
    pub resource_id: uuid::Uuid,
    /// What to tell the store.
    pub message: String,
    /// `kind:resource_id` while the insight speaks for its condition (open,
    /// acknowledged, or dismissed while the condition holds); `None` once
    /// resolved. Unique per store: one live insight per (kind, resource),
    /// however many workers run the job.
    pub live_key: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One connection check run on request, and its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "connection_check", key(id), deletable)]
pub struct ConnectionCheck {
    /// Id.
    pub id: ConnectionCheckId,
    /// The store that asked.
    pub store_id: StoreId,
    /// What was tried.
    pub target: ConnectionTarget,
    /// Whether it answered.
    pub ok: bool,
    /// How long it took.
    pub latency_ms: i64,
    /// What it said (an error, or a short description).
    pub detail: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
