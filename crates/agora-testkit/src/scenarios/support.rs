//! Support tickets, reply drafts and quick replies.

use agora_core::views::*;
use agora_core::*;
use uuid::Uuid;

use super::*;
use crate::harness::{Customer, Harness};

// This module's scenarios, for `crate::conformance_tests!`.
crate::__scenario_list!($ __scenarios_support:
    ticket_conversation_counts_unread_per_side, ticket_access_and_refusals, concurrent_messages_keep_unread_exact,
    reply_drafts_are_sent_discarded_and_scored, quick_replies_are_kept_per_store,
);

fn ticket(s: &StoreFixture, subject: &str, order: Option<Uuid>) -> NewTicket {
    NewTicket { store_id: s.id.0, subject: subject.into(), body: "Where is my parcel?".into(), order_id: order }
}

fn msg(body: &str) -> NewTicketMessage {
    NewTicketMessage { body: body.into() }
}

async fn open_ticket(h: &Harness, c: &Customer, s: &StoreFixture) -> TicketView {
    h.agora.create_ticket(&c.actor, ticket(s, "Parcel", None)).await.unwrap()
}

pub async fn ticket_conversation_counts_unread_per_side(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "TK-1", 100, 5).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let t = h.agora.create_ticket(&c.actor, ticket(&s, " Late parcel ", Some(o.id))).await.unwrap();
    assert_eq!((t.status.as_str(), t.priority.as_str(), t.subject.as_str()), ("open", "normal", "Late parcel"));
    assert_eq!((t.unread_for_store, t.unread_for_customer, t.order_id), (1, 0, Some(o.id)));
    let id = TicketId(t.id);
    let reply = h.agora.post_ticket_message(&s.admin, id, msg("It left today.")).await.unwrap();
    assert_eq!((reply.author.as_str(), reply.draft_id), ("store", None));
    let t = h.agora.get_ticket(&c.actor, id).await.unwrap();
    assert_eq!((t.status.as_str(), t.unread_for_customer, t.unread_for_store), ("pending", 1, 1));
    h.agora.post_ticket_message(&c.actor, id, msg("Thanks!")).await.unwrap();
    let t = h.agora.get_ticket(&s.admin, id).await.unwrap();
    assert_eq!((t.status.as_str(), t.unread_for_store), ("open", 2), "a customer message reopens it");
    assert_eq!(h.agora.store_unread(&s.admin, s.id).await.unwrap(), UnreadView { tickets: 2, work_order_messages: 0 });
    let t = h.agora.mark_ticket_read(&s.admin, id).await.unwrap();
    assert_eq!((t.unread_for_store, t.unread_for_customer), (0, 1), "only the caller's side");
    let t = h.agora.mark_ticket_read(&c.actor, id).await.unwrap();
    assert_eq!(t.unread_for_customer, 0);
    assert_eq!(h.agora.store_unread(&s.admin, s.id).await.unwrap().tickets, 0);
    // Messages oldest first, paged.
    let page = ListQuery { limit: Some(2), cursor: None };
    let first = h.agora.list_ticket_messages(&c.actor, id, &page).await.unwrap();
    let bodies: Vec<&str> = first.items.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["Where is my parcel?", "It left today."]);
    let rest = ListQuery { limit: Some(2), cursor: first.next_cursor.clone() };
    let rest = h.agora.list_ticket_messages(&s.admin, id, &rest).await.unwrap();
    assert_eq!(rest.items.iter().map(|m| m.author.as_str()).collect::<Vec<_>>(), ["customer"]);
    // Solved, then a customer message reopens; closed takes none.
    let solved = TicketPatch { status: Some("solved".into()), priority: Some("high".into()) };
    assert_eq!(h.agora.patch_ticket(&s.admin, id, solved).await.unwrap().priority, "high");
    h.agora.post_ticket_message(&c.actor, id, msg("One more thing")).await.unwrap();
    assert_eq!(h.agora.get_ticket(&c.actor, id).await.unwrap().status, "open");
    let closed = TicketPatch { status: Some("closed".into()), priority: None };
    h.agora.patch_ticket(&s.admin, id, closed).await.unwrap();
    assert_eq!(code(h.agora.post_ticket_message(&c.actor, id, msg("hello?")).await), "invalid_transition");
    let kinds = event_kinds(&h, t.id).await;
    assert_eq!(
        kinds,
        [
            "ticket.created",
            "ticket.message",
            "ticket.message",
            "ticket.read",
            "ticket.read",
            "ticket.updated",
            "ticket.message",
            "ticket.updated"
        ]
    );
}

