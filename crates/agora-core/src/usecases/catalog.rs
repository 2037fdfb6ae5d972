//! Catalog and stock.

use std::collections::{HashMap, HashSet};

use crate::catalogue::{Catalogued, Record};
use crate::changeset::{Changeset, Condition, Guard, StockChange};
use crate::error::{AgoraError, StoreError};
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::money::{Currency, MAX_MINOR};
use crate::ports::{Page, ProductSearchQuery};
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Entity;
use crate::schema::Value;
use crate::search::{SearchHit, SearchTerms, WORDS_VERSION};
use crate::validate::Validator;
use crate::views::*;

use super::{Actor, Agora, ListQuery, failed_guard, is_retryable, next_cursor, require_admin, too_contended};

/// Largest on-hand figure accepted.
pub const MAX_ON_HAND: i64 = 1_000_000_000;

fn parse_product_status(field: &str, s: &str) -> Result<ProductStatus, AgoraError> {
    ProductStatus::parse(s).ok_or_else(|| AgoraError::validation(field, "must be active or draft"))
}

/// Whether a changeset failed on the guard that the store trades.
fn suspended(e: &StoreError) -> bool {
    matches!(failed_guard(e), Some(Condition::Guard(g)) if g.table().name == "store")
}

/// `store_suspended` for a changeset that failed on the store's status,
/// else the error as it is.
pub(crate) fn suspended_or(e: StoreError) -> AgoraError {
    if suspended(&e) { AgoraError::StoreSuspended } else { e.into() }
}

impl Agora {
    /// `not_found` unless `actor` may list the store's products: its admins
    /// while it exists, anyone else while it trades.
    async fn listable_by(&self, actor: &Actor, store_id: StoreId) -> Result<(), AgoraError> {
        let visible = if actor.administers(store_id) {
            self.store.get_store(store_id).await?.is_some()
        } else {
            self.publicly_visible(store_id).await?
        };
        if visible { Ok(()) } else { Err(AgoraError::NotFound("store")) }
    }

