//! The one write door. A use case reads, decides, and hands the adapter a
//! [`Changeset`]: the writes plus the guards they depend on. The adapter
//! applies it atomically (all writes or none) and reports which guard failed.

use serde::{Deserialize, Serialize};

use crate::ids::*;
use crate::model::*;

/// A condition that must hold, inside the atomic apply, for the writes to
/// happen. Adapters check each one against the committed state under their
/// own concurrency control (a lock, a conditional UPDATE, a unique index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Guard {
    /// No user has this (normalised) email.
    EmailFree {
        /// The email.
        email: String,
    },
    /// No store has this domain.
    DomainFree {
        /// The domain.
        domain: String,
    },
    /// No variant of the store has this SKU.
    SkuFree {
        /// The store.
        store_id: StoreId,
        /// The SKU.
        sku: String,
    },
    /// The inventory row exists and `on_hand - reserved >= qty`.
    StockAvailable {
        /// The variant.
        variant_id: VariantId,
        /// The warehouse.
        warehouse_id: WarehouseId,
        /// Units needed.
        qty: i64,
    },
    /// The inventory row's `reserved` is at most `on_hand` (or the row is absent).
    ReservedWithin {
        /// The variant.
        variant_id: VariantId,
        /// The warehouse.
        warehouse_id: WarehouseId,
        /// The new on-hand figure.
        on_hand: i64,
    },
    /// The order exists and has this status.
    OrderStatusIs {
        /// The order.
        order_id: OrderId,
        /// Expected status.
        status: OrderStatus,
    },
    /// The payment exists and has this status.
    PaymentStatusIs {
        /// The payment.
        payment_id: PaymentId,
        /// Expected status.
        status: PaymentStatus,
    },
    /// The reservation exists and has this status.
    ReservationStatusIs {
        /// The reservation.
        reservation_id: ReservationId,
        /// Expected status.
        status: ReservationStatus,
    },
    /// The task exists with this status and count of valid helps.
    TaskStateIs {
        /// The task.
        task_id: TaskId,
        /// Expected status.
        status: TaskStatus,
        /// Expected valid helps.
        helps_valid: i64,
    },
    /// The order has no help task yet.
    NoTaskForOrder {
        /// The owner's order.
        order_id: OrderId,
    },
    /// The helper has not helped this task yet.
    NoHelpByHelper {
        /// The task.
        task_id: TaskId,
        /// The helper.
        helper_user_id: UserId,
    },
    /// The help exists and has this status.
    HelpStatusIs {
        /// The help.
        help_id: HelpId,
        /// Expected status.
        status: HelpStatus,
    },
    /// No payout row exists for the task.
    NoPayoutForTask {
        /// The task.
        task_id: TaskId,
    },
    /// The payout row exists and has this status.
    PayoutStatusIs {
        /// The payout.
        payout_id: PayoutId,
        /// Expected status.
        status: PayoutStatus,
    },
    /// No idempotency record for (scope, key), or only one that expired at
    /// or before `now` (an insert of the same key then replaces it).
    IdempotencyKeyFree {
        /// The scope.
        scope: String,
        /// The key.
        key: String,
        /// Records with `expires_at <= now` count as free.
        #[serde(with = "time::serde::rfc3339")]
        now: time::OffsetDateTime,
    },
    /// No payment event with this (provider, event_id).
    PaymentEventFree {
        /// The provider.
        provider: String,
        /// The provider's event id.
        event_id: String,
    },
    /// The settings row exists and has this version.
    SettingsVersionIs {
        /// The store.
        store_id: StoreId,
        /// Expected version.
        version: i64,
    },
    /// The product exists and has this version.
    ProductVersionIs {
        /// The product.
        product_id: ProductId,
        /// Expected version.
        version: i64,
    },
    /// The export job exists and has this status.
    ExportStatusIs {
        /// The export.
        export_id: ExportId,
        /// Expected status.
        status: ExportStatus,
    },
    /// The store's last assigned event seq is this (0 when none).
    EventSeqIs {
        /// The store.
        store_id: StoreId,
        /// Expected last seq.
        last_seq: i64,
    },
}