pub async fn ticket_access_and_refusals(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "TK-2", 100, 5).await;
    let other_customer = h.customer("bob").await;
    let other = h.store_fixture("other.example.com").await;
    let bobs = h.order(&other_customer, &s, &[(v, 1)]).await.unwrap();
    let before = h.snapshot().await;
    match h
        .agora
        .create_ticket(&c.actor, NewTicket { subject: String::new(), body: String::new(), ..ticket(&s, "x", None) })
        .await
    {
        Err(AgoraError::Validation(errs)) => assert_eq!(errs.len(), 2, "{errs:?}"),
        other => panic!("expected validation, got {other:?}"),
    }
    assert_eq!(code(h.agora.create_ticket(&c.actor, ticket(&s, "Not mine", Some(bobs.id))).await), "validation");
    assert_eq!(code(h.agora.create_ticket(&s.admin, ticket(&s, "x", None)).await), "forbidden");
    assert_eq!(code(h.agora.create_ticket(&Actor::Anonymous, ticket(&s, "x", None)).await), "unauthorized");
    let nowhere = NewTicket { store_id: Uuid::now_v7(), ..ticket(&s, "x", None) };
    assert_eq!(code(h.agora.create_ticket(&c.actor, nowhere).await), "not_found");
    assert_eq!(h.snapshot().await, before, "nothing written");
    let t = open_ticket(&h, &c, &s).await;
    let id = TicketId(t.id);
    for stranger in [&other_customer.actor, &other.admin] {
        assert_eq!(code(h.agora.get_ticket(stranger, id).await), "not_found");
        assert_eq!(code(h.agora.post_ticket_message(stranger, id, msg("hi")).await), "not_found");
        assert_eq!(code(h.agora.mark_ticket_read(stranger, id).await), "not_found");
    }
    assert_eq!(
        code(h.agora.patch_ticket(&c.actor, id, TicketPatch::default()).await),
        "not_found",
        "customers do not patch"
    );
    let bad = TicketPatch { status: Some("done".into()), priority: Some("asap".into()) };
    match h.agora.patch_ticket(&s.admin, id, bad).await {
        Err(AgoraError::Validation(errs)) => assert_eq!(errs.len(), 2),
        other => panic!("expected validation, got {other:?}"),
    }
    assert_eq!(code(h.agora.post_ticket_message(&c.actor, id, msg("")).await), "validation");
    let q = ListQuery::default();
    let second = h.agora.create_ticket(&c.actor, ticket(&s, "Second", None)).await.unwrap();
    let mine = h.agora.list_my_tickets(&c.actor, &q).await.unwrap().items;
    assert_eq!(mine.iter().map(|t| t.id).collect::<Vec<_>>(), [second.id, t.id], "newest first");
    assert!(h.agora.list_my_tickets(&other_customer.actor, &q).await.unwrap().items.is_empty());
    let pending = TicketPatch { status: Some("pending".into()), priority: None };
    h.agora.patch_ticket(&s.admin, TicketId(second.id), pending).await.unwrap();
    let open = h.agora.list_store_tickets(&s.admin, s.id, Some("open"), &q).await.unwrap().items;
    assert_eq!(open.iter().map(|t| t.id).collect::<Vec<_>>(), [t.id]);
    assert_eq!(code(h.agora.list_store_tickets(&other.admin, s.id, None, &q).await), "not_found");
    assert_eq!(code(h.agora.list_store_tickets(&s.admin, s.id, Some("lost"), &q).await), "validation");
    assert_eq!(code(h.agora.store_unread(&other.admin, s.id).await), "not_found");
    // A message is written over lines (tab, CR and LF); a subject is one line.
    let lines = NewTicket { body: "Hello,\r\n\tthe parcel is late.\nThanks".into(), ..ticket(&s, "Late", None) };
    let kept = h.agora.create_ticket(&c.actor, lines).await.expect("a body over several lines");
    let first = h.agora.list_ticket_messages(&c.actor, TicketId(kept.id), &q).await.unwrap().items;
    assert_eq!(first[0].body, "Hello,\r\n\tthe parcel is late.\nThanks");
    let two_line_subject = NewTicket { subject: "Late\nparcel".into(), ..ticket(&s, "x", None) };
    assert_eq!(code(h.agora.create_ticket(&c.actor, two_line_subject).await), "validation");
    let bell = msg("ring\u{7}");
    assert_eq!(code(h.agora.post_ticket_message(&c.actor, TicketId(kept.id), bell).await), "validation");
}

