//! The KPI cache: per store, per UTC day and currency, kept by the `kpis`
//! job, which reads the store's event feed from its cursor, finds the days
//! the orders behind those events touched, and recounts those days (plus
//! today) from the orders. Served figures are therefore a recount as of the
//! job's last run.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use time::{Date, Duration, OffsetDateTime, Time};

use crate::catalogue::Record;
use crate::changeset::{Changeset, Guard};
use crate::error::AgoraError;
use crate::ids::*;
use crate::model::*;
use crate::money::Currency;
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Value;
use crate::views::*;

use super::sweeps::SweepReport;
use super::{Actor, Agora, is_retryable, require_admin};

/// The `job` of the KPI job's [`JobCursor`].
pub const KPI_JOB: &str = "kpis";

/// Events read per query by the KPI job.
const KPI_EVENT_PAGE: u32 = 5000;

/// Longest span `GET .../kpis` serves, in days (both ends included).
pub const MAX_KPI_DAYS: i64 = 366;

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A UTC day as stored (`YYYY-MM-DD`).
pub fn day_key(day: Date) -> String {
    day.format(DATE_FORMAT).unwrap_or_default()
}

/// Parses a `YYYY-MM-DD` day of years 1000..=9999 (no sign, no wider
/// years: day arithmetic on them stays in range).
pub fn parse_day(s: &str) -> Option<Date> {
    if s.len() != 10 || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    Date::parse(s, DATE_FORMAT).ok().filter(|d| d.year() >= 1000)
}

/// The start of a UTC day.
fn start_of(day: Date) -> OffsetDateTime {
    day.with_time(Time::MIDNIGHT).assume_utc()
}

/// The figures of one day in one currency, recounted from orders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Figures {
    orders_created: i64,
    orders_paid: i64,
    orders_closed: i64,
    revenue_minor: i64,
    refunded_minor: i64,
    units_sold: i64,
}

impl Agora {
    /// Whether the KPI job has work for a store: events past its cursor,
    /// or no run yet today.
    pub(crate) async fn kpis_due(&self, store_id: StoreId) -> Result<bool, AgoraError> {
        let cursor = self.store.get::<JobCursor, _>((store_id, KPI_JOB)).await?;
        let today = day_key(self.now().date());
        match cursor {
            None => Ok(true),
            Some(c) if c.run_day != today => Ok(true),
            Some(c) => Ok(!self.store.list_events(store_id, c.last_seq, 1).await?.is_empty()),
        }
    }

