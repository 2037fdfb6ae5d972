//! Group help tasks and the payout ledger.

use time::Duration;

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::reads::Reads;
use crate::state::payout_transition;
use crate::validate::Validator;
use crate::views::*;

use super::{Actor, Agora, ListQuery, failed_guard, next_cursor, require_admin, require_customer, too_contended};

pub(crate) fn task_view(t: &HelpTask, helps: Option<Vec<Help>>) -> TaskView {
    TaskView {
        task_no: t.task_no.clone(),
        order_id: t.order_id.0,
        user_id: t.user_id.0,
        status: t.status.as_str().to_owned(),
        required_helpers: t.required_helpers,
        helps_valid: t.helps_valid,
        expires_at: t.expires_at,
        qualified_at: t.qualified_at,
        payout_at: t.payout_at,
        helps: helps.map(|hs| {
            hs.into_iter()
                .map(|h| HelpView {
                    helper_user_id: h.helper_user_id.0,
                    order_id: h.order_id.0,
                    status: h.status.as_str().to_owned(),
                })
                .collect()
        }),
    }
}

pub(crate) fn payout_view(p: &PayoutLedger) -> PayoutView {
    PayoutView {
        id: p.id.0,
        task_no: p.task_no.clone(),
        user_id: p.user_id.0,
        order_id: p.order_id.0,
        amount_minor: p.amount_minor,
        payout_status: p.payout_status.as_str().to_owned(),
        risk_level: p.risk_level.as_str().to_owned(),
        risk_reasons: p.risk_reasons.clone(),
        note: p.note.clone(),
        operator: p.operator.clone(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

impl Agora {
    /// Opens a help task for the caller's PAID order.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `invalid_transition` when the order is
    /// not PAID; `conflict` when the order already has a task.
    pub async fn create_task(&self, actor: &Actor, req: NewTask) -> Result<TaskView, AgoraError> {
        let user_id = require_customer(actor)?;
        let order_id = OrderId(req.order_id);
        let o = self.own_order_in(user_id, order_id, OrderStatus::Paid, "task").await?;
        if o.help_task_no.is_some() {
            return Err(AgoraError::conflict("an order that helps a task cannot open one"));
        }
        if self.store.get_task_by_order(order_id).await?.is_some() {
            return Err(AgoraError::conflict("this order already has a task"));
        }
        // A suspended store takes no new help tasks (helping is ordering,
        // which it refuses too).
        self.trading_store(o.store_id).await?;
        let settings = self.store.get_settings(o.store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        for _ in 0..self.config.max_attempts {
            let now = self.now();
            let task = HelpTask {
                id: TaskId(self.new_uuid()),
                task_no: self.random_code("T", 12),
                store_id: o.store_id,
                order_id,
                user_id,
                status: TaskStatus::Open,
                required_helpers: settings.required_helpers,
                helps_valid: 0,
                created_at: now,
                expires_at: now + Duration::seconds(settings.help_task_ttl_seconds),
                qualified_at: None,
                payout_at: None,
                closed_at: None,
                updated_at: now,
            };
            let created = serde_json::json!({"task_no": task.task_no});
            let mut cs = Changeset::new();
            cs.guard(guards::order_status_is(order_id, OrderStatus::Paid))
                .guard(guards::no_task_for_order(order_id))
                .insert(Record::Task(task.clone()))
                .insert(self.event(o.store_id, "task", task.id.0, "task.created", created));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(task_view(&task, None)),
                Err(e) => match failed_guard(&e) {
                    Some(c) if guards::is_free(c, guards::TASK_PER_ORDER) => {
                        return Err(AgoraError::conflict("this order already has a task"));
                    }
                    Some(c) if guards::is_order_status(c) => {
                        let s = self.store.get_order(order_id).await?.map(|o| o.status.to_string()).unwrap_or_default();
                        return Err(AgoraError::InvalidTransition { entity: "order", from: s, to: "task".into() });
                    }
                    // A task number collision: draw another.
                    _ if matches!(e, crate::StoreError::Duplicate(_)) => continue,
                    _ => return Err(e.into()),
                },
            }
        }
        Err(too_contended())
    }

    /// A task with its helps (public; a suspended store's tasks are
    /// `not_found`).
    ///
    /// # Errors
    /// `not_found`.
    pub async fn get_task(&self, task_no: &str) -> Result<TaskView, AgoraError> {
        self.get_task_as(&Actor::Anonymous, task_no).await
    }

    /// A task with its helps as `actor` sees it: like [`Agora::get_task`],
    /// but the store's admins also see it while the store is suspended.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn get_task_as(&self, actor: &Actor, task_no: &str) -> Result<TaskView, AgoraError> {
        let t = self.store.get_task_by_no(task_no).await?.ok_or(AgoraError::NotFound("task"))?;
        if !actor.administers(t.store_id) && !self.publicly_visible(t.store_id).await? {
            return Err(AgoraError::NotFound("task"));
        }
        let helps = self.store.list_helps(t.id).await?;
        Ok(task_view(&t, Some(helps)))
    }

    /// A store's payout rows, optionally of one status (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_payouts(
        &self,
        actor: &Actor,
        store_id: StoreId,
        status: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage<PayoutView>, AgoraError> {
        require_admin(actor, store_id)?;
        let status = status
            .map(|s| PayoutStatus::parse(s).ok_or_else(|| AgoraError::validation("status", "unknown payout status")))
            .transpose()?;
        let page = q.page()?;
        let rows = self.store.list_payouts(store_id, status, page).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |r| r.id.0),
            items: rows.iter().map(payout_view).collect(),
        })
    }

    /// Approves (PAID) or rejects (REJECTED) a PENDING or HELD payout, with an
    /// audit row (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`; `invalid_transition`.
    pub async fn decide_payout(
        &self,
        actor: &Actor,
        id: PayoutId,
        approve: bool,
        req: PayoutDecision,
        ip: Option<&str>,
    ) -> Result<PayoutView, AgoraError> {
        if matches!(actor, Actor::Anonymous | Actor::Customer { .. }) {
            return Err(if matches!(actor, Actor::Anonymous) {
                AgoraError::Unauthorized
            } else {
                AgoraError::NotFound("payout")
            });
        }
        let mut v = Validator::new();
        if let Some(n) = &req.note {
            v.multiline_text("note", n, 0, 1000);
        }
        v.finish()?;
        let to = if approve { PayoutStatus::Paid } else { PayoutStatus::Rejected };
        for _ in 0..self.config.max_attempts {
            let p = self.store.get_payout(id).await?.ok_or(AgoraError::NotFound("payout"))?;
            if !actor.administers(p.store_id) {
                return Err(AgoraError::NotFound("payout"));
            }
            let status = payout_transition(p.payout_status, to)?;
            let now = self.now();
            let next = PayoutLedger {
                payout_status: status,
                note: req.note.clone().or(p.note.clone()),
                operator: Some(actor.masked()),
                updated_at: now,
                ..p.clone()
            };
            let mut cs = Changeset::new();
            cs.guard(guards::payout_status_is(id, p.payout_status))
                .update(Record::Payout(next.clone()))
                .insert(Record::Audit(AuditLog {
                    id: AuditId(self.new_uuid()),
                    store_id: p.store_id,
                    at: now,
                    actor_masked: actor.masked(),
                    ip: ip.map(str::to_owned),
                    key: format!("payout:{}", p.id),
                    from: Some(p.payout_status.as_str().to_owned()),
                    to: Some(status.as_str().to_owned()),
                }))
                .insert(self.event(
                    p.store_id,
                    "payout",
                    p.id.0,
                    if approve { "payout.paid" } else { "payout.rejected" },
                    serde_json::json!({"task_no": p.task_no, "note": next.note}),
                ));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(payout_view(&next)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }
}

/// Risk rules of a payout: reasons to hold it for review.
pub(crate) fn risk_reasons(
    owner: &AppUser,
    owner_order: &CustomerOrder,
    task: &HelpTask,
    helpers: &[(AppUser, CustomerOrder)],
) -> Vec<String> {
    let mut reasons = Vec::new();
    // Money given back (or asked back) undoes the purchase the task rests on.
    if owner_order.refunded_minor + owner_order.refund_pending_minor > 0 {
        reasons.push(format!("the owner's order {} was refunded", owner_order.order_number));
    }
    for (helper, order) in helpers {
        if order.refunded_minor + order.refund_pending_minor > 0 {
            reasons.push(format!("helper {}'s order {} was refunded", helper.id, order.order_number));
        }
        if order.address_hash == owner_order.address_hash {
            reasons.push(format!("helper {} shares the owner's address", helper.id));
        }
        if owner.phone.is_some() && helper.phone == owner.phone {
            reasons.push(format!("helper {} shares the owner's phone", helper.id));
        }
        if helper.created_at > task.created_at {
            reasons.push(format!("helper {} account is younger than the task", helper.id));
        }
    }
    reasons
}