pub async fn concurrent_messages_keep_unread_exact(ts: TestStore) {
    let Scene { h, s, c, .. } = scene(ts, "TK-3", 100, 5).await;
    let t = open_ticket(&h, &c, &s).await;
    let id = TicketId(t.id);
    let sends = (0..12).map(|i| {
        let (agora, actor) = (h.agora.clone(), if i % 3 == 0 { s.admin.clone() } else { c.actor.clone() });
        async move { agora.post_ticket_message(&actor, id, msg(&format!("m{i}"))).await }
    });
    for r in futures::future::join_all(sends).await {
        r.unwrap();
    }
    let t = h.agora.get_ticket(&s.admin, id).await.unwrap();
    assert_eq!((t.unread_for_store, t.unread_for_customer), (1 + 8, 4));
    let all = h.agora.list_ticket_messages(&s.admin, id, &ListQuery::default()).await.unwrap().items;
    assert_eq!(all.len(), 13);
}

pub async fn reply_drafts_are_sent_discarded_and_scored(ts: TestStore) {
    let Scene { h, s, c, .. } = scene(ts, "TK-4", 100, 5).await;
    let t = open_ticket(&h, &c, &s).await;
    let id = TicketId(t.id);
    let proposal = NewDraft {
        body: "Your parcel ships tomorrow.".into(),
        source: "model".into(),
        model: Some("helper-llm".into()),
        version: Some("2026-11".into()),
    };
    let d = h.agora.create_draft(&s.admin, id, proposal.clone()).await.unwrap();
    assert_eq!(
        (d.status.as_str(), d.source.as_str(), d.version.as_deref(), d.approved),
        ("proposed", "model", Some("2026-11"), None)
    );
    assert_eq!(h.agora.get_ticket(&c.actor, id).await.unwrap().unread_for_customer, 0, "a draft is not a message");
    let sent = h
        .agora
        .send_draft(&s.admin, DraftId(d.id), SendDraft { edited_body: Some("Your parcel ships today.".into()) })
        .await
        .unwrap();
    assert_eq!(
        (sent.status.as_str(), sent.approved, sent.final_body.as_deref()),
        ("sent", Some(true), Some("Your parcel ships today."))
    );
    assert_eq!(sent.body, "Your parcel ships tomorrow.", "the proposal is kept");
    let messages = h.agora.list_ticket_messages(&c.actor, id, &ListQuery::default()).await.unwrap().items;
    let last = messages.last().unwrap();
    assert_eq!(
        (last.author.as_str(), last.body.as_str(), last.draft_id),
        ("store", "Your parcel ships today.", Some(d.id))
    );
    assert_eq!(h.agora.get_ticket(&c.actor, id).await.unwrap().unread_for_customer, 1);
    assert_eq!(code(h.agora.send_draft(&s.admin, DraftId(d.id), SendDraft::default()).await), "invalid_transition");
    assert_eq!(
        code(h.agora.discard_draft(&s.admin, DraftId(d.id), DiscardDraft::default()).await),
        "invalid_transition"
    );
    let scored = h.agora.review_draft(
        &s.admin,
        DraftId(d.id),
        DraftReview { reward_score: Some(0.75), feedback: Some("good".into()) },
    );
    let scored = scored.await.unwrap();
    assert_eq!((scored.reward_score, scored.feedback.as_deref()), (Some(0.75), Some("good")));
    // A second proposal, discarded.
    let other = h
        .agora
        .create_draft(&s.admin, id, NewDraft { source: "template".into(), model: None, version: None, ..proposal })
        .await
        .unwrap();
    let gone = h
        .agora
        .discard_draft(&s.admin, DraftId(other.id), DiscardDraft { feedback: Some("wrong tone".into()) })
        .await
        .unwrap();
    assert_eq!(
        (gone.status.as_str(), gone.approved, gone.feedback.as_deref()),
        ("discarded", Some(false), Some("wrong tone"))
    );
    // Refusals.
    for bad in [2.0, -1.5, f64::NAN] {
        let r = h
            .agora
            .review_draft(&s.admin, DraftId(d.id), DraftReview { reward_score: Some(bad), feedback: None })
            .await;
        assert_eq!(code(r), "validation", "{bad}");
    }
    let bad = NewDraft { body: String::new(), source: "llm".into(), model: None, version: None };
    match h.agora.create_draft(&s.admin, id, bad).await {
        Err(AgoraError::Validation(errs)) => assert_eq!(errs.len(), 2),
        other => panic!("expected validation, got {other:?}"),
    }
    let human = NewDraft { body: "x".into(), source: "human".into(), model: None, version: None };
    assert_eq!(code(h.agora.create_draft(&c.actor, id, human.clone()).await), "not_found");
    let stranger = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.create_draft(&stranger.admin, id, human).await), "not_found");
    assert_eq!(code(h.agora.send_draft(&stranger.admin, DraftId(other.id), SendDraft::default()).await), "not_found");
}

