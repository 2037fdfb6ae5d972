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
    /// Refunded that day (refunds arrive with the refunds issue; 0 until then).
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
