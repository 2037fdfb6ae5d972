//! Insights (the `insights` job keeps exactly one live insight per kind and
//! resource while its condition holds, and resolves it when the condition
//! is gone) and connection checks run on request.

use std::collections::{BTreeMap, HashMap, HashSet};

use time::Duration;

use crate::catalogue::Record;
use crate::changeset::{Changeset, Guard};
use crate::error::AgoraError;
use crate::ids::*;
use crate::model::*;
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Value;
use crate::state::insight_transition;
use crate::views::*;

use super::sweeps::SweepReport;
use super::{Actor, Agora, ListQuery, failed_guard, is_retryable, next_cursor, require_admin, too_contended};

/// What the job finds true of one resource now.
struct Finding {
    kind: &'static str,
    severity: InsightSeverity,
    resource_type: &'static str,
    resource_id: uuid::Uuid,
    message: String,
}

impl Finding {
    fn live_key(&self) -> String {
        format!("{}:{}", self.kind, self.resource_id)
    }
}

fn insight_view(i: &Insight) -> InsightView {
    InsightView {
        id: i.id.0,
        kind: i.kind.clone(),
        severity: i.severity.as_str().to_owned(),
        status: i.status.as_str().to_owned(),
        resource_type: i.resource_type.clone(),
        resource_id: i.resource_id,
        message: i.message.clone(),
        created_at: i.created_at,
        updated_at: i.updated_at,
    }
}

fn check_view(c: &ConnectionCheck) -> ConnectionCheckView {
    ConnectionCheckView {
        id: c.id.0,
        target: c.target.as_str().to_owned(),
        ok: c.ok,
        latency_ms: c.latency_ms,
        detail: c.detail.clone(),
        at: c.at,
    }
}

/// The guard that an insight is as read (state and live key).
fn insight_is(i: &Insight) -> Guard {
    let live = i.live_key.clone().map_or(Value::Null, Value::from);
    Guard::row_is::<Insight>(i.id, &[("status", i.status.into()), ("live_key", live)])
}

impl Agora {
    /// Everything the insight rules find true of a store now.
    async fn findings(&self, store_id: StoreId, settings: &StoreSettings) -> Result<Vec<Finding>, AgoraError> {
        let now = self.now();
        let mut out = Vec::new();
        let products: Vec<Product> = self
            .store
            .fetch_all(Query::of::<Product>().eq("store_id", store_id).is("status", ProductStatus::Active.as_str()))
            .await?;
        let active: HashSet<ProductId> = products.iter().map(|p| p.id).collect();
        let variants: Vec<ProductVariant> =
            self.store.fetch_all(Query::of::<ProductVariant>().eq("store_id", store_id)).await?;
        let mut available: HashMap<VariantId, i64> = HashMap::new();
        for row in self.store.list_store_inventory(store_id).await? {
            *available.entry(row.variant_id).or_default() += row.available();
        }
        for v in variants.iter().filter(|v| active.contains(&v.product_id) && v.status == ProductStatus::Active) {
            let n = available.get(&v.id).copied().unwrap_or(0);
            if n <= settings.low_stock_threshold {
                out.push(Finding {
                    kind: "low_stock",
                    severity: if n <= 0 { InsightSeverity::Critical } else { InsightSeverity::Warning },
                    resource_type: "variant",
                    resource_id: v.id.0,
                    message: format!("{}: {n} available (low stock at {})", v.sku, settings.low_stock_threshold),
                });
            }
        }
        let horizon = now + Duration::days(settings.reorder_lead_days);
        let velocity: Vec<ProductVelocity> =
            self.store.fetch_all(Query::of::<ProductVelocity>().eq("store_id", store_id)).await?;
        for r in velocity.iter().filter(|r| r.stockout_at.is_some_and(|t| t <= horizon)) {
            out.push(Finding {
                kind: "stockout_forecast",
                severity: InsightSeverity::Warning,
                resource_type: "variant",
                resource_id: r.variant_id.0,
                message: format!(
                    "{} sells out within the {}-day reorder lead time; reorder {}",
                    r.sku, settings.reorder_lead_days, r.reorder_qty
                ),
            });
        }
        let mut with_image: HashSet<ProductId> = HashSet::new();
        let ids: Vec<ProductId> = products.iter().map(|p| p.id).collect();
        for chunk in ids.chunks(1000) {
            let q = Query::of::<ProductImage>().any("product_id", chunk.iter().map(|p| Value::Uuid(p.0)));
            with_image.extend(self.store.fetch_all::<ProductImage>(q).await?.into_iter().map(|i| i.product_id));
        }
        for p in products.iter().filter(|p| !with_image.contains(&p.id)) {
            out.push(Finding {
                kind: "product_without_image",
                severity: InsightSeverity::Info,
                resource_type: "product",
                resource_id: p.id.0,
                message: format!("{} has no image", p.title),
            });
        }
        let day_ago = now - Duration::hours(24);
        for status in [FlagStatus::Open, FlagStatus::InReview] {
            let q = Query::of::<OrderFlag>().eq("store_id", store_id).is("status", status.as_str());
            for f in self.store.fetch_all::<OrderFlag>(q).await?.into_iter().filter(|f| f.created_at <= day_ago) {
                out.push(Finding {
                    kind: "flag_open_over_24h",
                    severity: InsightSeverity::Warning,
                    resource_type: "order_flag",
                    resource_id: f.id.0,
                    message: format!("a {} flag on an order has been {} for over 24 hours", f.reason, f.status),
                });
            }
        }
        let q = Query::of::<PayoutLedger>().eq("store_id", store_id).is("payout_status", PayoutStatus::Held.as_str());
        for p in self.store.fetch_all::<PayoutLedger>(q).await? {
            out.push(Finding {
                kind: "payout_held",
                severity: InsightSeverity::Warning,
                resource_type: "payout",
                resource_id: p.id.0,
                message: format!("a payout of {} is held: {}", p.amount_minor, p.risk_reasons.join(", ")),
            });
        }
        Ok(out)
    }

