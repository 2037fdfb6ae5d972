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
    /// Order refunds that succeeded that day.
    pub refunded_minor: i64,
    /// Units paid for.
    pub units_sold: i64,
}

/// A variant's sales velocity and stockout forecast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VelocityView {
    /// The variant.
    pub variant_id: Uuid,
    /// Its SKU.
    pub sku: String,
    /// Units paid for in the window.
    pub units_sold: i64,
    /// The window, in days.
    pub window_days: i64,
    /// Units per day, with 3 decimals (`"1.250"`).
    pub daily_velocity: String,
    /// Units available now (all warehouses).
    pub available: i64,
    /// Units on submitted or partially received purchase orders.
    pub on_order: i64,
    /// Whole days the available units last; `null` when nothing sells.
    pub days_of_cover: Option<i64>,
    /// When the available units run out; `null` when nothing sells.
    #[serde(with = "time::serde::rfc3339::option")]
    pub stockout_at: Option<OffsetDateTime>,
    /// ceil(velocity x (lead + cover days)) - available - on_order, at least 0.
    pub reorder_qty: i64,
    /// When the `velocity` job last ran for the store.
    #[serde(with = "time::serde::rfc3339::option")]
    pub computed_at: Option<OffsetDateTime>,
}

/// One line of a new purchase order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPurchaseOrderLine {
    /// A variant of the store.
    pub variant_id: Uuid,
    /// 1..=1000000 units.
    pub qty: i64,
    /// Cost per unit, 0 or more.
    pub unit_cost_minor: i64,
}

/// `POST /v1/stores/{id}/purchase-orders` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPurchaseOrder {
    /// Who supplies it, 1..=200 characters.
    pub vendor: String,
    /// A warehouse of the store.
    pub warehouse_id: Uuid,
    /// ISO 4217 code of the unit costs.
    pub currency: String,
    /// 1..=200 lines, each variant once.
    pub lines: Vec<NewPurchaseOrderLine>,
    /// Up to 2000 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/stores/{id}/purchase-orders/from-velocity` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PurchaseOrderFromVelocity {
    /// Who supplies it.
    pub vendor: String,
    /// A warehouse of the store.
    pub warehouse_id: Uuid,
    /// ISO 4217 code of the draft (default: the currency of the products).
    #[serde(default)]
    pub currency: Option<String>,
}

/// One received line of `POST /v1/purchase-orders/{id}/receive`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReceivedLine {
    /// A variant on the order.
    pub variant_id: Uuid,
    /// Units that arrived, 1 or more.
    pub qty: i64,
}

/// `POST /v1/purchase-orders/{id}/receive` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReceivePurchaseOrder {
    /// What arrived, each variant once.
    pub lines: Vec<ReceivedLine>,
}

/// A line of a purchase order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PurchaseOrderLineView {
    /// The variant.
    pub variant_id: Uuid,
    /// Units ordered.
    pub qty: i64,
    /// Cost per unit.
    pub unit_cost_minor: i64,
    /// Units received so far.
    pub received_qty: i64,
}

/// A purchase order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PurchaseOrderView {
    /// Id.
    pub id: Uuid,
    /// The store.
    pub store_id: Uuid,
    /// Number, unique in the store.
    pub number: String,
    /// Vendor.
    pub vendor: String,
    /// Receiving warehouse.
    pub warehouse_id: Uuid,
    /// Currency of the costs.
    pub currency: String,
    /// `draft`, `submitted`, `partially_received`, `received` or `cancelled`.
    pub status: String,
    /// The lines, in order.
    pub lines: Vec<PurchaseOrderLineView>,
    /// Sum of qty x unit cost.
    pub total_minor: i64,
    /// Note.
    pub note: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Submitted at.
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    /// Fully received at.
    #[serde(with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
}

/// `POST /v1/tickets` body (customer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// The store asked.
    pub store_id: Uuid,
    /// 1..=200 characters.
    pub subject: String,
    /// The first message, 1..=10000 characters.
    pub body: String,
    /// One of the customer's orders at this store, if it is about one.
    #[serde(default)]
    pub order_id: Option<Uuid>,
}

