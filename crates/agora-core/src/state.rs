//! The state machines. Every status change in agora goes through one of
//! these functions; anything they refuse is [`AgoraError::InvalidTransition`].

use crate::error::AgoraError;
use crate::model::*;

fn refuse(entity: &'static str, from: impl ToString, to: impl ToString) -> AgoraError {
    AgoraError::InvalidTransition { entity, from: from.to_string(), to: to.to_string() }
}

/// CREATED -> PAID -> SHIPPED -> RECEIVED; CREATED -> CLOSED; PAID |
/// SHIPPED | RECEIVED -> REFUNDED (refunded in full).
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn order_transition(from: OrderStatus, to: OrderStatus) -> Result<OrderStatus, AgoraError> {
    use OrderStatus::*;
    match (from, to) {
        (Created, Paid) | (Created, Closed) | (Paid, Shipped) | (Shipped, Received) => Ok(to),
        (Paid | Shipped | Received, Refunded) => Ok(to),
        _ => Err(refuse("order", from, to)),
    }
}

/// pending -> succeeded | failed | needs_refund; needs_refund ->
/// refunding -> refunded | needs_refund (the refund failed).
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn payment_transition(from: PaymentStatus, to: PaymentStatus) -> Result<PaymentStatus, AgoraError> {
    use PaymentStatus::*;
    match (from, to) {
        (Pending, Succeeded) | (Pending, Failed) | (Pending, NeedsRefund) => Ok(to),
        (NeedsRefund, Refunding) | (Refunding, Refunded) | (Refunding, NeedsRefund) => Ok(to),
        _ => Err(refuse("payment", from, to)),
    }
}

/// pending -> succeeded | failed.
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn refund_transition(from: RefundStatus, to: RefundStatus) -> Result<RefundStatus, AgoraError> {
    use RefundStatus::*;
    match (from, to) {
        (Pending, Succeeded) | (Pending, Failed) => Ok(to),
        _ => Err(refuse("refund", from, to)),
    }
}

/// OPEN -> QUALIFIED -> SETTLED; OPEN -> EXPIRED.
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn task_transition(from: TaskStatus, to: TaskStatus) -> Result<TaskStatus, AgoraError> {
    use TaskStatus::*;
    match (from, to) {
        (Open, Qualified) | (Qualified, Settled) | (Open, Expired) => Ok(to),
        _ => Err(refuse("task", from, to)),
    }
}

/// PENDING or HELD -> PAID or REJECTED.
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn payout_transition(from: PayoutStatus, to: PayoutStatus) -> Result<PayoutStatus, AgoraError> {
    use PayoutStatus::*;
    match (from, to) {
        (Pending | Held, Paid | Rejected) => Ok(to),
        _ => Err(refuse("payout", from, to)),
    }
}

/// PENDING -> VALID | INVALID.
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn help_transition(from: HelpStatus, to: HelpStatus) -> Result<HelpStatus, AgoraError> {
    use HelpStatus::*;
    match (from, to) {
        (Pending, Valid) | (Pending, Invalid) => Ok(to),
        _ => Err(refuse("help", from, to)),
    }
}

/// active -> committed | released.
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn reservation_transition(from: ReservationStatus, to: ReservationStatus) -> Result<ReservationStatus, AgoraError> {
    use ReservationStatus::*;
    match (from, to) {
        (Active, Committed) | (Active, Released) => Ok(to),
        _ => Err(refuse("reservation", from, to)),
    }
}

/// queued -> running -> ready | failed; running -> queued (a stale claim
/// given back); ready -> expired.
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn export_transition(from: ExportStatus, to: ExportStatus) -> Result<ExportStatus, AgoraError> {
    use ExportStatus::*;
    match (from, to) {
        (Queued, Running) | (Running, Ready) | (Running, Failed) | (Running, Queued) | (Ready, Expired) => Ok(to),
        _ => Err(refuse("export", from, to)),
    }
}

