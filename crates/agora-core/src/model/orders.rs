//! Orders, their lines, payments and provider events.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::money::Currency;
use crate::schema::Entity;

/// An order header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "customer_order", key(id), unique(name = "customer_order_number_key", columns(order_number)))]
pub struct CustomerOrder {
    /// Id.
    pub id: OrderId,
    /// Unique human-readable number.
    pub order_number: String,
    /// The store.
    pub store_id: StoreId,
    /// The customer.
    pub user_id: UserId,
    /// The shipping address.
    pub address_id: AddressId,
    /// Hash of the shipping address, for risk rules.
    pub address_hash: String,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// Sum of the lines.
    #[column(money, name = "amount")]
    pub amount_minor: i64,
    /// What the customer pays.
    #[column(money, name = "pay_amount")]
    pub pay_amount_minor: i64,
    /// Refunded so far (succeeded refunds). Rows exported before refunds
    /// existed read as 0.
    #[serde(default)]
    #[column(money, name = "refunded")]
    pub refunded_minor: i64,
    /// Refunds asked of the provider and not settled yet. With
    /// `refunded_minor` never above `pay_amount_minor`: every refund
    /// request moves this figure, guarded on the value it read, so two
    /// concurrent requests cannot both fit in what is left.
    #[serde(default)]
    #[column(money, name = "refund_pending")]
    pub refund_pending_minor: i64,
    /// Currency.
    pub currency: Currency,
    /// The help task this order helps, if any.
    pub help_task_no: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Paid.
    #[serde(with = "time::serde::rfc3339::option")]
    pub paid_at: Option<OffsetDateTime>,
    /// Shipped.
    #[serde(with = "time::serde::rfc3339::option")]
    pub shipped_at: Option<OffsetDateTime>,
    /// Received.
    #[serde(with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
    /// Closed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    /// Why it closed.
    pub close_reason: Option<CloseReason>,
    /// When its stock holds lapse and the worker closes it unpaid.
    #[serde(with = "time::serde::rfc3339")]
    pub reservation_expires_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "order_item", key(id), unique(name = "order_item_line_key", columns(order_id, line_no)), immutable)]
pub struct OrderItem {
    /// Id.
    pub id: OrderItemId,
    /// The order.
    pub order_id: OrderId,
    /// Line position, from 0.
    pub line_no: i32,
    /// The variant.
    pub variant_id: VariantId,
    /// Its SKU at order time.
    pub sku: String,
    /// Units.
    pub qty: i64,
    /// Unit price at order time.
    #[column(money, name = "unit_price")]
    pub unit_price_minor: i64,
}

/// A payment attempt for an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "payment", key(id))]
pub struct Payment {
    /// Id.
    pub id: PaymentId,
    /// The order.
    pub order_id: OrderId,
    /// The store.
    pub store_id: StoreId,
    /// The payer.
    pub user_id: UserId,
    /// Amount expected.
    #[column(money, name = "amount")]
    pub amount_minor: i64,
    /// Currency.
    pub currency: Currency,
    /// State.
    pub status: PaymentStatus,
    /// Provider name, `test` for now.
    pub provider: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A provider callback, kept raw, deduplicated by (provider, event_id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(
    table = "payment_event",
    key(id),
    unique(name = "payment_event_key_pkey", columns(provider, event_id)),
    immutable
)]
pub struct PaymentEvent {
    /// Id.
    pub id: PaymentEventId,
    /// Provider name.
    pub provider: String,
    /// The provider's event id.
    pub event_id: String,
    /// The payment it refers to, when known.
    pub payment_id: Option<PaymentId>,
    /// The store, when the payment is known.
    pub store_id: Option<StoreId>,
    /// `payment.succeeded` or `payment.failed`.
    pub kind: String,
    /// The amount the provider reported.
    #[column(money, name = "amount")]
    pub amount_minor: i64,
    /// What agora did with it, e.g. `applied`, `amount_mismatch`, `needs_refund`.
    pub outcome: String,
    /// The callback body as received.
    pub raw: serde_json::Value,
    /// Received.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

/// Money given back for an order: part or all of its paid amount, or a
/// payment that landed on an order that could no longer take it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "refund", key(id))]
pub struct Refund {
    /// Id (time-ordered).
    pub id: RefundId,
    /// The order.
    pub order_id: OrderId,
    /// The payment the money goes back through.
    pub payment_id: PaymentId,
    /// The store.
    pub store_id: StoreId,
    /// The customer who paid.
    pub user_id: UserId,
    /// Part of a paid order, or a whole stray payment.
    pub kind: RefundKind,
    /// Amount.
    #[column(money, name = "amount")]
    pub amount_minor: i64,
    /// Currency (the order's).
    pub currency: Currency,
    /// Why, as the admin wrote it.
    pub reason: String,
    /// State.
    pub status: RefundStatus,
    /// Who asked for it (masked key).
    pub actor_masked: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the provider confirmed it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub succeeded_at: Option<OffsetDateTime>,
    /// When the provider refused it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub failed_at: Option<OffsetDateTime>,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Units a refund puts back into a warehouse's `on_hand` when it succeeds
/// (returned goods).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "refund_line", key(id), unique(name = "refund_line_key", columns(refund_id, line_no)), immutable)]
pub struct RefundLine {
    /// Id.
    pub id: RefundLineId,
    /// The refund.
    pub refund_id: RefundId,
    /// The order (for the order's restocked totals).
    pub order_id: OrderId,
    /// Position, from 0.
    pub line_no: i32,
    /// The variant (a line of the order).
    pub variant_id: VariantId,
    /// The warehouse the units go back to.
    pub warehouse_id: WarehouseId,
    /// Units.
    pub qty: i64,
}