    /// One run of the KPI job for a store: reads up to `limit` events past
    /// its cursor (in pages), recounts every UTC day the orders behind them
    /// were created, paid or closed on, and today, and writes the changed
    /// days with the moved cursor in one changeset guarded on the cursor it
    /// read (a second worker doing the same stretch writes nothing). Derived
    /// data: no event is written.
    ///
    /// # Errors
    /// Store errors. A lost race is reported as a conflict, not an error.
    pub async fn refresh_kpis(&self, store_id: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        let now = self.now();
        let today = now.date();
        let cursor = self.store.get::<JobCursor, _>((store_id, KPI_JOB)).await?;
        let after = cursor.as_ref().map_or(0, |c| c.last_seq);
        // Read the feed in pages, keeping only the orders' ids, then recount
        // the days they touched once.
        let mut order_ids: BTreeSet<OrderId> = BTreeSet::new();
        let mut refund_ids: BTreeSet<RefundId> = BTreeSet::new();
        let mut last_seq = after;
        let mut left = limit.max(1);
        while left > 0 {
            let page = left.min(KPI_EVENT_PAGE);
            let events = self.store.list_events(store_id, last_seq, page).await?;
            report.scanned += events.len() as u64;
            left -= events.len() as u32;
            order_ids.extend(events.iter().filter(|e| e.entity_type == "order").map(|e| OrderId(e.entity_id)));
            refund_ids.extend(events.iter().filter(|e| e.kind == "refund.succeeded").map(|e| RefundId(e.entity_id)));
            last_seq = events.last().and_then(|e| e.seq).unwrap_or(last_seq);
            if (events.len() as u32) < page {
                break;
            }
        }
        let mut days = BTreeSet::from([today]);
        let ids: Vec<OrderId> = order_ids.into_iter().collect();
        for chunk in ids.chunks(1000) {
            let q = Query::of::<CustomerOrder>().any("id", chunk.iter().map(|id| Value::Uuid(id.0)));
            let orders: Vec<CustomerOrder> = self.store.fetch_all(q).await?;
            for o in orders.iter().filter(|o| o.store_id == store_id) {
                days.extend([Some(o.created_at), o.paid_at, o.closed_at].into_iter().flatten().map(|t| t.date()));
            }
        }
        let ids: Vec<RefundId> = refund_ids.into_iter().collect();
        for chunk in ids.chunks(1000) {
            let q = Query::of::<Refund>().any("id", chunk.iter().map(|id| Value::Uuid(id.0)));
            let refunds: Vec<Refund> = self.store.fetch_all(q).await?;
            days.extend(
                refunds.iter().filter(|r| r.store_id == store_id).filter_map(|r| r.succeeded_at).map(|t| t.date()),
            );
        }
        let mut cs = Changeset::new();
        let mut written = 0;
        for day in days.into_iter().filter(|d| *d <= today) {
            written += self.recount_day(&mut cs, store_id, day, now).await?;
        }
        let next = JobCursor { store_id, job: KPI_JOB.to_owned(), last_seq, run_day: day_key(today), updated_at: now };
        self.commit_with_cursor(cs, cursor.as_ref(), next, written, &mut report).await?;
        Ok(report)
    }

