//! Support tickets between a customer and a store, their messages, reply
//! drafts (template, model or human, with the reviewer's verdict) and
//! quick replies (API.md v1.1 "Support tickets, drafts, quick replies").

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::*;
use crate::ids::*;
use crate::schema::Entity;

crate::ids::typed_id! {
    /// Identifies a [`crate::Ticket`].
    TicketId,
    /// Identifies a [`crate::TicketMessage`].
    TicketMessageId,
    /// Identifies a [`crate::ReplyDraft`].
    DraftId,
    /// Identifies a [`crate::QuickReply`].
    QuickReplyId,
}

/// A support conversation between a customer and a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "ticket", key(id), unique(name = "ticket_number_key", columns(number)))]
pub struct Ticket {
    /// Id.
    pub id: TicketId,
    /// Human-readable number.
    pub number: String,
    /// The store.
    pub store_id: StoreId,
    /// The customer.
    pub user_id: UserId,
    /// The order it is about, if any (the customer's, of this store).
    pub order_id: Option<OrderId>,
    /// Subject line.
    pub subject: String,
    /// State.
    pub status: TicketStatus,
    /// Urgency.
    pub priority: TicketPriority,
    /// Store messages the customer has not read.
    pub unread_for_customer: i64,
    /// Customer messages the store has not read.
    pub unread_for_store: i64,
    /// The last message's time.
    #[serde(with = "time::serde::rfc3339")]
    pub last_message_at: OffsetDateTime,
    /// Bumped by every change; guards concurrent messages.
    pub version: i64,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One message of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "ticket_message", key(id), immutable)]
pub struct TicketMessage {
    /// Id.
    pub id: TicketMessageId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// Its store.
    pub store_id: StoreId,
    /// Who wrote it.
    pub author: MessageAuthor,
    /// The text.
    pub body: String,
    /// The draft it was sent from, if any.
    pub draft_id: Option<DraftId>,
    /// Written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A proposed reply to a ticket and what the reviewer made of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "reply_draft", key(id), deletable)]
pub struct ReplyDraft {
    /// Id.
    pub id: DraftId,
    /// The ticket.
    pub ticket_id: TicketId,
    /// Its store.
    pub store_id: StoreId,
    /// The proposed text.
    pub body: String,
    /// Where it came from.
    pub source: DraftSource,
    /// The model that wrote it, if one did.
    pub model: Option<String>,
    /// The model's version.
    pub model_version: Option<String>,
    /// State.
    pub status: DraftStatus,
    /// The text actually sent (the edited body, or the proposal).
    pub final_body: Option<String>,
    /// Sent (true) or discarded (false); `None` while proposed.
    pub approved: Option<bool>,
    /// The reviewer's score in thousandths, -1000..=1000.
    pub reward_milli: Option<i64>,
    /// The reviewer's words.
    pub feedback: Option<String>,
    /// Bumped by every change.
    pub version: i64,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A canned answer a store's staff can insert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Entity)]
#[entity(table = "quick_reply", key(id), deletable)]
pub struct QuickReply {
    /// Id.
    pub id: QuickReplyId,
    /// The store.
    pub store_id: StoreId,
    /// The text.
    pub content: String,
    /// Who it is for.
    pub role: QuickReplyRole,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
