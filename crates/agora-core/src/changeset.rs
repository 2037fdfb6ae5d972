//! The one write door. A use case reads, decides, and hands the adapter a
//! [`Changeset`]: the writes plus the guards they depend on. The adapter
//! applies it atomically (all writes or none) and reports which condition
//! failed.
//!
//! Guards are generic over the catalogue ([`Guard::RowIs`], [`Guard::Free`]),
//! so a new table needs no new guard and no adapter code. Writes say what
//! they mean: besides inserting, updating and deleting rows, stock
//! reservations ([`Write::Stock`]), the idempotent response
//! ([`Write::PutIdempotency`]) and the event sequencer
//! ([`Write::SequenceEvents`]) are writes of their own that carry their
//! condition inside, so an adapter can batch or coalesce them (one
//! conditional UPDATE per hot stock row for a whole group of orders)
//! without guessing from a changeset's shape.

use time::OffsetDateTime;

use crate::catalogue::{Catalogued, Record};
use crate::ids::*;
use crate::model::IdempotencyRecord;
use crate::schema::{Entity, Key, Table, Value};

/// A condition that must hold, inside the atomic apply, before any write.
/// Adapters check each one against the committed state (plus the earlier
/// writes of their group) under their own concurrency control.
#[derive(Clone)]
pub enum Guard {
    /// The row of `table` with primary key `key` exists and each listed
    /// column holds the given value (a status, a version, ...).
    RowIs {
        /// The table.
        table: &'static Table,
        /// The row's primary key.
        key: Key,
        /// (column position, expected value) pairs.
        expect: Vec<(usize, Value<'static>)>,
    },
    /// No row of `table` holds `values` in the columns of its unique
    /// constraint named `unique` (an email, a domain, a SKU, one payout
    /// per task, ...). The unique constraint backs it up: a concurrent
    /// insert that wins the race fails the writer's insert, and the
    /// adapter reports this guard.
    Free {
        /// The table.
        table: &'static Table,
        /// The unique constraint's name.
        unique: &'static str,
        /// The values, in the constraint's column order.
        values: Vec<Value<'static>>,
    },
}

impl Guard {
    /// The row of `T` with `key` exists with these column values.
    ///
    /// # Panics
    /// When `T` has no such column (a bug caught by every conformance test).
    pub fn row_is<T: Entity>(key: impl Into<Key>, expect: &[(&str, Value<'static>)]) -> Guard {
        let table = T::table();
        Guard::RowIs { table, key: key.into(), expect: expect.iter().map(|(c, v)| (table.col(c), v.clone())).collect() }
    }

    /// No row of `T` holds `values` in its unique constraint `unique`.
    ///
    /// # Panics
    /// When `T` has no such constraint or the value count is wrong.
    pub fn free<T: Entity>(unique: &'static str, values: Vec<Value<'static>>) -> Guard {
        let table = T::table();
        let u = table.unique_named(unique).unwrap_or_else(|| panic!("{} has no unique {unique}", table.name));
        assert_eq!(u.columns.len(), values.len(), "unique {unique}: wrong number of values");
        Guard::Free { table, unique, values }
    }

    /// The table the guard reads.
    pub fn table(&self) -> &'static Table {
        match self {
            Guard::RowIs { table, .. } | Guard::Free { table, .. } => table,
        }
    }

    /// A short stable name for metrics and logs: `table.column[.column]`
    /// for a row check, the constraint's name for a free check.
    pub fn kind(&self) -> String {
        match self {
            Guard::RowIs { table, expect, .. } => {
                let cols: Vec<&str> = expect.iter().map(|(c, _)| table.columns[*c].name).collect();
                format!("{}.{}", table.name, cols.join("."))
            }
            Guard::Free { unique, .. } => (*unique).to_owned(),
        }
    }

    /// Whether this guard checks the unique constraint `name`.
    pub fn is_free(&self, name: &str) -> bool {
        matches!(self, Guard::Free { unique, .. } if *unique == name)
    }

    /// The expected value of `column` when this is a row check of `T`.
    pub fn expects<T: Entity>(&self, column: &str) -> Option<&Value<'static>> {
        match self {
            Guard::RowIs { table, expect, .. } if table.name == T::table().name => {
                let c = table.column(column)?;
                expect.iter().find(|(i, _)| *i == c).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Guard::RowIs { table, key, expect } => {
                let exp: Vec<String> =
                    expect.iter().map(|(c, v)| format!("{} = {v:?}", table.columns[*c].name)).collect();
                write!(f, "RowIs({} {key}: {})", table.name, exp.join(", "))
            }
            Guard::Free { table, unique, values } => write!(f, "Free({}.{unique}: {values:?})", table.name),
        }
    }
}

impl PartialEq for Guard {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Guard::RowIs { table: a, key: ka, expect: ea }, Guard::RowIs { table: b, key: kb, expect: eb }) => {
                a.name == b.name && ka == kb && ea == eb
            }
            (Guard::Free { table: a, unique: ua, values: va }, Guard::Free { table: b, unique: ub, values: vb }) => {
                a.name == b.name && ua == ub && va == vb
            }
            _ => false,
        }
    }
}