    /// Builds product views with availability, for several products at once
    /// (four reads however many products: no N+1).
    pub(crate) async fn product_views(&self, products: Vec<Product>) -> Result<Vec<ProductView>, AgoraError> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
        let variants = self.store.list_variants(&ids).await?;
        let mut images: HashMap<ProductId, Vec<ImageView>> = HashMap::new();
        for i in self.store.list_images_of(&ids).await? {
            images.entry(i.product_id).or_default().push(super::files::image_view(&i));
        }
        let variant_ids: Vec<VariantId> = variants.iter().map(|v| v.id).collect();
        let stock = self.store.list_inventory(&variant_ids).await?;
        let mut available: HashMap<VariantId, i64> = HashMap::new();
        for row in &stock {
            *available.entry(row.variant_id).or_default() += row.available();
        }
        let mut by_product: HashMap<ProductId, Vec<VariantView>> = HashMap::new();
        for v in variants {
            by_product.entry(v.product_id).or_default().push(VariantView {
                id: v.id.0,
                available: available.get(&v.id).copied().unwrap_or(0),
                sku: v.sku,
                name: v.name,
                price_minor: v.price_minor,
                status: v.status.as_str().to_owned(),
            });
        }
        Ok(products
            .into_iter()
            .map(|p| ProductView {
                id: p.id.0,
                store_id: p.store_id.0,
                variants: by_product.remove(&p.id).unwrap_or_default(),
                images: images.remove(&p.id).unwrap_or_default(),
                title: p.title,
                status: p.status.as_str().to_owned(),
                currency: p.currency.as_str().to_owned(),
                created_at: p.created_at,
            })
            .collect())
    }

    /// Adds the search row of `product` (as it will be) to `cs`, from its
    /// variants as stored: an update, or an insert when the product has no
    /// row yet.
    async fn write_search_row(&self, cs: &mut Changeset, product: &Product) -> Result<(), AgoraError> {
        let variants = self.store.list_variants(&[product.id]).await?;
        let row = Record::ProductSearch(ProductSearch::of(product, &variants));
        match self.store.get::<ProductSearch, _>(product.id).await? {
            Some(_) => cs.update(row),
            None => cs.insert(row),
        };
        Ok(())
    }

    /// Creates a product with its variants (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`; `conflict` when a SKU is
    /// already used in the store.
    pub async fn create_product(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewProduct,
    ) -> Result<ProductView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = Validator::new();
        v.text("title", &req.title, 1, 300);
        let currency = Currency::parse(&req.currency);
        v.check(currency.is_ok(), "currency", "must be a three-letter ISO 4217 code in upper case");
        let status = match req.status.as_deref() {
            None => Ok(ProductStatus::Active),
            Some(s) => parse_product_status("status", s),
        };
        v.check(status.is_ok(), "status", "must be active or draft");
        v.check((1..=100).contains(&req.variants.len()), "variants", "must have 1 to 100 variants");
        let mut seen = HashSet::new();
        for (i, nv) in req.variants.iter().enumerate() {
            v.text(&format!("variants[{i}].sku"), &nv.sku, 1, 64);
            v.check(!nv.sku.chars().any(char::is_whitespace), format!("variants[{i}].sku"), "must not contain spaces");
            v.text(&format!("variants[{i}].name"), &nv.name, 1, 200);
            v.range(&format!("variants[{i}].price_minor"), nv.price_minor, 0, MAX_MINOR);
            if !seen.insert(nv.sku.trim()) {
                v.error(format!("variants[{i}].sku"), "duplicate SKU in this request");
            }
        }
        v.finish()?;
        let (currency, status) = (currency?, status?);
        self.trading_store(store_id).await?;
        let now = self.now();
        let product = Product {
            id: ProductId(self.new_uuid()),
            store_id,
            title: req.title.trim().to_owned(),
            status,
            currency,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut cs = Changeset::new();
        cs.guard(guards::store_is_active(store_id)).insert(Record::Product(product.clone()));
        let mut variants = Vec::with_capacity(req.variants.len());
        for nv in &req.variants {
            let sku = nv.sku.trim().to_owned();
            cs.guard(guards::sku_free(store_id, &sku));
            variants.push(ProductVariant {
                id: VariantId(self.new_uuid()),
                product_id: product.id,
                store_id,
                sku,
                name: nv.name.trim().to_owned(),
                price_minor: nv.price_minor,
                status,
                created_at: now,
            });
        }
        // Searchable in the commit that creates it.
        cs.insert(Record::ProductSearch(ProductSearch::of(&product, &variants)));
        for variant in variants {
            cs.insert(Record::Variant(variant));
        }
        cs.insert(self.event(
            store_id,
            "product",
            product.id.0,
            "product.created",
            serde_json::json!({"title": product.title}),
        ));
        match self.apply_changeset(cs).await {
            Ok(()) => {}
            Err(e) => {
                if let Some(Condition::Guard(Guard::Free { unique: guards::SKU, values, .. })) = failed_guard(&e)
                    && let Some(Value::Text(sku)) = values.get(1)
                {
                    return Err(AgoraError::conflict(format!("SKU {sku} is already used in this store")));
                }
                return Err(suspended_or(e));
            }
        }
        let mut views = self.product_views(vec![product]).await?;
        views.pop().ok_or_else(|| AgoraError::Internal("product vanished".into()))
    }

    /// One product. Anyone sees active products; drafts only the store's admins.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn get_product(&self, actor: &Actor, id: ProductId) -> Result<ProductView, AgoraError> {
        let p = self.store.get_product(id).await?.ok_or(AgoraError::NotFound("product"))?;
        if !actor.administers(p.store_id)
            && (p.status != ProductStatus::Active || !self.publicly_visible(p.store_id).await?)
        {
            return Err(AgoraError::NotFound("product"));
        }
        let mut views = self.product_views(vec![p]).await?;
        views.pop().ok_or(AgoraError::NotFound("product"))
    }

    /// A store's active products, newest first (public: a suspended
    /// store's list is `not_found`; its admins use
    /// [`Agora::list_all_products`]).
    ///
    /// # Errors
    /// `not_found` for an unknown or suspended store; `validation` for a
    /// bad limit or cursor.
    pub async fn list_products(&self, store_id: StoreId, q: &ListQuery) -> Result<ListPage<ProductView>, AgoraError> {
        self.list_products_as(&Actor::Anonymous, store_id, q).await
    }

    /// A store's active products, newest first, as `actor` sees them: like
    /// [`Agora::list_products`], but the store's admins (and the super
    /// admin) also see them while the store is suspended.
    ///
    /// # Errors
    /// As [`Agora::list_products`].
    pub async fn list_products_as(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &ListQuery,
    ) -> Result<ListPage<ProductView>, AgoraError> {
        let page = product_list_page(q)?;
        self.listable_by(actor, store_id).await?;
        let products = self.store.list_products(store_id, Some(ProductStatus::Active), page).await?;
        let next = next_cursor(&products, &page, |p| p.id.0);
        Ok(ListPage { items: self.product_views(products).await?, next_cursor: next })
    }

    /// Changes a product's title or status (store admin). A status change
    /// applies to the product; variants keep their own status.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn patch_product(
        &self,
        actor: &Actor,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<ProductView, AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let mut v = Validator::new();
        if let Some(t) = &patch.title {
            v.text("title", t, 1, 300);
        }
        let status = patch.status.as_deref().map(|s| parse_product_status("status", s));
        if let Some(Err(_)) = &status {
            v.error("status", "must be active or draft");
        }
        v.finish()?;
        let status = status.transpose()?;
        for _ in 0..self.config.max_attempts {
            let current = self.store.get_product(id).await?.ok_or(AgoraError::NotFound("product"))?;
            if !actor.administers(current.store_id) {
                return Err(AgoraError::NotFound("product"));
            }
            self.trading_store(current.store_id).await?;
            let mut next = current.clone();
            if let Some(t) = &patch.title {
                next.title = t.trim().to_owned();
            }
            if let Some(s) = status {
                next.status = s;
            }
            if next == current {
                break;
            }
            next.version += 1;
            next.updated_at = self.now();
            let mut cs = Changeset::new();
            cs.guard(guards::store_is_active(current.store_id))
                .guard(guards::product_version_is(id, current.version))
                .update(Record::Product(next.clone()));
            // The search row changes in the same commit. The version guard
            // covers it: only changes of this product write it.
            self.write_search_row(&mut cs, &next).await?;
            cs.insert(self.event(
                next.store_id,
                "product",
                id.0,
                "product.updated",
                serde_json::json!({"title": next.title, "status": next.status}),
            ));
            match self.apply_changeset(cs).await {
                Ok(()) => break,
                Err(e) if suspended(&e) => return Err(AgoraError::StoreSuspended),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let p = self.store.get_product(id).await?.ok_or(AgoraError::NotFound("product"))?;
        let mut views = self.product_views(vec![p]).await?;
        views.pop().ok_or_else(too_contended)
    }

    /// Creates a warehouse (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn create_warehouse(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewWarehouse,
    ) -> Result<WarehouseView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = Validator::new();
        v.text("name", &req.name, 1, 200);
        v.finish()?;
        self.trading_store(store_id).await?;
        let w = Warehouse {
            id: WarehouseId(self.new_uuid()),
            store_id,
            name: req.name.trim().to_owned(),
            created_at: self.now(),
        };
        let mut cs = Changeset::new();
        cs.guard(guards::store_is_active(store_id)).insert(Record::Warehouse(w.clone())).insert(self.event(
            store_id,
            "warehouse",
            w.id.0,
            "warehouse.created",
            serde_json::json!({"name": w.name}),
        ));
        self.apply_changeset(cs).await.map_err(suspended_or)?;
        Ok(WarehouseView { id: w.id.0, store_id: store_id.0, name: w.name })
    }

    /// Sets the units on hand of a variant in a warehouse (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found` for a variant or warehouse of another
    /// store; `validation`; `conflict` when on_hand would drop below what
    /// active reservations hold.
    pub async fn set_inventory(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: SetInventory,
    ) -> Result<InventoryView, AgoraError> {
        self.set_inventory_from(actor, store_id, req, None).await
    }

    /// [`Agora::set_inventory`] asked from the client address `ip`. Each
    /// edit writes an audit row `inventory:<variant>:<warehouse>` in its
    /// commit: who, from where, and on hand as read just before -> as set.
    ///
    /// # Errors
    /// As [`Agora::set_inventory`].
    pub async fn set_inventory_from(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: SetInventory,
        ip: Option<&str>,
    ) -> Result<InventoryView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = Validator::new();
        v.range("on_hand", req.on_hand, 0, MAX_ON_HAND);
        v.finish()?;
        let variant_id = VariantId(req.variant_id);
        let warehouse_id = WarehouseId(req.warehouse_id);
        let variant = self.store.get_variants(&[variant_id]).await?.pop();
        if variant.as_ref().map(|v| v.store_id) != Some(store_id) {
            return Err(AgoraError::NotFound("variant"));
        }
        let warehouse = self.store.get_warehouse(warehouse_id).await?;
        if warehouse.as_ref().map(|w| w.store_id) != Some(store_id) {
            return Err(AgoraError::NotFound("warehouse"));
        }
        self.trading_store(store_id).await?;
        // Read for the audit row only: orders move `reserved`, not the
        // on hand an edit overwrites, so this is what the admin replaced
        // unless a payment consumed units in between.
        let was = self
            .store
            .list_inventory(&[variant_id])
            .await?
            .into_iter()
            .find(|r| r.warehouse_id == warehouse_id)
            .map(|r| r.on_hand.to_string());
        let now = self.now();
        let mut cs = Changeset::new();
        cs.guard(guards::store_is_active(store_id))
            .stock(variant_id, warehouse_id, now, StockChange::SetOnHand { store_id, on_hand: req.on_hand })
            .insert(self.audit_row(
                actor,
                store_id,
                ip,
                &format!("inventory:{}:{}", variant_id.0, warehouse_id.0),
                was,
                Some(req.on_hand.to_string()),
            ))
            .insert(self.event(
                store_id,
                "inventory",
                variant_id.0,
                "inventory.set",
                serde_json::json!({"warehouse_id": warehouse_id, "on_hand": req.on_hand}),
            ));
        match self.apply_changeset(cs).await {
            Ok(()) => {}
            Err(e) if suspended(&e) => return Err(AgoraError::StoreSuspended),
            Err(e) if failed_guard(&e).is_some() => {
                return Err(AgoraError::conflict("on_hand would be below the units reserved by open orders"));
            }
            Err(e) => return Err(e.into()),
        }
        let row = self
            .store
            .list_inventory(&[variant_id])
            .await?
            .into_iter()
            .find(|r| r.warehouse_id == warehouse_id)
            .ok_or_else(|| AgoraError::Internal("inventory row vanished".into()))?;
        Ok(InventoryView {
            variant_id: variant_id.0,
            warehouse_id: warehouse_id.0,
            on_hand: row.on_hand,
            reserved: row.reserved,
            available: row.available(),
        })
    }

    /// Every product of a store, drafts included, newest first (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_all_products(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &ListQuery,
    ) -> Result<ListPage<ProductView>, AgoraError> {
        require_admin(actor, store_id)?;
        let page: Page = q.page()?;
        let products = self.store.list_products(store_id, None, page).await?;
        let next = next_cursor(&products, &page, |p| p.id.0);
        Ok(ListPage { items: self.product_views(products).await?, next_cursor: next })
    }

    /// Searches a store's active products (public: an unknown or suspended
    /// store is `not_found`, except to its admins, as for
    /// [`Agora::list_products_as`]). `q` is the query text (see
    /// [`crate::search`]); the page is best match first, ties newest first,
    /// and its cursor continues the ranking.
    ///
    /// # Errors
    /// `validation` for a query without letters or digits, over
    /// [`crate::search::MAX_QUERY_CHARS`] characters or over
    /// [`crate::search::MAX_TERMS`] words, a bad limit or cursor;
    /// `not_found` for a store the caller may not see.
    pub async fn search_products(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &str,
        list: &ListQuery,
    ) -> Result<ListPage<ProductView>, AgoraError> {
        let search = SearchPage::parse(Some(q), list)?;
        self.listable_by(actor, store_id).await?;
        self.search_page(store_id, Some(ProductStatus::Active), &search).await
    }

    /// Searches every product of a store, drafts included, or only those of
    /// `status` (`active` or `draft`) (store admin). As
    /// [`Agora::search_products`] otherwise; `q` is required (`None` is
    /// refused after the caller is checked).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` as for
    /// [`Agora::search_products`], for a missing `q` and for an unknown
    /// status.
    pub async fn search_all_products(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: Option<&str>,
        status: Option<&str>,
        list: &ListQuery,
    ) -> Result<ListPage<ProductView>, AgoraError> {
        require_admin(actor, store_id)?;
        let search = SearchPage::parse(q, list);
        let status = status.map(|s| parse_product_status("status", s)).transpose();
        let (search, status) = match (search, status) {
            (Ok(search), Ok(status)) => (search, status),
            (Err(AgoraError::Validation(mut a)), Err(AgoraError::Validation(b))) => {
                a.extend(b);
                return Err(AgoraError::Validation(a));
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        if self.store.get_store(store_id).await?.is_none() {
            return Err(AgoraError::NotFound("store"));
        }
        self.search_page(store_id, status, &search).await
    }

    /// One page of a search: the hits, then their products and views in
    /// batch (no N+1), in the hits' order.
    async fn search_page(
        &self,
        store_id: StoreId,
        status: Option<ProductStatus>,
        search: &SearchPage,
    ) -> Result<ListPage<ProductView>, AgoraError> {
        let query =
            ProductSearchQuery { store_id, status, terms: &search.terms, after: search.after, limit: search.limit };
        let hits = self.store.search_products(&query).await?;
        let next_cursor = if hits.len() == search.limit as usize { hits.last().map(SearchHit::cursor) } else { None };
        let ids: Vec<ProductId> = hits.iter().map(|h| h.product_id).collect();
        let mut found: HashMap<ProductId, Product> = self
            .store
            .fetch_all::<Product>(Query::of::<Product>().any("id", ids.iter().copied()))
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        // The search and the product read are two reads: a product whose
        // status changed in between is left out rather than shown as it is
        // now (a draft must never reach the public).
        let products: Vec<Product> = ids
            .iter()
            .filter_map(|id| found.remove(id))
            .filter(|p| p.store_id == store_id && status.is_none_or(|s| p.status == s))
            .collect();
        Ok(ListPage { items: self.product_views(products).await?, next_cursor })
    }

    /// Walks every product, in pages of `page` by id, and writes the search
    /// row of each that has none or an outdated one; returns how many it
    /// wrote. For data that arrived without the use cases: an import of an
    /// export written before product search (`agora import` runs it), rows
    /// written by hand. Each page is one commit, guarded by the products'
    /// versions; a page that lost a race is done product by product, and
    /// a product edited meanwhile keeps the row its edit wrote.
    ///
    /// # Errors
    /// `unavailable` when the store failed.
    pub async fn rebuild_search_index(&self, page: u32) -> Result<u64, AgoraError> {
        let page = page.clamp(1, 1000);
        let mut after: Option<crate::schema::Key> = None;
        let mut written = 0;
        loop {
            let (rows, next) = crate::snapshot::scan_page(&*self.store, Product::table(), after.as_ref(), page).await?;
            let products: Vec<Product> = rows.into_iter().filter_map(Product::from_record).collect();
            let ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
            let variants = self.store.list_variants(&ids).await?;
            let stored: HashMap<ProductId, ProductSearch> = self
                .store
                .fetch_all::<ProductSearch>(Query::of::<ProductSearch>().any("product_id", ids.iter().copied()))
                .await?
                .into_iter()
                .map(|r| (r.product_id, r))
                .collect();
            let mut writes = Vec::new();
            for product in &products {
                let fresh = ProductSearch::of(product, &variants);
                let mut cs = Changeset::new();
                cs.guard(guards::product_version_is(product.id, product.version));
                match stored.get(&product.id) {
                    Some(row) if *row == fresh => continue,
                    Some(row) => cs
                        .guard(Guard::row_is::<ProductSearch>(
                            product.id,
                            &[("words_version", row.words_version.into())],
                        ))
                        .update(Record::ProductSearch(fresh)),
                    None => cs.insert(Record::ProductSearch(fresh)),
                };
                writes.push(cs);
            }
            written += self.apply_all_or_each(writes).await?;
            match next {
                Some(k) => after = Some(k),
                None => return Ok(written),
            }
        }
    }

    /// Applies `changesets` as one commit, or, when that fails, one by one,
    /// skipping those whose guard failed; returns how many were applied.
    async fn apply_all_or_each(&self, changesets: Vec<Changeset>) -> Result<u64, AgoraError> {
        if changesets.is_empty() {
            return Ok(0);
        }
        let mut batch = Changeset::new();
        for cs in &changesets {
            batch.guards.extend(cs.guards.iter().cloned());
            batch.writes.extend(cs.writes.iter().cloned());
        }
        if self.apply_changeset(batch).await.is_ok() {
            return Ok(changesets.len() as u64);
        }
        let mut done = 0;
        for cs in changesets {
            match self.apply_changeset(cs).await {
                Ok(()) => done += 1,
                Err(e) if is_retryable(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(done)
    }

    /// Brings the search rows that older rules (or none: the rows the search
    /// migration wrote for existing products) made up to
    /// [`WORDS_VERSION`], at most `limit` of them; returns how many it
    /// rewrote. The runtime calls it at start until it answers 0, so search
    /// finds every product written before it existed. Guarded by the
    /// product's version and the row's `words_version`: a product edited
    /// meanwhile has written its own row, which is left as it is.
    ///
    /// # Errors
    /// `unavailable` when the store failed.
    pub async fn refresh_search_index(&self, limit: u32) -> Result<u64, AgoraError> {
        let stale: Vec<ProductSearch> = self
            .store
            .fetch_all(Query::of::<ProductSearch>().lt("words_version", WORDS_VERSION).limit(limit.max(1)))
            .await?;
        if stale.is_empty() {
            return Ok(0);
        }
        let ids: Vec<ProductId> = stale.iter().map(|r| r.product_id).collect();
        let products: HashMap<ProductId, Product> = self
            .store
            .fetch_all::<Product>(Query::of::<Product>().any("id", ids.iter().copied()))
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let variants = self.store.list_variants(&ids).await?;
        let mut rewrites = Vec::with_capacity(stale.len());
        for row in &stale {
            let Some(product) = products.get(&row.product_id) else { continue };
            let mut cs = Changeset::new();
            cs.guard(guards::product_version_is(product.id, product.version))
                .guard(Guard::row_is::<ProductSearch>(product.id, &[("words_version", row.words_version.into())]))
                .update(Record::ProductSearch(ProductSearch::of(product, &variants)));
            rewrites.push(cs);
        }
        // One commit for the batch; when a product changed meanwhile, one
        // commit each, and the changed ones are left to their own rows.
        self.apply_all_or_each(rewrites).await
    }
}

/// The page of a product list: a plain list cursor, or (leniently) a search
/// cursor, whose product id is where the list continues.
fn product_list_page(q: &ListQuery) -> Result<Page, AgoraError> {
    match q.cursor.as_deref() {
        Some(c) if c.len() == 23 => {
            let hit =
                SearchHit::from_cursor(c).ok_or_else(|| AgoraError::validation("cursor", "is not a valid cursor"))?;
            Ok(Page { limit: q.limit()?, before: Some(hit.product_id.0) })
        }
        _ => q.page(),
    }
}

/// A search request, checked: its terms, page size and start.
struct SearchPage {
    terms: SearchTerms,
    limit: u32,
    after: Option<SearchHit>,
}

impl SearchPage {
    /// Checks the query text (required) and the page, reporting every bad field.
    fn parse(q: Option<&str>, list: &ListQuery) -> Result<SearchPage, AgoraError> {
        let mut errors = Vec::new();
        let mut field = |r: Result<(), AgoraError>| {
            if let Err(AgoraError::Validation(e)) = r {
                errors.extend(e);
            }
        };
        let terms = match q {
            Some(q) => SearchTerms::parse(q),
            None => Err(AgoraError::validation("q", "is required")),
        };
        let limit = list.limit();
        let after = match list.cursor.as_deref() {
            None => Ok(None),
            Some(c) => SearchHit::from_cursor(c)
                .map(Some)
                .ok_or_else(|| AgoraError::validation("cursor", "is not a valid cursor")),
        };
        match (terms, limit, after) {
            (Ok(terms), Ok(limit), Ok(after)) => Ok(SearchPage { terms, limit, after }),
            (terms, limit, after) => {
                field(terms.map(|_| ()));
                field(limit.map(|_| ()));
                field(after.map(|_| ()));
                Err(AgoraError::Validation(errors))
            }
        }
    }
}
