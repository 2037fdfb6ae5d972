//! The read repositories. Every statement is a constant string (built once),
//! so sqlx prepares it once per connection and reuses it.

use agora_core::*;
use async_trait::async_trait;
use sqlx::Execute;
use sqlx::SqlStr;
use sqlx::postgres::{PgArguments, PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rows::PgQuery;
use crate::schema::*;
use crate::{PgStore, StoreResult, is_connection_error, rows, unavailable};

/// A `&'static str` built once from `format!` arguments that name only statics.
macro_rules! cached_sql {
    ($($arg:tt)*) => {{
        static S: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!($($arg)*));
        S.as_str()
    }};
}
pub(crate) use cached_sql;

fn before(page: Page) -> Uuid {
    page.before.unwrap_or(Uuid::max())
}

fn limit(n: u32) -> i64 {
    i64::from(n)
}

impl PgStore {
    /// Runs a read on a pooled connection. The pool does not ping before
    /// handing a connection out, so a read that fails because its connection
    /// was closed (server restart, `pg_terminate_backend`) runs once more on
    /// a checked connection: a read is idempotent.
    async fn read_rows(&self, mut q: PgQuery<'_>, one: bool) -> StoreResult<Vec<PgRow>> {
        let args: PgArguments = q
            .take_arguments()
            .map_err(|e| StoreError::Unavailable(format!("cannot encode arguments: {e}")))?
            .unwrap_or_default();
        let sql = q.sql();
        async fn run<'c>(
            conn: impl sqlx::PgExecutor<'c>,
            sql: SqlStr,
            args: PgArguments,
            one: bool,
        ) -> Result<Vec<PgRow>, sqlx::Error> {
            let q = sqlx::query_with(sql, args);
            if one { Ok(q.fetch_optional(conn).await?.into_iter().collect()) } else { q.fetch_all(conn).await }
        }
        match run(self.pool(), sql.clone(), args.clone(), one).await {
            Err(e) if is_connection_error(&e) => {
                let mut conn = self.checked_connection().await.map_err(unavailable)?;
                run(&mut *conn, sql, args, one).await.map_err(unavailable)
            }
            other => other.map_err(unavailable),
        }
    }

    async fn one<T>(&self, q: PgQuery<'_>, map: fn(&PgRow) -> StoreResult<T>) -> StoreResult<Option<T>> {
        self.read_rows(q, true).await?.first().map(map).transpose()
    }

    async fn many<T>(&self, q: PgQuery<'_>, map: fn(&PgRow) -> StoreResult<T>) -> StoreResult<Vec<T>> {
        self.read_rows(q, false).await?.iter().map(map).collect()
    }
}

impl PgStore {
    /// Every read of `order_context`, one after the other on one pooled
    /// connection. Concurrent reads on several connections are one round
    /// trip of latency instead of eight, but with many requests in flight
    /// each order then holds eight connections and the pool, not the server,
    /// becomes the limit; one connection for a few hundred microseconds
    /// scales with the pool.
    pub(crate) async fn order_context_on_one_connection(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        let conn = self.pool().acquire().await.map_err(unavailable)?;
        match order_context_on(conn, q).await {
            Err(e) if is_connection_error(&e) => {
                let conn = self.checked_connection().await.map_err(unavailable)?;
                order_context_on(conn, q).await.map_err(unavailable)?
            }
            other => other.map_err(unavailable)?,
        }
    }
}

