//! Outgoing webhook routes: a store's endpoints and their delivery logs.

use agora_core::views::*;
use agora_core::{StoreId, WebhookDeliveryId, WebhookEndpointId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::extract::{Caller, JsonBody, ListParams, PathId};
use crate::problem::Problem;
use crate::routes::{Created, ListDoc, R, StatusListDoc, created};

/// Adds an outgoing webhook endpoint to a store (store admin). The answer
/// carries the endpoint's signing secret, shown only here. Loopback,
/// private and link-local targets are refused (422) unless
/// `AGORA_WEBHOOK_ALLOW_PRIVATE=on`.
#[utoipa::path(post, path = "/v1/stores/{store_id}/webhook-endpoints", tag = "webhooks", request_body = NewWebhookEndpoint,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 201, body = WebhookEndpointView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_webhook_endpoint(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewWebhookEndpoint>,
) -> R<Created<WebhookEndpointView>> {
    Ok(created(s.agora.create_webhook_endpoint(&actor, StoreId(id), req).await?))
}

/// A store's webhook endpoints, newest first (store admin; no secrets).
#[utoipa::path(get, path = "/v1/stores/{store_id}/webhook-endpoints", tag = "webhooks",
    params(("store_id" = Uuid, Path, description = "Store id"), ListDoc),
    responses((status = 200, body = ListPage<WebhookEndpointView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_webhook_endpoints(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<WebhookEndpointView>>> {
    Ok(Json(s.agora.list_webhook_endpoints(&actor, StoreId(id), &q.list_query()).await?))
}

/// Changes an endpoint's URL, events, description or status (store admin).
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", request_body = WebhookEndpointPatch,
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 200, body = WebhookEndpointView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn patch_webhook_endpoint(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<WebhookEndpointPatch>,
) -> R<Json<WebhookEndpointView>> {
    Ok(Json(s.agora.patch_webhook_endpoint(&actor, WebhookEndpointId(id), req).await?))
}

/// Deletes an endpoint and its delivery log (store admin).
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id")),
    responses((status = 204, description = "Deleted"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn delete_webhook_endpoint(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<StatusCode> {
    s.agora.delete_webhook_endpoint(&actor, WebhookEndpointId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's deliveries, newest first, optionally of one status
/// (store admin).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Endpoint id"), StatusListDoc),
    responses((status = 200, body = ListPage<WebhookDeliveryView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_webhook_deliveries(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<WebhookDeliveryView>>> {
    let page = q.list_query();
    Ok(Json(s.agora.list_webhook_deliveries(&actor, WebhookEndpointId(id), q.status.as_deref(), &page).await?))
}

/// Sends a failed delivery again, or a pending one now (store admin).
#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "webhooks",
    params(("id" = Uuid, Path, description = "Delivery id")),
    responses((status = 200, body = WebhookDeliveryView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn retry_webhook_delivery(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<WebhookDeliveryView>> {
    Ok(Json(s.agora.retry_webhook_delivery(&actor, WebhookDeliveryId(id)).await?))
}
