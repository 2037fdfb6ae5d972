//! The handlers of the v1.1 store operations: a store's lifecycle, its
//! admin keys and order flags. Like the v1 handlers, they only translate
//! HTTP to the use cases of [`agora_core::Agora`] and back.

use agora_core::views::*;
use agora_core::{
    AdminKeyId, DraftId, FlagId, InsightId, OrderId, PurchaseOrderId, PurchaseOrderStatus, QuickReplyId, StoreId,
    TicketId,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::extract::{Caller, ClientIp, JsonBody, ListParams, OptionalJsonBody, PathId, PathIds, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::routes::{Created, ListDoc, R, StatusListDoc, created};

/// A store (super admin, or that store's admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}", tag = "stores",
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 200, body = StoreView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_store(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<StoreView>> {
    Ok(Json(s.agora.get_store(&actor, StoreId(id)).await?))
}

/// Changes a store's name, plan, status or onboarding steps (super admin).
/// A suspended store takes no orders, product or stock writes
/// (409 `store_suspended`) and its public reads are 404.
#[utoipa::path(patch, path = "/v1/stores/{store_id}", tag = "stores", request_body = StorePatch,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 200, body = StoreView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn patch_store(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    ip: ClientIp,
    JsonBody(patch): JsonBody<StorePatch>,
) -> R<Json<StoreView>> {
    Ok(Json(s.agora.patch_store(&actor, StoreId(id), patch, ip.as_deref()).await?))
}

/// A store's admin keys, newest first (super admin); never the keys themselves.
#[utoipa::path(get, path = "/v1/stores/{store_id}/admin-keys", tag = "stores",
    params(("store_id" = Uuid, Path, description = "Store id"), ListDoc),
    responses((status = 200, body = ListPage<AdminKeyView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_admin_keys(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<AdminKeyView>>> {
    Ok(Json(s.agora.list_admin_keys(&actor, StoreId(id), &q.list_query()).await?))
}

/// Revokes an admin key (super admin, or that store's admin); it fails from
/// the next request on. Audited.
#[utoipa::path(delete, path = "/v1/stores/{store_id}/admin-keys/{key_id}", tag = "stores",
    params(("store_id" = Uuid, Path, description = "Store id"), ("key_id" = Uuid, Path, description = "Admin key id")),
    responses((status = 204, description = "Revoked"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn revoke_admin_key(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathIds(store_id, key_id): PathIds,
    ip: ClientIp,
) -> R<StatusCode> {
    s.agora.revoke_admin_key(&actor, StoreId(store_id), AdminKeyId(key_id), ip.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Flags an order (an admin of its store).
#[utoipa::path(post, path = "/v1/orders/{id}/flags", tag = "flags", request_body = NewFlag,
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 201, body = FlagView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_flag(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewFlag>,
) -> R<Created<FlagView>> {
    Ok(created(s.agora.create_flag(&actor, OrderId(id), req).await?))
}

/// Moves a flag (open -> in_review -> resolved | dismissed; open -> resolved
/// | dismissed) or edits its note and resolution (an admin of its store).
#[utoipa::path(patch, path = "/v1/flags/{id}", tag = "flags", request_body = FlagPatch,
    params(("id" = Uuid, Path, description = "Flag id")),
    responses((status = 200, body = FlagView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn patch_flag(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(patch): JsonBody<FlagPatch>,
) -> R<Json<FlagView>> {
    Ok(Json(s.agora.patch_flag(&actor, FlagId(id), patch).await?))
}

/// A store's order flags, newest first, optionally of one status (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/flags", tag = "flags",
    params(("store_id" = Uuid, Path, description = "Store id"), StatusListDoc),
    responses((status = 200, body = ListPage<FlagView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_flags(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<FlagView>>> {
    Ok(Json(s.agora.list_flags(&actor, StoreId(id), q.status.as_deref(), &q.list_query()).await?))
}

/// A store's KPIs over UTC days, from the KPI cache the `kpis` job keeps
/// (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/kpis", tag = "kpis",
    params(("store_id" = Uuid, Path, description = "Store id"),
        ("from" = Option<String>, Query, description = "First UTC day, YYYY-MM-DD (default: 29 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last UTC day, YYYY-MM-DD (default: today); at most 366 days in all"),
        ("currency" = Option<String>, Query, description = "Which currency, when the store sold in several")),
    responses((status = 200, body = KpiView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_kpis(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    QueryParams(q): QueryParams<KpiQuery>,
) -> R<Json<KpiView>> {
    Ok(Json(s.agora.get_kpis(&actor, StoreId(id), &q).await?))
}

/// A store's sales velocity and stockout forecast per variant, from the
/// `velocity` job (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/velocity", tag = "purchasing",
    params(("store_id" = Uuid, Path, description = "Store id"), ListDoc),
    responses((status = 200, body = ListPage<VelocityView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_velocity(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<VelocityView>>> {
    Ok(Json(s.agora.list_velocity(&actor, StoreId(id), &q.list_query()).await?))
}

/// A draft purchase order (store admin).
#[utoipa::path(post, path = "/v1/stores/{store_id}/purchase-orders", tag = "purchasing", request_body = NewPurchaseOrder,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 201, body = PurchaseOrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_purchase_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewPurchaseOrder>,
) -> R<Created<PurchaseOrderView>> {
    Ok(created(s.agora.create_purchase_order(&actor, StoreId(id), req).await?))
}

/// A store's purchase orders, newest first (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/purchase-orders", tag = "purchasing",
    params(("store_id" = Uuid, Path, description = "Store id"), StatusListDoc),
    responses((status = 200, body = ListPage<PurchaseOrderView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_purchase_orders(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<PurchaseOrderView>>> {
    Ok(Json(s.agora.list_purchase_orders(&actor, StoreId(id), q.status.as_deref(), &q.list_query()).await?))
}

/// A draft of every positive reorder suggestion of the velocity job (store
/// admin); 422 when nothing needs reordering.
#[utoipa::path(post, path = "/v1/stores/{store_id}/purchase-orders/from-velocity", tag = "purchasing",
    request_body = PurchaseOrderFromVelocity,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 201, body = PurchaseOrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn purchase_order_from_velocity(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<PurchaseOrderFromVelocity>,
) -> R<Created<PurchaseOrderView>> {
    Ok(created(s.agora.purchase_order_from_velocity(&actor, StoreId(id), req).await?))
}

/// One purchase order (store admin).
#[utoipa::path(get, path = "/v1/purchase-orders/{id}", tag = "purchasing",
    params(("id" = Uuid, Path, description = "Purchase order id")),
    responses((status = 200, body = PurchaseOrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_purchase_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<PurchaseOrderView>> {
    Ok(Json(s.agora.get_purchase_order(&actor, PurchaseOrderId(id)).await?))
}

/// Submits a draft purchase order (store admin).
#[utoipa::path(post, path = "/v1/purchase-orders/{id}/submit", tag = "purchasing",
    params(("id" = Uuid, Path, description = "Purchase order id")),
    responses((status = 200, body = PurchaseOrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn submit_purchase_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<PurchaseOrderView>> {
    Ok(Json(s.agora.move_purchase_order(&actor, PurchaseOrderId(id), PurchaseOrderStatus::Submitted).await?))
}

/// Cancels a draft or submitted purchase order (store admin).
#[utoipa::path(post, path = "/v1/purchase-orders/{id}/cancel", tag = "purchasing",
    params(("id" = Uuid, Path, description = "Purchase order id")),
    responses((status = 200, body = PurchaseOrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn cancel_purchase_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<PurchaseOrderView>> {
    Ok(Json(s.agora.move_purchase_order(&actor, PurchaseOrderId(id), PurchaseOrderStatus::Cancelled).await?))
}

/// Receives units of a submitted purchase order into its warehouse's stock,
/// in one commit (store admin; `Idempotency-Key` required: the same key and
/// body replay the first answer with `Idempotent-Replayed: true`).
#[utoipa::path(post, path = "/v1/purchase-orders/{id}/receive", tag = "purchasing", request_body = ReceivePurchaseOrder,
    params(("id" = Uuid, Path, description = "Purchase order id"),
        ("Idempotency-Key" = String, Header, description = "1..=255 characters")),
    responses((status = 200, body = PurchaseOrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn receive_purchase_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ReceivePurchaseOrder>,
) -> R<Response> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| ApiError::validation("Idempotency-Key", "must be visible ASCII"))?),
    };
    let done = s.agora.receive_purchase_order(&actor, PurchaseOrderId(id), key, req).await?;
    let mut res = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], done.recorded).into_response();
    if done.replayed {
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

/// Opens a support ticket with its first message (customer).
#[utoipa::path(post, path = "/v1/tickets", tag = "support", request_body = NewTicket,
    responses((status = 201, body = TicketView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_ticket(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(req): JsonBody<NewTicket>,
) -> R<Created<TicketView>> {
    Ok(created(s.agora.create_ticket(&actor, req).await?))
}

/// One ticket (its customer or the store's admins).
#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "support",
    params(("id" = Uuid, Path, description = "Ticket id")),
    responses((status = 200, body = TicketView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_ticket(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<TicketView>> {
    Ok(Json(s.agora.get_ticket(&actor, TicketId(id)).await?))
}

/// Changes a ticket's status or priority (store admin).
#[utoipa::path(patch, path = "/v1/tickets/{id}", tag = "support", request_body = TicketPatch,
    params(("id" = Uuid, Path, description = "Ticket id")),
    responses((status = 200, body = TicketView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn patch_ticket(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(patch): JsonBody<TicketPatch>,
) -> R<Json<TicketView>> {
    Ok(Json(s.agora.patch_ticket(&actor, TicketId(id), patch).await?))
}

/// The calling customer's tickets, newest first.
#[utoipa::path(get, path = "/v1/users/me/tickets", tag = "support", params(ListDoc),
    responses((status = 200, body = ListPage<TicketView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_my_tickets(
    State(s): State<AppState>,
    Caller(actor): Caller,
    q: ListParams,
) -> R<Json<ListPage<TicketView>>> {
    Ok(Json(s.agora.list_my_tickets(&actor, &q.list_query()).await?))
}

/// A store's tickets, newest first (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/tickets", tag = "support",
    params(("store_id" = Uuid, Path, description = "Store id"), StatusListDoc),
    responses((status = 200, body = ListPage<TicketView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_store_tickets(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<TicketView>>> {
    Ok(Json(s.agora.list_store_tickets(&actor, StoreId(id), q.status.as_deref(), &q.list_query()).await?))
}

/// Posts a message (the ticket's customer or the store's admins).
#[utoipa::path(post, path = "/v1/tickets/{id}/messages", tag = "support", request_body = NewTicketMessage,
    params(("id" = Uuid, Path, description = "Ticket id")),
    responses((status = 201, body = TicketMessageView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn post_ticket_message(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewTicketMessage>,
) -> R<Created<TicketMessageView>> {
    Ok(created(s.agora.post_ticket_message(&actor, TicketId(id), req).await?))
}

/// A ticket's messages, oldest first.
#[utoipa::path(get, path = "/v1/tickets/{id}/messages", tag = "support",
    params(("id" = Uuid, Path, description = "Ticket id"), ListDoc),
    responses((status = 200, body = ListPage<TicketMessageView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_ticket_messages(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<TicketMessageView>>> {
    Ok(Json(s.agora.list_ticket_messages(&actor, TicketId(id), &q.list_query()).await?))
}

/// Sets the caller's unread count of a ticket to 0.
#[utoipa::path(post, path = "/v1/tickets/{id}/read", tag = "support",
    params(("id" = Uuid, Path, description = "Ticket id")),
    responses((status = 200, body = TicketView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn mark_ticket_read(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<TicketView>> {
    Ok(Json(s.agora.mark_ticket_read(&actor, TicketId(id)).await?))
}

/// Proposes a reply to a ticket (store admin).
#[utoipa::path(post, path = "/v1/tickets/{id}/drafts", tag = "support", request_body = NewDraft,
    params(("id" = Uuid, Path, description = "Ticket id")),
    responses((status = 201, body = DraftView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_draft(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewDraft>,
) -> R<Created<DraftView>> {
    Ok(created(s.agora.create_draft(&actor, TicketId(id), req).await?))
}

/// Sends a proposed draft as the store's message, edited or not (store admin).
#[utoipa::path(post, path = "/v1/drafts/{id}/send", tag = "support", request_body = Option<SendDraft>,
    params(("id" = Uuid, Path, description = "Draft id")),
    responses((status = 200, body = DraftView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn send_draft(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    OptionalJsonBody(req): OptionalJsonBody<SendDraft>,
) -> R<Json<DraftView>> {
    Ok(Json(s.agora.send_draft(&actor, DraftId(id), req).await?))
}

/// Discards a proposed draft (store admin).
#[utoipa::path(post, path = "/v1/drafts/{id}/discard", tag = "support", request_body = Option<DiscardDraft>,
    params(("id" = Uuid, Path, description = "Draft id")),
    responses((status = 200, body = DraftView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn discard_draft(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    OptionalJsonBody(req): OptionalJsonBody<DiscardDraft>,
) -> R<Json<DraftView>> {
    Ok(Json(s.agora.discard_draft(&actor, DraftId(id), req).await?))
}

/// Scores a draft and records feedback (store admin).
#[utoipa::path(patch, path = "/v1/drafts/{id}", tag = "support", request_body = DraftReview,
    params(("id" = Uuid, Path, description = "Draft id")),
    responses((status = 200, body = DraftView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn review_draft(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<DraftReview>,
) -> R<Json<DraftView>> {
    Ok(Json(s.agora.review_draft(&actor, DraftId(id), req).await?))
}

/// Adds a quick reply (store admin).
#[utoipa::path(post, path = "/v1/stores/{store_id}/quick-replies", tag = "support", request_body = NewQuickReply,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 201, body = QuickReplyView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_quick_reply(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewQuickReply>,
) -> R<Created<QuickReplyView>> {
    Ok(created(s.agora.create_quick_reply(&actor, StoreId(id), req).await?))
}

/// A store's quick replies, newest first (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/quick-replies", tag = "support",
    params(("store_id" = Uuid, Path, description = "Store id"), ListDoc),
    responses((status = 200, body = ListPage<QuickReplyView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_quick_replies(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<QuickReplyView>>> {
    Ok(Json(s.agora.list_quick_replies(&actor, StoreId(id), &q.list_query()).await?))
}

/// Changes a quick reply's text (store admin).
#[utoipa::path(patch, path = "/v1/quick-replies/{id}", tag = "support", request_body = QuickReplyPatch,
    params(("id" = Uuid, Path, description = "Quick reply id")),
    responses((status = 200, body = QuickReplyView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn patch_quick_reply(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<QuickReplyPatch>,
) -> R<Json<QuickReplyView>> {
    Ok(Json(s.agora.patch_quick_reply(&actor, QuickReplyId(id), req).await?))
}

/// Deletes a quick reply (store admin).
#[utoipa::path(delete, path = "/v1/quick-replies/{id}", tag = "support",
    params(("id" = Uuid, Path, description = "Quick reply id")),
    responses((status = 204, description = "Deleted"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn delete_quick_reply(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<StatusCode> {
    s.agora.delete_quick_reply(&actor, QuickReplyId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Messages the store has not read (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/unread", tag = "support",
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 200, body = UnreadView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn store_unread(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<UnreadView>> {
    Ok(Json(s.agora.store_unread(&actor, StoreId(id)).await?))
}

/// A store's insights, newest first (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/insights", tag = "insights",
    params(("store_id" = Uuid, Path, description = "Store id"), StatusListDoc),
    responses((status = 200, body = ListPage<InsightView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_insights(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<InsightView>>> {
    Ok(Json(s.agora.list_insights(&actor, StoreId(id), q.status.as_deref(), &q.list_query()).await?))
}

/// Acknowledges or dismisses an insight (store admin).
#[utoipa::path(patch, path = "/v1/insights/{id}", tag = "insights", request_body = InsightPatch,
    params(("id" = Uuid, Path, description = "Insight id")),
    responses((status = 200, body = InsightView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn patch_insight(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(patch): JsonBody<InsightPatch>,
) -> R<Json<InsightView>> {
    Ok(Json(s.agora.patch_insight(&actor, InsightId(id), patch).await?))
}

/// Runs a connection check now and logs it (store admin).
#[utoipa::path(post, path = "/v1/stores/{store_id}/connection-checks", tag = "insights", request_body = NewConnectionCheck,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 201, body = ConnectionCheckView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn run_connection_check(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewConnectionCheck>,
) -> R<Created<ConnectionCheckView>> {
    Ok(created(s.agora.run_connection_check(&actor, StoreId(id), req).await?))
}

/// A store's connection checks, newest first (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/connection-checks", tag = "insights",
    params(("store_id" = Uuid, Path, description = "Store id"), ListDoc),
    responses((status = 200, body = ListPage<ConnectionCheckView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_connection_checks(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<ConnectionCheckView>>> {
    Ok(Json(s.agora.list_connection_checks(&actor, StoreId(id), &q.list_query()).await?))
}

/// The market's security events, newest first (super admin): logins refused
/// by a rate limit, one per subject and minute.
#[utoipa::path(get, path = "/v1/admin/security-events", tag = "operations", params(ListDoc),
    responses((status = 200, body = ListPage<SecurityEventView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_security_events(
    State(s): State<AppState>,
    Caller(actor): Caller,
    q: ListParams,
) -> R<Json<ListPage<SecurityEventView>>> {
    Ok(Json(s.agora.list_security_events(&actor, &q.list_query()).await?))
}
