//! Order flags: raised by an admin or, above the store's
//! `flag_amount_minor`, by the order's own commit; reviewed through their
//! state machine.

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::reads::Reads;
use crate::state::flag_transition;
use crate::validate::Validator;
use crate::views::*;

use super::{Actor, Agora, ListQuery, failed_guard, next_cursor, require_admin, too_contended};

/// Longest note or resolution of a flag, in characters.
const MAX_FLAG_TEXT: usize = 2000;

pub(crate) fn flag_view(f: &OrderFlag) -> FlagView {
    FlagView {
        id: f.id.0,
        order_id: f.order_id.0,
        store_id: f.store_id.0,
        reason: f.reason.as_str().to_owned(),
        status: f.status.as_str().to_owned(),
        note: f.note.clone(),
        resolution: f.resolution.clone(),
        created_at: f.created_at,
        updated_at: f.updated_at,
        resolved_at: f.resolved_at,
    }
}

/// The payload of a flag's events.
pub(crate) fn flag_event(f: &OrderFlag) -> serde_json::Value {
    serde_json::json!({"order_id": f.order_id, "reason": f.reason, "status": f.status})
}

impl Agora {
    /// The `fraud_risk` flag an order gets when its amount reaches the
    /// store's `flag_amount_minor` (0 = off); written in the order's commit.
    pub(crate) fn automatic_flag(&self, settings: &StoreSettings, order: &CustomerOrder) -> Option<OrderFlag> {
        let threshold = settings.flag_amount_minor;
        (threshold > 0 && order.amount_minor >= threshold).then(|| OrderFlag {
            id: FlagId(self.new_uuid()),
            order_id: order.id,
            store_id: order.store_id,
            reason: FlagReason::FraudRisk,
            status: FlagStatus::Open,
            note: Some(format!("automatic: amount {} reaches flag_amount_minor {threshold}", order.amount_minor)),
            resolution: None,
            created_at: order.created_at,
            updated_at: order.created_at,
            resolved_at: None,
        })
    }

    /// Flags an order (an admin of its store).
    ///
    /// # Errors
    /// `unauthorized`; `not_found` for an unknown order or a stranger;
    /// `validation`.
    pub async fn create_flag(&self, actor: &Actor, order_id: OrderId, req: NewFlag) -> Result<FlagView, AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let mut v = Validator::new();
        let reason = FlagReason::parse(&req.reason);
        v.check(reason.is_some(), "reason", "must be fraud_risk, address_issue, customer_request or other");
        v.optional_multiline_text("note", req.note.as_ref(), MAX_FLAG_TEXT);
        v.finish()?;
        let order = self.store.get_order(order_id).await?.filter(|o| actor.administers(o.store_id));
        let order = order.ok_or(AgoraError::NotFound("order"))?;
        let now = self.now();
        let flag = OrderFlag {
            id: FlagId(self.new_uuid()),
            order_id,
            store_id: order.store_id,
            reason: reason.unwrap_or(FlagReason::Other),
            status: FlagStatus::Open,
            note: req.note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
            resolution: None,
            created_at: now,
            updated_at: now,
            resolved_at: None,
        };
        let mut cs = Changeset::new();
        cs.insert(Record::Flag(flag.clone())).insert(self.event(
            flag.store_id,
            "order_flag",
            flag.id.0,
            "flag.created",
            flag_event(&flag),
        ));
        self.apply_changeset(cs).await?;
        Ok(flag_view(&flag))
    }

    /// Moves a flag (open -> in_review -> resolved | dismissed; open ->
    /// resolved | dismissed) or edits its note and resolution (an admin of
    /// its store). Asking for the state it is in changes only the texts.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`; `invalid_transition`.
    pub async fn patch_flag(&self, actor: &Actor, flag_id: FlagId, patch: FlagPatch) -> Result<FlagView, AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let mut v = Validator::new();
        let status = patch.status.as_deref().map(FlagStatus::parse);
        v.check(!matches!(status, Some(None)), "status", "must be open, in_review, resolved or dismissed");
        v.optional_multiline_text("note", patch.note.as_ref(), MAX_FLAG_TEXT);
        v.optional_multiline_text("resolution", patch.resolution.as_ref(), MAX_FLAG_TEXT);
        v.finish()?;
        let status = status.flatten();
        for _ in 0..self.config.max_attempts {
            let current = self.admin_row(actor, flag_id, "flag", |f: &OrderFlag| f.store_id).await?;
            let mut next = current.clone();
            if let Some(to) = status.filter(|to| *to != current.status) {
                next.status = flag_transition(current.status, to)?;
            }
            if let Some(n) = &patch.note {
                next.note = Some(n.trim().to_owned()).filter(|n| !n.is_empty());
            }
            if let Some(r) = &patch.resolution {
                next.resolution = Some(r.trim().to_owned()).filter(|r| !r.is_empty());
            }
            if next == current {
                return Ok(flag_view(&current));
            }
            let now = self.now();
            next.updated_at = now;
            if !next.status.is_live() && current.status.is_live() {
                next.resolved_at = Some(now);
            }
            let kind = if next.status == current.status { "flag.updated" } else { "flag.status_changed" };
            let mut cs = Changeset::new();
            cs.guard(guards::flag_is(&current)).update(Record::Flag(next.clone())).insert(self.event(
                next.store_id,
                "order_flag",
                flag_id.0,
                kind,
                serde_json::json!({"order_id": next.order_id, "from": current.status, "to": next.status}),
            ));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(flag_view(&next)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// A store's flags, newest first, optionally of one status (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_flags(
        &self,
        actor: &Actor,
        store_id: StoreId,
        status: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage<FlagView>, AgoraError> {
        require_admin(actor, store_id)?;
        let status = status
            .map(|s| FlagStatus::parse(s).ok_or_else(|| AgoraError::validation("status", "unknown flag status")))
            .transpose()?;
        let page = q.page()?;
        let rows = self.store.list_flags(store_id, status, page).await?;
        Ok(ListPage { next_cursor: next_cursor(&rows, &page, |r| r.id.0), items: rows.iter().map(flag_view).collect() })
    }
}