/// The reads of `order_context` on `conn`; a row that does not decode is the
/// inner error (the connection is fine).
async fn order_context_on(
    mut conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    q: &OrderContextQuery<'_>,
) -> Result<StoreResult<OrderContext>, sqlx::Error> {
    let c = &mut *conn;
    let variant_ids = ids(q.variant_ids, |v| v.0);
    let idempotency = sqlx::query(cached_sql!("{} WHERE scope = $1 AND key = $2", IDEMPOTENCY_SQL.select))
        .bind(q.idempotency_scope)
        .bind(q.idempotency_key)
        .fetch_optional(&mut *c)
        .await?;
    let store = sqlx::query(cached_sql!("{} WHERE id = $1", STORE_SQL.select))
        .bind(q.store_id.0)
        .fetch_optional(&mut *c)
        .await?;
    let settings = sqlx::query(cached_sql!("{} WHERE store_id = $1", SETTINGS_SQL.select))
        .bind(q.store_id.0)
        .fetch_optional(&mut *c)
        .await?;
    let address = sqlx::query(cached_sql!("{} WHERE id = $1", ADDRESS_SQL.select))
        .bind(q.address_id.0)
        .fetch_optional(&mut *c)
        .await?;
    let variants = sqlx::query(cached_sql!("{} WHERE id = ANY($1) ORDER BY id", VARIANT_SQL.select))
        .bind(&variant_ids)
        .fetch_all(&mut *c)
        .await?;
    let products = sqlx::query(cached_sql!(
        "{} WHERE id IN (SELECT product_id FROM product_variant WHERE id = ANY($1)) ORDER BY id",
        PRODUCT_SQL.select
    ))
    .bind(&variant_ids)
    .fetch_all(&mut *c)
    .await?;
    let inventory = sqlx::query(cached_sql!(
        "{} WHERE variant_id = ANY($1) ORDER BY variant_id, warehouse_id",
        INVENTORY_SQL.select
    ))
    .bind(&variant_ids)
    .fetch_all(&mut *c)
    .await?;
    let task = match q.task_no {
        Some(no) => {
            sqlx::query(cached_sql!("{} WHERE task_no = $1", TASK_SQL.select)).bind(no).fetch_optional(&mut *c).await?
        }
        None => None,
    };
    let decode = || -> StoreResult<OrderContext> {
        Ok(OrderContext {
            idempotency: idempotency.as_ref().map(rows::idempotency).transpose()?,
            store: store.as_ref().map(rows::shop).transpose()?,
            settings: settings.as_ref().map(rows::settings).transpose()?,
            address: address.as_ref().map(rows::address).transpose()?,
            variants: variants.iter().map(rows::variant).collect::<StoreResult<_>>()?,
            products: products.iter().map(rows::product).collect::<StoreResult<_>>()?,
            inventory: inventory.iter().map(rows::inventory).collect::<StoreResult<_>>()?,
            task: task.as_ref().map(rows::task).transpose()?,
        })
    };
    Ok(decode())
}

fn ids<T: Copy>(v: &[T], f: fn(T) -> Uuid) -> Vec<Uuid> {
    v.iter().map(|x| f(*x)).collect()
}

#[async_trait]
impl StoreRepository for PgStore {
    async fn get_store(&self, id: StoreId) -> StoreResult<Option<Shop>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", STORE_SQL.select)).bind(id.0), rows::shop).await
    }

    async fn list_stores(&self, page: Page) -> StoreResult<Vec<Shop>> {
        let q = sqlx::query(cached_sql!("{} WHERE id < $1 ORDER BY id DESC LIMIT $2", STORE_SQL.select));
        self.many(q.bind(before(page)).bind(limit(page.limit)), rows::shop).await
    }

    async fn get_settings(&self, store_id: StoreId) -> StoreResult<Option<StoreSettings>> {
        let q = sqlx::query(cached_sql!("{} WHERE store_id = $1", SETTINGS_SQL.select));
        self.one(q.bind(store_id.0), rows::settings).await
    }

    async fn get_admin_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<AdminKey>> {
        let q = sqlx::query(cached_sql!("{} WHERE key_hash = $1 ORDER BY id LIMIT 1", ADMIN_KEY_SQL.select));
        self.one(q.bind(key_hash), rows::admin_key).await
    }

    async fn list_audit_logs(&self, store_id: StoreId, page: Page) -> StoreResult<Vec<AuditLog>> {
        let q =
            sqlx::query(cached_sql!("{} WHERE store_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3", AUDIT_SQL.select));
        self.many(q.bind(store_id.0).bind(before(page)).bind(limit(page.limit)), rows::audit).await
    }
}

