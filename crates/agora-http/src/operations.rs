//! The handlers of the v1.1 store operations: a store's lifecycle, its
//! admin keys and order flags. Like the v1 handlers, they only translate
//! HTTP to the use cases of [`agora_core::Agora`] and back.

use agora_core::views::*;
use agora_core::{AdminKeyId, FlagId, OrderId, StoreId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::extract::{Caller, ClientIp, JsonBody, ListParams, PathId, PathIds, QueryParams};
use crate::problem::Problem;
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
