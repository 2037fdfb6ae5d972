//! The guards the use cases rely on, by name: each is a generic
//! [`Guard::RowIs`] or [`Guard::Free`] over a table of the catalogue, so no
//! adapter knows them one by one.

use crate::changeset::{Condition, Guard};
use crate::ids::*;
use crate::model::*;
use crate::schema::Value;

/// Unique constraint: one user per email.
pub const EMAIL: &str = "app_user_email_key";
/// Unique constraint: one store per domain.
pub const DOMAIN: &str = "store_domain_key";
/// Unique constraint: one variant per SKU in a store.
pub const SKU: &str = "product_variant_store_sku_key";
/// Unique constraint: one task per owner order.
pub const TASK_PER_ORDER: &str = "help_task_order_key";
/// Unique constraint: one help per helper per task.
pub const HELP_PER_HELPER: &str = "help_task_helper_key";
/// Unique constraint: one payout row per task, ever.
pub const PAYOUT_PER_TASK: &str = "payout_ledger_task_key";
/// Unique constraint: one stored event per (provider, event id).
pub const PAYMENT_EVENT: &str = "payment_event_key_pkey";

/// No user has this (normalised) email.
pub fn email_free(email: &str) -> Guard {
    Guard::free::<AppUser>(EMAIL, vec![email.into()])
}

/// No store has this domain.
pub fn domain_free(domain: &str) -> Guard {
    Guard::free::<Shop>(DOMAIN, vec![domain.into()])
}

/// No variant of the store has this SKU.
pub fn sku_free(store_id: StoreId, sku: &str) -> Guard {
    Guard::free::<ProductVariant>(SKU, vec![store_id.into(), sku.into()])
}

/// The order has no help task yet.
pub fn no_task_for_order(order_id: OrderId) -> Guard {
    Guard::free::<HelpTask>(TASK_PER_ORDER, vec![order_id.into()])
}

/// The helper has not helped this task yet.
pub fn no_help_by_helper(task_id: TaskId, helper_user_id: UserId) -> Guard {
    Guard::free::<Help>(HELP_PER_HELPER, vec![task_id.into(), helper_user_id.into()])
}

/// No payout row exists for the task.
pub fn no_payout_for_task(task_id: TaskId) -> Guard {
    Guard::free::<PayoutLedger>(PAYOUT_PER_TASK, vec![task_id.into()])
}

/// No payment event with this (provider, event id).
pub fn payment_event_free(provider: &str, event_id: &str) -> Guard {
    Guard::free::<PaymentEvent>(PAYMENT_EVENT, vec![provider.into(), event_id.into()])
}

/// The order exists and has this status.
pub fn order_status_is(order_id: OrderId, status: OrderStatus) -> Guard {
    Guard::row_is::<CustomerOrder>(order_id, &[("status", status.into())])
}

/// The order is as read: the same status and refund figures. Every order
/// write that can meet a refund (ship, receive, a refund and its
/// settlement) checks this, so a status change never writes back refund
/// figures a concurrent refund moved, and two refunds never both fit in
/// the room one of them took.
pub fn order_is(o: &CustomerOrder) -> Guard {
    Guard::row_is::<CustomerOrder>(
        o.id,
        &[
            ("status", o.status.into()),
            ("refunded", Value::Int(o.refunded_minor)),
            ("refund_pending", Value::Int(o.refund_pending_minor)),
        ],
    )
}

/// The refund exists and has this status.
pub fn refund_status_is(refund_id: RefundId, status: RefundStatus) -> Guard {
    Guard::row_is::<Refund>(refund_id, &[("status", status.into())])
}

/// The payment exists and has this status.
pub fn payment_status_is(payment_id: PaymentId, status: PaymentStatus) -> Guard {
    Guard::row_is::<Payment>(payment_id, &[("status", status.into())])
}

/// The reservation exists and has this status.
pub fn reservation_status_is(reservation_id: ReservationId, status: ReservationStatus) -> Guard {
    Guard::row_is::<InventoryReservation>(reservation_id, &[("status", status.into())])
}

/// The task exists with this status and count of valid helps.
pub fn task_state_is(task_id: TaskId, status: TaskStatus, helps_valid: i64) -> Guard {
    Guard::row_is::<HelpTask>(task_id, &[("status", status.into()), ("helps_valid", Value::Int(helps_valid))])
}

/// The help exists and has this status.
pub fn help_status_is(help_id: HelpId, status: HelpStatus) -> Guard {
    Guard::row_is::<Help>(help_id, &[("status", status.into())])
}

/// The payout row exists and has this status.
pub fn payout_status_is(payout_id: PayoutId, status: PayoutStatus) -> Guard {
    Guard::row_is::<PayoutLedger>(payout_id, &[("payout_status", status.into())])
}

/// The settings row exists and has this version.
pub fn settings_version_is(store_id: StoreId, version: i64) -> Guard {
    Guard::row_is::<StoreSettings>(store_id, &[("version", Value::Int(version))])
}

/// The store exists and has this version.
pub fn store_version_is(store_id: StoreId, version: i64) -> Guard {
    Guard::row_is::<Shop>(store_id, &[("version", Value::Int(version))])
}

/// The store exists and trades (a write that a suspension must stop).
pub fn store_is_active(store_id: StoreId) -> Guard {
    Guard::row_is::<Shop>(store_id, &[("status", StoreStatus::Active.into())])
}

/// The admin key's mutable columns are as read: not revoked (or revoked
/// then) and last used then, so a batched usage write never undoes a
/// revocation or moves `last_used_at` back.
pub fn admin_key_is(key: &AdminKey) -> Guard {
    Guard::row_is::<AdminKey>(
        key.id,
        &[("revoked_at", opt_time(key.revoked_at)), ("last_used_at", opt_time(key.last_used_at))],
    )
}

/// The flag is as read: same state, note and resolution (a patch never
/// overwrites a concurrent one).
pub fn flag_is(flag: &OrderFlag) -> Guard {
    let text = |t: &Option<String>| t.clone().map_or(Value::Null, Value::from);
    Guard::row_is::<OrderFlag>(
        flag.id,
        &[("status", flag.status.into()), ("note", text(&flag.note)), ("resolution", text(&flag.resolution))],
    )
}

fn opt_time(t: Option<time::OffsetDateTime>) -> Value<'static> {
    t.map_or(Value::Null, Value::Timestamp)
}

/// The product exists and has this version.
pub fn product_version_is(product_id: ProductId, version: i64) -> Guard {
    Guard::row_is::<Product>(product_id, &[("version", Value::Int(version))])
}

/// The export job exists and has this status.
pub fn export_status_is(export_id: ExportId, status: ExportStatus) -> Guard {
    Guard::row_is::<ExportJob>(export_id, &[("status", status.into())])
}

/// Whether `condition` is the free check of the unique constraint `name`.
pub fn is_free(condition: &Condition, name: &str) -> bool {
    condition.guard().is_some_and(|g| g.is_free(name))
}

/// Whether `condition` is a status check of an order.
pub fn is_order_status(condition: &Condition) -> bool {
    condition.guard().is_some_and(|g| g.expects::<CustomerOrder>("status").is_some())
}