impl Guard {
    /// A short stable name of the guard's kind, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Guard::EmailFree { .. } => "email_free",
            Guard::DomainFree { .. } => "domain_free",
            Guard::SkuFree { .. } => "sku_free",
            Guard::StockAvailable { .. } => "stock_available",
            Guard::ReservedWithin { .. } => "reserved_within",
            Guard::OrderStatusIs { .. } => "order_status",
            Guard::PaymentStatusIs { .. } => "payment_status",
            Guard::ReservationStatusIs { .. } => "reservation_status",
            Guard::TaskStateIs { .. } => "task_state",
            Guard::NoTaskForOrder { .. } => "no_task_for_order",
            Guard::NoHelpByHelper { .. } => "no_help_by_helper",
            Guard::HelpStatusIs { .. } => "help_status",
            Guard::NoPayoutForTask { .. } => "no_payout_for_task",
            Guard::PayoutStatusIs { .. } => "payout_status",
            Guard::IdempotencyKeyFree { .. } => "idempotency_key_free",
            Guard::PaymentEventFree { .. } => "payment_event_free",
            Guard::SettingsVersionIs { .. } => "settings_version",
            Guard::ProductVersionIs { .. } => "product_version",
            Guard::ExportStatusIs { .. } => "export_status",
            Guard::EventSeqIs { .. } => "event_seq",
        }
    }
}

/// Which guard failed: its position in [`Changeset::guards`] and a copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardFailure {
    /// Index into the changeset's guards.
    pub index: usize,
    /// The guard itself.
    pub guard: Guard,
}

/// One row to write. `Insert` adds a new row (its primary key must be new);
/// `Update` replaces every column of an existing row by primary key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
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
    /// An image.
    Image(ProductImage),
    /// A warehouse.
    Warehouse(Warehouse),
    /// A stock hold.
    Reservation(InventoryReservation),
    /// An order.
    Order(CustomerOrder),
    /// An order line.
    OrderItem(OrderItem),
    /// A payment.
    Payment(Payment),
    /// A provider event.
    PaymentEvent(PaymentEvent),
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
    /// An export job.
    Export(ExportJob),
    /// An export audit record.
    ExportAudit(ExportAuditRecord),
}

impl Record {
    /// The entity kind written, for cache invalidation and metrics.
    pub fn entity(&self) -> EntityRef {
        match self {
            Record::Store(r) => EntityRef::Store(r.id),
            Record::StoreSettings(r) => EntityRef::StoreSettings(r.store_id),
            Record::User(r) => EntityRef::User(r.id),
            Record::Address(r) => EntityRef::Address(r.id),
            Record::Session(r) => EntityRef::Session(r.id),
            Record::AdminKey(r) => EntityRef::AdminKey(r.id),
            Record::Product(r) => EntityRef::Product { product_id: r.id, store_id: r.store_id },
            Record::Variant(r) => EntityRef::Product { product_id: r.product_id, store_id: r.store_id },
            Record::Image(r) => EntityRef::ProductImage(r.product_id),
            Record::Warehouse(r) => EntityRef::Warehouse(r.id),
            Record::Reservation(r) => EntityRef::Reservation(r.id),
            Record::Order(r) => EntityRef::Order(r.id),
            Record::OrderItem(r) => EntityRef::Order(r.order_id),
            Record::Payment(r) => EntityRef::Payment(r.id),
            Record::PaymentEvent(r) => EntityRef::PaymentEvent(r.id),
            Record::Task(r) => EntityRef::Task(r.id),
            Record::Help(r) => EntityRef::Task(r.task_id),
            Record::Payout(r) => EntityRef::Payout(r.id),
            Record::Audit(r) => EntityRef::Audit(r.id),
            Record::Idempotency(_) => EntityRef::Idempotency,
            Record::Event(r) => EntityRef::Event(r.store_id),
            Record::Export(r) => EntityRef::Export(r.id),
            Record::ExportAudit(r) => EntityRef::Export(r.export_id),
        }
    }
}

