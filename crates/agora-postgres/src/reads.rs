//! The one read: a core [`Query`] as one `SELECT`, its SQL generated once
//! per query shape (which table, which filters on which columns, which
//! order, whether limited) and cached.
//!
//! - [`Filter::Const`] is inlined as a quoted literal, so PostgreSQL's
//!   partial indexes (`WHERE status = 'CREATED'`) serve the sweeps;
//! - [`Filter::In`] is `= ANY($n)` with a typed array;
//! - [`Filter::After`] is a row comparison `(a, b) > ($1, $2)`, which an
//!   index on `(a, b)` answers as a range;
//! - text is ordered and range-compared `COLLATE "C"` (bytes, as core and
//!   the memory model compare it); equality stays plain, so lookups use the
//!   columns' own indexes;
//! - a comparison with NULL or an `In` without values matches nothing and
//!   costs no round trip.

use agora_core::query::{Cmp, Dir, Filter, FilterShape, Query, QueryShape};
use agora_core::schema::{ColumnType, Value};
use agora_core::*;
use sqlx::PgConnection;
use sqlx::postgres::{PgArguments, PgRow};

use crate::error::{is_connection_error, unavailable};
use crate::sql::{self, ShapeCache, ident, literal, ordered, param, stored};
use crate::{PgStore, StoreResult};

/// Distinct query shapes kept; beyond it, SQL is built per call.
const MAX_SHAPES: usize = 1024;

static SHAPES: std::sync::LazyLock<ShapeCache<QueryShape>> = std::sync::LazyLock::new(|| ShapeCache::new(MAX_SHAPES));

fn build(table: &agora_core::schema::Table, s: &QueryShape) -> StoreResult<String> {
    let col = |c: usize| -> StoreResult<(&'static str, ColumnType)> {
        let column = table
            .columns
            .get(c)
            .ok_or_else(|| StoreError::Schema(format!("table {} has no column {c}", table.name)))?;
        Ok((column.name, column.ty))
    };
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let mut conditions = Vec::with_capacity(s.filters.len());
    for f in &s.filters {
        conditions.push(match f {
            FilterShape::Cmp(c, op) => {
                let (name, ty) = col(*c)?;
                // Equality is byte equality under any deterministic collation:
                // no COLLATE, so the column's own index serves it.
                let lhs = if *op == Cmp::Eq { ident(name) } else { ordered(ty, &ident(name)) };
                format!("{lhs} {} {}", op.sql(), param(ty, next()))
            }
            FilterShape::Const(c, value) => format!("{} = {}", ident(col(*c)?.0), literal(value)),
            FilterShape::In(c) => {
                let (name, ty) = col(*c)?;
                let n = next();
                match ty {
                    ColumnType::Money => {
                        format!("{} = ANY(SELECT {} FROM UNNEST(${n}::int8[]) AS m(v))", ident(name), stored(ty, "m.v"))
                    }
                    _ => format!("{} = ANY(${n}::{}[])", ident(name), sql::element_type(ty)),
                }
            }
            FilterShape::Null(c, null) => {
                format!("{} IS {}NULL", ident(col(*c)?.0), if *null { "" } else { "NOT " })
            }
            FilterShape::After(cols) => {
                let mut lhs = Vec::with_capacity(cols.len());
                let mut rhs = Vec::with_capacity(cols.len());
                for c in cols {
                    let (name, ty) = col(*c)?;
                    lhs.push(ordered(ty, &ident(name)));
                    rhs.push(param(ty, next()));
                }
                format!("({}) > ({})", lhs.join(", "), rhs.join(", "))
            }
        });
    }
    let mut sql = format!("SELECT {} FROM {}", sql::table_sql(table)?.select_list, ident(table.name));
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    if !s.order.is_empty() {
        let mut keys = Vec::with_capacity(s.order.len());
        for (c, dir) in &s.order {
            let (name, ty) = col(*c)?;
            keys.push(format!("{} {}", ordered(ty, &ident(name)), if *dir == Dir::Asc { "ASC" } else { "DESC" }));
        }
        sql.push_str(" ORDER BY ");
        sql.push_str(&keys.join(", "));
    }
    if s.limit {
        sql.push_str(&format!(" LIMIT ${}", next()));
    }
    Ok(sql)
}

