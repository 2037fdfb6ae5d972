//! Typed identifiers. Every entity id is a UUID v7 (time-ordered), wrapped in
//! its own type so an order id can never be passed where a user id is meant.

/// Declares typed ids (a UUID newtype with every conversion the catalogue
/// needs). Usable next to an entity in any model file:
/// `typed_id! { /// Identifies a ticket. TicketId }`.
macro_rules! typed_id {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// Wraps a raw UUID.
            pub const fn from_uuid(id: uuid::Uuid) -> Self { Self(id) }
            /// The raw UUID.
            pub const fn as_uuid(&self) -> uuid::Uuid { self.0 }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { self.0.fmt(f) }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> { uuid::Uuid::parse_str(s).map(Self) }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self { Self(id) }
        }

        impl $crate::schema::Field for $name {
            fn shape() -> Vec<$crate::schema::ColumnShape> { <uuid::Uuid as $crate::schema::Field>::shape() }
            fn encode<'a>(&'a self, out: &mut Vec<$crate::schema::Value<'a>>) {
                out.push($crate::schema::Value::Uuid(self.0));
            }
            fn decode(values: &mut $crate::schema::Values) -> Result<Self, $crate::schema::DecodeError> {
                <uuid::Uuid as $crate::schema::Field>::decode(values).map(Self)
            }
        }

        /// Stored as one list-of-uuid column.
        impl $crate::schema::Field for Vec<$name> {
            fn shape() -> Vec<$crate::schema::ColumnShape> {
                vec![$crate::schema::ColumnShape { ty: $crate::schema::ColumnType::UuidArray, nullable: false }]
            }
            fn encode<'a>(&'a self, out: &mut Vec<$crate::schema::Value<'a>>) {
                let ids = self.iter().map(|i| i.0).collect();
                out.push($crate::schema::Value::UuidArray(std::borrow::Cow::Owned(ids)));
            }
            fn decode(values: &mut $crate::schema::Values) -> Result<Self, $crate::schema::DecodeError> {
                match values.take()? {
                    $crate::schema::Value::UuidArray(a) => Ok(a.iter().copied().map($name).collect()),
                    other => Err($crate::schema::DecodeError::new(format!("expected a list of uuids, found {other:?}"))),
                }
            }
        }

        impl From<$name> for $crate::schema::Value<'static> {
            fn from(id: $name) -> Self { $crate::schema::Value::Uuid(id.0) }
        }

        impl From<$name> for $crate::schema::Key {
            fn from(id: $name) -> Self { $crate::schema::Key(vec![$crate::schema::Value::Uuid(id.0)]) }
        }
    )*};
}
// For model files that declare their entity's id next to it (see "Adding an entity").
#[allow(unused_imports)]
pub(crate) use typed_id;

typed_id! {
    /// Identifies a [`crate::Shop`].
    StoreId,
    /// Identifies an [`crate::AppUser`].
    UserId,
    /// Identifies a [`crate::UserAddress`].
    AddressId,
    /// Identifies a [`crate::Session`].
    SessionId,
    /// Identifies an [`crate::AdminKey`].
    AdminKeyId,
    /// Identifies a [`crate::Product`].
    ProductId,
    /// Identifies a [`crate::ProductVariant`].
    VariantId,
    /// Identifies a [`crate::ProductImage`].
    ImageId,
    /// Identifies a [`crate::Warehouse`].
    WarehouseId,
    /// Identifies an [`crate::InventoryReservation`].
    ReservationId,
    /// Identifies a [`crate::CustomerOrder`].
    OrderId,
    /// Identifies an [`crate::OrderItem`].
    OrderItemId,
    /// Identifies a [`crate::Payment`].
    PaymentId,
    /// Identifies a [`crate::PaymentEvent`].
    PaymentEventId,
    /// Identifies a [`crate::Refund`].
    RefundId,
    /// Identifies a [`crate::RefundLine`].
    RefundLineId,
    /// Identifies a [`crate::WebhookEndpoint`].
    WebhookEndpointId,
    /// Identifies a [`crate::WebhookDelivery`].
    WebhookDeliveryId,
    /// Identifies a [`crate::HelpTask`].
    TaskId,
    /// Identifies a [`crate::Help`].
    HelpId,
    /// Identifies a [`crate::PayoutLedger`] row.
    PayoutId,
    /// Identifies an [`crate::AuditLog`] row.
    AuditId,
    /// Identifies a [`crate::SecurityEvent`].
    SecurityEventId,
    /// Identifies an [`crate::ActivityEvent`].
    EventId,
    /// Identifies an [`crate::ExportJob`].
    ExportId,
    /// Identifies an [`crate::ExportAuditRecord`].
    ExportAuditId,
}
