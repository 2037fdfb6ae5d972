//! Products, variants, images, warehouses, stock and stock holds.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::money::Currency;
use crate::schema::Entity;

/// A catalog entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "product", key(id))]
pub struct Product {
    /// Id.
    pub id: ProductId,
    /// The store selling it.
    pub store_id: StoreId,
    /// Title.
    pub title: String,
    /// Listed or draft.
    pub status: ProductStatus,
    /// Currency of all its variants' prices.
    pub currency: Currency,
    /// Bumped by every change; guards concurrent edits.
    pub version: i64,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A sellable variant of a product, with a SKU unique per store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "product_variant", key(id), unique(name = "product_variant_store_sku_key", columns(store_id, sku)))]
pub struct ProductVariant {
    /// Id.
    pub id: VariantId,
    /// The product.
    pub product_id: ProductId,
    /// The store (denormalised for the SKU uniqueness rule).
    pub store_id: StoreId,
    /// Stock keeping unit, unique per store.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Unit price in the product's currency's minor units.
    #[column(money, name = "price")]
    pub price_minor: i64,
    /// Listed or draft.
    pub status: ProductStatus,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A product's words as search sees them ([`crate::search`]): one row per
/// product, written by the use cases in the commit of every change to the
/// product's title or status or to its variants, so search is never behind
/// the catalog. Each SQL store indexes it its own way (SQLite: an FTS5
/// table kept by triggers; PostgreSQL: a GIN index over a generated
/// `tsvector`), over exactly these words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "product_search", key(product_id))]
pub struct ProductSearch {
    /// The product.
    pub product_id: ProductId,
    /// Its store.
    pub store_id: StoreId,
    /// The product's status (public search shows active products only).
    pub status: ProductStatus,
    /// The title's words, space-separated, each once.
    pub title_words: String,
    /// The words of the variants' names and SKUs that are not title words.
    pub other_words: String,
    /// The [`crate::search::WORDS_VERSION`] that made the words; 0 for a
    /// row the search migration wrote before any words were made.
    pub words_version: i32,
}

/// An image of a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "product_image", key(id), deletable)]
pub struct ProductImage {
    /// Id.
    pub id: ImageId,
    /// The product.
    pub product_id: ProductId,
    /// Where the image is.
    pub url: String,
    /// Sort position.
    pub position: i32,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The uploaded file it shows, when it is one of the store's
    /// attachments (`url` is then agora's own `/v1/images/{id}`).
    #[serde(default)]
    pub attachment_id: Option<AttachmentId>,
    /// Alternative text.
    #[serde(default)]
    pub alt: Option<String>,
}

/// A stock location of a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "warehouse", key(id))]
pub struct Warehouse {
    /// Id.
    pub id: WarehouseId,
    /// The store.
    pub store_id: StoreId,
    /// Name.
    pub name: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Stock of one variant in one warehouse. `reserved` is the sum of the active
/// reservations' quantities, kept in the row so the stock guard is one
/// conditional update; available = on_hand - reserved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "inventory", key(variant_id, warehouse_id))]
pub struct Inventory {
    /// The variant.
    pub variant_id: VariantId,
    /// The warehouse.
    pub warehouse_id: WarehouseId,
    /// The store.
    pub store_id: StoreId,
    /// Units physically there.
    pub on_hand: i64,
    /// Units held by active reservations.
    pub reserved: i64,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Inventory {
    /// Units that can still be reserved.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// A short-lived hold of stock for an unpaid order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "inventory_reservation", key(id))]
pub struct InventoryReservation {
    /// Id.
    pub id: ReservationId,
    /// The order holding the stock.
    pub order_id: OrderId,
    /// The store.
    pub store_id: StoreId,
    /// The variant.
    pub variant_id: VariantId,
    /// The warehouse.
    pub warehouse_id: WarehouseId,
    /// Units held.
    pub qty: i64,
    /// Active, committed or released.
    pub status: ReservationStatus,
    /// When the hold lapses (the order's reservation expiry).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