/// Binds an `In` filter's values as one typed array.
fn push_in(args: &mut PgArguments, ty: ColumnType, values: &[Value<'static>]) -> StoreResult<()> {
    let mut array = sql::ColumnArray::new(ty, values.len())?;
    for v in values {
        array.push(v)?;
    }
    array.bind(args)
}

/// The statement of `q` and its arguments; `None` when it can match nothing.
pub(crate) fn statement(q: &Query) -> StoreResult<Option<(std::sync::Arc<str>, PgArguments)>> {
    if q.matches_nothing() {
        return Ok(None);
    }
    let sql = SHAPES.get(q.shape(), |s| build(q.table, s))?;
    let ty = |c: usize| q.table.columns[c].ty;
    let mut args = PgArguments::default();
    for f in &q.filters {
        match f {
            Filter::Cmp { column, value, .. } => sql::push(&mut args, ty(*column), value)?,
            Filter::In { column, values } => push_in(&mut args, ty(*column), values)?,
            Filter::After { columns, values } => {
                for (c, v) in columns.iter().zip(values) {
                    sql::push(&mut args, ty(*c), v)?;
                }
            }
            Filter::Const { .. } | Filter::Null { .. } => {}
        }
    }
    if let Some(limit) = q.limit {
        sql::push(&mut args, ColumnType::Int, &Value::Int(i64::from(limit)))?;
    }
    Ok(Some((sql, args)))
}

/// Runs `q` on `conn`: the outer error is the connection's, the inner one a
/// row that does not decode.
async fn fetch_on(conn: &mut PgConnection, q: &Query) -> Result<StoreResult<Vec<Record>>, sqlx::Error> {
    let (sql, args) = match statement(q) {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(Ok(Vec::new())),
        Err(e) => return Ok(Err(e)),
    };
    let rows: Vec<PgRow> = sqlx::query_with(sqlx::AssertSqlSafe(sql), args).fetch_all(conn).await?;
    Ok(rows.iter().map(|r| sql::decode_record(q.table, r)).collect())
}

fn typed<T: Catalogued>(rows: StoreResult<Vec<Record>>) -> StoreResult<Vec<T>> {
    rows?
        .into_iter()
        .map(|r| T::from_record(r).ok_or_else(|| StoreError::Schema(format!("not a row of {}", T::table().name))))
        .collect()
}

fn first<T: Catalogued>(rows: StoreResult<Vec<Record>>) -> StoreResult<Option<T>> {
    Ok(typed::<T>(rows)?.into_iter().next())
}

/// The reads of `order_context` on `conn`, one after the other, as the
/// single reads of [`Reads`] would issue them.
async fn order_context_on(
    conn: &mut PgConnection,
    q: &OrderContextQuery<'_>,
) -> Result<StoreResult<OrderContext>, sqlx::Error> {
    let ids = q.variant_ids.iter().copied();
    let idempotency = Query::of::<IdempotencyRecord>().eq("scope", q.idempotency_scope).eq("key", q.idempotency_key);
    let idempotency = fetch_on(conn, &idempotency.limit(1)).await?;
    let store = fetch_on(conn, &Query::key::<Shop>(q.store_id)).await?;
    let settings = fetch_on(conn, &Query::key::<StoreSettings>(q.store_id)).await?;
    let address = fetch_on(conn, &Query::key::<UserAddress>(q.address_id)).await?;
    let variants = fetch_on(conn, &Query::of::<ProductVariant>().any("id", ids.clone()).asc("id")).await?;
    let inventory = Query::of::<Inventory>().any("variant_id", ids).asc("variant_id").asc("warehouse_id");
    let inventory = fetch_on(conn, &inventory).await?;
    let task = match q.task_no {
        Some(no) => fetch_on(conn, &Query::of::<HelpTask>().eq("task_no", no).limit(1)).await?,
        None => Ok(Vec::new()),
    };
    let variants = match typed::<ProductVariant>(variants) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let mut product_ids: Vec<ProductId> = variants.iter().map(|v| v.product_id).collect();
    product_ids.sort();
    product_ids.dedup();
    let products = fetch_on(conn, &Query::of::<Product>().any("id", product_ids)).await?;
    let answer = || -> StoreResult<OrderContext> {
        Ok(OrderContext {
            idempotency: first(idempotency)?,
            store: first(store)?,
            settings: first(settings)?,
            address: first(address)?,
            variants,
            products: typed(products)?,
            inventory: typed(inventory)?,
            task: first(task)?,
        })
    };
    Ok(answer())
}

impl PgStore {
    /// [`Store::fetch`]. The pool does not ping before handing a connection
    /// out, so a read that fails because its connection was closed (server
    /// restart, `pg_terminate_backend`) runs once more on a checked
    /// connection: a read is idempotent.
    pub(crate) async fn fetch_rows(&self, q: &Query) -> StoreResult<Vec<Record>> {
        let Some((sql, args)) = statement(q)? else { return Ok(Vec::new()) };
        let query = |args| sqlx::query_with(sqlx::AssertSqlSafe(sql.clone()), args);
        let rows = match query(args.clone()).fetch_all(self.pool()).await {
            Err(e) if is_connection_error(&e) => {
                let mut conn = self.checked_connection().await.map_err(unavailable)?;
                query(args).fetch_all(&mut *conn).await.map_err(unavailable)?
            }
            other => other.map_err(unavailable)?,
        };
        rows.iter().map(|r| sql::decode_record(q.table, r)).collect()
    }

    /// [`Store::search_products`], retried once on a checked connection when
    /// its connection was closed (as [`PgStore::fetch_rows`]).
    pub(crate) async fn search_hits(&self, q: &ProductSearchQuery<'_>) -> StoreResult<Vec<SearchHit>> {
        let mut conn = self.pool().acquire().await.map_err(unavailable)?;
        match crate::search::search_on(&mut conn, q).await {
            Err(e) if is_connection_error(&e) => {
                drop(conn.detach());
                let mut conn = self.checked_connection().await.map_err(unavailable)?;
                crate::search::search_on(&mut conn, q).await.map_err(unavailable)?
            }
            other => other.map_err(unavailable)?,
        }
    }

    /// [`Store::order_context`]: every read on one pooled connection, one
    /// after the other. Concurrent reads on several connections would be one
    /// round trip of latency instead of eight, but with many requests in
    /// flight each order would then hold eight connections and the pool, not
    /// the server, becomes the limit.
    pub(crate) async fn order_context_on_one_connection(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        let mut conn = self.pool().acquire().await.map_err(unavailable)?;
        match order_context_on(&mut conn, q).await {
            Err(e) if is_connection_error(&e) => {
                drop(conn.detach());
                let mut conn = self.checked_connection().await.map_err(unavailable)?;
                order_context_on(&mut conn, q).await.map_err(unavailable)?
            }
            other => other.map_err(unavailable)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;

    fn sql_of(q: &Query) -> String {
        statement(q).unwrap().map(|(s, _)| s.to_string()).unwrap_or_default()
    }

    #[test]
    fn constants_are_inlined_and_text_orders_by_bytes() {
        let q = Query::of::<CustomerOrder>()
            .eq("store_id", uuid::Uuid::nil())
            .is("status", "CREATED")
            .le("reservation_expires_at", time::OffsetDateTime::UNIX_EPOCH)
            .asc("reservation_expires_at")
            .asc("id")
            .limit(10);
        let sql = sql_of(&q);
        assert!(
            sql.ends_with(
                "WHERE \"store_id\" = $1 AND \"status\" = 'CREATED' AND \"reservation_expires_at\" <= $2 \
                 ORDER BY \"reservation_expires_at\" ASC, \"id\" ASC LIMIT $3"
            ),
            "{sql}"
        );
        let sql = sql_of(&Query::of::<ProductVariant>().ge("sku", "B").gt("price", 5i64).desc("sku"));
        assert!(sql.contains("\"sku\" COLLATE \"C\" >= $1"), "{sql}");
        assert!(sql.contains("\"price\" > ($2::bigint * 0.01)::numeric(12,2)"), "{sql}");
        assert!(sql.ends_with("ORDER BY \"sku\" COLLATE \"C\" DESC"), "{sql}");
    }

    #[test]
    fn sets_pages_and_impossible_filters() {
        let sql = sql_of(&Query::of::<Inventory>().any("variant_id", [uuid::Uuid::nil()]));
        assert!(sql.ends_with("WHERE \"variant_id\" = ANY($1::uuid[])"), "{sql}");
        let after = Key(vec![Value::from("s"), Value::from("k")]);
        let sql = sql_of(&Query::scan(IdempotencyRecord::table(), Some(&after), 5));
        assert!(
            sql.ends_with(
                "WHERE (\"scope\" COLLATE \"C\", \"key\" COLLATE \"C\") > ($1, $2) \
                 ORDER BY \"scope\" COLLATE \"C\" ASC, \"key\" COLLATE \"C\" ASC LIMIT $3"
            ),
            "{sql}"
        );
        assert!(statement(&Query::of::<Shop>().any("id", Vec::<uuid::Uuid>::new())).unwrap().is_none());
        assert!(statement(&Query::of::<Shop>().eq("domain", Value::Null)).unwrap().is_none());
    }

    /// A value of type `ty` to stand in a query's parameters.
    fn sample(ty: ColumnType) -> Value<'static> {
        match ty {
            ColumnType::Uuid => Value::Uuid(Uuid::nil()),
            ColumnType::Text => Value::from("k"),
            ColumnType::Timestamp => Value::Timestamp(OffsetDateTime::UNIX_EPOCH),
            _ => Value::Int(0),
        }
    }

    #[tokio::test]
    async fn hot_reads_and_scans_use_their_indexes() {
        let (config, _db) = crate::testing::throwaway_database().await;
        let pg = PgStore::connect(config).await.unwrap();
        let mut conn = pg.pool().acquire().await.unwrap();
        // Costs aside: is there an index that gives the rows, in order?
        sqlx::raw_sql("SET enable_seqscan = off; SET enable_sort = off").execute(&mut *conn).await.unwrap();
        let (id, now) = (Uuid::nil(), OffsetDateTime::UNIX_EPOCH);
        let order = || Query::of::<CustomerOrder>().eq("store_id", id);
        let task = || Query::of::<HelpTask>().eq("store_id", id);
        let mut queries = vec![
            (Query::of::<IdempotencyRecord>().eq("scope", "s").eq("key", "k").limit(1), "idempotency_key_pkey"),
            (
                order()
                    .is("status", "CREATED")
                    .le("reservation_expires_at", now)
                    .asc("reservation_expires_at")
                    .asc("id")
                    .limit(50),
                "customer_order_unpaid_idx",
            ),
            (
                order().is("status", "SHIPPED").le("shipped_at", now).asc("shipped_at").asc("id").limit(50),
                "customer_order_shipped_idx",
            ),
            (order().is("status", "PAID").page(Page::first(20)), "customer_order_store_status_idx"),
            (
                task().is("status", "OPEN").le("expires_at", now).asc("expires_at").asc("id").limit(50),
                "help_task_open_idx",
            ),
            (
                task().is("status", "QUALIFIED").le("payout_at", now).asc("payout_at").asc("id").limit(50),
                "help_task_qualified_idx",
            ),
            (
                Query::of::<InventoryReservation>().eq("store_id", id).is("status", "active"),
                "inventory_reservation_store_active_idx",
            ),
            (Query::of::<Inventory>().any("variant_id", [id]).asc("variant_id").asc("warehouse_id"), "inventory_pkey"),
            (
                Query::of::<ProductVariant>().any("product_id", [id]).asc("product_id").asc("created_at").asc("id"),
                "product_variant_product_idx",
            ),
            (
                Query::of::<OrderItem>().any("order_id", [id]).asc("order_id").asc("line_no").asc("id"),
                "order_item_line_key",
            ),
            (
                Query::of::<ActivityEvent>().eq("store_id", id).not_null("seq").gt("seq", 0i64).asc("seq").limit(100),
                "store_id_seq_idx",
            ),
            (Query::of::<ActivityEvent>().eq("store_id", id).null("seq").asc("id").limit(100), "store_id_id_idx"),
            (Query::of::<PaymentEvent>().eq("provider", "p").eq("event_id", "e").limit(1), "provider_event_id_idx"),
            (Query::of::<ExportJob>().is("status", "queued").asc("id").limit(10), "export_job_status_idx"),
            (
                Query::of::<ProductSearch>().lt("words_version", agora_core::search::WORDS_VERSION).limit(100),
                "product_search_words_version_idx",
            ),
        ];
        // Every table's keyset scan walks its key's index.
        for table in agora_core::tables() {
            let after = Key(table.key.iter().map(|&c| sample(table.columns[c].ty)).collect());
            queries.push((Query::scan(table, Some(&after), 100), "Index"));
        }
        for (q, index) in queries {
            let (sql, args) = statement(&q).unwrap().unwrap();
            let explain = sqlx::AssertSqlSafe(format!("EXPLAIN {sql}"));
            let plan: Vec<String> = sqlx::query_scalar_with(explain, args).fetch_all(&mut *conn).await.unwrap();
            // A full sort means no index gives the order (an incremental sort
            // of rows already in key order is fine).
            let sorts = plan.iter().any(|l| l.trim_start().trim_start_matches("->  ").starts_with("Sort  ("));
            let plan = plan.join("\n");
            assert!(plan.contains(index) && !plan.contains("Seq Scan") && !sorts, "{sql}\n{plan}");
        }
        // A search finds its rows through the GIN index of the lexemes.
        let terms = SearchTerms::parse("mu red").unwrap();
        for after in [None, Some(SearchHit { tier: MatchTier::TitlePrefixes, product_id: ProductId(id) })] {
            let q = ProductSearchQuery { store_id: StoreId(id), status: None, terms: &terms, after, limit: 50 };
            let (sql, args) = crate::search::statement(&q).unwrap();
            let explain = sqlx::AssertSqlSafe(format!("EXPLAIN {sql}"));
            let plan: Vec<String> = sqlx::query_scalar_with(explain, args).fetch_all(&mut *conn).await.unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains("product_search_lexemes_idx") && !plan.contains("Seq Scan"), "{sql}\n{plan}");
        }
    }
}
