//! Every entity agora stores, as plain data. Adapters persist these fields
//! one-to-one; the use cases build them; nothing here does I/O.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::*;
use crate::money::Currency;
use crate::schema::{ColumnShape, ColumnType, DecodeError, Entity, Field, Value, Values};

/// Declares a string-backed status enum with `as_str`/`parse` for adapters.
macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored and serialised text.
            pub const fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Parses the stored text.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $crate::text_field!($name, $name::parse);

        impl From<$name> for Value<'static> {
            fn from(v: $name) -> Self {
                Value::Text(std::borrow::Cow::Borrowed(v.as_str()))
            }
        }
    };
}

status_enum! {
    /// Whether a store trades.
    StoreStatus { /// Trading.
        Active => "active", /// Suspended by the operator.
        Suspended => "suspended" }
}

status_enum! {
    /// Whether a product is listed.
    ProductStatus { /// Listed and orderable.
        Active => "active", /// Hidden from the public listing and not orderable.
        Draft => "draft" }
}

status_enum! {
    /// An order's lifecycle: CREATED -> PAID -> SHIPPED -> RECEIVED; CREATED -> CLOSED.
    OrderStatus { /// Placed, stock reserved, awaiting payment.
        Created => "CREATED", /// Paid; stock committed.
        Paid => "PAID", /// Handed to the carrier.
        Shipped => "SHIPPED", /// Received by the customer (or auto-received).
        Received => "RECEIVED", /// Cancelled or timed out before payment; stock released.
        Closed => "CLOSED" }
}

status_enum! {
    /// Why an order was closed.
    CloseReason { /// The owner cancelled it.
        Cancelled => "cancelled", /// It was not paid within the store's `order_ttl_seconds`.
        Timeout => "timeout" }
}

status_enum! {
    /// A payment attempt: pending -> succeeded | failed | needs_refund.
    PaymentStatus { /// Awaiting the provider.
        Pending => "pending", /// Paid in full; the order is PAID.
        Succeeded => "succeeded", /// Failed, or the amount did not match.
        Failed => "failed", /// Money arrived for an order that can no longer take it.
        NeedsRefund => "needs_refund" }
}

status_enum! {
    /// The state of a stock hold.
    ReservationStatus { /// Holding stock.
        Active => "active", /// Turned into a sale: on_hand was reduced.
        Committed => "committed", /// Given back: the order closed.
        Released => "released" }
}

status_enum! {
    /// A help task: OPEN -> QUALIFIED -> SETTLED; OPEN -> EXPIRED.
    TaskStatus { /// Collecting helps.
        Open => "OPEN", /// Enough valid helps; waiting for `payout_at`.
        Qualified => "QUALIFIED", /// Its one payout row is written.
        Settled => "SETTLED", /// Ran out of time.
        Expired => "EXPIRED" }
}

status_enum! {
    /// One helper's contribution to a task.
    HelpStatus { /// The helper's order is not received yet.
        Pending => "PENDING", /// The helper's order was received.
        Valid => "VALID", /// The helper's order closed unpaid.
        Invalid => "INVALID" }
}

status_enum! {
    /// A payout row: PENDING or HELD -> PAID or REJECTED.
    PayoutStatus { /// Ready to pay.
        Pending => "PENDING", /// Held for review by a risk rule.
        Held => "HELD", /// Paid out by an operator.
        Paid => "PAID", /// Rejected by an operator.
        Rejected => "REJECTED" }
}

status_enum! {
    /// How risky a payout looks.
    RiskLevel { /// No rule fired.
        Low => "low", /// At least one rule fired; the row is HELD.
        High => "high" }
}

status_enum! {
    /// An export job: queued -> running -> ready | failed; ready -> expired.
    ExportStatus { /// Waiting for a worker.
        Queued => "queued", /// A worker is writing it.
        Running => "running", /// The file can be downloaded.
        Ready => "ready", /// The worker gave up.
        Failed => "failed", /// The file was deleted by retention.
        Expired => "expired" }
}

status_enum! {
    /// What an export contains.
    ExportKind { /// A store's orders.
        Orders => "orders" }
}

status_enum! {
    /// An export's file format.
    ExportFormat { /// Comma-separated values with a header row.
        Csv => "csv", /// One JSON object per line.
        Jsonl => "jsonl" }
}

status_enum! {
    /// What happened to an export.
    ExportAction { /// Someone asked for it.
        Requested => "requested", /// Someone downloaded it.
        Downloaded => "downloaded", /// Retention deleted its file.
        Expired => "expired" }
}

