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