/// One write of a changeset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Write {
    /// Insert a new row. A primary key that exists already is an error,
    /// except for an idempotency record, which replaces an expired one (its
    /// guard, [`Guard::IdempotencyKeyFree`], has checked it expired).
    Insert(Record),
    /// Replace an existing row by primary key. A missing row is an error.
    Update(Record),
    /// Set a stock row's on-hand figure, creating the row (reserved 0) if absent.
    SetOnHand {
        /// The variant.
        variant_id: VariantId,
        /// The warehouse.
        warehouse_id: WarehouseId,
        /// The store.
        store_id: StoreId,
        /// New on-hand units.
        on_hand: i64,
        /// The change's time.
        #[serde(with = "time::serde::rfc3339")]
        at: time::OffsetDateTime,
    },
    /// Add to a stock row's figures (negative to subtract). The row must exist.
    AdjustStock {
        /// The variant.
        variant_id: VariantId,
        /// The warehouse.
        warehouse_id: WarehouseId,
        /// Change of on_hand.
        on_hand_delta: i64,
        /// Change of reserved.
        reserved_delta: i64,
        /// The change's time.
        #[serde(with = "time::serde::rfc3339")]
        at: time::OffsetDateTime,
    },
    /// Give an event its place in the store's feed.
    SequenceEvent {
        /// The event.
        event_id: EventId,
        /// The store.
        store_id: StoreId,
        /// Its seq.
        seq: i64,
    },
    /// Record the store's last assigned event seq.
    SetEventSeq {
        /// The store.
        store_id: StoreId,
        /// The last seq.
        last_seq: i64,
    },
    /// Delete a session.
    DeleteSession(SessionId),
    /// Delete an idempotency record.
    DeleteIdempotency {
        /// The scope.
        scope: String,
        /// The key.
        key: String,
    },
}

/// A reference to what a write touched, for precise cache invalidation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityRef {
    /// A store row.
    Store(StoreId),
    /// A store's settings.
    StoreSettings(StoreId),
    /// A user.
    User(UserId),
    /// An address.
    Address(AddressId),
    /// A session.
    Session(SessionId),
    /// An admin key.
    AdminKey(AdminKeyId),
    /// A product or one of its variants (and so its store's listing).
    Product {
        /// The product.
        product_id: ProductId,
        /// Its store.
        store_id: StoreId,
    },
    /// A product's images.
    ProductImage(ProductId),
    /// A warehouse.
    Warehouse(WarehouseId),
    /// Stock of a variant (so the product's `available`).
    Stock(VariantId),
    /// A reservation.
    Reservation(ReservationId),
    /// An order or its lines.
    Order(OrderId),
    /// A payment.
    Payment(PaymentId),
    /// A payment event.
    PaymentEvent(PaymentEventId),
    /// A task or its helps.
    Task(TaskId),
    /// A payout.
    Payout(PayoutId),
    /// An audit row.
    Audit(AuditId),
    /// The idempotency table.
    Idempotency,
    /// A store's event feed.
    Event(StoreId),
    /// An export or its audit trail.
    Export(ExportId),
}

impl Write {
    /// What this write touches.
    pub fn touches(&self) -> EntityRef {
        match self {
            Write::Insert(r) | Write::Update(r) => r.entity(),
            Write::SetOnHand { variant_id, .. } | Write::AdjustStock { variant_id, .. } => {
                EntityRef::Stock(*variant_id)
            }
            Write::SequenceEvent { store_id, .. } | Write::SetEventSeq { store_id, .. } => EntityRef::Event(*store_id),
            Write::DeleteSession(id) => EntityRef::Session(*id),
            Write::DeleteIdempotency { .. } => EntityRef::Idempotency,
        }
    }
}

/// Writes plus the guards they depend on, applied atomically or not at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changeset {
    /// Conditions checked inside the atomic apply, before any write.
    pub guards: Vec<Guard>,
    /// The writes, in order.
    pub writes: Vec<Write>,
}

impl Changeset {
    /// An empty changeset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a guard.
    pub fn guard(&mut self, g: Guard) -> &mut Self {
        self.guards.push(g);
        self
    }

    /// Adds an insert.
    pub fn insert(&mut self, r: Record) -> &mut Self {
        self.writes.push(Write::Insert(r));
        self
    }

    /// Adds an update.
    pub fn update(&mut self, r: Record) -> &mut Self {
        self.writes.push(Write::Update(r));
        self
    }

    /// Adds any write.
    pub fn write(&mut self, w: Write) -> &mut Self {
        self.writes.push(w);
        self
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Every entity the writes touch, deduplicated and sorted.
    pub fn touched(&self) -> Vec<EntityRef> {
        let mut v: Vec<EntityRef> = self.writes.iter().map(Write::touches).collect();
        v.sort();
        v.dedup();
        v
    }
}