/// A merchant on the market (the `store` table; named `Shop` in code so it
/// never clashes with the [`crate::Store`] port).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "store", key(id), unique(name = "store_domain_key", columns(domain)))]
pub struct Shop {
    /// Id.
    pub id: StoreId,
    /// Display name.
    pub name: String,
    /// Unique shop domain, lower case.
    pub domain: String,
    /// Plan level, `basic` unless changed.
    pub plan: String,
    /// Trading or suspended.
    pub status: StoreStatus,
    /// The shop's platform access token, sealed by the keyring; never plaintext.
    #[column(names(encryption_version, access_token_ciphertext))]
    pub access_token: Option<SealedSecret>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A secret encrypted with an AEAD under a versioned key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// Which key of the keyring sealed it (the `encryption_version` column).
    pub key_version: u32,
    /// Nonce followed by ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// Two columns: the key version, then the ciphertext.
impl Field for SealedSecret {
    const WIDTH: usize = 2;
    fn shape() -> Vec<ColumnShape> {
        vec![
            ColumnShape { ty: ColumnType::Int, nullable: false },
            ColumnShape { ty: ColumnType::Bytes, nullable: false },
        ]
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Int(i64::from(self.key_version)));
        out.push(Value::Bytes(std::borrow::Cow::Borrowed(&self.ciphertext)));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        let key_version = u32::decode(values)?;
        let ciphertext = Vec::<u8>::decode(values)?;
        Ok(Self { key_version, ciphertext })
    }
}

/// A store's thresholds and toggles. Every change is audited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "store_settings", key(store_id))]
pub struct StoreSettings {
    /// The store.
    pub store_id: StoreId,
    /// Unpaid orders close after this many seconds.
    pub order_ttl_seconds: i64,
    /// Shipped orders are received automatically after this many seconds.
    pub auto_receive_seconds: i64,
    /// Valid helps a task needs to qualify.
    pub required_helpers: i64,
    /// OPEN tasks expire after this many seconds.
    pub help_task_ttl_seconds: i64,
    /// Seconds between qualification and payout.
    pub payout_cooling_seconds: i64,
    /// Percent of the owner's order paid out.
    pub help_payout_percent: i64,
    /// Bumped by every change; guards concurrent edits.
    pub version: i64,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A customer account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "app_user", key(id), unique(name = "app_user_email_key", columns(email)))]
pub struct AppUser {
    /// Id.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Unique, normalised to lower case.
    pub email: String,
    /// Optional phone number, digits and a leading `+` only.
    pub phone: Option<String>,
    /// Argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A shipping address of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "user_address", key(id))]
pub struct UserAddress {
    /// Id.
    pub id: AddressId,
    /// Owner.
    pub user_id: UserId,
    /// Street line.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166 alpha-2 country.
    pub country: String,
    /// SHA-256 of the normalised address, for risk rules.
    pub address_hash: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A customer login session. Only the token's hash is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "session", key(id), unique(name = "session_token_hash_key", columns(token_hash)), deletable)]
pub struct Session {
    /// Id.
    pub id: SessionId,
    /// Who logged in.
    pub user_id: UserId,
    /// Hex SHA-256 of the bearer token.
    pub token_hash: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The token stops working at this time.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A store admin key. Only its hash is stored; the key is shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "admin_key", key(id), unique(name = "admin_key_hash_key", columns(key_hash)))]
pub struct AdminKey {
    /// Id.
    pub id: AdminKeyId,
    /// The one store this key administers.
    pub store_id: StoreId,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    /// A masked form safe to log and show, e.g. `agk_Ab3d…x9Yz`.
    pub masked: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A catalog entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "product", key(id))]
pub struct Product {
    /// Id.
    pub id: ProductId,
    /// The store selling it.
    pub store_id: StoreId,
    /// Title.
    pub title: String,
    /// Listed or draft.
    pub status: ProductStatus,
    /// Currency of all its variants' prices.
    pub currency: Currency,
    /// Bumped by every change; guards concurrent edits.
    pub version: i64,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A sellable variant of a product, with a SKU unique per store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "product_variant", key(id), unique(name = "product_variant_store_sku_key", columns(store_id, sku)))]
pub struct ProductVariant {
    /// Id.
    pub id: VariantId,
    /// The product.
    pub product_id: ProductId,
    /// The store (denormalised for the SKU uniqueness rule).
    pub store_id: StoreId,
    /// Stock keeping unit, unique per store.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Unit price in the product's currency's minor units.
    #[column(money, name = "price")]
    pub price_minor: i64,
    /// Listed or draft.
    pub status: ProductStatus,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An image of a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "product_image", key(id))]
