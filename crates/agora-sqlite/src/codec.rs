//! Conversions between core types and SQLite values, the row mappers of
//! every table (one column list per table, shared by reads and snapshot),
//! and error mapping.

use agora_core::*;
use rusqlite::Row;
use rusqlite::types::{FromSqlError, Type};
use time::OffsetDateTime;
use uuid::Uuid;

/// Any driver error that is not a constraint we understand.
pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// In debug builds (every test), fails loudly when a statement's plan
/// scans a table without an index (checked once per statement text with
/// `EXPLAIN QUERY PLAN`), or when a run stepped through a table without an
/// index or made SQLite build a transient index: no read or guard may scan.
pub(crate) fn assert_indexed(c: &rusqlite::Connection, st: &rusqlite::Statement<'_>, sql: &str) {
    #[cfg(debug_assertions)]
    {
        use rusqlite::StatementStatus::{AutoIndex, FullscanStep};
        // A read with no WHERE at all (the first page of every store, by
        // primary key) walks an index on purpose; only filtered reads must
        // never scan.
        if !sql.contains(" WHERE ") {
            return;
        }
        assert!(
            st.get_status(FullscanStep) == 0 && st.get_status(AutoIndex) == 0,
            "statement scanned a table (add an index): {sql}"
        );
        thread_local! {
            static CHECKED: std::cell::RefCell<std::collections::HashSet<String>> = Default::default();
        }
        if CHECKED.with(|s| s.borrow().contains(sql)) {
            return;
        }
        let scans = table_scans(c, sql).expect("EXPLAIN QUERY PLAN");
        assert!(scans.is_empty(), "statement scans {scans:?} (add an index): {sql}");
        CHECKED.with(|s| s.borrow_mut().insert(sql.to_owned()));
    }
    let _ = (c, st, sql);
}

/// The plan steps of `sql` that scan a table with no index at all.
#[cfg_attr(not(debug_assertions), allow(dead_code))] // only the debug-build scan check and tests use it
pub(crate) fn table_scans(c: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    // Parameters stay unbound (NULL): the plan does not depend on them.
    let mut rows = st.raw_query();
    let mut scans = Vec::new();
    while let Some(r) = rows.next()? {
        let detail: String = r.get(3)?;
        if detail.starts_with("SCAN ") && !detail.contains(" INDEX ") {
            scans.push(detail);
        }
    }
    Ok(scans)
}

/// A UUID as its 16 big-endian bytes (sorts like `Uuid`'s `Ord`).
pub(crate) fn b(id: Uuid) -> [u8; 16] {
    id.into_bytes()
}

/// A timestamp as unix microseconds.
pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos().div_euclid(1000);
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

/// An optional timestamp.
pub(crate) fn ots(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(ts)
}

fn conv_err(idx: usize, ty: Type, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, msg.into())
}

pub(crate) fn get_uuid(r: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
    let bytes: [u8; 16] = r.get(idx)?;
    Ok(Uuid::from_bytes(bytes))
}

pub(crate) fn get_ouuid(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Uuid>> {
    let bytes: Option<[u8; 16]> = r.get(idx)?;
    Ok(bytes.map(Uuid::from_bytes))
}

pub(crate) fn time_from(us: i64, idx: usize) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| conv_err(idx, Type::Integer, e.to_string()))
}

pub(crate) fn get_ts(r: &Row<'_>, idx: usize) -> rusqlite::Result<OffsetDateTime> {
    time_from(r.get(idx)?, idx)
}

pub(crate) fn get_ots(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<OffsetDateTime>> {
    r.get::<_, Option<i64>>(idx)?.map(|us| time_from(us, idx)).transpose()
}

fn get_parsed<T>(r: &Row<'_>, idx: usize, parse: impl Fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let s: String = r.get(idx)?;
    parse(&s).ok_or_else(|| conv_err(idx, Type::Text, format!("unknown value {s:?}")))
}

fn get_currency(r: &Row<'_>, idx: usize) -> rusqlite::Result<Currency> {
    get_parsed(r, idx, |s| Currency::parse(s).ok())
}

fn get_json<T: serde::de::DeserializeOwned>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let s: String = r.get(idx)?;
    serde_json::from_str(&s).map_err(|e| conv_err(idx, Type::Text, e.to_string()))
}

