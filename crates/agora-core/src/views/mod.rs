//! The request and response shapes of the v1 contract (../API.md). They
//! live in core because the idempotency record stores the exact response
//! body, and embedders get the same shapes the HTTP api serves.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

mod operations;
pub use operations::*;

/// A page of a list: the items and the cursor of the next page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ListPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/stores` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    /// Display name, 1..=200 characters.
    pub name: String,
    /// Unique shop domain.
    pub domain: String,
    /// The shop platform's access token; stored encrypted, never returned.
    #[serde(default)]
    pub access_token: Option<String>,
}

/// A store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StoreView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Domain.
    pub domain: String,
    /// `active` or `suspended`.
    pub status: String,
    /// `basic`, `pro` or `enterprise`.
    pub plan: String,
    /// Onboarding checklist: step name to done.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, bool>))]
    pub onboarding: serde_json::Value,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A new store admin key; `key` is shown only in this response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AdminKeyCreated {
    /// Id.
    pub id: Uuid,
    /// The key itself.
    pub key: String,
    /// Its masked form.
    pub masked: String,
}

/// A store's settings (all of them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SettingsView {
    /// Unpaid orders close after this many seconds.
    pub order_ttl_seconds: i64,
    /// Shipped orders are received automatically after this many seconds.
    pub auto_receive_seconds: i64,
    /// Valid helps a task needs.
    pub required_helpers: i64,
    /// OPEN tasks expire after this many seconds.
    pub help_task_ttl_seconds: i64,
    /// Seconds between qualification and payout.
    pub payout_cooling_seconds: i64,
    /// Percent of the owner's order paid out.
    pub help_payout_percent: i64,
    /// Named feature switches.
    pub feature_toggles: std::collections::BTreeMap<String, bool>,
    /// A variant at or below this many available is low on stock.
    pub low_stock_threshold: i64,
    /// Days of sales the velocity job averages over.
    pub velocity_window_days: i64,
    /// Days a purchase order takes to arrive.
    pub reorder_lead_days: i64,
    /// Days of sales a reorder covers after it arrives.
    pub reorder_cover_days: i64,
    /// Orders of at least this amount are flagged `fraud_risk`; 0 = off.
    pub flag_amount_minor: i64,
    /// Days each kind of record is kept; 0 = for ever.
    pub retention_days: RetentionDays,
    /// When the store's sealed secrets were last re-sealed (read-only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub secrets_rotated_at: Option<OffsetDateTime>,
    /// When an admin key was last made or revoked (read-only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub admin_keys_rotated_at: Option<OffsetDateTime>,
}

/// Days each kind of record is kept; 0 = for ever.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RetentionDays {
    /// Feed events.
    pub events: i64,
    /// Audit rows.
    pub audit_logs: i64,
    /// Connection checks.
    pub connection_events: i64,
    /// Reply drafts.
    pub drafts: i64,
}

/// `retention_days` of a settings patch: any subset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetentionPatch {
    /// 0..=36500.
    pub events: Option<i64>,
    /// 0..=36500.
    pub audit_logs: Option<i64>,
    /// 0..=36500.
    pub connection_events: Option<i64>,
    /// 0..=36500.
    pub drafts: Option<i64>,
}

/// `PATCH /v1/stores/{id}/settings` body: any subset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// 60..=2592000.
    pub order_ttl_seconds: Option<i64>,
    /// 60..=31536000.
    pub auto_receive_seconds: Option<i64>,
    /// 1..=100.
    pub required_helpers: Option<i64>,
    /// 60..=31536000.
    pub help_task_ttl_seconds: Option<i64>,
    /// 0..=31536000.
    pub payout_cooling_seconds: Option<i64>,
    /// 0..=100.
    pub help_payout_percent: Option<i64>,
    /// Toggles to set, by name (`[a-z0-9_]{1,64}`, at most 64 in all);
    /// names not given keep their value.
    pub feature_toggles: Option<std::collections::BTreeMap<String, bool>>,
    /// 0..=1000000.
    pub low_stock_threshold: Option<i64>,
    /// 1..=365.
    pub velocity_window_days: Option<i64>,
    /// 0..=365.
    pub reorder_lead_days: Option<i64>,
    /// 0..=365.
    pub reorder_cover_days: Option<i64>,
    /// 0 (off) up to the largest amount.
    pub flag_amount_minor: Option<i64>,
    /// Any subset of the retention periods.
    pub retention_days: Option<RetentionPatch>,
}

