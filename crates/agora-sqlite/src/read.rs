//! The reads of a query on a read connection, and
//! [`Store::order_context`] as one blocking hop inside one read
//! transaction, with the same generic queries (and so the same cached
//! statements) as the single reads it stands for.

use agora_core::query::Query;
use agora_core::*;
use rusqlite::Connection;

use crate::codec::db_err;
use crate::select::fetch_on;

/// The rows of `T` that `q` selects (a read the schema indexes: its plan is checked).
fn rows<T: Catalogued>(c: &Connection, q: &Query) -> StoreResult<Vec<T>> {
    Ok(fetch_on(c, q)?.into_iter().filter_map(T::from_record).collect())
}

/// The first row of `T` that `q` (limited to one row) selects.
fn first<T: Catalogued>(c: &Connection, q: Query) -> StoreResult<Option<T>> {
    Ok(rows(c, &q.limit(1))?.pop())
}

/// The queries of [`Store::order_context`], each the one of the single
/// read named on its [`OrderContext`] field; built before the blocking hop
/// (the products follow from the variants read).
pub(crate) struct OrderReads {
    idempotency: Query,
    store: Query,
    settings: Query,
    address: Query,
    variants: Query,
    inventory: Query,
    task: Option<Query>,
}

impl OrderReads {
    pub(crate) fn new(q: &OrderContextQuery<'_>) -> Self {
        let ids = q.variant_ids.iter().copied();
        let idempotency = Query::of::<IdempotencyRecord>().eq("scope", q.idempotency_scope);
        Self {
            idempotency: idempotency.eq("key", q.idempotency_key),
            store: Query::key::<Shop>(q.store_id),
            settings: Query::key::<StoreSettings>(q.store_id),
            address: Query::key::<UserAddress>(q.address_id),
            variants: Query::of::<ProductVariant>().any("id", ids.clone()).asc("id"),
            inventory: Query::of::<Inventory>().any("variant_id", ids).asc("variant_id").asc("warehouse_id"),
            task: q.task_no.map(|no| Query::of::<HelpTask>().eq("task_no", no)),
        }
    }

    fn run(self, c: &Connection) -> StoreResult<OrderContext> {
        let variants: Vec<ProductVariant> = rows(c, &self.variants)?;
        let mut product_ids: Vec<ProductId> = variants.iter().map(|v| v.product_id).collect();
        product_ids.sort();
        product_ids.dedup();
        Ok(OrderContext {
            idempotency: first(c, self.idempotency)?,
            store: first(c, self.store)?,
            settings: first(c, self.settings)?,
            address: first(c, self.address)?,
            products: rows(c, &Query::of::<Product>().any("id", product_ids))?,
            variants,
            inventory: rows(c, &self.inventory)?,
            task: self.task.map(|q| first(c, q)).transpose()?.flatten(),
        })
    }
}

/// The reads inside one read transaction: one consistent snapshot.
pub(crate) fn order_context(c: &Connection, reads: OrderReads) -> StoreResult<OrderContext> {
    c.prepare_cached("BEGIN DEFERRED").and_then(|mut st| st.execute([])).map_err(db_err)?;
    let out = reads.run(c);
    // A read transaction: COMMIT only ends it. Run it even after a failed
    // read, so the pooled connection never keeps a snapshot open.
    let end = c.prepare_cached("COMMIT").and_then(|mut st| st.execute([])).map_err(db_err);
    let ctx = out?;
    end?;
    Ok(ctx)
}
