//! The read repositories, the snapshot, and the [`Store`] implementation.
//!
//! Every read runs on a pooled read connection with a cached statement and
//! is served by an index (see `tests/query_plans.rs`).

use agora_core::*;
use async_trait::async_trait;
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::SqliteStore;
use crate::codec::*;

type Mapper<T> = fn(&Row<'_>) -> rusqlite::Result<T>;

fn opt<T>(c: &Connection, sql: &str, p: impl rusqlite::Params, map: Mapper<T>) -> rusqlite::Result<Option<T>> {
    let mut st = c.prepare_cached(sql)?;
    let out = st.query_row(p, map).optional()?;
    assert_indexed(c, &st, sql);
    Ok(out)
}

fn list<T>(c: &Connection, sql: &str, p: impl rusqlite::Params, map: Mapper<T>) -> rusqlite::Result<Vec<T>> {
    let mut st = c.prepare_cached(sql)?;
    let out = st.query_map(p, map)?.collect::<rusqlite::Result<Vec<T>>>()?;
    assert_indexed(c, &st, sql);
    Ok(out)
}

/// A newest-first page: `SELECT cols FROM table WHERE filter [AND id < ?] ORDER BY id DESC LIMIT ?`.
/// `filter` uses `?1..?n` for `args`; the cursor and limit are appended.
fn page<T>(
    c: &Connection,
    cols: &str,
    table: &str,
    filter: &str,
    args: &[&dyn ToSql],
    page: Page,
    map: Mapper<T>,
) -> rusqlite::Result<Vec<T>> {
    let n = args.len();
    let mut conds: Vec<String> = Vec::new();
    if !filter.is_empty() {
        conds.push(filter.to_owned());
    }
    let before = page.before.map(b);
    let mut all: Vec<&dyn ToSql> = args.to_vec();
    if let Some(before) = before.as_ref() {
        conds.push(format!("id < ?{}", n + 1));
        all.push(before);
    }
    let limit = i64::from(page.limit);
    all.push(&limit);
    let where_ = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    let sql = format!("SELECT {cols} FROM {table}{where_} ORDER BY id DESC LIMIT ?{}", all.len());
    list(c, &sql, all.as_slice(), map)
}

/// Sorted, deduplicated raw ids.
fn ids<I: Copy + Ord>(v: &[I]) -> Vec<I> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

impl SqliteStore {
    async fn get_one<T: Send + 'static>(
        &self,
        sql: &'static str,
        key: Vec<Box<dyn ToSql + Send>>,
        map: Mapper<T>,
    ) -> StoreResult<Option<T>> {
        self.read(move |c| {
            let p: Vec<&dyn ToSql> = key.iter().map(|k| k.as_ref() as &dyn ToSql).collect();
            opt(c, sql, p.as_slice(), map)
        })
        .await
    }
}

fn bx<T: ToSql + Send + 'static>(v: T) -> Box<dyn ToSql + Send> {
    Box::new(v)
}

/// `SELECT <columns of TABLE> <rest>` as one literal.
macro_rules! sel {
    ($t:ident, $rest:literal) => {
        concat!("SELECT ", cols!($t), " ", $rest)
    };
}

#[async_trait]
impl StoreRepository for SqliteStore {
    async fn get_store(&self, id: StoreId) -> StoreResult<Option<Shop>> {
        self.get_one(sel!(STORE, "FROM store WHERE id = ?1"), vec![bx(b(id.0))], map_store).await
    }

    async fn list_stores(&self, pg: Page) -> StoreResult<Vec<Shop>> {
        self.read(move |c| page(c, STORE_COLS, "store", "", &[], pg, map_store)).await
    }

    async fn get_settings(&self, store_id: StoreId) -> StoreResult<Option<StoreSettings>> {
        self.get_one(sel!(SETTINGS, "FROM store_settings WHERE store_id = ?1"), vec![bx(b(store_id.0))], map_settings)
            .await
    }