    /// Commits what a derived-data job computed with its moved cursor,
    /// guarded on the cursor as read (its last seq and its run time: two
    /// runs over the same stretch, even an empty one, never both commit).
    /// A lost race is a conflict in `report`; the cursor counts as a
    /// changed row (a run that only moved it made progress).
    pub(crate) async fn commit_with_cursor(
        &self,
        mut cs: Changeset,
        read: Option<&JobCursor>,
        next: JobCursor,
        written: u64,
        report: &mut SweepReport,
    ) -> Result<(), AgoraError> {
        match read {
            Some(c) => {
                let expect = [("last_seq", Value::Int(c.last_seq)), ("updated_at", Value::Timestamp(c.updated_at))];
                let key = (next.store_id, next.job.clone());
                cs.guard(Guard::row_is::<JobCursor>(key, &expect)).update(Record::JobCursor(next));
            }
            None => {
                cs.insert(Record::JobCursor(next));
            }
        }
        match self.apply_changeset(cs).await {
            Ok(()) => report.changed = written + 1,
            Err(e) if is_retryable(&e) => report.conflicts += 1,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Adds to `cs` the rows of `day` whose recount differs from what is
    /// stored; returns how many.
    async fn recount_day(
        &self,
        cs: &mut Changeset,
        store_id: StoreId,
        day: Date,
        now: OffsetDateTime,
    ) -> Result<u64, AgoraError> {
        let figures = self.count_day(store_id, day).await?;
        let key = day_key(day);
        let stored: Vec<KpiDay> =
            self.store.fetch_all(Query::of::<KpiDay>().eq("store_id", store_id).eq("day", key.as_str())).await?;
        let mut stored: HashMap<Currency, KpiDay> = stored.into_iter().map(|k| (k.currency, k)).collect();
        let mut written = 0;
        for (currency, f) in figures {
            let row = KpiDay {
                store_id,
                day: key.clone(),
                currency,
                orders_created: f.orders_created,
                orders_paid: f.orders_paid,
                orders_closed: f.orders_closed,
                revenue_minor: f.revenue_minor,
                refunded_minor: f.refunded_minor,
                units_sold: f.units_sold,
                computed_at: now,
            };
            match stored.remove(&currency) {
                Some(old) if KpiDay { computed_at: now, ..old.clone() } == row => {}
                Some(_) => {
                    cs.update(Record::KpiDay(row));
                    written += 1;
                }
                None => {
                    cs.insert(Record::KpiDay(row));
                    written += 1;
                }
            }
        }
        // A currency stored for the day that the recount no longer has.
        for (_, old) in stored {
            let zero = KpiDay {
                orders_created: 0,
                orders_paid: 0,
                orders_closed: 0,
                revenue_minor: 0,
                refunded_minor: 0,
                units_sold: 0,
                computed_at: now,
                ..old.clone()
            };
            if (KpiDay { computed_at: now, ..old }) != zero {
                cs.update(Record::KpiDay(zero));
                written += 1;
            }
        }
        Ok(written)
    }

    /// Recounts one UTC day of a store from its orders, per currency (only
    /// the currencies with activity that day: a day without any has no row).
    async fn count_day(&self, store_id: StoreId, day: Date) -> Result<BTreeMap<Currency, Figures>, AgoraError> {
        let (from, to) = (start_of(day), start_of(day) + Duration::days(1));
        let in_day =
            |column: &str| Query::of::<CustomerOrder>().eq("store_id", store_id).ge(column, from).lt(column, to);
        let created: Vec<CustomerOrder> = self.store.fetch_all(in_day("created_at")).await?;
        let paid: Vec<CustomerOrder> = self.store.fetch_all(in_day("paid_at")).await?;
        let closed: Vec<CustomerOrder> = self.store.fetch_all(in_day("closed_at")).await?;
        let paid_ids: Vec<OrderId> = paid.iter().map(|o| o.id).collect();
        let mut units: HashMap<OrderId, i64> = HashMap::new();
        // In chunks: a store's busiest day must not outgrow a statement's
        // parameter limit.
        for chunk in paid_ids.chunks(1000) {
            for item in self.store.list_order_items(chunk).await? {
                *units.entry(item.order_id).or_default() += item.qty;
            }
        }
        let mut out: BTreeMap<Currency, Figures> = BTreeMap::new();
        for o in &created {
            out.entry(o.currency).or_default().orders_created += 1;
        }
        for o in &paid {
            let f = out.entry(o.currency).or_default();
            f.orders_paid += 1;
            f.revenue_minor += o.pay_amount_minor;
            f.units_sold += units.get(&o.id).copied().unwrap_or(0);
        }
        for o in &closed {
            out.entry(o.currency).or_default().orders_closed += 1;
        }
        // Money given back that day from orders' revenue (a stray payment's
        // refund never counted as revenue, so it is not subtracted either).
        let refunds: Vec<Refund> = self
            .store
            .fetch_all(Query::of::<Refund>().eq("store_id", store_id).ge("succeeded_at", from).lt("succeeded_at", to))
            .await?;
        for r in refunds.iter().filter(|r| r.kind == RefundKind::Order && r.status == RefundStatus::Succeeded) {
            out.entry(r.currency).or_default().refunded_minor += r.amount_minor;
        }
        Ok(out)
    }

    /// A store's KPIs over UTC days `from..=to` (default: the 30 days up to
    /// today), from the KPI cache (store admin). With orders in several
    /// currencies in the span, `currency` picks one (422 without it).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` for bad days, a span over
    /// [`MAX_KPI_DAYS`] or a missing currency.
    pub async fn get_kpis(&self, actor: &Actor, store_id: StoreId, q: &KpiQuery) -> Result<KpiView, AgoraError> {
        require_admin(actor, store_id)?;
        let (from, to) = self.kpi_span(q)?;
        let wanted = match q.currency.as_deref() {
            Some(c) => {
                Some(Currency::parse(c).map_err(|_| AgoraError::validation("currency", "must be an ISO 4217 code"))?)
            }
            None => None,
        };
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let (lo, hi) = (day_key(from), day_key(to));
        let q = Query::of::<KpiDay>().eq("store_id", store_id).ge("day", lo.as_str()).le("day", hi.as_str());
        let rows: Vec<KpiDay> = self.store.fetch_all(q.asc("day").asc("currency")).await?;
        let currencies: BTreeSet<Currency> = rows.iter().filter(|r| has_activity(r)).map(|r| r.currency).collect();
        let currency = match (wanted, currencies.len()) {
            (Some(c), _) => Some(c),
            (None, 0) => None,
            (None, 1) => currencies.first().copied(),
            (None, _) => {
                let list: Vec<&str> = currencies.iter().map(Currency::as_str).collect();
                return Err(AgoraError::validation(
                    "currency",
                    &format!("orders in several currencies ({}); name one", list.join(", ")),
                ));
            }
        };
        let by_day: HashMap<&str, &KpiDay> =
            rows.iter().filter(|r| Some(r.currency) == currency).map(|r| (r.day.as_str(), r)).collect();
        let cursor = self.store.get::<JobCursor, _>((store_id, KPI_JOB)).await?;
        Ok(kpi_view(from, to, currency, &by_day, cursor.map(|c| c.updated_at)))
    }

    fn kpi_span(&self, q: &KpiQuery) -> Result<(Date, Date), AgoraError> {
        let mut errors = crate::validate::Validator::new();
        let parse = |field: &str, s: &Option<String>, errors: &mut crate::validate::Validator| match s {
            None => None,
            Some(s) => {
                let d = parse_day(s);
                errors.check(d.is_some(), field, "must be a day YYYY-MM-DD");
                d
            }
        };
        let to = parse("to", &q.to, &mut errors);
        let from = parse("from", &q.from, &mut errors);
        errors.finish()?;
        let to = to.unwrap_or_else(|| self.now().date());
        let from = match from {
            Some(f) => f,
            None => {
                to.checked_sub(Duration::days(29)).ok_or_else(|| AgoraError::validation("to", "is out of range"))?
            }
        };
        if from > to {
            return Err(AgoraError::validation("from", "must not be after to"));
        }
        if (to - from).whole_days() + 1 > MAX_KPI_DAYS {
            return Err(AgoraError::validation("to", &format!("the span is at most {MAX_KPI_DAYS} days")));
        }
        Ok((from, to))
    }
}

fn has_activity(r: &KpiDay) -> bool {
    r.orders_created + r.orders_paid + r.orders_closed + r.revenue_minor + r.refunded_minor + r.units_sold != 0
}

fn kpi_view(
    from: Date,
    to: Date,
    currency: Option<Currency>,
    by_day: &HashMap<&str, &KpiDay>,
    computed_at: Option<OffsetDateTime>,
) -> KpiView {
    let mut view = KpiView {
        from: day_key(from),
        to: day_key(to),
        currency: currency.map(|c| c.as_str().to_owned()),
        orders_created: 0,
        orders_paid: 0,
        orders_closed: 0,
        revenue_minor: 0,
        refunded_minor: 0,
        units_sold: 0,
        average_order_minor: 0,
        days: Vec::new(),
        computed_at,
    };
    let mut day = from;
    while day <= to {
        let key = day_key(day);
        let row = by_day.get(key.as_str());
        let (created, paid, revenue, units) =
            row.map_or((0, 0, 0, 0), |r| (r.orders_created, r.orders_paid, r.revenue_minor, r.units_sold));
        if let Some(r) = row {
            view.orders_closed += r.orders_closed;
            view.refunded_minor += r.refunded_minor;
        }
        view.orders_created += created;
        view.orders_paid += paid;
        view.revenue_minor += revenue;
        view.units_sold += units;
        view.days.push(KpiDayView {
            date: key,
            orders_created: created,
            orders_paid: paid,
            revenue_minor: revenue,
            refunded_minor: row.map_or(0, |r| r.refunded_minor),
            units_sold: units,
        });
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    if view.orders_paid > 0 {
        view.average_order_minor = view.revenue_minor / view.orders_paid;
    }
    view
}
