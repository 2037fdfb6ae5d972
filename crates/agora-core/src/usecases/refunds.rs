//! Refunds: part or all of a paid order given back (with returned units put
//! back into stock), or a stray `needs_refund` payment given back in full.
//! A refund is asked of the provider (`pending`) and settled by its webhook
//! (`refund.succeeded` / `refund.failed`), once per event.
//!
//! The room left to refund is `pay_amount - refunded - refund_pending` on
//! the order row; a request moves `refund_pending` under a guard on the
//! figures it read ([`guards::order_is`]), so concurrent requests are
//! serialised by the store and together never exceed the paid amount.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::catalogue::Record;
use crate::changeset::{Changeset, Condition, StockChange, Write};
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::query::Query;
use crate::reads::Reads;
use crate::state::{order_transition, payment_transition, refund_transition};
use crate::validate::Validator;
use crate::views::*;

use super::{Actor, Agora, ListQuery, failed_guard, is_retryable, next_cursor, too_contended};

/// Most restock lines on one refund.
pub const MAX_RESTOCK_LINES: usize = 50;
/// Longest refund reason, in characters.
pub const MAX_REFUND_REASON: usize = 500;

/// What [`Agora::create_refund`] answers: the refund and the exact body
/// recorded for its idempotency key (a replay sends those bytes again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedRefund {
    /// The refund.
    pub refund: RefundView,
    /// The JSON body as first answered.
    pub recorded: String,
    /// Whether this answer is a replay of an earlier request.
    pub replayed: bool,
}

pub(crate) fn refund_view(r: &Refund, lines: &[RefundLine]) -> RefundView {
    RefundView {
        id: r.id.0,
        order_id: r.order_id.0,
        payment_id: r.payment_id.0,
        kind: r.kind.as_str().to_owned(),
        amount_minor: r.amount_minor,
        currency: r.currency.as_str().to_owned(),
        reason: r.reason.clone(),
        status: r.status.as_str().to_owned(),
        restock: lines
            .iter()
            .filter(|l| l.refund_id == r.id)
            .map(|l| RestockLine { variant_id: l.variant_id.0, warehouse_id: l.warehouse_id.0, qty: l.qty })
            .collect(),
        created_at: r.created_at,
        succeeded_at: r.succeeded_at,
        failed_at: r.failed_at,
    }
}

