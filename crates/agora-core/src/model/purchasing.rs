//! Sales velocity per variant and purchase orders (API.md v1.1 "KPIs,
//! velocity, purchase orders").

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::money::Currency;
use crate::schema::Entity;

crate::ids::typed_id! {
    /// Identifies a [`crate::PurchaseOrder`].
    PurchaseOrderId,
    /// Identifies a [`crate::PurchaseOrderLine`].
    PurchaseOrderLineId,
}

/// A variant's sales velocity and stockout forecast, kept by the
/// `velocity` job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "product_velocity", key(variant_id))]
pub struct ProductVelocity {
    /// The variant.
    pub variant_id: VariantId,
    /// Its store.
    pub store_id: StoreId,
    /// Its SKU when computed.
    pub sku: String,
    /// Units paid for in the window.
    pub units_sold: i64,
    /// The window, in days.
    pub window_days: i64,
    /// Units per day, in thousandths (rounded half up).
    pub daily_velocity_milli: i64,
    /// Units available (on hand minus reserved, all warehouses).
    pub available: i64,
    /// Units on open purchase orders, not yet received.
    pub on_order: i64,
    /// Whole days the available units last at this velocity; `None` when
    /// nothing sells.
    pub days_of_cover: Option<i64>,
    /// When the available units run out at this velocity.
    #[serde(with = "time::serde::rfc3339::option")]
    pub stockout_at: Option<OffsetDateTime>,
    /// What to order now to cover lead and cover days.
    pub reorder_qty: i64,
}

/// A purchase order to a vendor, received into one warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "purchase_order", key(id), unique(name = "purchase_order_number_key", columns(store_id, number)))]
pub struct PurchaseOrder {
    /// Id.
    pub id: PurchaseOrderId,
    /// The store.
    pub store_id: StoreId,
    /// Human-readable number, unique in the store.
    pub number: String,
    /// Who supplies it.
    pub vendor: String,
    /// Where it is received.
    pub warehouse_id: WarehouseId,
    /// Currency of the unit costs.
    pub currency: Currency,
    /// Lifecycle state.
    pub status: PurchaseOrderStatus,
    /// Sum of qty x unit cost over the lines.
    pub total_minor: i64,
    /// Free text.
    pub note: Option<String>,
    /// Bumped by every change; guards concurrent edits.
    pub version: i64,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When it was submitted.
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    /// When its last units arrived.
    #[serde(with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
}

/// One line of a purchase order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "purchase_order_line", key(id))]
pub struct PurchaseOrderLine {
    /// Id.
    pub id: PurchaseOrderLineId,
    /// The order.
    pub purchase_order_id: PurchaseOrderId,
    /// Its store.
    pub store_id: StoreId,
    /// Position, from 0.
    pub line_no: i32,
    /// What is ordered.
    pub variant_id: VariantId,
    /// Units ordered.
    pub qty: i64,
    /// Cost per unit.
    pub unit_cost_minor: i64,
    /// Units received so far.
    pub received_qty: i64,
}