/// An audit row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditView {
    /// Id.
    pub id: Uuid,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Masked actor key.
    pub actor_masked: String,
    /// Actor IP.
    pub ip: Option<String>,
    /// What changed.
    pub key: String,
    /// Old value.
    pub from: Option<String>,
    /// New value.
    pub to: Option<String>,
}

/// A variant in `POST /v1/stores/{id}/products`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    /// SKU, unique per store.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Unit price.
    pub price_minor: i64,
}

/// `POST /v1/stores/{id}/products` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// Title.
    pub title: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// `active` (default) or `draft`.
    #[serde(default)]
    pub status: Option<String>,
    /// 1..=100 variants.
    pub variants: Vec<NewVariant>,
}

/// `PATCH /v1/products/{id}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    /// New title.
    pub title: Option<String>,
    /// `active` or `draft`.
    pub status: Option<String>,
}

/// A variant with its availability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct VariantView {
    /// Id.
    pub id: Uuid,
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Unit price.
    pub price_minor: i64,
    /// `active` or `draft`.
    pub status: String,
    /// Sum over warehouses of on_hand minus active reservations.
    pub available: i64,
}

/// A product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProductView {
    /// Id.
    pub id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// Title.
    pub title: String,
    /// `active` or `draft`.
    pub status: String,
    /// Currency.
    pub currency: String,
    /// Variants.
    pub variants: Vec<VariantView>,
    /// Images, by position.
    #[serde(default)]
    pub images: Vec<ImageView>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An image in a product view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImageView {
    /// Id.
    pub id: Uuid,
    /// Where it is served (`/v1/images/{id}` for an uploaded image: public
    /// while the product is active).
    pub url: String,
    /// Alternative text.
    pub alt: Option<String>,
    /// Sort position (lowest first).
    pub position: i32,
}

/// `POST /v1/products/{id}/images` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewProductImage {
    /// An attachment of the product's store whose content type is `image/*`.
    pub attachment_id: Uuid,
    /// Alternative text, at most 500 characters.
    pub alt: Option<String>,
    /// Sort position 0..=1000 (default: after the last image).
    pub position: Option<i32>,
}

/// A product's image, as created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProductImageView {
    /// Id.
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// The attachment it shows.
    pub attachment_id: Option<Uuid>,
    /// Where it is served.
    pub url: String,
    /// Alternative text.
    pub alt: Option<String>,
    /// Sort position.
    pub position: i32,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An uploaded file (`POST /v1/stores/{id}/attachments`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AttachmentView {
    /// Id.
    pub id: Uuid,
    /// The store.
    pub store_id: Uuid,
    /// The `Content-Type` it was uploaded with.
    pub content_type: String,
    /// Its length.
    pub bytes: i64,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// Uploaded.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `POST /v1/attachments/{id}/derived` body: a processor's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDerived {
    /// What kind of result: `ocr`.
    pub kind: String,
    /// The result, a JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub content: serde_json::Map<String, serde_json::Value>,
}

/// A processor's result stored beside an attachment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DerivedView {
    /// The attachment.
    pub attachment_id: Uuid,
    /// What kind of result.
    pub kind: String,
    /// The result.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub content: serde_json::Map<String, serde_json::Value>,
    /// 1 for the first result, one more for every replacement.
    pub version: i64,
    /// First stored.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last replaced.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /v1/stores/{id}/warehouses` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWarehouse {
    /// Name.
    pub name: String,
}

/// A warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WarehouseView {
    /// Id.
    pub id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// Name.
    pub name: String,
}

/// `PUT /v1/stores/{id}/inventory` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetInventory {
    /// Variant.
    pub variant_id: Uuid,
    /// Warehouse.
    pub warehouse_id: Uuid,
    /// Units on hand, 0..=1000000000.
    pub on_hand: i64,
}

/// A stock row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct InventoryView {
    /// Variant.
    pub variant_id: Uuid,
    /// Warehouse.
    pub warehouse_id: Uuid,
    /// Units there.
    pub on_hand: i64,
    /// Units held.
    pub reserved: i64,
    /// on_hand - reserved.
    pub available: i64,
}

/// `POST /v1/users` body.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Name.
    pub name: String,
    /// Email, unique.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    /// Optional phone.
    #[serde(default)]
    pub phone: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser").field("name", &self.name).field("email", &self.email).finish_non_exhaustive()
    }
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `POST /v1/sessions` body.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("email", &self.email).finish_non_exhaustive()
    }
}