    async fn get_admin_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<AdminKey>> {
        self.get_one(
            sel!(ADMIN_KEY, "FROM admin_key WHERE key_hash = ?1 ORDER BY id LIMIT 1"),
            vec![bx(key_hash.to_owned())],
            map_admin_key,
        )
        .await
    }

    async fn list_audit_logs(&self, store_id: StoreId, pg: Page) -> StoreResult<Vec<AuditLog>> {
        self.read(move |c| page(c, AUDIT_COLS, "audit_log", "store_id = ?1", &[&b(store_id.0)], pg, map_audit)).await
    }
}

#[async_trait]
impl UserRepository for SqliteStore {
    async fn get_user(&self, id: UserId) -> StoreResult<Option<AppUser>> {
        self.get_one(sel!(USER, "FROM app_user WHERE id = ?1"), vec![bx(b(id.0))], map_user).await
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<AppUser>> {
        self.get_one(sel!(USER, "FROM app_user WHERE email = ?1"), vec![bx(email.to_owned())], map_user).await
    }

    async fn get_address(&self, id: AddressId) -> StoreResult<Option<UserAddress>> {
        self.get_one(sel!(ADDRESS, "FROM user_address WHERE id = ?1"), vec![bx(b(id.0))], map_address).await
    }

    async fn get_session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        self.get_one(
            sel!(SESSION, "FROM session WHERE token_hash = ?1 ORDER BY id LIMIT 1"),
            vec![bx(token_hash.to_owned())],
            map_session,
        )
        .await
    }

    async fn list_expired_sessions(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<Session>> {
        self.read(move |c| {
            list(
                c,
                sel!(SESSION, "FROM session WHERE expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2"),
                params![ts(now), limit],
                map_session,
            )
        })
        .await
    }
}

#[async_trait]
impl CatalogRepository for SqliteStore {
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>> {
        self.get_one(sel!(PRODUCT, "FROM product WHERE id = ?1"), vec![bx(b(id.0))], map_product).await
    }

    async fn list_products(
        &self,
        store_id: StoreId,
        status: Option<ProductStatus>,
        pg: Page,
    ) -> StoreResult<Vec<Product>> {
        self.read(move |c| match status {
            Some(s) => page(
                c,
                PRODUCT_COLS,
                "product",
                "store_id = ?1 AND status = ?2",
                &[&b(store_id.0), &s.as_str()],
                pg,
                map_product,
            ),
            None => page(c, PRODUCT_COLS, "product", "store_id = ?1", &[&b(store_id.0)], pg, map_product),
        })
        .await
    }

    async fn list_variants(&self, product_ids: &[ProductId]) -> StoreResult<Vec<ProductVariant>> {
        let keys = ids(product_ids);
        self.read(move |c| {
            let mut out = Vec::new();
            for p in keys {
                out.extend(list(
                    c,
                    sel!(VARIANT, "FROM product_variant WHERE product_id = ?1 ORDER BY created_at, id"),
                    [b(p.0)],
                    map_variant,
                )?);
            }
            Ok(out)
        })
        .await
    }

    async fn get_variants(&self, variant_ids: &[VariantId]) -> StoreResult<Vec<ProductVariant>> {
        let keys = ids(variant_ids);
        self.read(move |c| {
            let mut out = Vec::new();
            for v in keys {
                out.extend(opt(c, sel!(VARIANT, "FROM product_variant WHERE id = ?1"), [b(v.0)], map_variant)?);
            }
            Ok(out)
        })
        .await
    }

    async fn list_images(&self, product_id: ProductId) -> StoreResult<Vec<ProductImage>> {
        self.read(move |c| {
            list(
                c,
                sel!(IMAGE, "FROM product_image WHERE product_id = ?1 ORDER BY position, id"),
                [b(product_id.0)],
                map_image,
            )
        })
        .await
    }

