//! The entity catalogue: every table agora stores, once, in dependency
//! order (a row only refers to rows of tables listed before it). From this
//! list come [`Record`] (one row of any table), [`tables`] (what copy,
//! verify, export and the snapshot walk), and the conversions between
//! entities and records.
//!
//! Adding a table is one line here plus its `#[derive(Entity)]` struct in
//! [`crate::model`] and its two migrations; see "Adding an entity" in
//! docs/architecture.md.

use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::schema::{DecodeError, Entity, Key, Table, Value, Values};

/// An entity that is listed in the catalogue: it converts to and from a
/// [`Record`].
pub trait Catalogued: Entity {
    /// Wraps the entity in its [`Record`] variant.
    fn into_record(self) -> Record;
    /// Unwraps a record of this entity's table.
    fn from_record(record: Record) -> Option<Self>;
    /// Borrows the entity out of a record of its table.
    fn of_record(record: &Record) -> Option<&Self>;
}

macro_rules! catalogue {
    ($($(#[$doc:meta])* $variant:ident($ty:ty)),* $(,)?) => {
        /// One row of any table of the catalogue.
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Record {
            $($(#[$doc])* $variant($ty),)*
        }

        impl Record {
            /// The table the row belongs to.
            pub fn table(&self) -> &'static Table {
                match self {
                    $(Record::$variant(_) => <$ty as Entity>::table(),)*
                }
            }

            /// The row's primary key.
            pub fn key(&self) -> Key {
                match self {
                    $(Record::$variant(r) => r.key(),)*
                }
            }

            /// Appends the row's values in column order.
            pub fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
                match self {
                    $(Record::$variant(r) => r.encode(out),)*
                }
            }

            /// The row as JSON: its entity's serde form (the field names of
            /// the Rust model), which the export format is made of.
            pub fn row_json(&self) -> serde_json::Value {
                let row = match self {
                    $(Record::$variant(r) => serde_json::to_value(r),)*
                };
                // Entities are plain data: they always serialise.
                row.unwrap_or(serde_json::Value::Null)
            }

            /// Reads a row of `table` from its JSON form ([`Record::row_json`]).
            ///
            /// # Errors
            /// When the JSON is not a row of that table.
            pub fn from_row_json(table: &Table, row: serde_json::Value) -> Result<Record, DecodeError> {
                $(
                    if table.name == <$ty as Entity>::table().name {
                        return serde_json::from_value::<$ty>(row)
                            .map(Record::$variant)
                            .map_err(|e| DecodeError::new(format!("{}: {e}", table.name)));
                    }
                )*
                Err(DecodeError::new(format!("table {} is not in the catalogue", table.name)))
            }

            /// Reads a row of `table` from its values in column order.
            ///
            /// # Errors
            /// When a value does not fit, or the table is not in the catalogue.
            pub fn decode(table: &Table, values: Vec<Value<'static>>) -> Result<Record, DecodeError> {
                let mut v = Values::new(values);
                $(
                    if table.name == <$ty as Entity>::table().name {
                        return <$ty as Entity>::decode(&mut v).map(Record::$variant);
                    }
                )*
                Err(DecodeError::new(format!("table {} is not in the catalogue", table.name)))
            }
        }

        $(
            impl Catalogued for $ty {
                fn into_record(self) -> Record {
                    Record::$variant(self)
                }
                fn from_record(record: Record) -> Option<Self> {
                    match record {
                        Record::$variant(r) => Some(r),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
                fn of_record(record: &Record) -> Option<&Self> {
                    match record {
                        Record::$variant(r) => Some(r),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }

            impl From<$ty> for Record {
                fn from(r: $ty) -> Record {
                    Record::$variant(r)
                }
            }
        )*

        /// Every table of the catalogue, in dependency order.
        pub fn tables() -> &'static [&'static Table] {
            static TABLES: std::sync::OnceLock<Vec<&'static Table>> = std::sync::OnceLock::new();
            TABLES.get_or_init(|| vec![$(<$ty as Entity>::table(),)*])
        }
    };
}

catalogue! {
    /// A store.
    Store(Shop),
    /// A store's settings.
    StoreSettings(StoreSettings),
    /// A user.
    User(AppUser),
    /// An address.
    Address(UserAddress),
    /// A session.
    Session(Session),
    /// An admin key.
    AdminKey(AdminKey),
    /// A product.
    Product(Product),
    /// A variant.
    Variant(ProductVariant),
    /// A product's search words.
    ProductSearch(ProductSearch),
    /// An uploaded file.
    Attachment(Attachment),
    /// A processor's result for an attachment.
    AttachmentDerived(AttachmentDerived),
    /// An image.
    Image(ProductImage),
    /// A warehouse.
    Warehouse(Warehouse),
    /// A stock row.
    Inventory(Inventory),
    /// An order.
    Order(CustomerOrder),
    /// An order line.
    OrderItem(OrderItem),
    /// A stock hold.
    Reservation(InventoryReservation),
    /// A payment.
    Payment(Payment),
    /// A provider event.
    PaymentEvent(PaymentEvent),
    /// A refund.
    Refund(Refund),
    /// A refund's restock line.
    RefundLine(RefundLine),
    /// A help task.
    Task(HelpTask),
    /// A help.
    Help(Help),
    /// A payout row.
    Payout(PayoutLedger),
    /// An audit row.
    Audit(AuditLog),
    /// An idempotency record.
    Idempotency(IdempotencyRecord),
    /// An activity event.
    Event(ActivityEvent),
    /// A store's last event seq.
    EventSeq(EventSeq),
    /// An export job.
    Export(ExportJob),
    /// An export audit record.
    ExportAudit(ExportAuditRecord),
    /// An order flag.
    Flag(OrderFlag),
    /// A day of a store's KPIs.
    KpiDay(KpiDay),
    /// A derived-data job's place in a store's feed.
    JobCursor(JobCursor),
    /// A variant's sales velocity.
    Velocity(ProductVelocity),
    /// A purchase order.
    PurchaseOrder(PurchaseOrder),
    /// A purchase order line.
    PurchaseOrderLine(PurchaseOrderLine),
    /// A support ticket.
    Ticket(Ticket),
    /// A reply draft.
    Draft(ReplyDraft),
    /// A ticket message.
    TicketMessage(TicketMessage),
    /// A quick reply.
    QuickReply(QuickReply),
    /// An insight.
    Insight(Insight),
    /// A connection check.
    ConnectionCheck(ConnectionCheck),
    /// A market-wide security event.
    SecurityEvent(SecurityEvent),
    /// An outgoing webhook endpoint.
    WebhookEndpoint(WebhookEndpoint),
    /// A delivery of a feed event to an endpoint.
    WebhookDelivery(WebhookDelivery),
    /// A setting every process of a deployment shares.
    DeploymentSetting(DeploymentSetting),
}

/// The catalogue's table named `name`.
pub fn table_named(name: &str) -> Option<&'static Table> {
    tables().iter().copied().find(|t| t.name == name)
}

/// The position of `table` in the catalogue's dependency order.
pub fn table_position(table: &Table) -> Option<usize> {
    tables().iter().position(|t| t.name == table.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnType;

    #[test]
    fn every_table_has_a_key_and_distinct_columns() {
        for t in tables() {
            assert!(!t.key.is_empty(), "{}", t.name);
            let mut names: Vec<&str> = t.columns.iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), t.columns.len(), "{}", t.name);
            for k in &t.key {
                assert!(!t.columns[*k].nullable, "{}: key column may not be nullable", t.name);
            }
        }
        let names: Vec<&str> = tables().iter().map(|t| t.name).collect();
        assert_eq!(names.first(), Some(&"store"));
        assert_eq!(names.len(), 46);
    }

    #[test]
    fn declarations_come_out_as_written() {
        let t = ProductVariant::table();
        assert_eq!(t.name, "product_variant");
        assert_eq!(t.columns[t.col("price")].ty, ColumnType::Money);
        assert_eq!(t.unique_named("product_variant_store_sku_key").map(|u| u.columns.len()), Some(2));
        let s = Shop::table();
        assert_eq!(s.columns[s.col("encryption_version")].ty, ColumnType::Int);
        assert!(s.columns[s.col("access_token_ciphertext")].nullable);
        assert!(IdempotencyRecord::table().deletable);
        assert!(AuditLog::table().immutable);
        assert_eq!(Inventory::table().key.len(), 2);
    }

    #[test]
    fn a_record_round_trips_through_its_values() {
        let t = time::OffsetDateTime::UNIX_EPOCH;
        let shop = Shop {
            id: crate::StoreId(uuid::Uuid::from_u128(7)),
            name: "n".into(),
            domain: "d".into(),
            plan: "basic".into(),
            status: StoreStatus::Active,
            access_token: Some(SealedSecret { key_version: 3, ciphertext: vec![1, 2] }),
            onboarding: serde_json::json!({}),
            version: 1,
            created_at: t,
            updated_at: t,
        };
        for s in [shop.clone(), Shop { access_token: None, ..shop }] {
            let r = Record::from(s.clone());
            let mut out = Vec::new();
            r.encode(&mut out);
            let owned: Vec<Value<'static>> = out.into_iter().map(Value::into_owned).collect();
            assert_eq!(Record::decode(Shop::table(), owned).unwrap(), r);
            assert_eq!(r.key(), Key::from(s.id));
            assert_eq!(Record::from_row_json(Shop::table(), r.row_json()).unwrap(), r);
        }
        assert!(Record::from_row_json(Shop::table(), serde_json::json!({"id": 1})).is_err());
    }
}
