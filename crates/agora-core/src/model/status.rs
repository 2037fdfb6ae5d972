//! The status enums: each stored and serialised as its `as_str` text.

use serde::{Deserialize, Serialize};

use crate::schema::Value;

/// Declares a string-backed status enum with `as_str`/`parse` for adapters.
macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored and serialised text.
            pub const fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Parses the stored text.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $crate::text_field!($name, $name::parse);

        impl From<$name> for Value<'static> {
            fn from(v: $name) -> Self {
                Value::Text(std::borrow::Cow::Borrowed(v.as_str()))
            }
        }
    };
}

status_enum! {
    /// Whether a store trades.
    StoreStatus { /// Trading.
        Active => "active", /// Suspended by the operator.
        Suspended => "suspended" }
}

status_enum! {
    /// Whether a product is listed.
    ProductStatus { /// Listed and orderable.
        Active => "active", /// Hidden from the public listing and not orderable.
        Draft => "draft" }
}

status_enum! {
    /// An order's lifecycle: CREATED -> PAID -> SHIPPED -> RECEIVED; CREATED
    /// -> CLOSED; PAID | SHIPPED | RECEIVED -> REFUNDED once refunds add up
    /// to the paid amount.
    OrderStatus { /// Placed, stock reserved, awaiting payment.
        Created => "CREATED", /// Paid; stock committed.
        Paid => "PAID", /// Handed to the carrier.
        Shipped => "SHIPPED", /// Received by the customer (or auto-received).
        Received => "RECEIVED", /// Cancelled or timed out before payment; stock released.
        Closed => "CLOSED", /// Paid, then refunded in full.
        Refunded => "REFUNDED" }
}

status_enum! {
    /// Why an order was closed.
    CloseReason { /// The owner cancelled it.
        Cancelled => "cancelled", /// It was not paid within the store's `order_ttl_seconds`.
        Timeout => "timeout" }
}

status_enum! {
    /// A payment attempt: pending -> succeeded | failed | needs_refund;
    /// needs_refund -> refunding -> refunded (or back to needs_refund when
    /// the refund fails).
    PaymentStatus { /// Awaiting the provider.
        Pending => "pending", /// Paid in full; the order is PAID.
        Succeeded => "succeeded", /// Failed, or the amount did not match.
        Failed => "failed", /// Money arrived for an order that can no longer take it.
        NeedsRefund => "needs_refund", /// Its refund is asked of the provider.
        Refunding => "refunding", /// Given back in full.
        Refunded => "refunded" }
}

status_enum! {
    /// A refund: pending -> succeeded | failed, settled by the provider's
    /// webhook.
    RefundStatus { /// Asked of the provider.
        Pending => "pending", /// The money went back.
        Succeeded => "succeeded", /// The provider refused it, or reported another amount.
        Failed => "failed" }
}

status_enum! {
    /// What a refund gives back.
    RefundKind { /// Part or all of a paid order (`POST /v1/orders/{id}/refunds`).
        Order => "order", /// A payment that landed on an order that could not take it
        /// (`needs_refund`), in full (`POST /v1/payments/{id}/refund`).
        Payment => "payment" }
}

status_enum! {
    /// The state of a stock hold.
    ReservationStatus { /// Holding stock.
        Active => "active", /// Turned into a sale: on_hand was reduced.
        Committed => "committed", /// Given back: the order closed.
        Released => "released" }
}

status_enum! {
    /// A help task: OPEN -> QUALIFIED -> SETTLED; OPEN -> EXPIRED.
    TaskStatus { /// Collecting helps.
        Open => "OPEN", /// Enough valid helps; waiting for `payout_at`.
        Qualified => "QUALIFIED", /// Its one payout row is written.
        Settled => "SETTLED", /// Ran out of time.
        Expired => "EXPIRED" }
}

status_enum! {
    /// One helper's contribution to a task.
    HelpStatus { /// The helper's order is not received yet.
        Pending => "PENDING", /// The helper's order was received.
        Valid => "VALID", /// The helper's order closed unpaid.
        Invalid => "INVALID" }
}

status_enum! {
    /// A payout row: PENDING or HELD -> PAID or REJECTED.
    PayoutStatus { /// Ready to pay.
        Pending => "PENDING", /// Held for review by a risk rule.
        Held => "HELD", /// Paid out by an operator.
        Paid => "PAID", /// Rejected by an operator.
        Rejected => "REJECTED" }
}

status_enum! {
    /// How risky a payout looks.
    RiskLevel { /// No rule fired.
        Low => "low", /// At least one rule fired; the row is HELD.
        High => "high" }
}

status_enum! {
    /// An export job: queued -> running -> ready | failed; ready -> expired.
    ExportStatus { /// Waiting for a worker.
        Queued => "queued", /// A worker is writing it.
        Running => "running", /// The file can be downloaded.
        Ready => "ready", /// The worker gave up.
        Failed => "failed", /// The file was deleted by retention.
        Expired => "expired" }
}

status_enum! {
    /// What an export contains.
    ExportKind { /// A store's orders.
        Orders => "orders" }
}