/// JSON text of a value that always serialises.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn get_u16(r: &Row<'_>, idx: usize) -> rusqlite::Result<u16> {
    let v: i64 = r.get(idx)?;
    u16::try_from(v)
        .map_err(|_| rusqlite::Error::FromSqlConversionFailure(idx, Type::Integer, FromSqlError::OutOfRange(v).into()))
}

/// Column lists per table, as literals so `concat!` can build whole statements.
macro_rules! cols {
    (STORE) => {
        "id, name, domain, plan, status, access_token, encryption_version, created_at, updated_at"
    };
    (SETTINGS) => {
        "store_id, order_ttl_seconds, auto_receive_seconds, required_helpers, \
     help_task_ttl_seconds, payout_cooling_seconds, help_payout_percent, version, updated_at"
    };
    (USER) => {
        "id, name, email, phone, password_hash, created_at"
    };
    (ADDRESS) => {
        "id, user_id, line1, city, postal_code, country, address_hash, created_at"
    };
    (SESSION) => {
        "id, user_id, token_hash, created_at, expires_at"
    };
    (ADMIN_KEY) => {
        "id, store_id, key_hash, masked, created_at"
    };
    (PRODUCT) => {
        "id, store_id, title, status, currency, version, created_at, updated_at"
    };
    (VARIANT) => {
        "id, product_id, store_id, sku, name, price_minor, status, created_at"
    };
    (IMAGE) => {
        "id, product_id, url, position, created_at"
    };
    (WAREHOUSE) => {
        "id, store_id, name, created_at"
    };
    (INVENTORY) => {
        "variant_id, warehouse_id, store_id, on_hand, reserved, updated_at"
    };
    (RESERVATION) => {
        "id, order_id, store_id, variant_id, warehouse_id, qty, status, expires_at, created_at, updated_at"
    };
    (ORDER) => {
        "id, order_number, store_id, user_id, address_id, address_hash, status, \
     amount_minor, pay_amount_minor, currency, help_task_no, created_at, paid_at, shipped_at, received_at, \
     closed_at, close_reason, reservation_expires_at, updated_at"
    };
    (ORDER_ITEM) => {
        "id, order_id, line_no, variant_id, sku, qty, unit_price_minor"
    };
    (PAYMENT) => {
        "id, order_id, store_id, user_id, amount_minor, currency, status, provider, created_at, updated_at"
    };
    (PAYMENT_EVENT) => {
        "id, provider, event_id, payment_id, store_id, kind, amount_minor, outcome, raw, received_at"
    };
    (TASK) => {
        "id, task_no, store_id, order_id, user_id, status, required_helpers, \
     helps_valid, created_at, expires_at, qualified_at, payout_at, closed_at, updated_at"
    };
    (HELP) => {
        "id, task_id, helper_user_id, order_id, status, created_at, received_at"
    };
    (PAYOUT) => {
        "id, task_id, task_no, store_id, user_id, order_id, helper_user_ids, \
     helper_order_ids, amount_minor, currency, qualified_at, payout_at, payout_status, risk_level, risk_reasons, \
     note, operator, created_at, updated_at"
    };
    (AUDIT) => {
        "id, store_id, at, actor_masked, ip, key, from_value, to_value"
    };
    (IDEMPOTENCY) => {
        "scope, key, fingerprint, response_status, response_body, resource_id, created_at, expires_at"
    };
    (EVENT) => {
        "id, store_id, seq, entity_type, entity_id, kind, payload, at"
    };
    (EXPORT) => {
        "id, store_id, kind, format, status, rows, bytes, blob_key, error, \
     requested_by, created_at, started_at, finished_at, expires_at"
    };
    (EXPORT_AUDIT) => {
        "id, export_id, store_id, action, actor_masked, at"
    };
}

// --- column lists and mappers, one per table -------------------------------

pub(crate) const STORE_COLS: &str = cols!(STORE);
pub(crate) fn map_store(r: &Row<'_>) -> rusqlite::Result<Shop> {
    let token: Option<Vec<u8>> = r.get(5)?;
    let version: Option<u32> = r.get(6)?;
    Ok(Shop {
        id: StoreId(get_uuid(r, 0)?),
        name: r.get(1)?,
        domain: r.get(2)?,
        plan: r.get(3)?,
        status: get_parsed(r, 4, StoreStatus::parse)?,
        access_token: match (token, version) {
            (Some(ciphertext), Some(key_version)) => Some(SealedSecret { key_version, ciphertext }),
            (None, None) => None,
            _ => return Err(conv_err(5, Type::Blob, "access_token and encryption_version disagree".into())),
        },
        created_at: get_ts(r, 7)?,
        updated_at: get_ts(r, 8)?,
    })
}

