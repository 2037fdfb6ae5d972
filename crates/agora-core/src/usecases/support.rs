//! Support tickets between a customer and a store: messages with exact
//! unread counts per side, status and priority, reply drafts (proposed by a
//! template, a model or a person; sent or discarded; scored), and quick
//! replies.

use crate::catalogue::Record;
use crate::changeset::{Changeset, Guard};
use crate::error::AgoraError;
use crate::ids::*;
use crate::model::*;
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Value;
use crate::validate::Validator;
use crate::views::*;

use super::{
    Actor, Agora, ListQuery, decode_cursor, failed_guard, next_cursor, require_admin, require_customer, too_contended,
};

/// Longest message or draft, in characters.
const MAX_BODY: usize = 10_000;

fn ticket_view(t: &Ticket) -> TicketView {
    TicketView {
        id: t.id.0,
        number: t.number.clone(),
        store_id: t.store_id.0,
        user_id: t.user_id.0,
        order_id: t.order_id.map(|o| o.0),
        subject: t.subject.clone(),
        status: t.status.as_str().to_owned(),
        priority: t.priority.as_str().to_owned(),
        unread_for_customer: t.unread_for_customer,
        unread_for_store: t.unread_for_store,
        last_message_at: t.last_message_at,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

fn message_view(m: &TicketMessage) -> TicketMessageView {
    TicketMessageView {
        id: m.id.0,
        ticket_id: m.ticket_id.0,
        author: m.author.as_str().to_owned(),
        body: m.body.clone(),
        draft_id: m.draft_id.map(|d| d.0),
        created_at: m.created_at,
    }
}

fn draft_view(d: &ReplyDraft) -> DraftView {
    DraftView {
        id: d.id.0,
        ticket_id: d.ticket_id.0,
        body: d.body.clone(),
        source: d.source.as_str().to_owned(),
        model: d.model.clone(),
        version: d.model_version.clone(),
        status: d.status.as_str().to_owned(),
        final_body: d.final_body.clone(),
        approved: d.approved,
        reward_score: d.reward_milli.map(|m| m as f64 / 1000.0),
        feedback: d.feedback.clone(),
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

fn quick_reply_view(q: &QuickReply) -> QuickReplyView {
    QuickReplyView {
        id: q.id.0,
        store_id: q.store_id.0,
        content: q.content.clone(),
        role: q.role.as_str().to_owned(),
        created_at: q.created_at,
        updated_at: q.updated_at,
    }
}

fn version_is<T: crate::schema::Entity>(key: impl Into<crate::schema::Key>, version: i64) -> Guard {
    Guard::row_is::<T>(key, &[("version", Value::Int(version))])
}

/// Which side of a ticket an actor is on.
fn side_of(actor: &Actor, t: &Ticket) -> Option<MessageAuthor> {
    match actor {
        Actor::Customer { user_id } if *user_id == t.user_id => Some(MessageAuthor::Customer),
        a if a.administers(t.store_id) => Some(MessageAuthor::Store),
        _ => None,
    }
}

impl Agora {
    /// The ticket and the caller's side of it; `not_found` for anyone else.
    async fn ticket_for(&self, actor: &Actor, id: TicketId) -> Result<(Ticket, MessageAuthor), AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let t = self.store.get::<Ticket, _>(id).await?.ok_or(AgoraError::NotFound("ticket"))?;
        let side = side_of(actor, &t).ok_or(AgoraError::NotFound("ticket"))?;
        Ok((t, side))
    }

    /// Adds to `cs` a message on `t` by `author` and the ticket's new state:
    /// the other side's unread count up by one, a customer message reopens
    /// a pending or solved ticket, a store message on an open one makes it
    /// pending; a closed ticket takes none. Guarded on the ticket's version.
    fn message_into(
        &self,
        cs: &mut Changeset,
        t: &Ticket,
        author: MessageAuthor,
        body: &str,
        draft: Option<DraftId>,
    ) -> Result<(Ticket, TicketMessage), AgoraError> {
        if t.status == TicketStatus::Closed {
            return Err(AgoraError::InvalidTransition {
                entity: "ticket",
                from: "closed".into(),
                to: "message".into(),
            });
        }
        let now = self.now();
        let msg = TicketMessage {
            id: TicketMessageId(self.new_uuid()),
            ticket_id: t.id,
            store_id: t.store_id,
            author,
            body: body.trim().to_owned(),
            draft_id: draft,
            created_at: now,
        };
        let mut next = t.clone();
        match author {
            MessageAuthor::Customer => {
                next.unread_for_store += 1;
                if matches!(t.status, TicketStatus::Pending | TicketStatus::Solved) {
                    next.status = TicketStatus::Open;
                }
            }
            MessageAuthor::Store => {
                next.unread_for_customer += 1;
                if t.status == TicketStatus::Open {
                    next.status = TicketStatus::Pending;
                }
            }
        }
        next.last_message_at = now;
        next.updated_at = now;
        next.version += 1;
        cs.guard(version_is::<Ticket>(t.id, t.version))
            .update(Record::Ticket(next.clone()))
            .insert(Record::TicketMessage(msg.clone()))
            .insert(self.event(
                t.store_id,
                "ticket",
                t.id.0,
                "ticket.message",
                serde_json::json!({"message_id": msg.id, "author": author, "status": next.status}),
            ));
        Ok((next, msg))
    }

    /// Opens a ticket with its first message (customer).
    ///
    /// # Errors
    /// `unauthorized`/`forbidden`; `not_found` for an unknown store;
    /// `validation` (also for an order that is not the customer's at that
    /// store).
    pub async fn create_ticket(&self, actor: &Actor, req: NewTicket) -> Result<TicketView, AgoraError> {
        let user_id = require_customer(actor)?;
        let mut v = Validator::new();
        v.text("subject", &req.subject, 1, 200);
        v.multiline_text("body", &req.body, 1, MAX_BODY);
        v.finish()?;
        let store_id = StoreId(req.store_id);
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let order_id = req.order_id.map(OrderId);
        if let Some(o) = order_id {
            let order = self.store.get_order(o).await?;
            if !order.is_some_and(|o| o.user_id == user_id && o.store_id == store_id) {
                return Err(AgoraError::validation("order_id", "is not one of your orders at this store"));
            }
        }
        let now = self.now();
        let ticket = Ticket {
            id: TicketId(self.new_uuid()),
            number: self.random_code("TK-", 10),
            store_id,
            user_id,
            order_id,
            subject: req.subject.trim().to_owned(),
            status: TicketStatus::Open,
            priority: TicketPriority::Normal,
            unread_for_customer: 0,
            // The first message is the customer's.
            unread_for_store: 1,
            last_message_at: now,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let first = TicketMessage {
            id: TicketMessageId(self.new_uuid()),
            ticket_id: ticket.id,
            store_id,
            author: MessageAuthor::Customer,
            body: req.body.trim().to_owned(),
            draft_id: None,
            created_at: now,
        };
        let mut cs = Changeset::new();
        cs.insert(Record::Ticket(ticket.clone())).insert(Record::TicketMessage(first)).insert(self.event(
            store_id,
            "ticket",
            ticket.id.0,
            "ticket.created",
            serde_json::json!({"number": ticket.number, "user_id": user_id, "order_id": order_id}),
        ));
        self.apply_changeset(cs).await?;
        Ok(ticket_view(&ticket))
    }

    /// One ticket (its customer or the store's admins).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`.
    pub async fn get_ticket(&self, actor: &Actor, id: TicketId) -> Result<TicketView, AgoraError> {
        Ok(ticket_view(&self.ticket_for(actor, id).await?.0))
    }

    /// The calling customer's tickets, newest first.
    ///
    /// # Errors
    /// `unauthorized`/`forbidden`; `validation`.
    pub async fn list_my_tickets(&self, actor: &Actor, q: &ListQuery) -> Result<ListPage<TicketView>, AgoraError> {
        let user_id = require_customer(actor)?;
        let page = q.page()?;
        let rows: Vec<Ticket> = self.store.fetch_all(Query::of::<Ticket>().eq("user_id", user_id).page(page)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |t| t.id.0),
            items: rows.iter().map(ticket_view).collect(),
        })
    }

    /// A store's tickets, newest first, optionally of one status (admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_store_tickets(
        &self,
        actor: &Actor,
        store_id: StoreId,
        status: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage<TicketView>, AgoraError> {
        require_admin(actor, store_id)?;
        let status = status
            .map(|s| TicketStatus::parse(s).ok_or_else(|| AgoraError::validation("status", "unknown ticket status")))
            .transpose()?;
        let page = q.page()?;
        let query = Query::of::<Ticket>().eq("store_id", store_id).is_opt("status", status.map(|s| s.as_str()));
        let rows: Vec<Ticket> = self.store.fetch_all(query.page(page)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |t| t.id.0),
            items: rows.iter().map(ticket_view).collect(),
        })
    }

    /// Posts a message (the ticket's customer or the store's admins); the
    /// other side's unread count goes up in the same commit.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`; `invalid_transition` on a
    /// closed ticket.
    pub async fn post_ticket_message(
        &self,
        actor: &Actor,
        id: TicketId,
        req: NewTicketMessage,
    ) -> Result<TicketMessageView, AgoraError> {
        let mut v = Validator::new();
        v.multiline_text("body", &req.body, 1, MAX_BODY);
        v.finish()?;
        for _ in 0..self.config.max_attempts {
            let (t, side) = self.ticket_for(actor, id).await?;
            let mut cs = Changeset::new();
            let (_, msg) = self.message_into(&mut cs, &t, side, &req.body, None)?;
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(message_view(&msg)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// A ticket's messages, oldest first; `cursor` continues after the last
    /// message of the previous page.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_ticket_messages(
        &self,
        actor: &Actor,
        id: TicketId,
        q: &ListQuery,
    ) -> Result<ListPage<TicketMessageView>, AgoraError> {
        self.ticket_for(actor, id).await?;
        let page = q.page()?;
        let mut query = Query::of::<TicketMessage>().eq("ticket_id", id);
        if let Some(c) = &q.cursor {
            let after = decode_cursor(c).ok_or_else(|| AgoraError::validation("cursor", "is not a valid cursor"))?;
            query = query.gt("id", after);
        }
        let rows: Vec<TicketMessage> = self.store.fetch_all(query.asc("id").limit(page.limit)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |m| m.id.0),
            items: rows.iter().map(message_view).collect(),
        })
    }

    /// Sets the caller's unread count of a ticket to 0.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`.
    pub async fn mark_ticket_read(&self, actor: &Actor, id: TicketId) -> Result<TicketView, AgoraError> {
        self.change_ticket(actor, id, "ticket.read", |t, side| {
            match side {
                MessageAuthor::Customer => t.unread_for_customer = 0,
                MessageAuthor::Store => t.unread_for_store = 0,
            }
            Ok(serde_json::json!({"side": side}))
        })
        .await
    }

    /// Changes a ticket's status or priority (store admin). Any status may
    /// follow any other: staff reopen closed tickets.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn patch_ticket(
        &self,
        actor: &Actor,
        id: TicketId,
        patch: TicketPatch,
    ) -> Result<TicketView, AgoraError> {
        let mut v = Validator::new();
        let status = patch.status.as_deref().map(TicketStatus::parse);
        v.check(!matches!(status, Some(None)), "status", "must be open, pending, solved or closed");
        let priority = patch.priority.as_deref().map(TicketPriority::parse);
        v.check(!matches!(priority, Some(None)), "priority", "must be low, normal, high or urgent");
        v.finish()?;
        self.change_ticket(actor, id, "ticket.updated", |t, side| {
            if side != MessageAuthor::Store {
                return Err(AgoraError::NotFound("ticket"));
            }
            if let Some(Some(s)) = status {
                t.status = s;
            }
            if let Some(Some(p)) = priority {
                t.priority = p;
            }
            Ok(serde_json::json!({"status": t.status, "priority": t.priority}))
        })
        .await
    }

    /// Applies `change` to the ticket as the caller's side sees it, guarded
    /// on its version (retried when another change won), with a `kind`
    /// event carrying the payload `change` returns; no change, no write.
    async fn change_ticket(
        &self,
        actor: &Actor,
        id: TicketId,
        kind: &str,
        change: impl Fn(&mut Ticket, MessageAuthor) -> Result<serde_json::Value, AgoraError>,
    ) -> Result<TicketView, AgoraError> {
        for _ in 0..self.config.max_attempts {
            let (t, side) = self.ticket_for(actor, id).await?;
            let mut next = t.clone();
            let payload = change(&mut next, side)?;
            if next == t {
                return Ok(ticket_view(&t));
            }
            next.version += 1;
            next.updated_at = self.now();
            let mut cs = Changeset::new();
            cs.guard(version_is::<Ticket>(id, t.version))
                .update(Record::Ticket(next.clone()))
                .insert(self.event(t.store_id, "ticket", id.0, kind, payload));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(ticket_view(&next)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// Messages the store has not read (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`.
    pub async fn store_unread(&self, actor: &Actor, store_id: StoreId) -> Result<UnreadView, AgoraError> {
        require_admin(actor, store_id)?;
        let q = Query::of::<Ticket>().eq("store_id", store_id).gt("unread_for_store", 0i64);
        let rows: Vec<Ticket> = self.store.fetch_all(q).await?;
        Ok(UnreadView { tickets: rows.iter().map(|t| t.unread_for_store).sum(), work_order_messages: 0 })
    }
}

impl Agora {
    async fn admin_draft(&self, actor: &Actor, id: DraftId) -> Result<ReplyDraft, AgoraError> {
        self.admin_row(actor, id, "draft", |d: &ReplyDraft| d.store_id).await
    }

    /// Proposes a reply to a ticket (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn create_draft(
        &self,
        actor: &Actor,
        ticket_id: TicketId,
        req: NewDraft,
    ) -> Result<DraftView, AgoraError> {
        let mut v = Validator::new();
        v.multiline_text("body", &req.body, 1, MAX_BODY);
        let source = DraftSource::parse(&req.source);
        v.check(source.is_some(), "source", "must be template, model or human");
        v.optional_text("model", req.model.as_ref(), 100);
        v.optional_text("version", req.version.as_ref(), 100);
        v.finish()?;
        let (t, side) = self.ticket_for(actor, ticket_id).await?;
        if side != MessageAuthor::Store {
            return Err(AgoraError::NotFound("ticket"));
        }
        let now = self.now();
        let d = ReplyDraft {
            id: DraftId(self.new_uuid()),
            ticket_id,
            store_id: t.store_id,
            body: req.body.trim().to_owned(),
            source: source.unwrap_or(DraftSource::Human),
            model: req.model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()),
            model_version: req.version.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()),
            status: DraftStatus::Proposed,
            final_body: None,
            approved: None,
            reward_milli: None,
            feedback: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut cs = Changeset::new();
        cs.insert(Record::Draft(d.clone())).insert(self.event(
            t.store_id,
            "reply_draft",
            d.id.0,
            "draft.proposed",
            serde_json::json!({"ticket_id": ticket_id, "source": d.source, "model": d.model}),
        ));
        self.apply_changeset(cs).await?;
        Ok(draft_view(&d))
    }

    /// Sends a proposed draft as the store's message (its `draft_id` set),
    /// edited or as proposed, in one commit with the draft's new state.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`; `invalid_transition` when
    /// the draft is not proposed or the ticket is closed.
    pub async fn send_draft(&self, actor: &Actor, id: DraftId, req: SendDraft) -> Result<DraftView, AgoraError> {
        if let Some(b) = &req.edited_body {
            let mut v = Validator::new();
            v.multiline_text("edited_body", b, 1, MAX_BODY);
            v.finish()?;
        }
        for _ in 0..self.config.max_attempts {
            let d = self.admin_draft(actor, id).await?;
            if d.status != DraftStatus::Proposed {
                return Err(AgoraError::InvalidTransition {
                    entity: "draft",
                    from: d.status.to_string(),
                    to: "sent".into(),
                });
            }
            let t = self.store.get::<Ticket, _>(d.ticket_id).await?.ok_or(AgoraError::NotFound("ticket"))?;
            let text = req.edited_body.clone().unwrap_or_else(|| d.body.clone());
            let mut cs = Changeset::new();
            let (_, msg) = self.message_into(&mut cs, &t, MessageAuthor::Store, &text, Some(id))?;
            let mut sent = d.clone();
            sent.status = DraftStatus::Sent;
            sent.approved = Some(true);
            sent.final_body = Some(msg.body.clone());
            sent.version += 1;
            sent.updated_at = self.now();
            cs.guard(version_is::<ReplyDraft>(id, d.version)).update(Record::Draft(sent.clone())).insert(self.event(
                d.store_id,
                "reply_draft",
                id.0,
                "draft.sent",
                serde_json::json!({"ticket_id": d.ticket_id, "message_id": msg.id, "edited": req.edited_body.is_some()}),
            ));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(draft_view(&sent)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }

    /// Discards a proposed draft, with the reviewer's feedback.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`; `invalid_transition`.
    pub async fn discard_draft(&self, actor: &Actor, id: DraftId, req: DiscardDraft) -> Result<DraftView, AgoraError> {
        let mut v = Validator::new();
        v.optional_multiline_text("feedback", req.feedback.as_ref(), 2000);
        v.finish()?;
        self.change_draft(actor, id, "draft.discarded", |d| {
            if d.status != DraftStatus::Proposed {
                return Err(AgoraError::InvalidTransition {
                    entity: "draft",
                    from: d.status.to_string(),
                    to: "discarded".into(),
                });
            }
            d.status = DraftStatus::Discarded;
            d.approved = Some(false);
            if let Some(f) = &req.feedback {
                d.feedback = Some(f.trim().to_owned()).filter(|f| !f.is_empty());
            }
            Ok(())
        })
        .await
    }

    /// Scores a draft (-1.0..=1.0) and records feedback, in any state.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn review_draft(&self, actor: &Actor, id: DraftId, req: DraftReview) -> Result<DraftView, AgoraError> {
        let mut v = Validator::new();
        let milli = req.reward_score.map(|s| (s * 1000.0).round());
        v.check(
            req.reward_score.is_none_or(|s| s.is_finite() && (-1.0..=1.0).contains(&s)),
            "reward_score",
            "must be between -1.0 and 1.0",
        );
        v.optional_multiline_text("feedback", req.feedback.as_ref(), 2000);
        v.finish()?;
        self.change_draft(actor, id, "draft.reviewed", |d| {
            if let Some(m) = milli {
                d.reward_milli = Some(m as i64);
            }
            if let Some(f) = &req.feedback {
                d.feedback = Some(f.trim().to_owned()).filter(|f| !f.is_empty());
            }
            Ok(())
        })
        .await
    }

    async fn change_draft(
        &self,
        actor: &Actor,
        id: DraftId,
        kind: &str,
        change: impl Fn(&mut ReplyDraft) -> Result<(), AgoraError>,
    ) -> Result<DraftView, AgoraError> {
        for _ in 0..self.config.max_attempts {
            let d = self.admin_draft(actor, id).await?;
            let mut next = d.clone();
            change(&mut next)?;
            if next == d {
                return Ok(draft_view(&d));
            }
            next.version += 1;
            next.updated_at = self.now();
            let mut cs = Changeset::new();
            cs.guard(version_is::<ReplyDraft>(id, d.version)).update(Record::Draft(next.clone())).insert(self.event(
                d.store_id,
                "reply_draft",
                id.0,
                kind,
                serde_json::json!({"ticket_id": d.ticket_id, "status": next.status, "reward_milli": next.reward_milli}),
            ));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(draft_view(&next)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }
}

impl Agora {
    /// A store's quick reply (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn create_quick_reply(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewQuickReply,
    ) -> Result<QuickReplyView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = Validator::new();
        v.multiline_text("content", &req.content, 1, 5000);
        let role = QuickReplyRole::parse(&req.role);
        v.check(role.is_some(), "role", "must be support or production");
        v.finish()?;
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let now = self.now();
        let q = QuickReply {
            id: QuickReplyId(self.new_uuid()),
            store_id,
            content: req.content.trim().to_owned(),
            role: role.unwrap_or(QuickReplyRole::Support),
            created_at: now,
            updated_at: now,
        };
        let mut cs = Changeset::new();
        cs.insert(Record::QuickReply(q.clone())).insert(self.event(
            store_id,
            "quick_reply",
            q.id.0,
            "quick_reply.created",
            serde_json::json!({"role": q.role}),
        ));
        self.apply_changeset(cs).await?;
        Ok(quick_reply_view(&q))
    }

    /// A store's quick replies, newest first (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_quick_replies(
        &self,
        actor: &Actor,
        store_id: StoreId,
        q: &ListQuery,
    ) -> Result<ListPage<QuickReplyView>, AgoraError> {
        require_admin(actor, store_id)?;
        let page = q.page()?;
        let rows: Vec<QuickReply> =
            self.store.fetch_all(Query::of::<QuickReply>().eq("store_id", store_id).page(page)).await?;
        Ok(ListPage {
            next_cursor: next_cursor(&rows, &page, |r| r.id.0),
            items: rows.iter().map(quick_reply_view).collect(),
        })
    }

    async fn admin_quick_reply(&self, actor: &Actor, id: QuickReplyId) -> Result<QuickReply, AgoraError> {
        self.admin_row(actor, id, "quick reply", |q: &QuickReply| q.store_id).await
    }

    /// Changes a quick reply's text (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn patch_quick_reply(
        &self,
        actor: &Actor,
        id: QuickReplyId,
        req: QuickReplyPatch,
    ) -> Result<QuickReplyView, AgoraError> {
        let mut v = Validator::new();
        v.multiline_text("content", &req.content, 1, 5000);
        v.finish()?;
        let current = self.admin_quick_reply(actor, id).await?;
        let mut next = current.clone();
        next.content = req.content.trim().to_owned();
        if next == current {
            return Ok(quick_reply_view(&current));
        }
        next.updated_at = self.now();
        let mut cs = Changeset::new();
        // Last writer wins on a canned text; the row must still exist.
        cs.guard(Guard::row_is::<QuickReply>(id, &[("store_id", Value::Uuid(current.store_id.0))]))
            .update(Record::QuickReply(next.clone()))
            .insert(self.event(current.store_id, "quick_reply", id.0, "quick_reply.updated", serde_json::json!({})));
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(quick_reply_view(&next)),
            Err(e) if failed_guard(&e).is_some() => Err(AgoraError::NotFound("quick reply")),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a quick reply (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`.
    pub async fn delete_quick_reply(&self, actor: &Actor, id: QuickReplyId) -> Result<(), AgoraError> {
        let current = self.admin_quick_reply(actor, id).await?;
        let mut cs = Changeset::new();
        cs.delete::<QuickReply>(id).insert(self.event(
            current.store_id,
            "quick_reply",
            id.0,
            "quick_reply.deleted",
            serde_json::json!({}),
        ));
        self.apply_changeset(cs).await?;
        Ok(())
    }
}