    async fn get_warehouse(&self, id: WarehouseId) -> StoreResult<Option<Warehouse>> {
        self.get_one(sel!(WAREHOUSE, "FROM warehouse WHERE id = ?1"), vec![bx(b(id.0))], map_warehouse).await
    }

    async fn list_inventory(&self, variant_ids: &[VariantId]) -> StoreResult<Vec<Inventory>> {
        let keys = ids(variant_ids);
        self.read(move |c| {
            let mut out = Vec::new();
            for v in keys {
                out.extend(list(
                    c,
                    sel!(INVENTORY, "FROM inventory WHERE variant_id = ?1 ORDER BY warehouse_id"),
                    [b(v.0)],
                    map_inventory,
                )?);
            }
            Ok(out)
        })
        .await
    }

    async fn list_store_inventory(&self, store_id: StoreId) -> StoreResult<Vec<Inventory>> {
        self.read(move |c| {
            list(
                c,
                sel!(INVENTORY, "FROM inventory WHERE store_id = ?1 ORDER BY variant_id, warehouse_id"),
                [b(store_id.0)],
                map_inventory,
            )
        })
        .await
    }

    async fn active_reservation_totals(&self, store_id: StoreId) -> StoreResult<Vec<(VariantId, WarehouseId, i64)>> {
        self.read(move |c| {
            let sql = "SELECT variant_id, warehouse_id, SUM(qty) FROM inventory_reservation \
                 WHERE store_id = ?1 AND status = 'active' GROUP BY variant_id, warehouse_id \
                 ORDER BY variant_id, warehouse_id";
            let mut st = c.prepare_cached(sql)?;
            let out = st
                .query_map([b(store_id.0)], |r| {
                    Ok((VariantId(get_uuid(r, 0)?), WarehouseId(get_uuid(r, 1)?), r.get::<_, i64>(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            assert_indexed(c, &st, sql);
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl OrderRepository for SqliteStore {
    async fn get_order(&self, id: OrderId) -> StoreResult<Option<CustomerOrder>> {
        self.get_one(sel!(ORDER, "FROM customer_order WHERE id = ?1"), vec![bx(b(id.0))], map_order).await
    }

    async fn list_order_items(&self, order_ids: &[OrderId]) -> StoreResult<Vec<OrderItem>> {
        let keys = ids(order_ids);
        self.read(move |c| {
            let mut out = Vec::new();
            for o in keys {
                out.extend(list(
                    c,
                    sel!(ORDER_ITEM, "FROM order_item WHERE order_id = ?1 ORDER BY line_no, id"),
                    [b(o.0)],
                    map_order_item,
                )?);
            }
            Ok(out)
        })
        .await
    }

    async fn list_orders_by_user(&self, user_id: UserId, pg: Page) -> StoreResult<Vec<CustomerOrder>> {
        self.read(move |c| page(c, ORDER_COLS, "customer_order", "user_id = ?1", &[&b(user_id.0)], pg, map_order)).await
    }

    async fn list_orders_by_store(
        &self,
        store_id: StoreId,
        status: Option<OrderStatus>,
        pg: Page,
    ) -> StoreResult<Vec<CustomerOrder>> {
        self.read(move |c| match status {
            Some(s) => page(
                c,
                ORDER_COLS,
                "customer_order",
                "store_id = ?1 AND status = ?2",
                &[&b(store_id.0), &s.as_str()],
                pg,
                map_order,
            ),
            None => page(c, ORDER_COLS, "customer_order", "store_id = ?1", &[&b(store_id.0)], pg, map_order),
        })
        .await
    }

    async fn list_unpaid_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<CustomerOrder>> {
        self.read(move |c| {
            list(
                c,
                sel!(
                    ORDER,
                    "FROM customer_order WHERE store_id = ?1 AND status = 'CREATED' \
                     AND reservation_expires_at <= ?2 ORDER BY reservation_expires_at, id LIMIT ?3"
                ),
                params![b(store_id.0), ts(now), limit],
                map_order,
            )
        })
        .await
    }

    async fn list_shipped_before(
        &self,
        store_id: StoreId,
        cutoff: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<CustomerOrder>> {
        self.read(move |c| {
            list(
                c,
                sel!(
                    ORDER,
                    "FROM customer_order WHERE store_id = ?1 AND status = 'SHIPPED' \
                     AND shipped_at <= ?2 ORDER BY shipped_at, id LIMIT ?3"
                ),
                params![b(store_id.0), ts(cutoff), limit],
                map_order,
            )
        })
        .await
    }

    async fn list_reservations(&self, order_id: OrderId) -> StoreResult<Vec<InventoryReservation>> {
        self.read(move |c| {
            list(
                c,
                sel!(RESERVATION, "FROM inventory_reservation WHERE order_id = ?1 ORDER BY id"),
                [b(order_id.0)],
                map_reservation,
            )
        })
        .await
    }
}

#[async_trait]
impl PaymentRepository for SqliteStore {
    async fn get_payment(&self, id: PaymentId) -> StoreResult<Option<Payment>> {
        self.get_one(sel!(PAYMENT, "FROM payment WHERE id = ?1"), vec![bx(b(id.0))], map_payment).await
    }

    async fn list_payments(&self, order_id: OrderId) -> StoreResult<Vec<Payment>> {
        self.read(move |c| {
            list(
                c,
                sel!(PAYMENT, "FROM payment WHERE order_id = ?1 ORDER BY created_at, id"),
                [b(order_id.0)],
                map_payment,
            )
        })
        .await
    }

    async fn get_payment_event(&self, provider: &str, event_id: &str) -> StoreResult<Option<PaymentEvent>> {
        self.get_one(
            sel!(PAYMENT_EVENT, "FROM payment_event WHERE provider = ?1 AND event_id = ?2"),
            vec![bx(provider.to_owned()), bx(event_id.to_owned())],
            map_payment_event,
        )
        .await
    }
}

#[async_trait]
impl TaskRepository for SqliteStore {
    async fn get_task(&self, id: TaskId) -> StoreResult<Option<HelpTask>> {
        self.get_one(sel!(TASK, "FROM help_task WHERE id = ?1"), vec![bx(b(id.0))], map_task).await
    }

    async fn get_task_by_no(&self, task_no: &str) -> StoreResult<Option<HelpTask>> {
        self.get_one(sel!(TASK, "FROM help_task WHERE task_no = ?1"), vec![bx(task_no.to_owned())], map_task).await
    }

    async fn get_task_by_order(&self, order_id: OrderId) -> StoreResult<Option<HelpTask>> {
        self.get_one(sel!(TASK, "FROM help_task WHERE order_id = ?1"), vec![bx(b(order_id.0))], map_task).await
    }

    async fn list_helps(&self, task_id: TaskId) -> StoreResult<Vec<Help>> {
        self.read(move |c| {
            list(c, sel!(HELP, "FROM help WHERE task_id = ?1 ORDER BY created_at, id"), [b(task_id.0)], map_help)
        })
        .await
    }

    async fn get_help_by_order(&self, order_id: OrderId) -> StoreResult<Option<Help>> {
        self.get_one(sel!(HELP, "FROM help WHERE order_id = ?1 ORDER BY id LIMIT 1"), vec![bx(b(order_id.0))], map_help)
            .await
    }

    async fn list_tasks_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<HelpTask>> {
        self.read(move |c| {
            list(
                c,
                sel!(
                    TASK,
                    "FROM help_task WHERE store_id = ?1 AND status = 'OPEN' AND expires_at <= ?2 \
                     ORDER BY expires_at, id LIMIT ?3"
                ),
                params![b(store_id.0), ts(now), limit],
                map_task,
            )
        })
        .await
    }

    async fn list_tasks_payout_due(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<HelpTask>> {
        self.read(move |c| {
            list(
                c,
                sel!(
                    TASK,
                    "FROM help_task WHERE store_id = ?1 AND status = 'QUALIFIED' AND payout_at <= ?2 \
                     ORDER BY payout_at, id LIMIT ?3"
                ),
                params![b(store_id.0), ts(now), limit],
                map_task,
            )
        })
        .await
    }

    async fn get_payout(&self, id: PayoutId) -> StoreResult<Option<PayoutLedger>> {
        self.get_one(sel!(PAYOUT, "FROM payout_ledger WHERE id = ?1"), vec![bx(b(id.0))], map_payout).await
    }

    async fn get_payout_by_task(&self, task_id: TaskId) -> StoreResult<Option<PayoutLedger>> {
        self.get_one(sel!(PAYOUT, "FROM payout_ledger WHERE task_id = ?1"), vec![bx(b(task_id.0))], map_payout).await
    }

    async fn list_payouts(
        &self,
        store_id: StoreId,
        status: Option<PayoutStatus>,
        pg: Page,
    ) -> StoreResult<Vec<PayoutLedger>> {
        self.read(move |c| match status {
            Some(s) => page(
                c,
                PAYOUT_COLS,
                "payout_ledger",
                "store_id = ?1 AND payout_status = ?2",
                &[&b(store_id.0), &s.as_str()],
                pg,
                map_payout,
            ),
            None => page(c, PAYOUT_COLS, "payout_ledger", "store_id = ?1", &[&b(store_id.0)], pg, map_payout),
        })
        .await
    }
}

#[async_trait]
impl IdempotencyRepository for SqliteStore {
    async fn get_idempotency(&self, scope: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        self.get_one(
            sel!(IDEMPOTENCY, "FROM idempotency_key WHERE scope = ?1 AND key = ?2"),
            vec![bx(scope.to_owned()), bx(key.to_owned())],
            map_idempotency,
        )
        .await
    }

    async fn list_expired_idempotency(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<IdempotencyRecord>> {
        self.read(move |c| {
            list(
                c,
                sel!(
                    IDEMPOTENCY,
                    "FROM idempotency_key WHERE expires_at <= ?1 ORDER BY expires_at, scope, key LIMIT ?2"
                ),
                params![ts(now), limit],
                map_idempotency,
            )
        })
        .await
    }
}

#[async_trait]
impl EventRepository for SqliteStore {
    async fn list_events(&self, store_id: StoreId, after: i64, limit: u32) -> StoreResult<Vec<ActivityEvent>> {
        self.read(move |c| {
            list(
                c,
                sel!(
                    EVENT,
                    "FROM activity_event WHERE store_id = ?1 AND seq IS NOT NULL AND seq > ?2 ORDER BY seq LIMIT ?3"
                ),
                params![b(store_id.0), after, limit],
                map_event,
            )
        })
        .await
    }

    async fn list_unsequenced_events(&self, store_id: StoreId, limit: u32) -> StoreResult<Vec<ActivityEvent>> {
        self.read(move |c| {
            list(
                c,
                sel!(EVENT, "FROM activity_event WHERE store_id = ?1 AND seq IS NULL ORDER BY id LIMIT ?2"),
                params![b(store_id.0), limit],
                map_event,
            )
        })
        .await
    }

    async fn last_event_seq(&self, store_id: StoreId) -> StoreResult<i64> {
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT last_seq FROM event_seq WHERE store_id = ?1")?
                .query_row([b(store_id.0)], |r| r.get::<_, i64>(0))
                .optional()?
                .unwrap_or(0))
        })
        .await
    }
}

#[async_trait]
impl ExportRepository for SqliteStore {
    async fn get_export(&self, id: ExportId) -> StoreResult<Option<ExportJob>> {
        self.get_one(sel!(EXPORT, "FROM export_job WHERE id = ?1"), vec![bx(b(id.0))], map_export).await
    }

    async fn list_exports_by_status(&self, status: ExportStatus, limit: u32) -> StoreResult<Vec<ExportJob>> {
        self.read(move |c| {
            list(
                c,
                sel!(EXPORT, "FROM export_job WHERE status = ?1 ORDER BY created_at, id LIMIT ?2"),
                params![status.as_str(), limit],
                map_export,
            )
        })
        .await
    }

    async fn list_exports_expired(&self, now: OffsetDateTime, limit: u32) -> StoreResult<Vec<ExportJob>> {
        self.read(move |c| {
            list(
                c,
                sel!(
                    EXPORT,
                    "FROM export_job WHERE status = 'ready' AND expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2"
                ),
                params![ts(now), limit],
                map_export,
            )
        })
        .await
    }

    async fn list_export_audit(&self, export_id: ExportId) -> StoreResult<Vec<ExportAuditRecord>> {
        self.read(move |c| {
            list(
                c,
                sel!(EXPORT_AUDIT, "FROM export_audit_record WHERE export_id = ?1 ORDER BY at, id"),
                [b(export_id.0)],
                map_export_audit,
            )
        })
        .await
    }
}

/// A whole table (the snapshot scans on purpose).
fn all<T>(c: &Connection, cols: &str, table: &str, map: Mapper<T>) -> rusqlite::Result<Vec<T>> {
    c.prepare_cached(&format!("SELECT {cols} FROM {table}"))?.query_map([], map)?.collect()
}

/// Every row of every table, read inside one read transaction.
pub(crate) fn snapshot(c: &Connection) -> rusqlite::Result<Snapshot> {
    c.execute_batch("BEGIN DEFERRED")?;
    let read = || -> rusqlite::Result<Snapshot> {
        let mut seq_st = c.prepare_cached("SELECT store_id, last_seq FROM event_seq")?;
        let event_seqs = seq_st
            .query_map([], |r| Ok((StoreId(get_uuid(r, 0)?), r.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Snapshot {
            stores: all(c, STORE_COLS, "store", map_store)?,
            settings: all(c, SETTINGS_COLS, "store_settings", map_settings)?,
            users: all(c, USER_COLS, "app_user", map_user)?,
            addresses: all(c, ADDRESS_COLS, "user_address", map_address)?,
            sessions: all(c, SESSION_COLS, "session", map_session)?,
            admin_keys: all(c, ADMIN_KEY_COLS, "admin_key", map_admin_key)?,
            products: all(c, PRODUCT_COLS, "product", map_product)?,
            variants: all(c, VARIANT_COLS, "product_variant", map_variant)?,
            images: all(c, IMAGE_COLS, "product_image", map_image)?,
            warehouses: all(c, WAREHOUSE_COLS, "warehouse", map_warehouse)?,
            inventory: all(c, INVENTORY_COLS, "inventory", map_inventory)?,
            reservations: all(c, RESERVATION_COLS, "inventory_reservation", map_reservation)?,
            orders: all(c, ORDER_COLS, "customer_order", map_order)?,
            order_items: all(c, ORDER_ITEM_COLS, "order_item", map_order_item)?,
            payments: all(c, PAYMENT_COLS, "payment", map_payment)?,
            payment_events: all(c, PAYMENT_EVENT_COLS, "payment_event", map_payment_event)?,
            tasks: all(c, TASK_COLS, "help_task", map_task)?,
            helps: all(c, HELP_COLS, "help", map_help)?,
            payouts: all(c, PAYOUT_COLS, "payout_ledger", map_payout)?,
            audit_logs: all(c, AUDIT_COLS, "audit_log", map_audit)?,
            idempotency: all(c, IDEMPOTENCY_COLS, "idempotency_key", map_idempotency)?,
            events: all(c, EVENT_COLS, "activity_event", map_event)?,
            event_seqs,
            exports: all(c, EXPORT_COLS, "export_job", map_export)?,
            export_audit: all(c, EXPORT_AUDIT_COLS, "export_audit_record", map_export_audit)?,
        })
    };
    let out = read();
    c.execute_batch("COMMIT")?;
    let mut snap = out?;
    snap.canonicalize();
    Ok(snap)
}

/// The keys of [`OrderContextQuery`], owned so they can move to a blocking thread.
struct OwnedOrderQuery {
    scope: String,
    key: String,
    store_id: StoreId,
    address_id: AddressId,
    variant_ids: Vec<VariantId>,
    task_no: Option<String>,
}

/// Every read of [`Store::order_context`] on one connection, inside one read
/// transaction (one consistent snapshot), with the same cached statements as
/// the single reads.
fn order_context(c: &Connection, q: &OwnedOrderQuery) -> rusqlite::Result<OrderContext> {
    c.prepare_cached("BEGIN DEFERRED")?.execute([])?;
    let out = order_context_reads(c, q);
    // A read transaction: COMMIT only ends it. Run it even after a failed
    // read, so the pooled connection never keeps a snapshot open.
    let end = c.prepare_cached("COMMIT").and_then(|mut st| st.execute([]));
    let ctx = out?;
    end?;
    Ok(ctx)
}

fn order_context_reads(c: &Connection, q: &OwnedOrderQuery) -> rusqlite::Result<OrderContext> {
    let idempotency = opt(
        c,
        sel!(IDEMPOTENCY, "FROM idempotency_key WHERE scope = ?1 AND key = ?2"),
        params![q.scope, q.key],
        map_idempotency,
    )?;
    let store = opt(c, sel!(STORE, "FROM store WHERE id = ?1"), [b(q.store_id.0)], map_store)?;
    let settings = opt(c, sel!(SETTINGS, "FROM store_settings WHERE store_id = ?1"), [b(q.store_id.0)], map_settings)?;
    let address = opt(c, sel!(ADDRESS, "FROM user_address WHERE id = ?1"), [b(q.address_id.0)], map_address)?;
    let keys = ids(&q.variant_ids);
    let mut variants = Vec::with_capacity(keys.len());
    let mut inventory = Vec::with_capacity(keys.len());
    for v in &keys {
        variants.extend(opt(c, sel!(VARIANT, "FROM product_variant WHERE id = ?1"), [b(v.0)], map_variant)?);
        inventory.extend(list(
            c,
            sel!(INVENTORY, "FROM inventory WHERE variant_id = ?1 ORDER BY warehouse_id"),
            [b(v.0)],
            map_inventory,
        )?);
    }
    let mut product_ids: Vec<ProductId> = variants.iter().map(|v| v.product_id).collect();
    product_ids.sort();
    product_ids.dedup();
    let mut products = Vec::with_capacity(product_ids.len());
    for p in product_ids {
        products.extend(opt(c, sel!(PRODUCT, "FROM product WHERE id = ?1"), [b(p.0)], map_product)?);
    }
    let task = match &q.task_no {
        None => None,
        Some(no) => opt(c, sel!(TASK, "FROM help_task WHERE task_no = ?1"), [no], map_task)?,
    };
    Ok(OrderContext { idempotency, store, settings, address, variants, products, inventory, task })
}

#[async_trait]
impl Store for SqliteStore {
    /// One blocking hop on one read connection instead of eight: every read
    /// inside one read transaction, so the answer is one consistent snapshot.
    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        let q = OwnedOrderQuery {
            scope: q.idempotency_scope.to_owned(),
            key: q.idempotency_key.to_owned(),
            store_id: q.store_id,
            address_id: q.address_id,
            variant_ids: q.variant_ids.to_vec(),
            task_no: q.task_no.map(str::to_owned),
        };
        self.read(move |c| order_context(c, &q)).await
    }

    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        self.inner.writer.apply(changeset).await
    }

    async fn snapshot(&self) -> StoreResult<Snapshot> {
        self.read(snapshot).await
    }

    async fn health(&self) -> StoreResult<()> {
        let status = self.migration_status().await?;
        if status.is_current() {
            Ok(())
        } else {
            Err(StoreError::Schema(format!(
                "database schema version {} but this build expects {}",
                status.applied, status.known
            )))
        }
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}