#[async_trait]
impl UserRepository for PgStore {
    async fn get_user(&self, id: UserId) -> StoreResult<Option<AppUser>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", USER_SQL.select)).bind(id.0), rows::user).await
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<AppUser>> {
        self.one(sqlx::query(cached_sql!("{} WHERE email = $1", USER_SQL.select)).bind(email), rows::user).await
    }

    async fn get_address(&self, id: AddressId) -> StoreResult<Option<UserAddress>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", ADDRESS_SQL.select)).bind(id.0), rows::address).await
    }

    async fn get_session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let q = sqlx::query(cached_sql!("{} WHERE token_hash = $1 ORDER BY id LIMIT 1", SESSION_SQL.select));
        self.one(q.bind(token_hash), rows::session).await
    }

    async fn list_expired_sessions(&self, now: OffsetDateTime, n: u32) -> StoreResult<Vec<Session>> {
        let q = sqlx::query(cached_sql!("{} WHERE expires_at <= $1 ORDER BY id LIMIT $2", SESSION_SQL.select));
        self.many(q.bind(now).bind(limit(n)), rows::session).await
    }
}

#[async_trait]
impl CatalogRepository for PgStore {
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", PRODUCT_SQL.select)).bind(id.0), rows::product).await
    }

    async fn list_products(
        &self,
        store_id: StoreId,
        status: Option<ProductStatus>,
        page: Page,
    ) -> StoreResult<Vec<Product>> {
        let q = match status {
            None => sqlx::query(cached_sql!(
                "{} WHERE store_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                PRODUCT_SQL.select
            ))
            .bind(store_id.0),
            Some(_) => sqlx::query(cached_sql!(
                "{} WHERE store_id = $1 AND status = $4 AND id < $2 ORDER BY id DESC LIMIT $3",
                PRODUCT_SQL.select
            ))
            .bind(store_id.0),
        }
        .bind(before(page))
        .bind(limit(page.limit));
        let q = match status {
            Some(s) => q.bind(s.as_str()),
            None => q,
        };
        self.many(q, rows::product).await
    }

    async fn list_variants(&self, product_ids: &[ProductId]) -> StoreResult<Vec<ProductVariant>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE product_id = ANY($1) ORDER BY product_id, created_at, id",
            VARIANT_SQL.select
        ));
        self.many(q.bind(ids(product_ids, |p| p.0)), rows::variant).await
    }

    async fn get_variants(&self, variant_ids: &[VariantId]) -> StoreResult<Vec<ProductVariant>> {
        let q = sqlx::query(cached_sql!("{} WHERE id = ANY($1) ORDER BY id", VARIANT_SQL.select));
        self.many(q.bind(ids(variant_ids, |v| v.0)), rows::variant).await
    }

    async fn list_images(&self, product_id: ProductId) -> StoreResult<Vec<ProductImage>> {
        let q = sqlx::query(cached_sql!("{} WHERE product_id = $1 ORDER BY position, id", IMAGE_SQL.select));
        self.many(q.bind(product_id.0), rows::image).await
    }

    async fn get_warehouse(&self, id: WarehouseId) -> StoreResult<Option<Warehouse>> {
        let q = sqlx::query(cached_sql!("{} WHERE id = $1", WAREHOUSE_SQL.select));
        self.one(q.bind(id.0), rows::warehouse).await
    }

    async fn list_inventory(&self, variant_ids: &[VariantId]) -> StoreResult<Vec<Inventory>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE variant_id = ANY($1) ORDER BY variant_id, warehouse_id",
            INVENTORY_SQL.select
        ));
        self.many(q.bind(ids(variant_ids, |v| v.0)), rows::inventory).await
    }

    async fn list_store_inventory(&self, store_id: StoreId) -> StoreResult<Vec<Inventory>> {
        let q =
            sqlx::query(cached_sql!("{} WHERE store_id = $1 ORDER BY variant_id, warehouse_id", INVENTORY_SQL.select));
        self.many(q.bind(store_id.0), rows::inventory).await
    }

    async fn active_reservation_totals(&self, store_id: StoreId) -> StoreResult<Vec<(VariantId, WarehouseId, i64)>> {
        let rows: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
            "SELECT variant_id, warehouse_id, sum(qty)::bigint FROM inventory_reservation \
             WHERE store_id = $1 AND status = 'active' GROUP BY variant_id, warehouse_id \
             ORDER BY variant_id, warehouse_id",
        )
        .bind(store_id.0)
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(rows.into_iter().map(|(v, w, n)| (VariantId(v), WarehouseId(w), n)).collect())
    }
}

