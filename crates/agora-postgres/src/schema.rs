//! Table descriptions and the SQL generated from them once.
//!
//! Every record table is described by its columns in the order the adapter
//! binds them; the INSERT, UPDATE and SELECT statements are derived from
//! that one list, so the three can never disagree. Money columns are
//! NUMERIC(12,2) in major units and cross the wire as `bigint` minor units.

use std::sync::LazyLock;

/// How a column crosses the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Bound and read as is.
    Plain,
    /// NUMERIC(12,2) holding major units; bound and read as bigint minor units.
    Money,
}

/// One table.
pub(crate) struct Table {
    pub name: &'static str,
    /// Primary-key columns (a prefix of `cols`).
    pub keys: usize,
    pub cols: &'static [(&'static str, Kind)],
}

use Kind::{Money as M, Plain as P};

macro_rules! table {
    ($ident:ident, $name:literal, $keys:literal, [$($col:literal $kind:ident),* $(,)?]) => {
        pub(crate) static $ident: Table = Table { name: $name, keys: $keys, cols: &[$(($col, $kind)),*] };
    };
}

table!(STORE, "store", 1, [
    "id" P, "name" P, "domain" P, "plan" P, "status" P, "encryption_version" P, "access_token_ciphertext" P,
    "created_at" P, "updated_at" P,
]);
table!(SETTINGS, "store_settings", 1, [
    "store_id" P, "order_ttl_seconds" P, "auto_receive_seconds" P, "required_helpers" P, "help_task_ttl_seconds" P,
    "payout_cooling_seconds" P, "help_payout_percent" P, "version" P, "updated_at" P,
]);
table!(USER, "app_user", 1, ["id" P, "name" P, "email" P, "phone" P, "password_hash" P, "created_at" P]);
table!(ADDRESS, "user_address", 1, [
    "id" P, "user_id" P, "line1" P, "city" P, "postal_code" P, "country" P, "address_hash" P, "created_at" P,
]);
table!(SESSION, "session", 1, ["id" P, "user_id" P, "token_hash" P, "created_at" P, "expires_at" P]);
table!(ADMIN_KEY, "admin_key", 1, ["id" P, "store_id" P, "key_hash" P, "masked" P, "created_at" P]);
table!(PRODUCT, "product", 1, [
    "id" P, "store_id" P, "title" P, "status" P, "currency" P, "version" P, "created_at" P, "updated_at" P,
]);
table!(VARIANT, "product_variant", 1, [
    "id" P, "product_id" P, "store_id" P, "sku" P, "name" P, "price" M, "status" P, "created_at" P,
]);
table!(IMAGE, "product_image", 1, ["id" P, "product_id" P, "url" P, "position" P, "created_at" P]);
table!(WAREHOUSE, "warehouse", 1, ["id" P, "store_id" P, "name" P, "created_at" P]);
table!(INVENTORY, "inventory", 2, [
    "variant_id" P, "warehouse_id" P, "store_id" P, "on_hand" P, "reserved" P, "updated_at" P,
]);
table!(RESERVATION, "inventory_reservation", 1, [
    "id" P, "order_id" P, "store_id" P, "variant_id" P, "warehouse_id" P, "qty" P, "status" P, "expires_at" P,
    "created_at" P, "updated_at" P,
]);
table!(ORDER, "customer_order", 1, [
    "id" P, "order_number" P, "store_id" P, "user_id" P, "address_id" P, "address_hash" P, "status" P, "amount" M,
    "pay_amount" M, "currency" P, "help_task_no" P, "created_at" P, "paid_at" P, "shipped_at" P, "received_at" P,
    "closed_at" P, "close_reason" P, "reservation_expires_at" P, "updated_at" P,
]);
table!(ORDER_ITEM, "order_item", 1, [
    "id" P, "order_id" P, "line_no" P, "variant_id" P, "sku" P, "qty" P, "unit_price" M,
]);
table!(PAYMENT, "payment", 1, [
    "id" P, "order_id" P, "store_id" P, "user_id" P, "amount" M, "currency" P, "status" P, "provider" P,
    "created_at" P, "updated_at" P,
]);
table!(PAYMENT_EVENT, "payment_event", 1, [
    "id" P, "provider" P, "event_id" P, "payment_id" P, "store_id" P, "kind" P, "amount" M, "outcome" P, "raw" P,
    "received_at" P,
]);
table!(TASK, "help_task", 1, [
    "id" P, "task_no" P, "store_id" P, "order_id" P, "user_id" P, "status" P, "required_helpers" P, "helps_valid" P,
    "created_at" P, "expires_at" P, "qualified_at" P, "payout_at" P, "closed_at" P, "updated_at" P,
]);
table!(HELP, "help", 1, [
    "id" P, "task_id" P, "helper_user_id" P, "order_id" P, "status" P, "created_at" P, "received_at" P,
]);
table!(PAYOUT, "payout_ledger", 1, [
    "id" P, "task_id" P, "task_no" P, "store_id" P, "user_id" P, "order_id" P, "helper_user_ids" P,
    "helper_order_ids" P, "amount" M, "currency" P, "qualified_at" P, "payout_at" P, "payout_status" P,
    "risk_level" P, "risk_reasons" P, "note" P, "operator" P, "created_at" P, "updated_at" P,
]);
table!(AUDIT, "audit_log", 1, [
    "id" P, "store_id" P, "at" P, "actor_masked" P, "ip" P, "key" P, "from_value" P, "to_value" P,
]);
table!(IDEMPOTENCY, "idempotency_key", 2, [
    "scope" P, "key" P, "fingerprint" P, "response_status" P, "response_body" P, "resource_id" P, "created_at" P,
    "expires_at" P,
]);
table!(EVENT, "activity_event", 1, [
    "id" P, "store_id" P, "seq" P, "entity_type" P, "entity_id" P, "kind" P, "payload" P, "at" P,
]);
table!(EXPORT, "export_job", 1, [
    "id" P, "store_id" P, "kind" P, "format" P, "status" P, "rows" P, "bytes" P, "blob_key" P, "error" P,
    "requested_by" P, "created_at" P, "started_at" P, "finished_at" P, "expires_at" P,
]);
table!(EXPORT_AUDIT, "export_audit_record", 1, [
    "id" P, "export_id" P, "store_id" P, "action" P, "actor_masked" P, "at" P,
]);

