//! Group-help tasks, helps and the payout ledger.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::money::Currency;
use crate::schema::Entity;

/// A group-help task: the owner of a paid order asks N helpers to order too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(
    table = "help_task",
    key(id),
    unique(name = "help_task_no_key", columns(task_no)),
    unique(name = "help_task_order_key", columns(order_id))
)]
pub struct HelpTask {
    /// Id.
    pub id: TaskId,
    /// Unique public number.
    pub task_no: String,
    /// The store.
    pub store_id: StoreId,
    /// The owner's paid order.
    pub order_id: OrderId,
    /// The owner.
    pub user_id: UserId,
    /// State.
    pub status: TaskStatus,
    /// Valid helps needed.
    pub required_helpers: i64,
    /// Valid helps so far.
    pub helps_valid: i64,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// OPEN tasks expire at this time.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it qualified.
    #[serde(with = "time::serde::rfc3339::option")]
    pub qualified_at: Option<OffsetDateTime>,
    /// When it is paid out.
    #[serde(with = "time::serde::rfc3339::option")]
    pub payout_at: Option<OffsetDateTime>,
    /// When it settled or expired.
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One helper's order toward a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(
    table = "help",
    key(id),
    unique(name = "help_task_helper_key", columns(task_id, helper_user_id)),
    unique(name = "help_order_key", columns(order_id))
)]
pub struct Help {
    /// Id.
    pub id: HelpId,
    /// The task.
    pub task_id: TaskId,
    /// The helper.
    pub helper_user_id: UserId,
    /// The helper's order.
    pub order_id: OrderId,
    /// State.
    pub status: HelpStatus,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the helper's order was received.
    #[serde(with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
}

/// The one payout of a settled task. One row per task, ever.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "payout_ledger", key(id), unique(name = "payout_ledger_task_key", columns(task_id)))]
pub struct PayoutLedger {
    /// Id.
    pub id: PayoutId,
    /// The task (unique).
    pub task_id: TaskId,
    /// The task's number.
    pub task_no: String,
    /// The store.
    pub store_id: StoreId,
    /// The task owner, who is paid.
    pub user_id: UserId,
    /// The owner's order.
    pub order_id: OrderId,
    /// The helpers whose helps were valid.
    pub helper_user_ids: Vec<UserId>,
    /// Their orders.
    pub helper_order_ids: Vec<OrderId>,
    /// Amount.
    #[column(money, name = "amount")]
    pub amount_minor: i64,
    /// Currency.
    pub currency: Currency,
    /// When the task qualified.
    #[serde(with = "time::serde::rfc3339")]
    pub qualified_at: OffsetDateTime,
    /// When it was due.
    #[serde(with = "time::serde::rfc3339")]
    pub payout_at: OffsetDateTime,
    /// State.
    pub payout_status: PayoutStatus,
    /// Risk level.
    pub risk_level: RiskLevel,
    /// Why it is held, if it is.
    pub risk_reasons: Vec<String>,
    /// Operator's note.
    pub note: Option<String>,
    /// Masked key of the operator who decided.
    pub operator: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
