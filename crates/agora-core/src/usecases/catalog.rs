//! Catalog and stock.

use std::collections::{HashMap, HashSet};

use crate::catalogue::Record;
use crate::changeset::{Changeset, Condition, Guard, StockChange};
use crate::error::{AgoraError, StoreError};
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::money::{Currency, MAX_MINOR};
use crate::ports::Page;
use crate::reads::Reads;
use crate::schema::Value;
use crate::validate::Validator;
use crate::views::*;

use super::{Actor, Agora, ListQuery, failed_guard, next_cursor, require_admin, too_contended};

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
fn suspended_or(e: StoreError) -> AgoraError {
    if suspended(&e) { AgoraError::StoreSuspended } else { e.into() }
}

impl Agora {
    /// Builds product views with availability, for several products at once
    /// (three reads however many products: no N+1).
    pub(crate) async fn product_views(&self, products: Vec<Product>) -> Result<Vec<ProductView>, AgoraError> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
        let variants = self.store.list_variants(&ids).await?;
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
                title: p.title,
                status: p.status.as_str().to_owned(),
                currency: p.currency.as_str().to_owned(),
                created_at: p.created_at,
            })
            .collect())
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
        for nv in &req.variants {
            let sku = nv.sku.trim().to_owned();
            cs.guard(guards::sku_free(store_id, &sku));
            cs.insert(Record::Variant(ProductVariant {
                id: VariantId(self.new_uuid()),
                product_id: product.id,
                store_id,
                sku,
                name: nv.name.trim().to_owned(),
                price_minor: nv.price_minor,
                status,
                created_at: now,
            }));
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
        let page = q.page()?;
        let visible = if actor.administers(store_id) {
            self.store.get_store(store_id).await?.is_some()
        } else {
            self.publicly_visible(store_id).await?
        };
        if !visible {
            return Err(AgoraError::NotFound("store"));
        }
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
                .update(Record::Product(next.clone()))
                .insert(self.event(
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
}