/// open -> in_review -> resolved | dismissed; open -> resolved | dismissed.
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn flag_transition(from: FlagStatus, to: FlagStatus) -> Result<FlagStatus, AgoraError> {
    use FlagStatus::*;
    match (from, to) {
        (Open, InReview) | (Open | InReview, Resolved | Dismissed) => Ok(to),
        _ => Err(refuse("flag", from, to)),
    }
}

/// draft -> submitted -> partially_received -> received (a receipt may
/// also go straight to received, and partially_received repeats);
/// draft | submitted -> cancelled.
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn purchase_order_transition(
    from: PurchaseOrderStatus,
    to: PurchaseOrderStatus,
) -> Result<PurchaseOrderStatus, AgoraError> {
    use PurchaseOrderStatus::*;
    match (from, to) {
        (Draft, Submitted)
        | (Draft | Submitted, Cancelled)
        | (Submitted | PartiallyReceived, PartiallyReceived | Received) => Ok(to),
        _ => Err(refuse("purchase order", from, to)),
    }
}

/// What a store does with an insight: open -> acknowledged | dismissed,
/// acknowledged -> dismissed (the job resolves them).
///
/// # Errors
/// [`AgoraError::InvalidTransition`] for any other move.
pub fn insight_transition(from: InsightStatus, to: InsightStatus) -> Result<InsightStatus, AgoraError> {
    use InsightStatus::*;
    match (from, to) {
        (Open, Acknowledged | Dismissed) | (Acknowledged, Dismissed) => Ok(to),
        _ => Err(refuse("insight", from, to)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_moves() {
        use OrderStatus::*;
        let allowed = [
            (Created, Paid),
            (Created, Closed),
            (Paid, Shipped),
            (Shipped, Received),
            (Paid, Refunded),
            (Shipped, Refunded),
            (Received, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let ok = order_transition(*from, *to).is_ok();
                assert_eq!(ok, allowed.contains(&(*from, *to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn task_payout_payment_moves() {
        assert!(task_transition(TaskStatus::Open, TaskStatus::Settled).is_err());
        assert!(task_transition(TaskStatus::Qualified, TaskStatus::Settled).is_ok());
        assert!(task_transition(TaskStatus::Expired, TaskStatus::Open).is_err());
        assert!(payout_transition(PayoutStatus::Held, PayoutStatus::Paid).is_ok());
        assert!(payout_transition(PayoutStatus::Paid, PayoutStatus::Rejected).is_err());
        assert!(payment_transition(PaymentStatus::Succeeded, PaymentStatus::Failed).is_err());
        assert!(payment_transition(PaymentStatus::Pending, PaymentStatus::NeedsRefund).is_ok());
        assert!(export_transition(ExportStatus::Ready, ExportStatus::Running).is_err());
        let e = order_transition(OrderStatus::Closed, OrderStatus::Paid).unwrap_err();
        assert_eq!(e.code(), "invalid_transition");
    }

    #[test]
    fn payment_and_refund_moves() {
        use PaymentStatus::*;
        let allowed = [
            (Pending, Succeeded),
            (Pending, Failed),
            (Pending, NeedsRefund),
            (NeedsRefund, Refunding),
            (Refunding, Refunded),
            (Refunding, NeedsRefund),
        ];
        for from in PaymentStatus::ALL {
            for to in PaymentStatus::ALL {
                assert_eq!(payment_transition(*from, *to).is_ok(), allowed.contains(&(*from, *to)), "{from} -> {to}");
            }
        }
        for from in RefundStatus::ALL {
            for to in RefundStatus::ALL {
                let ok = matches!((from, to), (RefundStatus::Pending, RefundStatus::Succeeded | RefundStatus::Failed));
                assert_eq!(refund_transition(*from, *to).is_ok(), ok, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn flag_moves() {
        use FlagStatus::*;
        let allowed =
            [(Open, InReview), (Open, Resolved), (Open, Dismissed), (InReview, Resolved), (InReview, Dismissed)];
        for from in FlagStatus::ALL {
            for to in FlagStatus::ALL {
                assert_eq!(flag_transition(*from, *to).is_ok(), allowed.contains(&(*from, *to)), "{from} -> {to}");
            }
        }
    }
}