#[async_trait]
impl OrderRepository for PgStore {
    async fn get_order(&self, id: OrderId) -> StoreResult<Option<CustomerOrder>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", ORDER_SQL.select)).bind(id.0), rows::order).await
    }

    async fn list_order_items(&self, order_ids: &[OrderId]) -> StoreResult<Vec<OrderItem>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE order_id = ANY($1) ORDER BY order_id, line_no, id",
            ORDER_ITEM_SQL.select
        ));
        self.many(q.bind(ids(order_ids, |o| o.0)), rows::order_item).await
    }

    /// A customer-scoped read: runs in a transaction with `app.user_id` set
    /// locally, so the row-level security policies would confine it to the
    /// user's rows even on a connection subject to them.
    async fn list_orders_by_user(&self, user_id: UserId, page: Page) -> StoreResult<Vec<CustomerOrder>> {
        let mut tx = self.pool().begin().await.map_err(unavailable)?;
        sqlx::query("SELECT set_config('app.user_id', $1, true)")
            .bind(user_id.0.to_string())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let rows =
            sqlx::query(cached_sql!("{} WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3", ORDER_SQL.select))
                .bind(user_id.0)
                .bind(before(page))
                .bind(limit(page.limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        rows.iter().map(rows::order).collect()
    }

    async fn list_orders_by_store(
        &self,
        store_id: StoreId,
        status: Option<OrderStatus>,
        page: Page,
    ) -> StoreResult<Vec<CustomerOrder>> {
        let q = match status {
            None => sqlx::query(cached_sql!(
                "{} WHERE store_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                ORDER_SQL.select
            )),
            Some(_) => sqlx::query(cached_sql!(
                "{} WHERE store_id = $1 AND status = $4 AND id < $2 ORDER BY id DESC LIMIT $3",
                ORDER_SQL.select
            )),
        }
        .bind(store_id.0)
        .bind(before(page))
        .bind(limit(page.limit));
        let q = match status {
            Some(s) => q.bind(s.as_str()),
            None => q,
        };
        self.many(q, rows::order).await
    }

    async fn list_unpaid_expired(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        n: u32,
    ) -> StoreResult<Vec<CustomerOrder>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE store_id = $1 AND status = 'CREATED' AND reservation_expires_at <= $2 \
             ORDER BY reservation_expires_at, id LIMIT $3",
            ORDER_SQL.select
        ));
        self.many(q.bind(store_id.0).bind(now).bind(limit(n)), rows::order).await
    }

    async fn list_shipped_before(
        &self,
        store_id: StoreId,
        cutoff: OffsetDateTime,
        n: u32,
    ) -> StoreResult<Vec<CustomerOrder>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE store_id = $1 AND status = 'SHIPPED' AND shipped_at <= $2 ORDER BY shipped_at, id LIMIT $3",
            ORDER_SQL.select
        ));
        self.many(q.bind(store_id.0).bind(cutoff).bind(limit(n)), rows::order).await
    }

    async fn list_reservations(&self, order_id: OrderId) -> StoreResult<Vec<InventoryReservation>> {
        let q = sqlx::query(cached_sql!("{} WHERE order_id = $1 ORDER BY id", RESERVATION_SQL.select));
        self.many(q.bind(order_id.0), rows::reservation).await
    }
}