    /// One run of the insights job for a store: opens an insight for each
    /// finding without a live one, resolves live insights whose finding is
    /// gone (a dismissed one just stops speaking for its condition), and
    /// changes the severity of the others, in one changeset with an event
    /// per change. The unique live key makes a second worker's run fail
    /// rather than duplicate; it is reported as a conflict.
    ///
    /// # Errors
    /// Store errors.
    pub async fn refresh_insights(&self, store_id: StoreId) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        let Some(settings) = self.store.get_settings(store_id).await? else { return Ok(report) };
        let findings = self.findings(store_id, &settings).await?;
        report.scanned = findings.len() as u64;
        let live: Vec<Insight> =
            self.store.fetch_all(Query::of::<Insight>().eq("store_id", store_id).not_null("live_key")).await?;
        let mut live: BTreeMap<String, Insight> =
            live.into_iter().filter_map(|i| i.live_key.clone().map(|k| (k, i))).collect();
        let now = self.now();
        let mut cs = Changeset::new();
        let mut changed = 0;
        for f in findings {
            let key = f.live_key();
            match live.remove(&key) {
                Some(i) if i.severity == f.severity || i.status == InsightStatus::Dismissed => {}
                Some(i) => {
                    let next = Insight { severity: f.severity, message: f.message, updated_at: now, ..i.clone() };
                    cs.guard(insight_is(&i)).update(Record::Insight(next.clone()));
                    cs.insert(self.event(
                        store_id,
                        "insight",
                        i.id.0,
                        "insight.updated",
                        serde_json::json!({"kind": i.kind, "severity": next.severity}),
                    ));
                    changed += 1;
                }
                None => {
                    let i = Insight {
                        id: InsightId(self.new_uuid()),
                        store_id,
                        kind: f.kind.to_owned(),
                        severity: f.severity,
                        status: InsightStatus::Open,
                        resource_type: f.resource_type.to_owned(),
                        resource_id: f.resource_id,
                        message: f.message,
                        live_key: Some(key.clone()),
                        created_at: now,
                        updated_at: now,
                    };
                    cs.guard(Guard::free::<Insight>(
                        "insight_live_key",
                        vec![Value::Uuid(store_id.0), Value::from(key)],
                    ));
                    cs.insert(self.event(
                        store_id,
                        "insight",
                        i.id.0,
                        "insight.opened",
                        serde_json::json!({"kind": i.kind, "resource_id": i.resource_id, "severity": i.severity}),
                    ));
                    cs.insert(Record::Insight(i));
                    changed += 1;
                }
            }
        }
        for (_, i) in live {
            let status =
                if i.status == InsightStatus::Dismissed { InsightStatus::Dismissed } else { InsightStatus::Resolved };
            let next = Insight { status, live_key: None, updated_at: now, ..i.clone() };
            cs.guard(insight_is(&i)).update(Record::Insight(next));
            cs.insert(self.event(
                store_id,
                "insight",
                i.id.0,
                "insight.resolved",
                serde_json::json!({"kind": i.kind, "status": status}),
            ));
            changed += 1;
        }
        if changed == 0 {
            return Ok(report);
        }
        match self.apply_changeset(cs).await {
            Ok(()) => report.changed = changed,
            Err(e) if is_retryable(&e) => report.conflicts += 1,
            Err(e) => return Err(e.into()),
        }
        Ok(report)
    }

    /// A store's insights, newest first, optionally of one status (admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_insights(
        &self,
        actor: &Actor,
        store_id: StoreId,
        status: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage<InsightView>, AgoraError> {
        require_admin(actor, store_id)?;
        let status = status
            .map(|s| InsightStatus::parse(s).ok_or_else(|| AgoraError::validation("status", "unknown insight status")))
            .transpose()?;
        let page = q.page()?;
        let query = Query::of::<Insight>().eq("store_id", store_id).is_opt("status", status.map(|s| s.as_str()));
        let rows: Vec<Insight> = self.store.fetch_all(query.page(page)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |i| i.id.0),
            items: rows.iter().map(insight_view).collect(),
        })
    }

    /// Acknowledges or dismisses an insight (store admin): open ->
    /// acknowledged | dismissed, acknowledged -> dismissed. A dismissed
    /// insight stays silent while its condition holds.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`; `invalid_transition`.
    pub async fn patch_insight(
        &self,
        actor: &Actor,
        id: InsightId,
        patch: InsightPatch,
    ) -> Result<InsightView, AgoraError> {
        let to = match InsightStatus::parse(&patch.status) {
            Some(s @ (InsightStatus::Acknowledged | InsightStatus::Dismissed)) => s,
            _ => return Err(AgoraError::validation("status", "must be acknowledged or dismissed")),
        };
        for _ in 0..self.config.max_attempts {
            let i = self.admin_row(actor, id, "insight", |i: &Insight| i.store_id).await?;
            if i.status == to {
                return Ok(insight_view(&i));
            }
            insight_transition(i.status, to)?;
            let next = Insight { status: to, updated_at: self.now(), ..i.clone() };
            let mut cs = Changeset::new();
            cs.guard(insight_is(&i)).update(Record::Insight(next.clone())).insert(self.event(
                i.store_id,
                "insight",
                id.0,
                &format!("insight.{to}"),
                serde_json::json!({"kind": i.kind}),
            ));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(insight_view(&next)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// Runs a connection check now and logs it (store admin): the database
    /// through the store's health check, Redis and the object store
    /// through the probes the runtime registered (not configured: a failed
    /// check saying so).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` (an unknown target; a
    /// webhook endpoint, as none exist yet).
    pub async fn run_connection_check(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewConnectionCheck,
    ) -> Result<ConnectionCheckView, AgoraError> {
        require_admin(actor, store_id)?;
        let target = ConnectionTarget::parse(&req.target).ok_or_else(|| {
            AgoraError::validation("target", "must be database, redis, object_storage or webhook_endpoint")
        })?;
        if target == ConnectionTarget::WebhookEndpoint {
            // No outgoing webhook endpoints exist yet, so no id names one.
            return Err(AgoraError::NotFound("webhook endpoint"));
        }
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let started = std::time::Instant::now();
        let result = match target {
            ConnectionTarget::Database => self
                .store
                .health()
                .await
                .map(|()| format!("{} answered", self.store.backend()))
                .map_err(|e| e.to_string()),
            _ => match self.probes.iter().find(|p| p.target() == target) {
                Some(p) => p.probe().await,
                None => Err(format!("{target} is not configured")),
            },
        };
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        let check = ConnectionCheck {
            id: ConnectionCheckId(self.new_uuid()),
            store_id,
            target,
            ok,
            latency_ms,
            detail: detail.chars().take(500).collect(),
            at: self.now(),
        };
        let mut cs = Changeset::new();
        cs.insert(Record::ConnectionCheck(check.clone())).insert(self.event(
            store_id,
            "connection_check",
            check.id.0,
            "connection.checked",
            serde_json::json!({"target": target, "ok": ok, "latency_ms": latency_ms}),
        ));
        self.apply_changeset(cs).await?;
        Ok(check_view(&check))
    }

    /// A store's connection checks, newest first (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_connection_checks(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &ListQuery,
    ) -> Result<ListPage<ConnectionCheckView>, AgoraError> {
        require_admin(actor, store_id)?;
        let page = q.page()?;
        let rows: Vec<ConnectionCheck> =
            self.store.fetch_all(Query::of::<ConnectionCheck>().eq("store_id", store_id).page(page)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |c| c.id.0),
            items: rows.iter().map(check_view).collect(),
        })
    }
}