impl Agora {
    /// Asks the provider to give back `amount_minor` of a PAID, SHIPPED or
    /// RECEIVED order (store admin; `Idempotency-Key` required): the refund
    /// (`pending`), its restock lines, the order's `refund_pending` and the
    /// `refund.created` event in one commit. Stock moves only when the
    /// refund succeeds. The same key and body replay the first answer.
    ///
    /// # Errors
    /// `unauthorized`; `not_found` (order, or a restock warehouse);
    /// `idempotency_key_missing`/`_reused`; `validation` (amount, reason,
    /// restock lines: a variant not on the order, more units than ordered
    /// and not yet restocked); `invalid_transition` from another status;
    /// `conflict` when refunds would add up above the paid amount.
    pub async fn create_refund(
        &self,
        actor: &Actor,
        order_id: OrderId,
        idempotency_key: Option<&str>,
        req: NewRefund,
    ) -> Result<CreatedRefund, AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let key = idempotency_key.map(str::trim).filter(|k| !k.is_empty()).ok_or(AgoraError::IdempotencyKeyMissing)?;
        if key.chars().count() > 255 {
            return Err(AgoraError::validation("Idempotency-Key", "must be 1 to 255 characters"));
        }
        let restock = req.restock.clone().unwrap_or_default();
        let mut v = Validator::new();
        v.range("amount_minor", req.amount_minor, 1, crate::money::MAX_MINOR);
        v.multiline_text("reason", &req.reason, 1, MAX_REFUND_REASON);
        v.check(restock.len() <= MAX_RESTOCK_LINES, "restock", "must have at most 50 lines");
        let mut seen = HashSet::new();
        for (i, l) in restock.iter().enumerate() {
            v.range(&format!("restock[{i}].qty"), l.qty, 1, super::MAX_QTY);
            v.check(
                seen.insert((l.variant_id, l.warehouse_id)),
                format!("restock[{i}]"),
                "the same variant and warehouse appear on two lines",
            );
        }
        v.finish()?;
        let scope = format!("refunds:{order_id}");
        let fp = hex::encode(Sha256::digest(serde_json::to_vec(&req).unwrap_or_default()));
        for _ in 0..self.config.max_attempts {
            let order = self.store.get_order(order_id).await?.filter(|o| actor.administers(o.store_id));
            let order = order.ok_or(AgoraError::NotFound("order"))?;
            if let Some(done) = self.refund_replay(&scope, key, &fp).await? {
                return Ok(done);
            }
            if let Some(done) = self.try_create_refund(actor, &order, &scope, key, &fp, &req, &restock).await? {
                return Ok(done);
            }
        }
        Err(too_contended())
    }

    async fn refund_replay(&self, scope: &str, key: &str, fp: &str) -> Result<Option<CreatedRefund>, AgoraError> {
        match self.store.get_idempotency(scope, key).await? {
            Some(rec) if rec.expires_at > self.now() => {
                if rec.fingerprint != fp {
                    return Err(AgoraError::IdempotencyKeyReused);
                }
                let refund: RefundView = serde_json::from_str(&rec.response_body)
                    .map_err(|e| AgoraError::Internal(format!("stored response is not a refund: {e}")))?;
                Ok(Some(CreatedRefund { refund, recorded: rec.response_body, replayed: true }))
            }
            _ => Ok(None),
        }
    }

    /// One attempt; `None` when a concurrent change means try again.
    #[allow(clippy::too_many_arguments)]
    async fn try_create_refund(
        &self,
        actor: &Actor,
        order: &CustomerOrder,
        scope: &str,
        key: &str,
        fp: &str,
        req: &NewRefund,
        restock: &[RestockLine],
    ) -> Result<Option<CreatedRefund>, AgoraError> {
        if !matches!(order.status, OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Received) {
            return Err(AgoraError::InvalidTransition {
                entity: "order",
                from: order.status.to_string(),
                to: "refund".into(),
            });
        }
        let left = order.pay_amount_minor - order.refunded_minor - order.refund_pending_minor;
        if req.amount_minor > left {
            return Err(AgoraError::Conflict {
                message: format!(
                    "refunds would add up above the paid amount: {left} of {} left to refund",
                    order.pay_amount_minor
                ),
                retry_after: None,
            });
        }
        let payment = self
            .store
            .list_payments(order.id)
            .await?
            .into_iter()
            .find(|p| p.status == PaymentStatus::Succeeded)
            .ok_or_else(|| AgoraError::Conflict {
                message: "the order has no succeeded payment to refund through".into(),
                retry_after: None,
            })?;
        self.check_restock(order, restock).await?;
        let now = self.now();
        let refund = Refund {
            id: RefundId(self.new_uuid()),
            order_id: order.id,
            payment_id: payment.id,
            store_id: order.store_id,
            user_id: order.user_id,
            kind: RefundKind::Order,
            amount_minor: req.amount_minor,
            currency: order.currency,
            reason: req.reason.trim().to_owned(),
            status: RefundStatus::Pending,
            actor_masked: actor.masked(),
            created_at: now,
            succeeded_at: None,
            failed_at: None,
            updated_at: now,
        };
        let lines: Vec<RefundLine> = restock
            .iter()
            .enumerate()
            .map(|(i, l)| RefundLine {
                id: RefundLineId(self.new_uuid()),
                refund_id: refund.id,
                order_id: order.id,
                line_no: i as i32,
                variant_id: VariantId(l.variant_id),
                warehouse_id: WarehouseId(l.warehouse_id),
                qty: l.qty,
            })
            .collect();
        let view = refund_view(&refund, &lines);
        let recorded = serde_json::to_string(&view).map_err(|e| AgoraError::Internal(e.to_string()))?;
        let mut cs = Changeset::new();
        cs.guard(guards::order_is(order)).update(Record::Order(CustomerOrder {
            refund_pending_minor: order.refund_pending_minor + req.amount_minor,
            updated_at: now,
            ..order.clone()
        }));
        cs.insert(Record::Refund(refund.clone()));
        for l in lines {
            cs.insert(Record::RefundLine(l));
        }
        cs.write(Write::PutIdempotency {
            record: IdempotencyRecord {
                scope: scope.to_owned(),
                key: key.to_owned(),
                fingerprint: fp.to_owned(),
                response_status: 201,
                response_body: recorded.clone(),
                resource_id: Some(refund.id.0),
                created_at: now,
                expires_at: now + self.config.idempotency_ttl,
            },
            now,
        });
        self.refund_created_rows(&mut cs, actor, &refund);
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(Some(CreatedRefund { refund: view, recorded, replayed: false })),
            Err(e) => match failed_guard(&e) {
                Some(Condition::IdempotencyKeyFree { .. }) => self.refund_replay(scope, key, fp).await,
                _ if is_retryable(&e) => Ok(None),
                _ => Err(e.into()),
            },
        }
    }

    /// The event and audit row of a new refund.
    fn refund_created_rows(&self, cs: &mut Changeset, actor: &Actor, refund: &Refund) {
        cs.insert(self.event(
            refund.store_id,
            "refund",
            refund.id.0,
            "refund.created",
            serde_json::json!({
                "order_id": refund.order_id,
                "payment_id": refund.payment_id,
                "kind": refund.kind.as_str(),
                "amount_minor": refund.amount_minor,
            }),
        ));
        cs.insert(self.audit_row(
            actor,
            refund.store_id,
            None,
            &format!("refund:{}", refund.id),
            None,
            Some(format!("{} {} ({})", refund.amount_minor, refund.currency.as_str(), refund.kind.as_str())),
        ));
    }

    /// Restock lines name variants of the order, warehouses of its store,
    /// and with the lines of the order's earlier refunds (those not failed)
    /// at most the units ordered of each variant.
    async fn check_restock(&self, order: &CustomerOrder, restock: &[RestockLine]) -> Result<(), AgoraError> {
        if restock.is_empty() {
            return Ok(());
        }
        let items = self.store.list_order_items(&[order.id]).await?;
        let mut left: HashMap<VariantId, i64> = HashMap::new();
        for i in &items {
            *left.entry(i.variant_id).or_default() += i.qty;
        }
        let earlier: Vec<Refund> = self.store.fetch_all(Query::of::<Refund>().eq("order_id", order.id)).await?;
        let counted: Vec<RefundId> =
            earlier.iter().filter(|r| r.status != RefundStatus::Failed).map(|r| r.id).collect();
        if !counted.is_empty() {
            let lines: Vec<RefundLine> =
                self.store.fetch_all(Query::of::<RefundLine>().any("refund_id", counted.iter().copied())).await?;
            for l in lines {
                *left.entry(l.variant_id).or_default() -= l.qty;
            }
        }
        let mut warehouses: HashMap<WarehouseId, bool> = HashMap::new();
        let mut v = Validator::new();
        for (i, l) in restock.iter().enumerate() {
            let warehouse = WarehouseId(l.warehouse_id);
            if let std::collections::hash_map::Entry::Vacant(e) = warehouses.entry(warehouse) {
                let ours = self.store.get_warehouse(warehouse).await?.is_some_and(|w| w.store_id == order.store_id);
                e.insert(ours);
            }
            if !warehouses[&warehouse] {
                return Err(AgoraError::NotFound("warehouse"));
            }
            match left.get_mut(&VariantId(l.variant_id)) {
                None => v.error(format!("restock[{i}].variant_id"), "is not on this order"),
                Some(n) => {
                    v.check(
                        l.qty <= *n,
                        format!("restock[{i}].qty"),
                        format!("only {} units of this variant are left to restock", (*n).max(0)),
                    );
                    *n -= l.qty;
                }
            }
        }
        v.finish()
    }

    /// Gives back in full a payment that landed on an order that could no
    /// longer take it (`needs_refund`; store admin): the payment becomes
    /// `refunding`, the refund `pending`, one commit. Asking again while
    /// it is refunding or refunded is `invalid_transition`.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `invalid_transition` unless the
    /// payment is `needs_refund`.
    pub async fn refund_payment(&self, actor: &Actor, payment_id: PaymentId) -> Result<RefundView, AgoraError> {
        let p = self.admin_row::<Payment, _>(actor, payment_id, "payment", |p| p.store_id).await?;
        let to = payment_transition(p.status, PaymentStatus::Refunding)?;
        let order = self.store.get_order(p.order_id).await?.ok_or(AgoraError::NotFound("order"))?;
        let now = self.now();
        let refund = Refund {
            id: RefundId(self.new_uuid()),
            order_id: p.order_id,
            payment_id: p.id,
            store_id: p.store_id,
            user_id: p.user_id,
            kind: RefundKind::Payment,
            amount_minor: p.amount_minor,
            currency: p.currency,
            reason: format!("payment arrived for order {} in status {}", order.order_number, order.status),
            status: RefundStatus::Pending,
            actor_masked: actor.masked(),
            created_at: now,
            succeeded_at: None,
            failed_at: None,
            updated_at: now,
        };
        let mut cs = Changeset::new();
        cs.guard(guards::payment_status_is(p.id, p.status));
        cs.update(Record::Payment(Payment { status: to, updated_at: now, ..p.clone() }));
        cs.insert(Record::Refund(refund.clone()));
        self.refund_created_rows(&mut cs, actor, &refund);
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(refund_view(&refund, &[])),
            Err(e) if failed_guard(&e).is_some() => {
                let now_status = self.store.get_payment(p.id).await?.map(|p| p.status.to_string()).unwrap_or_default();
                Err(AgoraError::InvalidTransition { entity: "payment", from: now_status, to: to.to_string() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The refunds of an order, newest first (the store's admin or the
    /// order's owner).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_refunds(
        &self,
        actor: &Actor,
        order_id: OrderId,
        q: &ListQuery,
    ) -> Result<ListPage<RefundView>, AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let page = q.page()?;
        let o = self.store.get_order(order_id).await?.ok_or(AgoraError::NotFound("order"))?;
        let visible = match actor {
            Actor::Customer { user_id } => o.user_id == *user_id,
            a => a.administers(o.store_id),
        };
        if !visible {
            return Err(AgoraError::NotFound("order"));
        }
        let refunds: Vec<Refund> =
            self.store.fetch_all(Query::of::<Refund>().eq("order_id", order_id).page(page)).await?;
        let lines: Vec<RefundLine> = if refunds.is_empty() {
            Vec::new()
        } else {
            self.store.fetch_all(Query::of::<RefundLine>().any("refund_id", refunds.iter().map(|r| r.id))).await?
        };
        let next = next_cursor(&refunds, &page, |r| r.id.0);
        Ok(ListPage { items: refunds.iter().map(|r| refund_view(r, &lines)).collect(), next_cursor: next })
    }

    /// Creates the stock rows a succeeded refund will add to, where missing.
    pub(crate) async fn ensure_restock_rows(&self, store_id: StoreId, lines: &[RefundLine]) -> Result<(), AgoraError> {
        if lines.is_empty() {
            return Ok(());
        }
        let ids: Vec<VariantId> = lines.iter().map(|l| l.variant_id).collect();
        let stock = self.store.list_inventory(&ids).await?;
        for l in lines {
            if stock.iter().any(|s| s.variant_id == l.variant_id && s.warehouse_id == l.warehouse_id) {
                continue;
            }
            let mut cs = Changeset::new();
            cs.insert(Record::Inventory(Inventory {
                variant_id: l.variant_id,
                warehouse_id: l.warehouse_id,
                store_id,
                on_hand: 0,
                reserved: 0,
                updated_at: self.now(),
            }));
            match self.apply_changeset(cs).await {
                Ok(()) => {}
                // Made meanwhile by someone else: fine.
                Err(e) if is_retryable(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The effect of a refund event of the provider on `cs`; the outcome
    /// recorded with the event.
    pub(crate) async fn refund_event_changes(
        &self,
        cs: &mut Changeset,
        event: &PaymentWebhook,
        refund: &Refund,
    ) -> Result<&'static str, AgoraError> {
        if refund.status != RefundStatus::Pending {
            return Ok("ignored_refund_not_pending");
        }
        let now = self.now();
        let succeeded = event.kind == "refund.succeeded" && event.amount_minor == refund.amount_minor;
        let outcome = match (event.kind.as_str(), succeeded) {
            (_, true) => "refunded",
            ("refund.failed", _) => "refund_failed",
            _ => "amount_mismatch",
        };
        let to =
            refund_transition(refund.status, if succeeded { RefundStatus::Succeeded } else { RefundStatus::Failed })?;
        cs.guard(guards::refund_status_is(refund.id, refund.status));
        cs.update(Record::Refund(Refund {
            status: to,
            succeeded_at: succeeded.then_some(now),
            failed_at: (!succeeded).then_some(now),
            updated_at: now,
            ..refund.clone()
        }));
        cs.insert(self.event(
            refund.store_id,
            "refund",
            refund.id.0,
            &format!("refund.{to}"),
            serde_json::json!({"order_id": refund.order_id, "amount_minor": refund.amount_minor}),
        ));
        match refund.kind {
            RefundKind::Order => self.settle_order_refund(cs, refund, succeeded, now).await?,
            RefundKind::Payment => {
                let p = self.store.get_payment(refund.payment_id).await?.ok_or(AgoraError::NotFound("payment"))?;
                let status = payment_transition(
                    p.status,
                    if succeeded { PaymentStatus::Refunded } else { PaymentStatus::NeedsRefund },
                )?;
                cs.guard(guards::payment_status_is(p.id, p.status));
                cs.update(Record::Payment(Payment { status, updated_at: now, ..p.clone() }));
                cs.insert(self.event(
                    p.store_id,
                    "payment",
                    p.id.0,
                    &format!("payment.{status}"),
                    serde_json::json!({"order_id": p.order_id, "amount_minor": p.amount_minor}),
                ));
            }
        }
        Ok(outcome)
    }

    /// The order side of a settled order refund: the pending amount is
    /// moved to refunded (or dropped when it failed), the order becomes
    /// REFUNDED once refunded in full, and a success puts the restock lines
    /// back into `on_hand`.
    async fn settle_order_refund(
        &self,
        cs: &mut Changeset,
        refund: &Refund,
        succeeded: bool,
        now: time::OffsetDateTime,
    ) -> Result<(), AgoraError> {
        let order = self.store.get_order(refund.order_id).await?.ok_or(AgoraError::NotFound("order"))?;
        let mut next = CustomerOrder {
            refund_pending_minor: order.refund_pending_minor - refund.amount_minor,
            updated_at: now,
            ..order.clone()
        };
        if succeeded {
            next.refunded_minor += refund.amount_minor;
            if next.refunded_minor >= next.pay_amount_minor {
                next.status = order_transition(order.status, OrderStatus::Refunded)?;
            }
        }
        cs.guard(guards::order_is(&order)).update(Record::Order(next.clone()));
        if !succeeded {
            return Ok(());
        }
        let lines: Vec<RefundLine> = self.store.fetch_all(Query::of::<RefundLine>().eq("refund_id", refund.id)).await?;
        self.ensure_restock_rows(refund.store_id, &lines).await?;
        for l in &lines {
            // An increment: concurrent sales and stock edits of the row count.
            cs.stock(l.variant_id, l.warehouse_id, now, StockChange::Adjust { on_hand: l.qty, reserved: 0 });
        }
        if next.status == OrderStatus::Refunded {
            cs.insert(self.event(
                order.store_id,
                "order",
                order.id.0,
                "order.refunded",
                serde_json::json!({"order_number": order.order_number, "refunded_minor": next.refunded_minor}),
            ));
        }
        Ok(())
    }
}