#[async_trait]
impl PaymentRepository for PgStore {
    async fn get_payment(&self, id: PaymentId) -> StoreResult<Option<Payment>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", PAYMENT_SQL.select)).bind(id.0), rows::payment).await
    }

    async fn list_payments(&self, order_id: OrderId) -> StoreResult<Vec<Payment>> {
        let q = sqlx::query(cached_sql!("{} WHERE order_id = $1 ORDER BY id", PAYMENT_SQL.select));
        self.many(q.bind(order_id.0), rows::payment).await
    }

    async fn get_payment_event(&self, provider: &str, event_id: &str) -> StoreResult<Option<PaymentEvent>> {
        // The dedupe table names the partition (received_at), so the lookup prunes.
        let q = sqlx::query(cached_sql!(
            "SELECT {} FROM payment_event_key k JOIN payment_event e \
             ON e.id = k.payment_event_id AND e.received_at = k.received_at \
             WHERE k.provider = $1 AND k.event_id = $2",
            PAYMENT_EVENT.select_list_as("e")
        ));
        self.one(q.bind(provider).bind(event_id), rows::payment_event).await
    }
}

#[async_trait]
impl TaskRepository for PgStore {
    async fn get_task(&self, id: TaskId) -> StoreResult<Option<HelpTask>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", TASK_SQL.select)).bind(id.0), rows::task).await
    }

    async fn get_task_by_no(&self, task_no: &str) -> StoreResult<Option<HelpTask>> {
        self.one(sqlx::query(cached_sql!("{} WHERE task_no = $1", TASK_SQL.select)).bind(task_no), rows::task).await
    }

    async fn get_task_by_order(&self, order_id: OrderId) -> StoreResult<Option<HelpTask>> {
        let q = sqlx::query(cached_sql!("{} WHERE order_id = $1", TASK_SQL.select));
        self.one(q.bind(order_id.0), rows::task).await
    }

    async fn list_helps(&self, task_id: TaskId) -> StoreResult<Vec<Help>> {
        let q = sqlx::query(cached_sql!("{} WHERE task_id = $1 ORDER BY id", HELP_SQL.select));
        self.many(q.bind(task_id.0), rows::help).await
    }

    async fn get_help_by_order(&self, order_id: OrderId) -> StoreResult<Option<Help>> {
        let q = sqlx::query(cached_sql!("{} WHERE order_id = $1 ORDER BY id LIMIT 1", HELP_SQL.select));
        self.one(q.bind(order_id.0), rows::help).await
    }

    async fn list_tasks_expired(&self, store_id: StoreId, now: OffsetDateTime, n: u32) -> StoreResult<Vec<HelpTask>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE store_id = $1 AND status = 'OPEN' AND expires_at <= $2 ORDER BY expires_at, id LIMIT $3",
            TASK_SQL.select
        ));
        self.many(q.bind(store_id.0).bind(now).bind(limit(n)), rows::task).await
    }

    async fn list_tasks_payout_due(
        &self,
        store_id: StoreId,
        now: OffsetDateTime,
        n: u32,
    ) -> StoreResult<Vec<HelpTask>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE store_id = $1 AND status = 'QUALIFIED' AND payout_at <= $2 ORDER BY payout_at, id LIMIT $3",
            TASK_SQL.select
        ));
        self.many(q.bind(store_id.0).bind(now).bind(limit(n)), rows::task).await
    }

    async fn get_payout(&self, id: PayoutId) -> StoreResult<Option<PayoutLedger>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", PAYOUT_SQL.select)).bind(id.0), rows::payout).await
    }

    async fn get_payout_by_task(&self, task_id: TaskId) -> StoreResult<Option<PayoutLedger>> {
        let q = sqlx::query(cached_sql!("{} WHERE task_id = $1", PAYOUT_SQL.select));
        self.one(q.bind(task_id.0), rows::payout).await
    }

    async fn list_payouts(
        &self,
        store_id: StoreId,
        status: Option<PayoutStatus>,
        page: Page,
    ) -> StoreResult<Vec<PayoutLedger>> {
        let q = match status {
            None => sqlx::query(cached_sql!(
                "{} WHERE store_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                PAYOUT_SQL.select
            )),
            Some(_) => sqlx::query(cached_sql!(
                "{} WHERE store_id = $1 AND payout_status = $4 AND id < $2 ORDER BY id DESC LIMIT $3",
                PAYOUT_SQL.select
            )),
        }
        .bind(store_id.0)
        .bind(before(page))
        .bind(limit(page.limit));
        let q = match status {
            Some(s) => q.bind(s.as_str()),
            None => q,
        };
        self.many(q, rows::payout).await
    }
}