/// A support ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TicketView {
    /// Id.
    pub id: Uuid,
    /// Human-readable number.
    pub number: String,
    /// The store.
    pub store_id: Uuid,
    /// The customer.
    pub user_id: Uuid,
    /// The order it is about.
    pub order_id: Option<Uuid>,
    /// Subject.
    pub subject: String,
    /// `open`, `pending`, `solved` or `closed`.
    pub status: String,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// Store messages the customer has not read.
    pub unread_for_customer: i64,
    /// Customer messages the store has not read.
    pub unread_for_store: i64,
    /// The last message's time.
    #[serde(with = "time::serde::rfc3339")]
    pub last_message_at: OffsetDateTime,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /v1/tickets/{id}/messages` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTicketMessage {
    /// 1..=10000 characters.
    pub body: String,
}

/// A message of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TicketMessageView {
    /// Id.
    pub id: Uuid,
    /// The ticket.
    pub ticket_id: Uuid,
    /// `customer` or `store`.
    pub author: String,
    /// The text.
    pub body: String,
    /// The reply draft it was sent from.
    pub draft_id: Option<Uuid>,
    /// Written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `PATCH /v1/tickets/{id}` body (store admin).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    /// `open`, `pending`, `solved` or `closed`.
    pub status: Option<String>,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: Option<String>,
}

/// `POST /v1/tickets/{id}/drafts` body (store admin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDraft {
    /// 1..=10000 characters.
    pub body: String,
    /// `template`, `model` or `human`.
    pub source: String,
    /// The model's name (up to 100 characters).
    #[serde(default)]
    pub model: Option<String>,
    /// The model's version (up to 100 characters).
    #[serde(default)]
    pub version: Option<String>,
}

/// `POST /v1/drafts/{id}/send` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendDraft {
    /// The text to send instead of the proposal.
    pub edited_body: Option<String>,
}

/// `POST /v1/drafts/{id}/discard` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DiscardDraft {
    /// Why (up to 2000 characters).
    pub feedback: Option<String>,
}

/// `PATCH /v1/drafts/{id}` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DraftReview {
    /// -1.0..=1.0 (kept to 3 decimals).
    pub reward_score: Option<f64>,
    /// Up to 2000 characters.
    pub feedback: Option<String>,
}

/// A reply draft.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DraftView {
    /// Id.
    pub id: Uuid,
    /// The ticket.
    pub ticket_id: Uuid,
    /// The proposed text.
    pub body: String,
    /// `template`, `model` or `human`.
    pub source: String,
    /// The model's name.
    pub model: Option<String>,
    /// The model's version.
    pub version: Option<String>,
    /// `proposed`, `sent` or `discarded`.
    pub status: String,
    /// The text sent.
    pub final_body: Option<String>,
    /// Sent (true) or discarded (false); `null` while proposed.
    pub approved: Option<bool>,
    /// The reviewer's score, -1.0..=1.0.
    pub reward_score: Option<f64>,
    /// The reviewer's words.
    pub feedback: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /v1/stores/{id}/quick-replies` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewQuickReply {
    /// 1..=5000 characters.
    pub content: String,
    /// `support` or `production`.
    pub role: String,
}

/// `PATCH /v1/quick-replies/{id}` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuickReplyPatch {
    /// 1..=5000 characters.
    pub content: String,
}

/// A quick reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct QuickReplyView {
    /// Id.
    pub id: Uuid,
    /// The store.
    pub store_id: Uuid,
    /// The text.
    pub content: String,
    /// `support` or `production`.
    pub role: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Messages a store has not read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UnreadView {
    /// Customer messages on the store's tickets.
    pub tickets: i64,
    /// Customer messages on the store's work orders (0 until work orders exist).
    pub work_order_messages: i64,
}

/// An insight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InsightView {
    /// Id.
    pub id: Uuid,
    /// `low_stock`, `stockout_forecast`, `product_without_image`,
    /// `flag_open_over_24h` or `payout_held`.
    pub kind: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// `open`, `acknowledged`, `resolved` or `dismissed`.
    pub status: String,
    /// e.g. `variant`, `product`, `order_flag`, `payout`.
    pub resource_type: String,
    /// The resource.
    pub resource_id: Uuid,
    /// What to tell the store.
    pub message: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `PATCH /v1/insights/{id}` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InsightPatch {
    /// `acknowledged` or `dismissed`.
    pub status: String,
}

/// `POST /v1/stores/{id}/connection-checks` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewConnectionCheck {
    /// `database`, `redis`, `object_storage` or `webhook_endpoint`.
    pub target: String,
    /// The webhook endpoint, for `webhook_endpoint`.
    #[serde(default)]
    pub endpoint_id: Option<Uuid>,
}

/// A connection check and its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConnectionCheckView {
    /// Id.
    pub id: Uuid,
    /// What was tried.
    pub target: String,
    /// Whether it answered.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub latency_ms: i64,
    /// What it said.
    pub detail: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A market-wide security event (`GET /v1/admin/security-events`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SecurityEventView {
    /// Id.
    pub id: Uuid,
    /// When (the first of its minute).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What happened: `login.rate_limited`.
    pub kind: String,
    /// To what: `email:<address>` or `ip:<address or IPv6 /64>`.
    pub subject: String,
    /// The client's address, when known.
    pub ip: Option<String>,
}
