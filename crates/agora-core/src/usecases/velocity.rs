//! Sales velocity and stockout forecasts per variant, kept by the
//! `velocity` job: units paid for in the store's `velocity_window_days`,
//! available stock, units on open purchase orders, and what to reorder.

use std::collections::HashMap;

use time::{Duration, OffsetDateTime};

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::AgoraError;
use crate::ids::*;
use crate::model::*;
use crate::ports::Page;
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Value;
use crate::views::*;

use super::kpis::day_key;
use super::sweeps::SweepReport;
use super::{Actor, Agora, ListQuery, next_cursor, require_admin};

/// The `job` of the velocity job's [`JobCursor`].
pub const VELOCITY_JOB: &str = "velocity";

/// A store's velocity is recomputed at least this often, sales or not
/// (velocity falls as days without sales pass).
const VELOCITY_MAX_AGE: Duration = Duration::hours(1);

/// Stockout times further ahead than this (a century) are not given.
const STOCKOUT_HORIZON_SECONDS: i64 = 100 * 366 * 86_400;

/// `units_sold / window_days` in thousandths of a unit, rounded half up.
fn velocity_milli(units_sold: i64, window_days: i64) -> i64 {
    let window = window_days.max(1);
    (units_sold * 2000 + window) / (2 * window)
}

/// `"1.250"` from 1250.
fn milli_text(milli: i64) -> String {
    format!("{}.{:03}", milli / 1000, milli % 1000)
}

/// What the job derives for one variant.
pub(crate) fn forecast(
    v: &ProductVariant,
    settings: &StoreSettings,
    units_sold: i64,
    available: i64,
    on_order: i64,
    now: OffsetDateTime,
) -> ProductVelocity {
    let window = settings.velocity_window_days.max(1);
    let horizon = settings.reorder_lead_days + settings.reorder_cover_days;
    // Exact arithmetic on the rate units_sold / window.
    let needed = (units_sold * horizon + window - 1) / window;
    let (days_of_cover, stockout_at) = if units_sold == 0 {
        (None, None)
    } else {
        let left = available.max(0);
        // seconds = left / (units_sold / window) days; beyond a century
        // (or the calendar) there is no date to give.
        let seconds = i128::from(left) * i128::from(window) * 86_400 / i128::from(units_sold);
        let at = (seconds <= i128::from(STOCKOUT_HORIZON_SECONDS))
            .then(|| now.checked_add(Duration::seconds(seconds as i64)))
            .flatten();
        (Some(left * window / units_sold), at)
    };
    ProductVelocity {
        variant_id: v.id,
        store_id: v.store_id,
        sku: v.sku.clone(),
        units_sold,
        window_days: window,
        daily_velocity_milli: velocity_milli(units_sold, window),
        available,
        on_order,
        days_of_cover,
        stockout_at,
        reorder_qty: (needed - available - on_order).max(0),
    }
}

/// Whether a forecast stockout time moved by a day or more (or appeared or
/// went away).
fn stockout_moved(old: Option<OffsetDateTime>, new: Option<OffsetDateTime>) -> bool {
    match (old, new) {
        (Some(a), Some(b)) => (a - b).abs() >= Duration::days(1),
        (a, b) => a.is_some() != b.is_some(),
    }
}

fn velocity_view(v: ProductVelocity, computed_at: Option<OffsetDateTime>) -> VelocityView {
    VelocityView {
        variant_id: v.variant_id.0,
        sku: v.sku,
        units_sold: v.units_sold,
        window_days: v.window_days,
        daily_velocity: milli_text(v.daily_velocity_milli),
        available: v.available,
        on_order: v.on_order,
        days_of_cover: v.days_of_cover,
        stockout_at: v.stockout_at,
        reorder_qty: v.reorder_qty,
        computed_at,
    }
}

impl Agora {
    /// Whether the velocity job has work for a store: never run, the feed
    /// moved since, or the last run is older than an hour.
    pub(crate) async fn velocity_due(&self, store_id: StoreId) -> Result<bool, AgoraError> {
        let Some(c) = self.store.get::<JobCursor, _>((store_id, VELOCITY_JOB)).await? else { return Ok(true) };
        if self.now() - c.updated_at >= VELOCITY_MAX_AGE {
            return Ok(true);
        }
        Ok(!self.store.list_events(store_id, c.last_seq, 1).await?.is_empty())
    }

    /// Units on open (submitted or partially received) purchase orders of
    /// a store, per variant.
    pub(crate) async fn on_order(&self, store_id: StoreId) -> Result<HashMap<VariantId, i64>, AgoraError> {
        let mut open: Vec<PurchaseOrder> = Vec::new();
        for status in [PurchaseOrderStatus::Submitted, PurchaseOrderStatus::PartiallyReceived] {
            let q = Query::of::<PurchaseOrder>().eq("store_id", store_id).is("status", status.as_str());
            open.extend(self.store.fetch_all::<PurchaseOrder>(q).await?);
        }
        let mut out: HashMap<VariantId, i64> = HashMap::new();
        let ids: Vec<PurchaseOrderId> = open.iter().map(|p| p.id).collect();
        for chunk in ids.chunks(1000) {
            let q = Query::of::<PurchaseOrderLine>().any("purchase_order_id", chunk.iter().map(|id| Value::Uuid(id.0)));
            for line in self.store.fetch_all::<PurchaseOrderLine>(q).await? {
                *out.entry(line.variant_id).or_default() += line.qty - line.received_qty;
            }
        }
        Ok(out)
    }