pub(crate) const SETTINGS_COLS: &str = cols!(SETTINGS);
pub(crate) fn map_settings(r: &Row<'_>) -> rusqlite::Result<StoreSettings> {
    Ok(StoreSettings {
        store_id: StoreId(get_uuid(r, 0)?),
        order_ttl_seconds: r.get(1)?,
        auto_receive_seconds: r.get(2)?,
        required_helpers: r.get(3)?,
        help_task_ttl_seconds: r.get(4)?,
        payout_cooling_seconds: r.get(5)?,
        help_payout_percent: r.get(6)?,
        version: r.get(7)?,
        updated_at: get_ts(r, 8)?,
    })
}

pub(crate) const USER_COLS: &str = cols!(USER);
pub(crate) fn map_user(r: &Row<'_>) -> rusqlite::Result<AppUser> {
    Ok(AppUser {
        id: UserId(get_uuid(r, 0)?),
        name: r.get(1)?,
        email: r.get(2)?,
        phone: r.get(3)?,
        password_hash: r.get(4)?,
        created_at: get_ts(r, 5)?,
    })
}

pub(crate) const ADDRESS_COLS: &str = cols!(ADDRESS);
pub(crate) fn map_address(r: &Row<'_>) -> rusqlite::Result<UserAddress> {
    Ok(UserAddress {
        id: AddressId(get_uuid(r, 0)?),
        user_id: UserId(get_uuid(r, 1)?),
        line1: r.get(2)?,
        city: r.get(3)?,
        postal_code: r.get(4)?,
        country: r.get(5)?,
        address_hash: r.get(6)?,
        created_at: get_ts(r, 7)?,
    })
}

pub(crate) const SESSION_COLS: &str = cols!(SESSION);
pub(crate) fn map_session(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: SessionId(get_uuid(r, 0)?),
        user_id: UserId(get_uuid(r, 1)?),
        token_hash: r.get(2)?,
        created_at: get_ts(r, 3)?,
        expires_at: get_ts(r, 4)?,
    })
}

pub(crate) const ADMIN_KEY_COLS: &str = cols!(ADMIN_KEY);
pub(crate) fn map_admin_key(r: &Row<'_>) -> rusqlite::Result<AdminKey> {
    Ok(AdminKey {
        id: AdminKeyId(get_uuid(r, 0)?),
        store_id: StoreId(get_uuid(r, 1)?),
        key_hash: r.get(2)?,
        masked: r.get(3)?,
        created_at: get_ts(r, 4)?,
    })
}

pub(crate) const PRODUCT_COLS: &str = cols!(PRODUCT);
pub(crate) fn map_product(r: &Row<'_>) -> rusqlite::Result<Product> {
    Ok(Product {
        id: ProductId(get_uuid(r, 0)?),
        store_id: StoreId(get_uuid(r, 1)?),
        title: r.get(2)?,
        status: get_parsed(r, 3, ProductStatus::parse)?,
        currency: get_currency(r, 4)?,
        version: r.get(5)?,
        created_at: get_ts(r, 6)?,
        updated_at: get_ts(r, 7)?,
    })
}

pub(crate) const VARIANT_COLS: &str = cols!(VARIANT);
pub(crate) fn map_variant(r: &Row<'_>) -> rusqlite::Result<ProductVariant> {
    Ok(ProductVariant {
        id: VariantId(get_uuid(r, 0)?),
        product_id: ProductId(get_uuid(r, 1)?),
        store_id: StoreId(get_uuid(r, 2)?),
        sku: r.get(3)?,
        name: r.get(4)?,
        price_minor: r.get(5)?,
        status: get_parsed(r, 6, ProductStatus::parse)?,
        created_at: get_ts(r, 7)?,
    })
}

pub(crate) const IMAGE_COLS: &str = cols!(IMAGE);
pub(crate) fn map_image(r: &Row<'_>) -> rusqlite::Result<ProductImage> {
    Ok(ProductImage {
        id: ImageId(get_uuid(r, 0)?),
        product_id: ProductId(get_uuid(r, 1)?),
        url: r.get(2)?,
        position: r.get(3)?,
        created_at: get_ts(r, 4)?,
    })
}