pub async fn quick_replies_are_kept_per_store(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    let a =
        h.agora.create_quick_reply(&s.admin, s.id, NewQuickReply { content: "Thanks!".into(), role: "support".into() });
    let a = a.await.unwrap();
    let b = h.agora.create_quick_reply(
        &s.admin,
        s.id,
        NewQuickReply { content: "In production".into(), role: "production".into() },
    );
    let b = b.await.unwrap();
    let q = ListQuery::default();
    let listed = h.agora.list_quick_replies(&s.admin, s.id, &q).await.unwrap().items;
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [b.id, a.id]);
    let changed =
        h.agora.patch_quick_reply(&s.admin, QuickReplyId(a.id), QuickReplyPatch { content: "Thank you!".into() });
    assert_eq!(changed.await.unwrap().content, "Thank you!");
    assert_eq!(
        code(
            h.agora.patch_quick_reply(&other.admin, QuickReplyId(a.id), QuickReplyPatch { content: "x".into() }).await
        ),
        "not_found"
    );
    assert_eq!(code(h.agora.delete_quick_reply(&other.admin, QuickReplyId(a.id)).await), "not_found");
    h.agora.delete_quick_reply(&s.admin, QuickReplyId(a.id)).await.unwrap();
    assert_eq!(code(h.agora.delete_quick_reply(&s.admin, QuickReplyId(a.id)).await), "not_found");
    assert_eq!(h.agora.list_quick_replies(&s.admin, s.id, &q).await.unwrap().items.len(), 1);
    let bad = NewQuickReply { content: String::new(), role: "sales".into() };
    match h.agora.create_quick_reply(&s.admin, s.id, bad).await {
        Err(AgoraError::Validation(errs)) => assert_eq!(errs.len(), 2),
        other => panic!("expected validation, got {other:?}"),
    }
    assert_eq!(code(h.agora.list_quick_replies(&other.admin, s.id, &q).await), "not_found");
}
