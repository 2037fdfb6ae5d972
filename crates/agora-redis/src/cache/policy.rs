//! The cache policy: which reads [`super::CachedStore`] answers from Redis
//! and which writes make them stale. It is the one place that knows the
//! catalog tables; every other query passes straight through.
//!
//! Cached: one product by id (`get_product`), the variants of each product
//! (`list_variants`, one slot per product), a store's listing pages
//! (`list_products`) and a store's tickets with unread customer messages
//! (what `store_unread` sums). Stock, images, orders and everything else are
//! not.

use agora_core::query::{Cmp, Dir, Filter, Query};
use agora_core::schema::{Entity, Key, Table, Value};
use agora_core::{Changeset, Product, ProductId, ProductVariant, Record, StoreId, Ticket, Write};
use uuid::Uuid;

/// A read the cache answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cached {
    /// One product by id.
    Product(ProductId),
    /// The variants of these products (distinct, sorted).
    Variants(Vec<ProductId>),
    /// One newest-first page of a store's products.
    Listing {
        /// The store.
        store_id: StoreId,
        /// Only products with this status, when set.
        status: Option<&'static str>,
        /// Rows per page.
        limit: u32,
        /// Ids strictly below this one, when set.
        before: Option<Uuid>,
    },
    /// A store's tickets with `unread_for_store > 0` (its unread count).
    StoreUnread(StoreId),
}

fn is<T: Entity>(table: &Table) -> bool {
    table.name == T::table().name
}

fn uuid(v: &Value<'_>) -> Option<Uuid> {
    match v {
        Value::Uuid(u) => Some(*u),
        _ => None,
    }
}

/// The cached read `query` is, if it is one.
pub(crate) fn recognise(query: &Query) -> Option<Cached> {
    if query.limit == Some(0) {
        return None;
    }
    if is::<Product>(query.table) {
        product_by_id(query).or_else(|| listing(query))
    } else if is::<ProductVariant>(query.table) {
        variants_of_products(query)
    } else if is::<Ticket>(query.table) {
        unread_of_store(query)
    } else {
        None
    }
}

/// `id = ?`, nothing else.
fn product_by_id(q: &Query) -> Option<Cached> {
    let [Filter::Cmp { column, op: Cmp::Eq, value }] = q.filters.as_slice() else { return None };
    (*column == q.table.col("id") && q.order.is_empty()).then_some(())?;
    uuid(value).map(|u| Cached::Product(ProductId(u)))
}

/// `store_id = ?` [and `status = 'x'`] [and `id < ?`], newest first, a limit.
fn listing(q: &Query) -> Option<Cached> {
    let t = q.table;
    let (id, store, status) = (t.col("id"), t.col("store_id"), t.col("status"));
    if q.order != [(id, Dir::Desc)] {
        return None;
    }
    let (mut store_id, mut wanted, mut before) = (None, None, None);
    for f in &q.filters {
        match f {
            Filter::Cmp { column, op: Cmp::Eq, value } if *column == store && store_id.is_none() => {
                store_id = Some(uuid(value)?);
            }
            Filter::Const { column, value } if *column == status && wanted.is_none() => wanted = Some(*value),
            Filter::Cmp { column, op: Cmp::Lt, value } if *column == id && before.is_none() => {
                before = Some(uuid(value)?);
            }
            _ => return None,
        }
    }
    Some(Cached::Listing { store_id: StoreId(store_id?), status: wanted, limit: q.limit?, before })
}

/// `product_id IN (...)` (or `= ?`), any order, no limit.
fn variants_of_products(q: &Query) -> Option<Cached> {
    let product = q.table.col("product_id");
    if q.limit.is_some() {
        return None;
    }
    let mut ids: Vec<Uuid> = match q.filters.as_slice() {
        [Filter::In { column, values }] if *column == product => values.iter().map(uuid).collect::<Option<_>>()?,
        [Filter::Cmp { column, op: Cmp::Eq, value }] if *column == product => vec![uuid(value)?],
        _ => return None,
    };
    ids.sort_unstable();
    ids.dedup();
    Some(Cached::Variants(ids.into_iter().map(ProductId).collect()))
}

/// `store_id = ? and unread_for_store > 0`, no order, no limit.
fn unread_of_store(q: &Query) -> Option<Cached> {
    let (store, unread) = (q.table.col("store_id"), q.table.col("unread_for_store"));
    let [first, second] = q.filters.as_slice() else { return None };
    (q.order.is_empty() && q.limit.is_none()).then_some(())?;
    let (Filter::Cmp { column: c1, op: Cmp::Eq, value }, Filter::Cmp { column: c2, op: Cmp::Gt, value: Value::Int(0) }) =
        (first, second)
    else {
        return None;
    };
    (*c1 == store && *c2 == unread).then_some(())?;
    uuid(value).map(|u| Cached::StoreUnread(StoreId(u)))
}

/// The product (and its store) a cached row belongs to.
pub(crate) fn product_of(record: &Record) -> Option<(ProductId, StoreId)> {
    match record {
        Record::Product(p) => Some((p.id, p.store_id)),
        Record::Variant(v) => Some((v.product_id, v.store_id)),
        _ => None,
    }
}

