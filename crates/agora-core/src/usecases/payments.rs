//! Payments and provider webhooks.

use crate::catalogue::Record;
use crate::changeset::Changeset;
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::reads::Reads;
use crate::secrets::verify_webhook_signature;
use crate::state::{order_transition, payment_transition};
use crate::views::*;

use super::{Actor, Agora, failed_guard, is_retryable, require_customer, too_contended};

/// The provider name of the built-in test provider.
pub const TEST_PROVIDER: &str = "test";

pub(crate) fn payment_view(p: &Payment) -> PaymentView {
    PaymentView {
        id: p.id.0,
        order_id: p.order_id.0,
        amount_minor: p.amount_minor,
        currency: p.currency.as_str().to_owned(),
        status: p.status.as_str().to_owned(),
        provider: p.provider.clone(),
    }
}

impl Agora {
    /// Starts a payment of the caller's CREATED order for its pay amount.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `invalid_transition` when the order is
    /// not CREATED.
    pub async fn create_payment(&self, actor: &Actor, order_id: OrderId) -> Result<PaymentView, AgoraError> {
        let user_id = require_customer(actor)?;
        let o = self.own_order_in(user_id, order_id, OrderStatus::Created, "payment").await?;
        let now = self.now();
        let p = Payment {
            id: PaymentId(self.new_uuid()),
            order_id,
            store_id: o.store_id,
            user_id,
            amount_minor: o.pay_amount_minor,
            currency: o.currency,
            status: PaymentStatus::Pending,
            provider: TEST_PROVIDER.into(),
            created_at: now,
            updated_at: now,
        };
        let mut cs = Changeset::new();
        cs.guard(guards::order_status_is(order_id, OrderStatus::Created)).insert(Record::Payment(p.clone())).insert(
            self.event(
                o.store_id,
                "payment",
                p.id.0,
                "payment.created",
                serde_json::json!({"order_id": order_id, "amount_minor": p.amount_minor}),
            ),
        );
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(payment_view(&p)),
            Err(e) if failed_guard(&e).is_some() => {
                let now_status =
                    self.store.get_order(order_id).await?.map(|o| o.status.to_string()).unwrap_or_default();
                Err(AgoraError::InvalidTransition { entity: "order", from: now_status, to: "payment".into() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A payment of the caller's (or, for an admin, the store's) order.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`.
    pub async fn get_payment(&self, actor: &Actor, id: PaymentId) -> Result<PaymentView, AgoraError> {
        let p = self.store.get_payment(id).await?.ok_or(AgoraError::NotFound("payment"))?;
        let visible = match actor {
            Actor::Anonymous => return Err(AgoraError::Unauthorized),
            Actor::Customer { user_id } => p.user_id == *user_id,
            a => a.administers(p.store_id),
        };
        if !visible {
            return Err(AgoraError::NotFound("payment"));
        }
        Ok(payment_view(&p))
    }

    /// Takes a signed provider callback. The signature is checked over the
    /// raw body in constant time; the raw event is stored (unique on
    /// provider and event id) in the same changeset as its effect, so a
    /// repeated event id has no second effect.
    ///
    /// # Errors
    /// `unauthorized` for a bad or missing signature; `malformed_json`;
    /// `validation` for a body that is not a payment event.
    pub async fn receive_payment_webhook(
        &self,
        raw_body: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookAck, AgoraError> {
        if self.config.webhook_secret.is_empty()
            || !verify_webhook_signature(&self.config.webhook_secret, raw_body, signature)
        {
            return Err(AgoraError::Unauthorized);
        }
        let raw: serde_json::Value =
            serde_json::from_slice(raw_body).map_err(|e| AgoraError::MalformedJson(e.to_string()))?;
        let mut event = raw.clone();
        crate::validate::integral_floats_to_integers(&mut event);
        let event: PaymentWebhook = serde_json::from_value(event)
            .map_err(|e| AgoraError::validation("body", &format!("not a payment event: {e}")))?;
        let mut v = crate::validate::Validator::new();
        v.text("event_id", &event.event_id, 1, 255);
        match event.kind.as_str() {
            "payment.succeeded" | "payment.failed" => {
                v.check(event.payment_id.is_some(), "payment_id", "is required for a payment event");
            }
            "refund.succeeded" | "refund.failed" => {
                v.check(event.refund_id.is_some(), "refund_id", "is required for a refund event");
            }
            _ => v.error("type", "must be payment.succeeded, payment.failed, refund.succeeded or refund.failed"),
        }
        v.range("amount_minor", event.amount_minor, 0, crate::money::MAX_MINOR);
        v.finish()?;

        for _ in 0..self.config.max_attempts {
            if self.store.get_payment_event(TEST_PROVIDER, &event.event_id).await?.is_some() {
                return Ok(WebhookAck { received: true, duplicate: true });
            }
            let cs = self.webhook_changeset(&event, raw.clone()).await?;
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(WebhookAck { received: true, duplicate: false }),
                Err(e) => match failed_guard(&e) {
                    Some(c) if guards::is_free(c, guards::PAYMENT_EVENT) => {
                        return Ok(WebhookAck { received: true, duplicate: true });
                    }
                    _ if is_retryable(&e) => continue,
                    _ => return Err(e.into()),
                },
            }
        }
        Err(too_contended())
    }

    async fn webhook_changeset(&self, event: &PaymentWebhook, raw: serde_json::Value) -> Result<Changeset, AgoraError> {
        let now = self.now();
        let mut cs = Changeset::new();
        cs.guard(guards::payment_event_free(TEST_PROVIDER, &event.event_id));
        let (outcome, payment) = match event.refund_id {
            Some(refund_id) if event.kind.starts_with("refund.") => {
                match self.store.get::<Refund, _>(RefundId(refund_id)).await? {
                    None => ("unknown_refund", None),
                    Some(r) => {
                        let outcome = self.refund_event_changes(&mut cs, event, &r).await?;
                        (outcome, self.store.get_payment(r.payment_id).await?)
                    }
                }
            }
            _ => self.payment_event_changes(&mut cs, event, now).await?,
        };
        cs.insert(Record::PaymentEvent(PaymentEvent {
            id: PaymentEventId(self.new_uuid()),
            provider: TEST_PROVIDER.into(),
            event_id: event.event_id.clone(),
            payment_id: payment.as_ref().map(|p| p.id),
            store_id: payment.as_ref().map(|p| p.store_id),
            kind: event.kind.clone(),
            amount_minor: event.amount_minor,
            outcome: outcome.to_owned(),
            raw,
            received_at: now,
        }));
        Ok(cs)
    }

    /// The effect of a payment event on `cs`; the outcome and the payment.
    async fn payment_event_changes(
        &self,
        cs: &mut Changeset,
        event: &PaymentWebhook,
        now: time::OffsetDateTime,
    ) -> Result<(&'static str, Option<Payment>), AgoraError> {
        let payment = match event.payment_id {
            Some(id) => self.store.get_payment(PaymentId(id)).await?,
            None => None,
        };
        let mut outcome = "unknown_payment";
        if let Some(p) = &payment {
            let order = self.store.get_order(p.order_id).await?.ok_or(AgoraError::NotFound("order"))?;
            outcome = match (event.kind.as_str(), p.status) {
                (_, s) if s != PaymentStatus::Pending => "ignored_payment_not_pending",
                ("payment.failed", _) => {
                    self.settle_payment(cs, p, PaymentStatus::Failed, now)?;
                    "failed"
                }
                (_, _) if event.amount_minor != p.amount_minor => {
                    self.settle_payment(cs, p, PaymentStatus::Failed, now)?;
                    "amount_mismatch"
                }
                (_, _) if order.status != OrderStatus::Created => {
                    // Money arrived for an order that can no longer take it.
                    self.settle_payment(cs, p, PaymentStatus::NeedsRefund, now)?;
                    cs.guard(guards::order_status_is(order.id, order.status));
                    "needs_refund"
                }
                _ => {
                    self.settle_payment(cs, p, PaymentStatus::Succeeded, now)?;
                    let status = order_transition(order.status, OrderStatus::Paid)?;
                    cs.guard(guards::order_status_is(order.id, OrderStatus::Created));
                    cs.update(Record::Order(CustomerOrder {
                        status,
                        paid_at: Some(now),
                        updated_at: now,
                        ..order.clone()
                    }));
                    self.settle_reservations(cs, order.id, now, ReservationStatus::Committed).await?;
                    cs.insert(self.event(
                        order.store_id,
                        "order",
                        order.id.0,
                        "order.paid",
                        serde_json::json!({"order_number": order.order_number, "payment_id": p.id}),
                    ));
                    "applied"
                }
            };
        }
        Ok((outcome, payment))
    }

    fn settle_payment(
        &self,
        cs: &mut Changeset,
        p: &Payment,
        to: PaymentStatus,
        now: time::OffsetDateTime,
    ) -> Result<(), AgoraError> {
        let status = payment_transition(p.status, to)?;
        cs.guard(guards::payment_status_is(p.id, p.status));
        cs.update(Record::Payment(Payment { status, updated_at: now, ..p.clone() }));
        cs.insert(self.event(
            p.store_id,
            "payment",
            p.id.0,
            &format!("payment.{}", status.as_str()),
            serde_json::json!({"order_id": p.order_id, "amount_minor": p.amount_minor}),
        ));
        Ok(())
    }
}
