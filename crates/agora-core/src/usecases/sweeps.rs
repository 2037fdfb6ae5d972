//! The sweeps the worker runs. Each rescans by state in a bounded batch for
//! one store (the scheduler shares batches out per store), is idempotent,
//! and is safe to run again after any crash or next to another worker:
//! every change is guarded, so a lost race is counted, not repeated.

use std::collections::HashMap;

use time::Duration;

use crate::catalogue::Record;
use crate::changeset::{Changeset, StockChange};
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::reads::Reads;
use crate::schema::Entity;
use crate::state::task_transition;

use super::Agora;
use super::tasks::risk_reasons;

/// What one sweep batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Rows looked at.
    pub scanned: u64,
    /// Rows changed.
    pub changed: u64,
    /// Rows another writer changed first (guard lost); left alone.
    pub conflicts: u64,
}

impl SweepReport {
    /// Adds another report's counts.
    pub fn add(&mut self, other: SweepReport) {
        self.scanned += other.scanned;
        self.changed += other.changed;
        self.conflicts += other.conflicts;
    }

    fn count(&mut self, r: Result<(), AgoraError>) -> Result<(), AgoraError> {
        match r {
            Ok(()) => self.changed += 1,
            Err(AgoraError::Conflict { .. } | AgoraError::InvalidTransition { .. }) => self.conflicts += 1,
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// The per-store sweeps the worker schedules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sweep {
    /// [`Agora::expire_unpaid_orders`].
    ExpireOrders,
    /// [`Agora::auto_receive_orders`].
    AutoReceive,
    /// [`Agora::expire_tasks`].
    ExpireTasks,
    /// [`Agora::settle_due_payouts`].
    Payouts,
    /// [`Agora::sequence_events`].
    SequenceEvents,
    /// [`Agora::refresh_kpis`].
    Kpis,
    /// [`Agora::refresh_velocity`].
    Velocity,
    /// [`Agora::refresh_insights`].
    Insights,
    /// [`Agora::fan_out_webhooks`].
    Webhooks,
}

impl Agora {
    /// Whether `sweep` has anything to do for a store right now: the same
    /// selection the sweep makes, one row deep. The scheduler asks before
    /// claiming a lease, so idle stores cost one indexed read per job.
    ///
    /// # Errors
    /// Store errors.
    pub async fn has_due(&self, sweep: Sweep, store_id: StoreId) -> Result<bool, AgoraError> {
        let now = self.now();
        let s = &self.store;
        Ok(match sweep {
            Sweep::ExpireOrders => !s.list_unpaid_expired(store_id, now, 1).await?.is_empty(),
            Sweep::AutoReceive => match self.auto_receive_cutoff(store_id).await? {
                Some(cutoff) => !s.list_shipped_before(store_id, cutoff, 1).await?.is_empty(),
                None => false,
            },
            Sweep::ExpireTasks => !s.list_tasks_expired(store_id, now, 1).await?.is_empty(),
            Sweep::Payouts => !s.list_tasks_payout_due(store_id, now, 1).await?.is_empty(),
            Sweep::SequenceEvents => !s.list_unsequenced_events(store_id, 1).await?.is_empty(),
            Sweep::Kpis => self.kpis_due(store_id).await?,
            Sweep::Velocity => self.velocity_due(store_id).await?,
            // Conditions change with time alone (a flag turns 24 hours
            // old): every run looks; the scheduler spaces the runs.
            Sweep::Insights => self.store.get_store(store_id).await?.is_some(),
            Sweep::Webhooks => self.has_webhook_endpoints(store_id).await?,
        })
    }

    /// Runs one batch of `sweep` for a store.
    ///
    /// # Errors
    /// Store errors.
    pub async fn run_sweep(&self, sweep: Sweep, store_id: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        match sweep {
            Sweep::ExpireOrders => self.expire_unpaid_orders(store_id, limit).await,
            Sweep::AutoReceive => self.auto_receive_orders(store_id, limit).await,
            Sweep::ExpireTasks => self.expire_tasks(store_id, limit).await,
            Sweep::Payouts => self.settle_due_payouts(store_id, limit).await,
            Sweep::SequenceEvents => {
                let n = self.sequence_events(store_id).await?;
                Ok(SweepReport { scanned: n, changed: n, conflicts: 0 })
            }
            Sweep::Kpis => self.refresh_kpis(store_id, limit).await,
            Sweep::Velocity => self.refresh_velocity(store_id).await,
            Sweep::Insights => self.refresh_insights(store_id).await,
            Sweep::Webhooks => self.fan_out_webhooks(store_id, limit).await,
        }
    }

    /// SHIPPED orders shipped at or before this are due for auto-receipt.
    async fn auto_receive_cutoff(&self, store_id: StoreId) -> Result<Option<time::OffsetDateTime>, AgoraError> {
        let settings = self.store.get_settings(store_id).await?;
        Ok(settings.map(|s| self.now() - Duration::seconds(s.auto_receive_seconds)))
    }

    /// Closes CREATED orders of a store whose reservations expired
    /// (`close_reason: timeout`) and releases their stock.
    ///
    /// # Errors
    /// Store errors.
    pub async fn expire_unpaid_orders(&self, store_id: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        for o in self.store.list_unpaid_expired(store_id, self.now(), limit).await? {
            report.scanned += 1;
            report.count(self.close_order(o, CloseReason::Timeout).await.map(|_| ()))?;
        }
        Ok(report)
    }

    /// Receives SHIPPED orders of a store shipped more than its
    /// `auto_receive_seconds` ago.
    ///
    /// # Errors
    /// Store errors.
    pub async fn auto_receive_orders(&self, store_id: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        let Some(cutoff) = self.auto_receive_cutoff(store_id).await? else { return Ok(report) };
        for o in self.store.list_shipped_before(store_id, cutoff, limit).await? {
            report.scanned += 1;
            report.count(self.mark_received(o).await.map(|_| ()))?;
        }
        Ok(report)
    }

    /// Expires OPEN tasks of a store past their `expires_at`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn expire_tasks(&self, store_id: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        let now = self.now();
        for t in self.store.list_tasks_expired(store_id, now, limit).await? {
            report.scanned += 1;
            let status = task_transition(t.status, TaskStatus::Expired)?;
            let mut cs = Changeset::new();
            cs.guard(guards::task_state_is(t.id, t.status, t.helps_valid))
                .update(Record::Task(HelpTask { status, closed_at: Some(now), updated_at: now, ..t.clone() }))
                .insert(self.event(
                    store_id,
                    "task",
                    t.id.0,
                    "task.expired",
                    serde_json::json!({"task_no": t.task_no}),
                ));
            report.count(self.apply_transition(cs).await)?;
        }
        Ok(report)
    }

    /// Settles QUALIFIED tasks of a store whose `payout_at` has passed: the
    /// task becomes SETTLED and gets its one payout row, PENDING or HELD by
    /// the risk rules. A task never gets a second row: the changeset is
    /// guarded by "no payout for this task" (a unique index on SQL stores).
    ///
    /// # Errors
    /// Store errors.
    pub async fn settle_due_payouts(&self, store_id: StoreId, limit: u32) -> Result<SweepReport, AgoraError> {
        let mut report = SweepReport::default();
        let Some(settings) = self.store.get_settings(store_id).await? else { return Ok(report) };
        for t in self.store.list_tasks_payout_due(store_id, self.now(), limit).await? {
            report.scanned += 1;
            let r = self.settle_task(&t, &settings).await;
            report.count(r)?;
        }
        Ok(report)
    }

    async fn settle_task(&self, t: &HelpTask, settings: &StoreSettings) -> Result<(), AgoraError> {
        let status = task_transition(t.status, TaskStatus::Settled)?;
        let now = self.now();
        let owner_order = self.store.get_order(t.order_id).await?.ok_or(AgoraError::NotFound("order"))?;
        let owner = self.store.get_user(t.user_id).await?.ok_or(AgoraError::NotFound("user"))?;
        let mut helpers = Vec::new();
        for h in self.store.list_helps(t.id).await? {
            if h.status != HelpStatus::Valid {
                continue;
            }
            let (Some(u), Some(o)) =
                (self.store.get_user(h.helper_user_id).await?, self.store.get_order(h.order_id).await?)
            else {
                continue;
            };
            helpers.push((u, o));
        }
        let reasons = risk_reasons(&owner, &owner_order, t, &helpers);
        let amount = crate::money::Money::new(owner_order.pay_amount_minor, owner_order.currency, "pay_amount_minor")?
            .percent(settings.help_payout_percent)?;
        let held = !reasons.is_empty();
        let payout = PayoutLedger {
            id: PayoutId(self.new_uuid()),
            task_id: t.id,
            task_no: t.task_no.clone(),
            store_id: t.store_id,
            user_id: t.user_id,
            order_id: t.order_id,
            helper_user_ids: helpers.iter().map(|(u, _)| u.id).collect(),
            helper_order_ids: helpers.iter().map(|(_, o)| o.id).collect(),
            amount_minor: amount.minor,
            currency: amount.currency,
            qualified_at: t.qualified_at.unwrap_or(now),
            payout_at: t.payout_at.unwrap_or(now),
            payout_status: if held { PayoutStatus::Held } else { PayoutStatus::Pending },
            risk_level: if held { RiskLevel::High } else { RiskLevel::Low },
            risk_reasons: reasons,
            note: None,
            operator: None,
            created_at: now,
            updated_at: now,
        };
        let mut cs = Changeset::new();
        cs.guard(guards::task_state_is(t.id, t.status, t.helps_valid))
            .guard(guards::no_payout_for_task(t.id))
            .update(Record::Task(HelpTask { status, closed_at: Some(now), updated_at: now, ..t.clone() }))
            .insert(Record::Payout(payout.clone()))
            .insert(self.event(
                t.store_id,
                "payout",
                payout.id.0,
                "payout.created",
                serde_json::json!({"task_no": t.task_no, "amount_minor": payout.amount_minor, "status": payout.payout_status}),
            ));
        self.apply_transition(cs).await
    }

    /// Deletes idempotency records older than their lifetime (24 h).
    ///
    /// # Errors
    /// Store errors.
    pub async fn purge_expired_idempotency(&self, limit: u32) -> Result<SweepReport, AgoraError> {
        let rows = self.store.list_expired_idempotency(self.now(), limit).await?;
        let mut report = SweepReport { scanned: rows.len() as u64, ..Default::default() };
        if rows.is_empty() {
            return Ok(report);
        }
        let mut cs = Changeset::new();
        for r in rows {
            cs.delete::<IdempotencyRecord>(r.key());
        }
        report.changed = cs.writes.len() as u64;
        self.apply_changeset(cs).await?;
        Ok(report)
    }

    /// Deletes expired sessions.
    ///
    /// # Errors
    /// Store errors.
    pub async fn purge_expired_sessions(&self, limit: u32) -> Result<SweepReport, AgoraError> {
        let rows = self.store.list_expired_sessions(self.now(), limit).await?;
        let mut report = SweepReport { scanned: rows.len() as u64, ..Default::default() };
        if rows.is_empty() {
            return Ok(report);
        }
        let mut cs = Changeset::new();
        for s in rows {
            cs.delete::<Session>(s.id);
        }
        report.changed = cs.writes.len() as u64;
        self.apply_changeset(cs).await?;
        Ok(report)
    }

    /// Compares each stock row's `reserved` with the sum of its active
    /// reservations. Every difference is corrected and recorded as an audit
    /// row (key `inventory_reserved:<variant>:<warehouse>`), never silently.
    ///
    /// # Errors
    /// Store errors.
    pub async fn reconcile_inventory(&self, store_id: StoreId) -> Result<SweepReport, AgoraError> {
        let rows = self.store.list_store_inventory(store_id).await?;
        let totals: HashMap<(VariantId, WarehouseId), i64> =
            self.store.active_reservation_totals(store_id).await?.into_iter().map(|(v, w, q)| ((v, w), q)).collect();
        let mut report = SweepReport { scanned: rows.len() as u64, ..Default::default() };
        let now = self.now();
        for row in rows {
            let held = totals.get(&(row.variant_id, row.warehouse_id)).copied().unwrap_or(0);
            if held == row.reserved {
                continue;
            }
            let mut cs = Changeset::new();
            // Exact: holds and `reserved` move together in every commit, so
            // when `reserved` is still what was read, the holds still sum to
            // `held`; otherwise the condition refuses and the next pass looks again.
            cs.stock(
                row.variant_id,
                row.warehouse_id,
                now,
                StockChange::SetReserved { expected: row.reserved, reserved: held },
            )
            .insert(Record::Audit(AuditLog {
                id: AuditId(self.new_uuid()),
                store_id,
                at: now,
                actor_masked: "system:reconcile".into(),
                ip: None,
                key: format!("inventory_reserved:{}:{}", row.variant_id, row.warehouse_id),
                from: Some(row.reserved.to_string()),
                to: Some(held.to_string()),
            }));
            match self.apply_changeset(cs).await {
                Ok(()) => report.changed += 1,
                Err(e) if super::failed_guard(&e).is_some() => report.conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }
}