impl Eq for Guard {}

/// What did not hold when a changeset was refused: one of its guards, or
/// the condition a write carries inside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// An explicit guard.
    Guard(Guard),
    /// [`StockChange::Reserve`]: the stock row exists and `on_hand - reserved >= qty`.
    StockAvailable {
        /// The variant.
        variant_id: VariantId,
        /// The warehouse.
        warehouse_id: WarehouseId,
        /// Units asked for.
        qty: i64,
    },
    /// [`StockChange::SetOnHand`]: the row's `reserved` is at most the new on-hand figure.
    ReservedWithin {
        /// The variant.
        variant_id: VariantId,
        /// The warehouse.
        warehouse_id: WarehouseId,
        /// The new on-hand figure.
        on_hand: i64,
    },
    /// [`StockChange::SetReserved`]: the row's `reserved` is still what was read.
    ReservedIs {
        /// The variant.
        variant_id: VariantId,
        /// The warehouse.
        warehouse_id: WarehouseId,
        /// The expected figure.
        reserved: i64,
    },
    /// [`Write::PutIdempotency`]: no record for (scope, key), or only one
    /// that expired at or before `now`.
    IdempotencyKeyFree {
        /// The scope.
        scope: String,
        /// The key.
        key: String,
        /// Records with `expires_at <= now` count as free.
        now: OffsetDateTime,
    },
    /// [`Write::SequenceEvents`]: the store's last seq is still `last_seq`.
    EventSeqIs {
        /// The store.
        store_id: StoreId,
        /// Expected last seq (0 when none).
        last_seq: i64,
    },
}

impl Condition {
    /// A short stable name of the condition's kind, for metrics and logs.
    pub fn kind(&self) -> String {
        match self {
            Condition::Guard(g) => g.kind(),
            Condition::StockAvailable { .. } => "stock_available".into(),
            Condition::ReservedWithin { .. } => "reserved_within".into(),
            Condition::ReservedIs { .. } => "reserved_is".into(),
            Condition::IdempotencyKeyFree { .. } => "idempotency_key_free".into(),
            Condition::EventSeqIs { .. } => "event_seq".into(),
        }
    }

    /// The guard, when the condition is an explicit guard.
    pub fn guard(&self) -> Option<&Guard> {
        match self {
            Condition::Guard(g) => Some(g),
            _ => None,
        }
    }
}

/// Which condition failed: its index in [`Changeset::conditions`] order
/// (guards first, then the writes: write `j` is index `guards.len() + j`)
/// and a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardFailure {
    /// Index: `i` for guard `i`, `guards.len() + j` for write `j`.
    pub index: usize,
    /// What did not hold.
    pub condition: Condition,
}