fn value_expr(i: usize, kind: Kind) -> String {
    match kind {
        Kind::Plain => format!("${i}"),
        Kind::Money => format!("(${i}::bigint * 0.01)::numeric(12,2)"),
    }
}

impl Table {
    /// `a, b, (m * 100)::bigint AS m, ...`, unqualified.
    pub fn select_list(&self) -> String {
        self.select_list_as("")
    }

    /// The select list with every column qualified by `alias.`.
    pub fn select_list_as(&self, alias: &str) -> String {
        let q = if alias.is_empty() { String::new() } else { format!("{alias}.") };
        self.cols
            .iter()
            .map(|(c, k)| match k {
                Kind::Plain => format!("{q}{c}"),
                Kind::Money => format!("({q}{c} * 100)::bigint AS {c}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `SELECT <list> FROM <table>`.
    pub fn select(&self) -> String {
        format!("SELECT {} FROM {}", self.select_list(), self.name)
    }

    /// `INSERT INTO t (cols) VALUES ($1, ...)`.
    pub fn insert(&self) -> String {
        self.insert_at(0)
    }

    /// `INSERT INTO t (cols) VALUES ($offset+1, ...)`: the insert as one
    /// part of a larger statement whose earlier parts bind `offset` values.
    pub fn insert_at(&self, offset: usize) -> String {
        let cols: Vec<&str> = self.cols.iter().map(|(c, _)| *c).collect();
        let vals: Vec<String> =
            self.cols.iter().enumerate().map(|(i, (_, k))| value_expr(offset + i + 1, *k)).collect();
        format!("INSERT INTO {} ({}) VALUES ({})", self.name, cols.join(", "), vals.join(", "))
    }

    /// `UPDATE t SET c = $n, ... WHERE key = $1 ...`.
    pub fn update(&self) -> String {
        let sets: Vec<String> = self
            .cols
            .iter()
            .enumerate()
            .skip(self.keys)
            .map(|(i, (c, k))| format!("{c} = {}", value_expr(i + 1, *k)))
            .collect();
        format!("UPDATE {} SET {} WHERE {}", self.name, sets.join(", "), self.key_match())
    }

    /// `k1 = $1 AND k2 = $2`.
    pub fn key_match(&self) -> String {
        self.cols[..self.keys]
            .iter()
            .enumerate()
            .map(|(i, (c, _))| format!("{c} = ${}", i + 1))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

/// The statements of one table, built once.
pub(crate) struct Sql {
    pub select: String,
    pub insert: String,
    pub update: String,
}

macro_rules! sql {
    ($($ident:ident => $table:ident),* $(,)?) => {$(
        pub(crate) static $ident: LazyLock<Sql> = LazyLock::new(|| Sql {
            select: $table.select(),
            insert: $table.insert(),
            update: $table.update(),
        });
    )*};
}

sql! {
    STORE_SQL => STORE, SETTINGS_SQL => SETTINGS, USER_SQL => USER, ADDRESS_SQL => ADDRESS, SESSION_SQL => SESSION,
    ADMIN_KEY_SQL => ADMIN_KEY, PRODUCT_SQL => PRODUCT, VARIANT_SQL => VARIANT, IMAGE_SQL => IMAGE,
    WAREHOUSE_SQL => WAREHOUSE, INVENTORY_SQL => INVENTORY, RESERVATION_SQL => RESERVATION, ORDER_SQL => ORDER,
    ORDER_ITEM_SQL => ORDER_ITEM, PAYMENT_SQL => PAYMENT, PAYMENT_EVENT_SQL => PAYMENT_EVENT, TASK_SQL => TASK,
    HELP_SQL => HELP, PAYOUT_SQL => PAYOUT, AUDIT_SQL => AUDIT, IDEMPOTENCY_SQL => IDEMPOTENCY, EVENT_SQL => EVENT,
    EXPORT_SQL => EXPORT, EXPORT_AUDIT_SQL => EXPORT_AUDIT,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sql_has_the_expected_shape() {
        assert_eq!(
            ORDER_ITEM.insert(),
            "INSERT INTO order_item (id, order_id, line_no, variant_id, sku, qty, unit_price) \
             VALUES ($1, $2, $3, $4, $5, $6, ($7::bigint * 0.01)::numeric(12,2))"
        );
        assert_eq!(
            INVENTORY.update(),
            "UPDATE inventory SET store_id = $3, on_hand = $4, reserved = $5, updated_at = $6 \
             WHERE variant_id = $1 AND warehouse_id = $2"
        );
        assert!(PAYMENT.select().contains("(amount * 100)::bigint AS amount"));
    }
}