pub struct ProductImage {
    /// Id.
    pub id: ImageId,
    /// The product.
    pub product_id: ProductId,
    /// Where the image is.
    pub url: String,
    /// Sort position.
    pub position: i32,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A stock location of a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "warehouse", key(id))]
pub struct Warehouse {
    /// Id.
    pub id: WarehouseId,
    /// The store.
    pub store_id: StoreId,
    /// Name.
    pub name: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Stock of one variant in one warehouse. `reserved` is the sum of the active
/// reservations' quantities, kept in the row so the stock guard is one
/// conditional update; available = on_hand - reserved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "inventory", key(variant_id, warehouse_id))]
pub struct Inventory {
    /// The variant.
    pub variant_id: VariantId,
    /// The warehouse.
    pub warehouse_id: WarehouseId,
    /// The store.
    pub store_id: StoreId,
    /// Units physically there.
    pub on_hand: i64,
    /// Units held by active reservations.
    pub reserved: i64,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Inventory {
    /// Units that can still be reserved.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// A short-lived hold of stock for an unpaid order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "inventory_reservation", key(id))]
pub struct InventoryReservation {
    /// Id.
    pub id: ReservationId,
    /// The order holding the stock.
    pub order_id: OrderId,
    /// The store.
    pub store_id: StoreId,
    /// The variant.
    pub variant_id: VariantId,
    /// The warehouse.
    pub warehouse_id: WarehouseId,
    /// Units held.
    pub qty: i64,
    /// Active, committed or released.
    pub status: ReservationStatus,
    /// When the hold lapses (the order's reservation expiry).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

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

/// An audited change of a setting or decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "audit_log", key(id), immutable)]
pub struct AuditLog {
    /// Id.
    pub id: AuditId,
    /// The store.
    pub store_id: StoreId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Masked key of the actor.
    pub actor_masked: String,
    /// The actor's IP, when known.
    pub ip: Option<String>,
    /// What changed, e.g. `order_ttl_seconds`.
    pub key: String,
    /// The old value.
    #[column(name = "from_value")]
    pub from: Option<String>,
    /// The new value.
    #[column(name = "to_value")]
    pub to: Option<String>,
}

/// A remembered response of an idempotent request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "idempotency_key", key(scope, key), deletable)]
pub struct IdempotencyRecord {
    /// The scope, e.g. `orders:<user id>`.
    pub scope: String,
    /// The client's key.
    pub key: String,
    /// Hex SHA-256 of the canonical request.
    pub fingerprint: String,
    /// HTTP status of the stored response.
    pub response_status: u16,
    /// The stored response body (JSON).
    pub response_body: String,
    /// The resource created, if any.
    pub resource_id: Option<uuid::Uuid>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Forgotten after this time.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An append-only fact about a store, written in the same changeset as the
/// change it describes; numbered later by the sequencer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "activity_event", key(id))]
pub struct ActivityEvent {
    /// Id.
    pub id: EventId,
    /// The store.
    pub store_id: StoreId,
    /// Position in the store's feed, 1, 2, 3, ...; `None` until sequenced.
    pub seq: Option<i64>,
    /// e.g. `order`.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: uuid::Uuid,
    /// e.g. `order.created`.
    pub kind: String,
    /// Details.
    pub payload: serde_json::Value,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The last seq the sequencer gave out in a store's feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "event_seq", key(store_id))]
pub struct EventSeq {
    /// The store.
    pub store_id: StoreId,
    /// Its last assigned seq (events 1..=last_seq are sequenced).
    pub last_seq: i64,
}

/// An asynchronous export of a store's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "export_job", key(id))]
pub struct ExportJob {
    /// Id.
    pub id: ExportId,
    /// The store.
    pub store_id: StoreId,
    /// What it exports.
    pub kind: ExportKind,
    /// File format.
    pub format: ExportFormat,
    /// State.
    pub status: ExportStatus,
    /// Rows written.
    pub rows: i64,
    /// Bytes written.
    pub bytes: i64,
    /// Where the file is in the blob store.
    pub blob_key: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Masked key of the requester.
    pub requested_by: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The file is deleted after this time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// An audit trail entry of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "export_audit_record", key(id), immutable)]
pub struct ExportAuditRecord {
    /// Id.
    pub id: ExportAuditId,
    /// The export.
    pub export_id: ExportId,
    /// The store.
    pub store_id: StoreId,
    /// What happened.
    pub action: ExportAction,
    /// Masked actor, or `system`.
    pub actor_masked: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}