/// A new session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionCreated {
    /// Bearer token; shown only here.
    pub token: String,
    /// The user.
    pub user_id: Uuid,
    /// When the token stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `DELETE /v1/users/me` body: the account's password, to erase it.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EraseAccount {
    /// The account's password.
    pub password: String,
}

/// `POST /v1/users/me/addresses` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    /// Street line.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166 alpha-2 country code.
    pub country: String,
}

/// An address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AddressView {
    /// Id.
    pub id: Uuid,
    /// Street line.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// Country.
    pub country: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A line of `POST /v1/orders`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// Variant.
    pub variant_id: Uuid,
    /// Units, 1..=1000.
    pub qty: i64,
}

/// `POST /v1/orders` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// Store.
    pub store_id: Uuid,
    /// The caller's address.
    pub address_id: Uuid,
    /// 1..=50 lines.
    pub items: Vec<OrderLine>,
    /// Help this task.
    #[serde(default)]
    pub help_task_no: Option<String>,
}

/// A line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OrderItemView {
    /// Variant.
    pub variant_id: Uuid,
    /// Units.
    pub qty: i64,
    /// Unit price.
    pub unit_price_minor: i64,
}

/// An order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct OrderView {
    /// Id.
    pub id: Uuid,
    /// Number.
    pub order_number: String,
    /// Store.
    pub store_id: Uuid,
    /// Customer.
    pub user_id: Uuid,
    /// CREATED, PAID, SHIPPED, RECEIVED, CLOSED or REFUNDED.
    pub status: String,
    /// Sum of lines.
    pub amount_minor: i64,
    /// To pay.
    pub pay_amount_minor: i64,
    /// Refunded so far (succeeded refunds).
    #[serde(default)]
    pub refunded_minor: i64,
    /// Refunds asked of the provider, not settled yet.
    #[serde(default)]
    pub refund_pending_minor: i64,
    /// Currency.
    pub currency: String,
    /// Lines.
    pub items: Vec<OrderItemView>,
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
    /// `cancelled` or `timeout`.
    pub close_reason: Option<String>,
    /// When the stock holds lapse.
    #[serde(with = "time::serde::rfc3339")]
    pub reservation_expires_at: OffsetDateTime,
    /// Task helped by this order.
    pub help_task_no: Option<String>,
}

/// A payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PaymentView {
    /// Id.
    pub id: Uuid,
    /// Order.
    pub order_id: Uuid,
    /// Amount.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// pending, succeeded, failed, needs_refund, refunding or refunded.
    pub status: String,
    /// Provider.
    pub provider: String,
}

/// `POST /v1/orders/{id}/refunds` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// Amount to give back, at most what is left of the paid amount.
    pub amount_minor: i64,
    /// Why (shown to the store's admins).
    pub reason: String,
    /// Units to put back into stock when the refund succeeds (returned
    /// goods): variants of the order, each (variant, warehouse) once.
    #[serde(default)]
    pub restock: Option<Vec<RestockLine>>,
}

/// Units a refund puts back into a warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RestockLine {
    /// A variant of the order.
    pub variant_id: Uuid,
    /// A warehouse of the store.
    pub warehouse_id: Uuid,
    /// Units; all restock lines of an order's refunds add up to at most
    /// the units ordered.
    pub qty: i64,
}

/// A refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RefundView {
    /// Id.
    pub id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// The payment the money goes back through.
    pub payment_id: Uuid,
    /// `order` (part or all of a paid order) or `payment` (a stray
    /// `needs_refund` payment, in full).
    pub kind: String,
    /// Amount.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Why.
    pub reason: String,
    /// pending, succeeded or failed.
    pub status: String,
    /// Units put back into stock when it succeeds.
    pub restock: Vec<RestockLine>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the provider confirmed it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub succeeded_at: Option<OffsetDateTime>,
    /// When the provider refused it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub failed_at: Option<OffsetDateTime>,
}

/// `POST /v1/webhooks/payments` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PaymentWebhook {
    /// Provider's event id.
    pub event_id: String,
    /// `payment.succeeded`, `payment.failed`, `refund.succeeded` or
    /// `refund.failed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The payment (payment events).
    #[serde(default)]
    pub payment_id: Option<Uuid>,
    /// The refund (refund events).
    #[serde(default)]
    pub refund_id: Option<Uuid>,
    /// Amount the provider took or gave back.
    pub amount_minor: i64,
}