pub(crate) const WAREHOUSE_COLS: &str = cols!(WAREHOUSE);
pub(crate) fn map_warehouse(r: &Row<'_>) -> rusqlite::Result<Warehouse> {
    Ok(Warehouse {
        id: WarehouseId(get_uuid(r, 0)?),
        store_id: StoreId(get_uuid(r, 1)?),
        name: r.get(2)?,
        created_at: get_ts(r, 3)?,
    })
}

pub(crate) const INVENTORY_COLS: &str = cols!(INVENTORY);
pub(crate) fn map_inventory(r: &Row<'_>) -> rusqlite::Result<Inventory> {
    Ok(Inventory {
        variant_id: VariantId(get_uuid(r, 0)?),
        warehouse_id: WarehouseId(get_uuid(r, 1)?),
        store_id: StoreId(get_uuid(r, 2)?),
        on_hand: r.get(3)?,
        reserved: r.get(4)?,
        updated_at: get_ts(r, 5)?,
    })
}

pub(crate) const RESERVATION_COLS: &str = cols!(RESERVATION);
pub(crate) fn map_reservation(r: &Row<'_>) -> rusqlite::Result<InventoryReservation> {
    Ok(InventoryReservation {
        id: ReservationId(get_uuid(r, 0)?),
        order_id: OrderId(get_uuid(r, 1)?),
        store_id: StoreId(get_uuid(r, 2)?),
        variant_id: VariantId(get_uuid(r, 3)?),
        warehouse_id: WarehouseId(get_uuid(r, 4)?),
        qty: r.get(5)?,
        status: get_parsed(r, 6, ReservationStatus::parse)?,
        expires_at: get_ts(r, 7)?,
        created_at: get_ts(r, 8)?,
        updated_at: get_ts(r, 9)?,
    })
}

pub(crate) const ORDER_COLS: &str = cols!(ORDER);
pub(crate) fn map_order(r: &Row<'_>) -> rusqlite::Result<CustomerOrder> {
    let close_reason: Option<String> = r.get(16)?;
    Ok(CustomerOrder {
        id: OrderId(get_uuid(r, 0)?),
        order_number: r.get(1)?,
        store_id: StoreId(get_uuid(r, 2)?),
        user_id: UserId(get_uuid(r, 3)?),
        address_id: AddressId(get_uuid(r, 4)?),
        address_hash: r.get(5)?,
        status: get_parsed(r, 6, OrderStatus::parse)?,
        amount_minor: r.get(7)?,
        pay_amount_minor: r.get(8)?,
        currency: get_currency(r, 9)?,
        help_task_no: r.get(10)?,
        created_at: get_ts(r, 11)?,
        paid_at: get_ots(r, 12)?,
        shipped_at: get_ots(r, 13)?,
        received_at: get_ots(r, 14)?,
        closed_at: get_ots(r, 15)?,
        close_reason: match close_reason {
            Some(s) => Some(CloseReason::parse(&s).ok_or_else(|| conv_err(16, Type::Text, s))?),
            None => None,
        },
        reservation_expires_at: get_ts(r, 17)?,
        updated_at: get_ts(r, 18)?,
    })
}

pub(crate) const ORDER_ITEM_COLS: &str = cols!(ORDER_ITEM);
pub(crate) fn map_order_item(r: &Row<'_>) -> rusqlite::Result<OrderItem> {
    Ok(OrderItem {
        id: OrderItemId(get_uuid(r, 0)?),
        order_id: OrderId(get_uuid(r, 1)?),
        line_no: r.get(2)?,
        variant_id: VariantId(get_uuid(r, 3)?),
        sku: r.get(4)?,
        qty: r.get(5)?,
        unit_price_minor: r.get(6)?,
    })
}

pub(crate) const PAYMENT_COLS: &str = cols!(PAYMENT);
pub(crate) fn map_payment(r: &Row<'_>) -> rusqlite::Result<Payment> {
    Ok(Payment {
        id: PaymentId(get_uuid(r, 0)?),
        order_id: OrderId(get_uuid(r, 1)?),
        store_id: StoreId(get_uuid(r, 2)?),
        user_id: UserId(get_uuid(r, 3)?),
        amount_minor: r.get(4)?,
        currency: get_currency(r, 5)?,
        status: get_parsed(r, 6, PaymentStatus::parse)?,
        provider: r.get(7)?,
        created_at: get_ts(r, 8)?,
        updated_at: get_ts(r, 9)?,
    })
}

