//! Typed identifiers. Every entity id is a UUID v7 (time-ordered), wrapped in
//! its own type so an order id can never be passed where a user id is meant.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::{ColumnShape, ColumnType, DecodeError, Field, Key, Value, Values};

macro_rules! typed_id {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps a raw UUID.
            pub const fn from_uuid(id: Uuid) -> Self { Self(id) }
            /// The raw UUID.
            pub const fn as_uuid(&self) -> Uuid { self.0 }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { self.0.fmt(f) }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Uuid::parse_str(s).map(Self) }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self { Self(id) }
        }

        impl Field for $name {
            fn shape() -> Vec<ColumnShape> { Uuid::shape() }
            fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) { out.push(Value::Uuid(self.0)); }
            fn decode(values: &mut Values) -> Result<Self, DecodeError> { Uuid::decode(values).map(Self) }
        }

        /// Stored as one list-of-uuid column.
        impl Field for Vec<$name> {
            fn shape() -> Vec<ColumnShape> {
                vec![ColumnShape { ty: ColumnType::UuidArray, nullable: false }]
            }
            fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
                out.push(Value::UuidArray(Cow::Owned(self.iter().map(|i| i.0).collect())));
            }
            fn decode(values: &mut Values) -> Result<Self, DecodeError> {
                match values.take()? {
                    Value::UuidArray(a) => Ok(a.iter().copied().map($name).collect()),
                    other => Err(DecodeError::new(format!("expected a list of uuids, found {other:?}"))),
                }
            }
        }

        impl From<$name> for Value<'static> {
            fn from(id: $name) -> Self { Value::Uuid(id.0) }
        }

        impl From<$name> for Key {
            fn from(id: $name) -> Self { Key(vec![Value::Uuid(id.0)]) }
        }
    )*};
}

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
    /// Identifies a [`crate::HelpTask`].
    TaskId,
    /// Identifies a [`crate::Help`].
    HelpId,
    /// Identifies a [`crate::PayoutLedger`] row.
    PayoutId,
    /// Identifies an [`crate::AuditLog`] row.
    AuditId,
    /// Identifies an [`crate::ActivityEvent`].
    EventId,
    /// Identifies an [`crate::ExportJob`].
    ExportId,
    /// Identifies an [`crate::ExportAuditRecord`].
    ExportAuditId,
}