/// Webhook acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookAck {
    /// Always true.
    pub received: bool,
    /// True when the event id was seen before (no second effect).
    pub duplicate: bool,
}

/// `POST /v1/tasks` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// The caller's PAID order.
    pub order_id: Uuid,
}

/// A help of a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HelpView {
    /// Helper.
    pub helper_user_id: Uuid,
    /// Helper's order.
    pub order_id: Uuid,
    /// PENDING, VALID or INVALID.
    pub status: String,
}

/// A help task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TaskView {
    /// Number.
    pub task_no: String,
    /// Owner's order.
    pub order_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// OPEN, QUALIFIED, SETTLED or EXPIRED.
    pub status: String,
    /// Helps needed.
    pub required_helpers: i64,
    /// Valid helps.
    pub helps_valid: i64,
    /// Expiry of an OPEN task.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Qualified.
    #[serde(with = "time::serde::rfc3339::option")]
    pub qualified_at: Option<OffsetDateTime>,
    /// Payout due.
    #[serde(with = "time::serde::rfc3339::option")]
    pub payout_at: Option<OffsetDateTime>,
    /// Helps (in `GET /v1/tasks/{task_no}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helps: Option<Vec<HelpView>>,
}

/// `POST /v1/payouts/{id}/approve|reject` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PayoutDecision {
    /// Operator's note, up to 1000 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// A payout row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayoutView {
    /// Id.
    pub id: Uuid,
    /// Task number.
    pub task_no: String,
    /// Paid user.
    pub user_id: Uuid,
    /// Owner's order.
    pub order_id: Uuid,
    /// Amount.
    pub amount_minor: i64,
    /// PENDING, HELD, PAID or REJECTED.
    pub payout_status: String,
    /// low or high.
    pub risk_level: String,
    /// Why held.
    pub risk_reasons: Vec<String>,
    /// Note.
    pub note: Option<String>,
    /// Masked operator.
    pub operator: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Updated.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// An event of the feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EventView {
    /// Position in the store's feed.
    pub seq: i64,
    /// Id.
    pub id: Uuid,
    /// e.g. `order`.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: Uuid,
    /// e.g. `order.paid`.
    pub kind: String,
    /// Details.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A page of the event feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EventPage {
    /// Events in seq order.
    pub items: Vec<EventView>,
    /// Pass as `after` for the next page.
    pub next_after: i64,
}

/// `POST /v1/stores/{id}/exports` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewExport {
    /// `orders`.
    pub kind: String,
    /// `csv` or `jsonl`.
    pub format: String,
}

/// An export job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExportView {
    /// Id.
    pub id: Uuid,
    /// queued, running, ready, failed or expired.
    pub status: String,
    /// Rows written.
    pub rows: i64,
    /// Bytes written.
    pub bytes: i64,
    /// When the file is deleted.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// `POST /v1/stores/{store_id}/webhook-endpoints` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    /// Where to POST events (`http` or `https`; private addresses refused
    /// unless `AGORA_WEBHOOK_ALLOW_PRIVATE=on`).
    pub url: String,
    /// Event kinds (`order.paid`, ...) or `["*"]` for all.
    pub events: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH /v1/webhook-endpoints/{id}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointPatch {
    /// New URL.
    #[serde(default)]
    pub url: Option<String>,
    /// New event kinds.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
}

/// An outgoing webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEndpointView {
    /// Id.
    pub id: Uuid,
    /// The store.
    pub store_id: Uuid,
    /// Where events go.
    pub url: String,
    /// Event kinds, or `["*"]`.
    pub events: Vec<String>,
    /// Free text.
    pub description: Option<String>,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Why agora disabled it (after 3 days of failures), if it did.
    pub disabled_reason: Option<String>,
    /// Since when its deliveries fail, if they do.
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
    /// The signing secret: only in the answer that created the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A delivery of one feed event to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookDeliveryView {
    /// Id (`delivery_id`, `Agora-Delivery-Id`).
    pub id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The feed event (`Agora-Event-Id`).
    pub event_id: Uuid,
    /// Its seq in the store's feed.
    pub seq: i64,
    /// Its kind.
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// HTTP status of the last answer.
    pub last_status: Option<i64>,
    /// The last error.
    pub last_error: Option<String>,
    /// When it is tried next (the endpoint's oldest pending delivery only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// When it was delivered.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