pub(crate) const PAYMENT_EVENT_COLS: &str = cols!(PAYMENT_EVENT);
pub(crate) fn map_payment_event(r: &Row<'_>) -> rusqlite::Result<PaymentEvent> {
    Ok(PaymentEvent {
        id: PaymentEventId(get_uuid(r, 0)?),
        provider: r.get(1)?,
        event_id: r.get(2)?,
        payment_id: get_ouuid(r, 3)?.map(PaymentId),
        store_id: get_ouuid(r, 4)?.map(StoreId),
        kind: r.get(5)?,
        amount_minor: r.get(6)?,
        outcome: r.get(7)?,
        raw: get_json(r, 8)?,
        received_at: get_ts(r, 9)?,
    })
}

pub(crate) const TASK_COLS: &str = cols!(TASK);
pub(crate) fn map_task(r: &Row<'_>) -> rusqlite::Result<HelpTask> {
    Ok(HelpTask {
        id: TaskId(get_uuid(r, 0)?),
        task_no: r.get(1)?,
        store_id: StoreId(get_uuid(r, 2)?),
        order_id: OrderId(get_uuid(r, 3)?),
        user_id: UserId(get_uuid(r, 4)?),
        status: get_parsed(r, 5, TaskStatus::parse)?,
        required_helpers: r.get(6)?,
        helps_valid: r.get(7)?,
        created_at: get_ts(r, 8)?,
        expires_at: get_ts(r, 9)?,
        qualified_at: get_ots(r, 10)?,
        payout_at: get_ots(r, 11)?,
        closed_at: get_ots(r, 12)?,
        updated_at: get_ts(r, 13)?,
    })
}

pub(crate) const HELP_COLS: &str = cols!(HELP);
pub(crate) fn map_help(r: &Row<'_>) -> rusqlite::Result<Help> {
    Ok(Help {
        id: HelpId(get_uuid(r, 0)?),
        task_id: TaskId(get_uuid(r, 1)?),
        helper_user_id: UserId(get_uuid(r, 2)?),
        order_id: OrderId(get_uuid(r, 3)?),
        status: get_parsed(r, 4, HelpStatus::parse)?,
        created_at: get_ts(r, 5)?,
        received_at: get_ots(r, 6)?,
    })
}

pub(crate) const PAYOUT_COLS: &str = cols!(PAYOUT);
pub(crate) fn map_payout(r: &Row<'_>) -> rusqlite::Result<PayoutLedger> {
    Ok(PayoutLedger {
        id: PayoutId(get_uuid(r, 0)?),
        task_id: TaskId(get_uuid(r, 1)?),
        task_no: r.get(2)?,
        store_id: StoreId(get_uuid(r, 3)?),
        user_id: UserId(get_uuid(r, 4)?),
        order_id: OrderId(get_uuid(r, 5)?),
        helper_user_ids: get_json(r, 6)?,
        helper_order_ids: get_json(r, 7)?,
        amount_minor: r.get(8)?,
        currency: get_currency(r, 9)?,
        qualified_at: get_ts(r, 10)?,
        payout_at: get_ts(r, 11)?,
        payout_status: get_parsed(r, 12, PayoutStatus::parse)?,
        risk_level: get_parsed(r, 13, RiskLevel::parse)?,
        risk_reasons: get_json(r, 14)?,
        note: r.get(15)?,
        operator: r.get(16)?,
        created_at: get_ts(r, 17)?,
        updated_at: get_ts(r, 18)?,
    })
}

pub(crate) const AUDIT_COLS: &str = cols!(AUDIT);
pub(crate) fn map_audit(r: &Row<'_>) -> rusqlite::Result<AuditLog> {
    Ok(AuditLog {
        id: AuditId(get_uuid(r, 0)?),
        store_id: StoreId(get_uuid(r, 1)?),
        at: get_ts(r, 2)?,
        actor_masked: r.get(3)?,
        ip: r.get(4)?,
        key: r.get(5)?,
        from: r.get(6)?,
        to: r.get(7)?,
    })
}

pub(crate) const IDEMPOTENCY_COLS: &str = cols!(IDEMPOTENCY);
pub(crate) fn map_idempotency(r: &Row<'_>) -> rusqlite::Result<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        scope: r.get(0)?,
        key: r.get(1)?,
        fingerprint: r.get(2)?,
        response_status: get_u16(r, 3)?,
        response_body: r.get(4)?,
        resource_id: get_ouuid(r, 5)?,
        created_at: get_ts(r, 6)?,
        expires_at: get_ts(r, 7)?,
    })
}