status_enum! {
    /// An export's file format.
    ExportFormat { /// Comma-separated values with a header row.
        Csv => "csv", /// One JSON object per line.
        Jsonl => "jsonl" }
}

status_enum! {
    /// What happened to an export.
    ExportAction { /// Someone asked for it.
        Requested => "requested", /// Someone downloaded it.
        Downloaded => "downloaded", /// Retention deleted its file.
        Expired => "expired" }
}

status_enum! {
    /// Why an order is flagged.
    FlagReason { /// The order looks fraudulent (also set automatically above `flag_amount_minor`).
        FraudRisk => "fraud_risk", /// The address needs checking.
        AddressIssue => "address_issue", /// The customer asked for something.
        CustomerRequest => "customer_request", /// Anything else.
        Other => "other" }
}

status_enum! {
    /// An order flag's lifecycle: open -> in_review -> resolved | dismissed;
    /// open -> resolved | dismissed.
    FlagStatus { /// Raised, nobody looked yet.
        Open => "open", /// Someone is looking.
        InReview => "in_review", /// Dealt with.
        Resolved => "resolved", /// Not a problem.
        Dismissed => "dismissed" }
}

impl FlagStatus {
    /// Whether the flag still needs attention.
    pub fn is_live(self) -> bool {
        matches!(self, FlagStatus::Open | FlagStatus::InReview)
    }
}

status_enum! {
    /// A purchase order's lifecycle: draft -> submitted -> partially_received
    /// -> received; draft | submitted -> cancelled.
    PurchaseOrderStatus { /// Being written; counts for nothing.
        Draft => "draft", /// Sent to the vendor; its lines count as on order.
        Submitted => "submitted", /// Some units arrived; the rest count as on order.
        PartiallyReceived => "partially_received", /// Everything arrived.
        Received => "received", /// Given up.
        Cancelled => "cancelled" }
}

impl PurchaseOrderStatus {
    /// Whether its outstanding units count as on order.
    pub fn is_open(self) -> bool {
        matches!(self, PurchaseOrderStatus::Submitted | PurchaseOrderStatus::PartiallyReceived)
    }
}

status_enum! {
    /// A support ticket's state.
    TicketStatus { /// Waiting for the store.
        Open => "open", /// Waiting for the customer.
        Pending => "pending", /// Answered; a customer message reopens it.
        Solved => "solved", /// Done; takes no more messages.
        Closed => "closed" }
}

status_enum! {
    /// How urgent a ticket is.
    TicketPriority { /// Whenever.
        Low => "low", /// The default.
        Normal => "normal", /// Soon.
        High => "high", /// Now.
        Urgent => "urgent" }
}

status_enum! {
    /// Who wrote a ticket message.
    MessageAuthor { /// The ticket's customer.
        Customer => "customer", /// The store's staff.
        Store => "store" }
}

status_enum! {
    /// Where a reply draft came from.
    DraftSource { /// A stored template.
        Template => "template", /// A language model.
        Model => "model", /// A person.
        Human => "human" }
}

status_enum! {
    /// A reply draft's state: proposed -> sent | discarded.
    DraftStatus { /// Waiting for review.
        Proposed => "proposed", /// Posted to the ticket.
        Sent => "sent", /// Thrown away.
        Discarded => "discarded" }
}

status_enum! {
    /// Who a quick reply is for.
    QuickReplyRole { /// Customer support.
        Support => "support", /// Production (work orders).
        Production => "production" }
}

status_enum! {
    /// How much an insight matters.
    InsightSeverity { /// Good to know.
        Info => "info", /// Needs attention.
        Warning => "warning", /// Needs attention now.
        Critical => "critical" }
}

status_enum! {
    /// An insight's state. Open and acknowledged insights are live; a
    /// dismissed one stays silent while its condition holds.
    InsightStatus { /// New.
        Open => "open", /// Seen by the store.
        Acknowledged => "acknowledged", /// The condition went away.
        Resolved => "resolved", /// Silenced by the store.
        Dismissed => "dismissed" }
}

status_enum! {
    /// What a connection check tried.
    ConnectionTarget { /// The store's database.
        Database => "database", /// Redis.
        Redis => "redis", /// The object store of export files and attachments.
        ObjectStorage => "object_storage", /// An outgoing webhook endpoint.
        WebhookEndpoint => "webhook_endpoint" }
}

status_enum! {
    /// Whether an outgoing webhook endpoint is sent to.
    WebhookEndpointStatus { /// Deliveries go out.
        Enabled => "enabled", /// Paused by the store, or by agora after 3 days of failures.
        Disabled => "disabled" }
}

status_enum! {
    /// A webhook delivery: pending -> delivered | failed; failed -> pending
    /// (a manual retry).
    WebhookDeliveryStatus { /// Not delivered yet (waiting, or retrying with backoff).
        Pending => "pending", /// A 2xx answer came.
        Delivered => "delivered", /// Refused for good (a 4xx other than 408 and 429).
        Failed => "failed" }
}