/// A change to one stock row (`inventory`, keyed by variant and warehouse).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StockChange {
    /// Hold `n` units: `reserved += n` if `on_hand - reserved >= n`, else
    /// (also when the row does not exist) the changeset fails with
    /// [`Condition::StockAvailable`].
    Reserve(i64),
    /// Give back `n` held units: `reserved -= n`. Fewer than `n` held (or
    /// no row) is [`crate::StoreError::Missing`].
    Release(i64),
    /// Sell `n` held units: `on_hand -= n` and `reserved -= n`. Fewer than
    /// `n` on hand or held (or no row) is [`crate::StoreError::Missing`].
    Consume(i64),
    /// Set `on_hand`, creating the row (`reserved` 0) if absent; refused
    /// with [`Condition::ReservedWithin`] when more is reserved.
    SetOnHand {
        /// The store (for a new row).
        store_id: StoreId,
        /// The new figure.
        on_hand: i64,
    },
    /// Set `reserved` from `expected` to `reserved` (reconciliation);
    /// refused with [`Condition::ReservedIs`] when it moved meanwhile.
    SetReserved {
        /// What was read.
        expected: i64,
        /// The corrected figure.
        reserved: i64,
    },
    /// Add to both figures with no condition of its own (a replay on a
    /// dual-write secondary). A result below zero or with more reserved
    /// than on hand is [`crate::StoreError::Missing`].
    Adjust {
        /// Change of `on_hand`.
        on_hand: i64,
        /// Change of `reserved`.
        reserved: i64,
    },
}

/// One write of a changeset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Insert a new row; an existing primary key or a broken unique
    /// constraint is an error (a [`Guard::Free`] of the changeset covering
    /// it is reported instead).
    Insert(Record),
    /// Replace every column of an existing row, by primary key. A missing
    /// row is [`crate::StoreError::Missing`].
    Update(Record),
    /// Delete a row by primary key (absent is fine).
    Delete {
        /// The table.
        table: &'static Table,
        /// The row's key.
        key: Key,
    },
    /// Change a stock row; see [`StockChange`] for each change's condition.
    Stock {
        /// The variant.
        variant_id: VariantId,
        /// The warehouse.
        warehouse_id: WarehouseId,
        /// The change's time (the row's `updated_at`).
        at: OffsetDateTime,
        /// What to do.
        change: StockChange,
    },
    /// Store an idempotent response: insert the record, or replace one
    /// that expired at or before `now`; a live record fails the changeset
    /// with [`Condition::IdempotencyKeyFree`].
    PutIdempotency {
        /// The record.
        record: IdempotencyRecord,
        /// Records with `expires_at <= now` count as free.
        now: OffsetDateTime,
    },
    /// Give `events` the seqs `after + 1, after + 2, ...` in the store's
    /// feed and record the new last seq; refused with
    /// [`Condition::EventSeqIs`] when the store's last seq is not `after`.
    /// An event that does not exist is [`crate::StoreError::Missing`].
    SequenceEvents {
        /// The store.
        store_id: StoreId,
        /// The last seq before these events.
        after: i64,
        /// The events, in feed order.
        events: Vec<EventId>,
    },
}

impl Write {
    /// The record an insert or update writes.
    pub fn record(&self) -> Option<&Record> {
        match self {
            Write::Insert(r) | Write::Update(r) => Some(r),
            _ => None,
        }
    }

    /// The table and key of the row this write touches (for a sequencing
    /// write, the store's `event_seq` row).
    pub fn row(&self) -> (&'static Table, Key) {
        match self {
            Write::Insert(r) | Write::Update(r) => (r.table(), r.key()),
            Write::Delete { table, key } => (table, key.clone()),
            Write::Stock { variant_id, warehouse_id, .. } => (
                <crate::model::Inventory as Entity>::table(),
                Key(vec![Value::Uuid(variant_id.0), Value::Uuid(warehouse_id.0)]),
            ),
            Write::PutIdempotency { record, .. } => (IdempotencyRecord::table(), record.key()),
            Write::SequenceEvents { store_id, .. } => (crate::model::EventSeq::table(), Key::from(*store_id)),
        }
    }