pub(crate) const EVENT_COLS: &str = cols!(EVENT);
pub(crate) fn map_event(r: &Row<'_>) -> rusqlite::Result<ActivityEvent> {
    Ok(ActivityEvent {
        id: EventId(get_uuid(r, 0)?),
        store_id: StoreId(get_uuid(r, 1)?),
        seq: r.get(2)?,
        entity_type: r.get(3)?,
        entity_id: get_uuid(r, 4)?,
        kind: r.get(5)?,
        payload: get_json(r, 6)?,
        at: get_ts(r, 7)?,
    })
}

pub(crate) const EXPORT_COLS: &str = cols!(EXPORT);
pub(crate) fn map_export(r: &Row<'_>) -> rusqlite::Result<ExportJob> {
    Ok(ExportJob {
        id: ExportId(get_uuid(r, 0)?),
        store_id: StoreId(get_uuid(r, 1)?),
        kind: get_parsed(r, 2, ExportKind::parse)?,
        format: get_parsed(r, 3, ExportFormat::parse)?,
        status: get_parsed(r, 4, ExportStatus::parse)?,
        rows: r.get(5)?,
        bytes: r.get(6)?,
        blob_key: r.get(7)?,
        error: r.get(8)?,
        requested_by: r.get(9)?,
        created_at: get_ts(r, 10)?,
        started_at: get_ots(r, 11)?,
        finished_at: get_ots(r, 12)?,
        expires_at: get_ots(r, 13)?,
    })
}

pub(crate) const EXPORT_AUDIT_COLS: &str = cols!(EXPORT_AUDIT);
pub(crate) fn map_export_audit(r: &Row<'_>) -> rusqlite::Result<ExportAuditRecord> {
    Ok(ExportAuditRecord {
        id: ExportAuditId(get_uuid(r, 0)?),
        export_id: ExportId(get_uuid(r, 1)?),
        store_id: StoreId(get_uuid(r, 2)?),
        action: get_parsed(r, 3, ExportAction::parse)?,
        actor_masked: r.get(4)?,
        at: get_ts(r, 5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_in_micros() {
        for t in [
            OffsetDateTime::UNIX_EPOCH,
            time::macros::datetime!(2024-02-29 23:59:59.999_999 UTC),
            time::macros::datetime!(1969-12-31 23:59:59.000_001 UTC),
            time::macros::datetime!(9999-12-31 23:59:59.999_999 UTC),
        ] {
            assert_eq!(time_from(ts(t), 0).unwrap(), t);
        }
    }

    #[test]
    fn scan_detection_sees_unindexed_reads() {
        use rusqlite::StatementStatus::FullscanStep;
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER); CREATE INDEX t_x ON t (x); INSERT INTO t (x) VALUES (1), (2), (3);")
            .unwrap();
        let mut indexed = c.prepare("SELECT id FROM t WHERE x = 2").unwrap();
        assert_eq!(indexed.query_map([], |r| r.get::<_, i64>(0)).unwrap().count(), 1);
        assert_eq!(indexed.get_status(FullscanStep), 0);
        let mut scan = c.prepare("SELECT id FROM t WHERE x + 0 = 2").unwrap();
        assert_eq!(scan.query_map([], |r| r.get::<_, i64>(0)).unwrap().count(), 1);
        assert!(scan.get_status(FullscanStep) > 0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_indexed(&c, &scan, "SELECT id FROM t WHERE x + 0 = 2")
        }));
        assert_eq!(r.is_err(), cfg!(debug_assertions));
        assert!(table_scans(&c, "SELECT id FROM t WHERE x = ?1").unwrap().is_empty());
        assert!(table_scans(&c, "SELECT id FROM t ORDER BY x LIMIT 3").unwrap().is_empty());
        assert_eq!(table_scans(&c, "SELECT id FROM t WHERE x + 0 = ?1").unwrap(), vec!["SCAN t".to_owned()]);
    }

    #[test]
    fn uuid_bytes_sort_like_uuid() {
        let a = Uuid::from_u128(0x0000_0000_0000_0000_0000_0000_0000_00ff);
        let c = Uuid::from_u128(0x0100_0000_0000_0000_0000_0000_0000_0000);
        assert!(a < c);
        assert!(b(a) < b(c));
    }
}