#[async_trait]
impl IdempotencyRepository for PgStore {
    async fn get_idempotency(&self, scope: &str, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let q = sqlx::query(cached_sql!("{} WHERE scope = $1 AND key = $2", IDEMPOTENCY_SQL.select));
        self.one(q.bind(scope).bind(key), rows::idempotency).await
    }

    async fn list_expired_idempotency(&self, now: OffsetDateTime, n: u32) -> StoreResult<Vec<IdempotencyRecord>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE expires_at <= $1 ORDER BY scope COLLATE \"C\", key COLLATE \"C\" LIMIT $2",
            IDEMPOTENCY_SQL.select
        ));
        self.many(q.bind(now).bind(limit(n)), rows::idempotency).await
    }
}

#[async_trait]
impl EventRepository for PgStore {
    async fn list_events(&self, store_id: StoreId, after: i64, n: u32) -> StoreResult<Vec<ActivityEvent>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE store_id = $1 AND seq IS NOT NULL AND seq > $2 ORDER BY seq LIMIT $3",
            EVENT_SQL.select
        ));
        self.many(q.bind(store_id.0).bind(after).bind(limit(n)), rows::event).await
    }

    async fn list_unsequenced_events(&self, store_id: StoreId, n: u32) -> StoreResult<Vec<ActivityEvent>> {
        let q =
            sqlx::query(cached_sql!("{} WHERE store_id = $1 AND seq IS NULL ORDER BY id LIMIT $2", EVENT_SQL.select));
        self.many(q.bind(store_id.0).bind(limit(n)), rows::event).await
    }

    async fn last_event_seq(&self, store_id: StoreId) -> StoreResult<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM event_seq WHERE store_id = $1")
            .bind(store_id.0)
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        Ok(seq.unwrap_or(0))
    }
}

#[async_trait]
impl ExportRepository for PgStore {
    async fn get_export(&self, id: ExportId) -> StoreResult<Option<ExportJob>> {
        self.one(sqlx::query(cached_sql!("{} WHERE id = $1", EXPORT_SQL.select)).bind(id.0), rows::export).await
    }

    async fn list_exports_by_status(&self, status: ExportStatus, n: u32) -> StoreResult<Vec<ExportJob>> {
        let q = sqlx::query(cached_sql!("{} WHERE status = $1 ORDER BY id LIMIT $2", EXPORT_SQL.select));
        self.many(q.bind(status.as_str()).bind(limit(n)), rows::export).await
    }

    async fn list_exports_expired(&self, now: OffsetDateTime, n: u32) -> StoreResult<Vec<ExportJob>> {
        let q = sqlx::query(cached_sql!(
            "{} WHERE status = 'ready' AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2",
            EXPORT_SQL.select
        ));
        self.many(q.bind(now).bind(limit(n)), rows::export).await
    }

    async fn list_export_audit(&self, export_id: ExportId) -> StoreResult<Vec<ExportAuditRecord>> {
        let q = sqlx::query(cached_sql!("{} WHERE export_id = $1 ORDER BY id", EXPORT_AUDIT_SQL.select));
        self.many(q.bind(export_id.0), rows::export_audit).await
    }
}