/// The store whose unread count a ticket row is part of.
pub(crate) fn ticket_store(record: &Record) -> Option<StoreId> {
    match record {
        Record::Ticket(t) => Some(t.store_id),
        _ => None,
    }
}

/// What a changeset's writes make stale: the products (with their stores)
/// and the tickets' stores its inserts and updates write, and the cached
/// rows it deletes by key, whose product or store are only known by
/// reading them first.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Stale {
    /// Products whose cached reads (and whose store's listing) change.
    pub products: Vec<(ProductId, StoreId)>,
    /// Stores whose unread tickets change.
    pub unread: Vec<StoreId>,
    /// Deleted product, variant or ticket rows.
    pub deleted: Vec<(&'static Table, Key)>,
}

/// The cached reads `changeset` may change once applied.
pub(crate) fn stale(changeset: &Changeset) -> Stale {
    let mut out = Stale::default();
    for w in &changeset.writes {
        match w {
            Write::Delete { table, key }
                if is::<Product>(table) || is::<ProductVariant>(table) || is::<Ticket>(table) =>
            {
                out.deleted.push((table, key.clone()));
            }
            // Stock, images, stores, messages, ... are not cached: nothing to do for them.
            _ => {
                out.products.extend(w.record().and_then(product_of));
                out.unread.extend(w.record().and_then(ticket_store));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_core::{Inventory, Page, Session, SessionId, StockChange, VariantId, WarehouseId};
    use time::OffsetDateTime;

    fn pid(n: u128) -> ProductId {
        ProductId(Uuid::from_u128(n))
    }

    #[test]
    fn recognises_the_catalog_reads_of_reads() {
        let store = StoreId(Uuid::from_u128(1));
        assert_eq!(recognise(&Query::key::<Product>(pid(7)).limit(1)), Some(Cached::Product(pid(7))));
        let page = Page { limit: 20, before: Some(Uuid::from_u128(9)) };
        let q = Query::of::<Product>().eq("store_id", store).is("status", "active").page(page);
        let want = Cached::Listing { store_id: store, status: Some("active"), limit: 20, before: page.before };
        assert_eq!(recognise(&q), Some(want));
        let q = Query::of::<ProductVariant>().any("product_id", [pid(3), pid(2), pid(3)]);
        let q = q.asc("product_id").asc("created_at").asc("id");
        assert_eq!(recognise(&q), Some(Cached::Variants(vec![pid(2), pid(3)])));
    }

    #[test]
    fn everything_else_passes_through() {
        let store = StoreId(Uuid::from_u128(1));
        let by_title = Query::of::<Product>().eq("store_id", store).eq("title", "x").page(Page::first(5));
        let ids = Query::of::<Product>().any("id", [pid(1)]);
        let variants_by_id = Query::of::<ProductVariant>().any("id", [VariantId(Uuid::from_u128(1))]);
        let stock = Query::of::<Inventory>().eq("store_id", store);
        let limited = Query::of::<ProductVariant>().eq("product_id", pid(1)).limit(3);
        for q in [by_title, ids, variants_by_id, stock, limited, Query::key::<Product>(pid(1)).limit(0)] {
            assert_eq!(recognise(&q), None, "{q:?}");
        }
    }

    #[test]
    fn recognises_a_stores_unread_tickets_and_nothing_near_it() {
        let store = StoreId(Uuid::from_u128(1));
        let q = Query::of::<Ticket>().eq("store_id", store).gt("unread_for_store", 0i64);
        assert_eq!(recognise(&q), Some(Cached::StoreUnread(store)));
        let customer = Query::of::<Ticket>().eq("store_id", store).gt("unread_for_customer", 0i64);
        let above_one = Query::of::<Ticket>().eq("store_id", store).gt("unread_for_store", 1i64);
        let paged = Query::of::<Ticket>().eq("store_id", store).gt("unread_for_store", 0i64).limit(5);
        let listing = Query::of::<Ticket>().eq("store_id", store).desc("id").limit(20);
        for q in [customer, above_one, paged, listing] {
            assert_eq!(recognise(&q), None, "{q:?}");
        }
    }

    #[test]
    fn only_catalog_writes_are_stale() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let (p, s) = (pid(5), StoreId(Uuid::from_u128(6)));
        let variant = ProductVariant {
            id: VariantId(Uuid::from_u128(8)),
            product_id: p,
            store_id: s,
            sku: "k".into(),
            name: "n".into(),
            price_minor: 1,
            status: agora_core::ProductStatus::Active,
            created_at: at,
        };
        let mut cs = Changeset::new();
        cs.update(variant)
            .stock(VariantId(Uuid::from_u128(9)), WarehouseId(Uuid::from_u128(1)), at, StockChange::Reserve(1))
            .delete::<Session>(SessionId(Uuid::from_u128(2)))
            .delete::<Product>(pid(4));
        let stale = stale(&cs);
        assert_eq!(stale.products, vec![(p, s)]);
        assert_eq!(stale.deleted, vec![(Product::table(), Key::from(pid(4)))]);
    }
}