    /// One run of the velocity job for a store: recomputes every variant
    /// from the orders paid in the window, the stock and the open purchase
    /// orders, and writes the rows that changed with the moved cursor in one
    /// changeset guarded on the cursor read (a second worker's run writes
    /// nothing). Derived data: no event.
    ///
    /// # Errors
    /// Store errors; a lost race is a conflict in the report.
    pub async fn refresh_velocity(&self, store_id: StoreId) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        let now = self.now();
        let Some(settings) = self.store.get_settings(store_id).await? else { return Ok(report) };
        let cursor = self.store.get::<JobCursor, _>((store_id, VELOCITY_JOB)).await?;
        let last_seq = self.store.last_event_seq(store_id).await?;
        let variants: Vec<ProductVariant> =
            self.store.fetch_all(Query::of::<ProductVariant>().eq("store_id", store_id)).await?;
        report.scanned = variants.len() as u64;
        let since = now - Duration::days(settings.velocity_window_days.max(1));
        let q = Query::of::<CustomerOrder>().eq("store_id", store_id).ge("paid_at", since).le("paid_at", now);
        let paid: Vec<CustomerOrder> = self.store.fetch_all(q).await?;
        let mut sold: HashMap<VariantId, i64> = HashMap::new();
        let ids: Vec<OrderId> = paid.iter().map(|o| o.id).collect();
        for chunk in ids.chunks(1000) {
            for item in self.store.list_order_items(chunk).await? {
                *sold.entry(item.variant_id).or_default() += item.qty;
            }
        }
        let mut available: HashMap<VariantId, i64> = HashMap::new();
        for row in self.store.list_store_inventory(store_id).await? {
            *available.entry(row.variant_id).or_default() += row.available();
        }
        let on_order = self.on_order(store_id).await?;
        let stored: Vec<ProductVelocity> =
            self.store.fetch_all(Query::of::<ProductVelocity>().eq("store_id", store_id)).await?;
        let mut stored: HashMap<VariantId, ProductVelocity> = stored.into_iter().map(|v| (v.variant_id, v)).collect();
        let mut cs = Changeset::new();
        let mut written = 0;
        for v in &variants {
            let row = forecast(
                v,
                &settings,
                sold.get(&v.id).copied().unwrap_or(0),
                available.get(&v.id).copied().unwrap_or(0),
                on_order.get(&v.id).copied().unwrap_or(0),
                now,
            );
            match stored.remove(&v.id) {
                // stockout_at moves with the clock; rewrite it when the
                // figures behind it changed or it drifted by a day.
                Some(old)
                    if ProductVelocity { stockout_at: row.stockout_at, ..old.clone() } == row
                        && !stockout_moved(old.stockout_at, row.stockout_at) => {}
                Some(_) => {
                    cs.update(Record::Velocity(row));
                    written += 1;
                }
                None => {
                    cs.insert(Record::Velocity(row));
                    written += 1;
                }
            }
        }
        let next = JobCursor {
            store_id,
            job: VELOCITY_JOB.to_owned(),
            last_seq,
            run_day: day_key(now.date()),
            updated_at: now,
        };
        self.commit_with_cursor(cs, cursor.as_ref(), next, written, &mut report).await?;
        Ok(report)
    }

    /// A store's velocity rows, by variant id (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` for a bad limit or cursor.
    pub async fn list_velocity(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &ListQuery,
    ) -> Result<ListPage<VelocityView>, AgoraError> {
        require_admin(actor, store_id)?;
        let page: Page = q.page()?;
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let rows: Vec<ProductVelocity> = self
            .store
            .fetch_all(Query::of::<ProductVelocity>().eq("store_id", store_id).page_by("variant_id", page))
            .await?;
        let computed_at = self.store.get::<JobCursor, _>((store_id, VELOCITY_JOB)).await?.map(|c| c.updated_at);
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |r| r.variant_id.0),
            items: rows.into_iter().map(|r| velocity_view(r, computed_at)).collect(),
        })
    }

    /// The velocity rows of a store with something to reorder.
    pub(crate) async fn reorder_suggestions(&self, store_id: StoreId) -> Result<Vec<ProductVelocity>, AgoraError> {
        let rows: Vec<ProductVelocity> =
            self.store.fetch_all(Query::of::<ProductVelocity>().eq("store_id", store_id)).await?;
        Ok(rows.into_iter().filter(|r| r.reorder_qty > 0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velocity_is_rounded_half_up_in_thousandths() {
        assert_eq!(milli_text(velocity_milli(10, 28)), "0.357");
        assert_eq!(milli_text(velocity_milli(35, 28)), "1.250");
        assert_eq!(milli_text(velocity_milli(1, 2000)), "0.001");
        assert_eq!(milli_text(velocity_milli(0, 28)), "0.000");
    }
}