    /// The condition this write carries inside, if any.
    pub fn condition(&self) -> Option<Condition> {
        match self {
            Write::Stock { variant_id, warehouse_id, change, .. } => {
                let (variant_id, warehouse_id) = (*variant_id, *warehouse_id);
                match change {
                    StockChange::Reserve(qty) => {
                        Some(Condition::StockAvailable { variant_id, warehouse_id, qty: *qty })
                    }
                    StockChange::SetOnHand { on_hand, .. } => {
                        Some(Condition::ReservedWithin { variant_id, warehouse_id, on_hand: *on_hand })
                    }
                    StockChange::SetReserved { expected, .. } => {
                        Some(Condition::ReservedIs { variant_id, warehouse_id, reserved: *expected })
                    }
                    _ => None,
                }
            }
            Write::PutIdempotency { record, now } => {
                Some(Condition::IdempotencyKeyFree { scope: record.scope.clone(), key: record.key.clone(), now: *now })
            }
            Write::SequenceEvents { store_id, after, .. } => {
                Some(Condition::EventSeqIs { store_id: *store_id, last_seq: *after })
            }
            _ => None,
        }
    }

    /// The write as a replay that follows a decision already made elsewhere
    /// (a dual-write secondary): a stock change becomes the plain adjustment
    /// it amounted to, so a secondary that lags (a copy still running)
    /// arrives at the same figures. Idempotency records and sequencing keep
    /// their condition: on a secondary that already has the row it fails,
    /// and the next copy pass reconciles.
    pub fn unconditional(&self) -> Write {
        let adjust = |on_hand: i64, reserved: i64| StockChange::Adjust { on_hand, reserved };
        match self {
            Write::Stock { variant_id, warehouse_id, at, change } => {
                let change = match change {
                    StockChange::Reserve(n) => adjust(0, *n),
                    StockChange::Release(n) => adjust(0, -n),
                    StockChange::Consume(n) => adjust(-n, -n),
                    StockChange::SetReserved { expected, reserved } => adjust(0, reserved - expected),
                    other @ (StockChange::SetOnHand { .. } | StockChange::Adjust { .. }) => other.clone(),
                };
                Write::Stock { variant_id: *variant_id, warehouse_id: *warehouse_id, at: *at, change }
            }
            other => other.clone(),
        }
    }
}

/// Writes plus the guards they depend on, applied atomically or not at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    pub fn insert(&mut self, r: impl Into<Record>) -> &mut Self {
        self.writes.push(Write::Insert(r.into()));
        self
    }

    /// Adds an update.
    pub fn update(&mut self, r: impl Into<Record>) -> &mut Self {
        self.writes.push(Write::Update(r.into()));
        self
    }

    /// Adds a delete of `T`'s row with `key`.
    pub fn delete<T: Catalogued>(&mut self, key: impl Into<Key>) -> &mut Self {
        self.writes.push(Write::Delete { table: T::table(), key: key.into() });
        self
    }

    /// Adds a stock change.
    pub fn stock(
        &mut self,
        variant_id: VariantId,
        warehouse_id: WarehouseId,
        at: OffsetDateTime,
        change: StockChange,
    ) -> &mut Self {
        self.writes.push(Write::Stock { variant_id, warehouse_id, at, change });
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

    /// The failure of the condition at `index` (see [`GuardFailure::index`]).
    ///
    /// # Panics
    /// When `index` names a write without a condition.
    pub fn failure(&self, index: usize) -> GuardFailure {
        let condition = match self.guards.get(index) {
            Some(g) => Condition::Guard(g.clone()),
            None => self.writes[index - self.guards.len()].condition().expect("a write with a condition"),
        };
        GuardFailure { index, condition }
    }

    /// The failure of write `j`'s own condition.
    pub fn write_failure(&self, j: usize) -> GuardFailure {
        self.failure(self.guards.len() + j)
    }

    /// Every condition in the order adapters check them: the guards, then
    /// the conditions of the writes, each with its index.
    pub fn conditions(&self) -> impl Iterator<Item = (usize, Condition)> + '_ {
        let g = self.guards.len();
        self.guards
            .iter()
            .enumerate()
            .map(|(i, x)| (i, Condition::Guard(x.clone())))
            .chain(self.writes.iter().enumerate().filter_map(move |(j, w)| w.condition().map(|c| (g + j, c))))
    }
}
