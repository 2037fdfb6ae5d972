//! The handlers of every route of the v1 contract, each documented for
//! /openapi.json. Handlers only translate HTTP to the use cases of
//! [`agora_core::Agora`] and back.

use agora_core::views::*;
use agora_core::{Actor, AgoraError, ExportId, OrderId, PaymentId, PayoutId, ProductId, StoreId};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::{
    Caller, ClientIp, JsonBody, ListParams, OptionalJsonBody, PathId, PathStr, parse_json, read_body,
};
use crate::problem::{ApiError, Problem};

pub(crate) type R<T> = Result<T, ApiError>;
pub(crate) type Created<T> = (StatusCode, Json<T>);

pub(crate) fn created<T>(v: T) -> Created<T> {
    (StatusCode::CREATED, Json(v))
}

/// `limit` and `cursor` of list endpoints (documentation only).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ListDoc {
    /// 1..=200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `limit`, `cursor` and `status` (documentation only).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct StatusListDoc {
    /// 1..=200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only items in this status.
    status: Option<String>,
}

/// `limit`, `cursor` and `q` of the product list (documentation only).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ProductListDoc {
    /// 1..=200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Search: only products whose title, variant names or SKUs have a
    /// word beginning with each word of `q` (case and accents ignored), best
    /// match first. 1 to 200 characters, at most 10 words (runs of letters
    /// and digits), at least one; without `q`, every active product, newest
    /// first.
    q: Option<String>,
}

/// The parameters of the admin product search (documentation only).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ProductSearchDoc {
    /// What to find: every word of `q` (a run of letters and digits) must
    /// begin a word of the product's title, variant names or SKUs, case and
    /// accents ignored. 1 to 200 characters, 1 to 10 words.
    q: String,
    /// Only products of this status (`active` or `draft`); empty or absent
    /// for both.
    status: Option<String>,
    /// 1..=200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// `after` and `limit` of the event feed (documentation only).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct FeedDoc {
    /// Events with a seq above this (default 0).
    after: Option<i64>,
    /// 1..=200, default 50.
    limit: Option<u32>,
}

/// Answer of /healthz and /readyz.
#[derive(Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// Every route of the contract, with its OpenAPI description.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(<crate::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(create_store))
        .routes(routes!(create_admin_key, crate::operations::list_admin_keys))
        .routes(routes!(crate::operations::get_store, crate::operations::patch_store))
        .routes(routes!(crate::operations::revoke_admin_key))
        .routes(routes!(crate::operations::create_flag))
        .routes(routes!(crate::operations::patch_flag))
        .routes(routes!(crate::operations::list_flags))
        .routes(routes!(crate::operations::get_kpis))
        .routes(routes!(crate::operations::list_velocity))
        .routes(routes!(crate::operations::create_purchase_order, crate::operations::list_purchase_orders))
        .routes(routes!(crate::operations::purchase_order_from_velocity))
        .routes(routes!(crate::operations::get_purchase_order))
        .routes(routes!(crate::operations::submit_purchase_order))
        .routes(routes!(crate::operations::cancel_purchase_order))
        .routes(routes!(crate::operations::receive_purchase_order))
        .routes(routes!(crate::operations::create_ticket))
        .routes(routes!(crate::operations::get_ticket, crate::operations::patch_ticket))
        .routes(routes!(crate::operations::list_my_tickets))
        .routes(routes!(crate::operations::list_store_tickets))
        .routes(routes!(crate::operations::post_ticket_message, crate::operations::list_ticket_messages))
        .routes(routes!(crate::operations::mark_ticket_read))
        .routes(routes!(crate::operations::create_draft))
        .routes(routes!(crate::operations::send_draft))
        .routes(routes!(crate::operations::discard_draft))
        .routes(routes!(crate::operations::review_draft))
        .routes(routes!(crate::operations::create_quick_reply, crate::operations::list_quick_replies))
        .routes(routes!(crate::operations::patch_quick_reply, crate::operations::delete_quick_reply))
        .routes(routes!(crate::operations::store_unread))
        .routes(routes!(crate::operations::list_insights))
        .routes(routes!(crate::operations::patch_insight))
        .routes(routes!(crate::operations::run_connection_check, crate::operations::list_connection_checks))
        .routes(routes!(get_settings, patch_settings))
        .routes(routes!(list_audit_logs))
        .routes(routes!(create_product, list_products))
        .routes(routes!(search_products))
        .routes(routes!(get_product, patch_product))
        .routes(routes!(create_warehouse))
        .routes(routes!(set_inventory))
        .routes(routes!(register_user))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(add_address))
        .routes(routes!(erase_account))
        .routes(routes!(list_my_orders))
        .routes(routes!(place_order))
        .routes(routes!(get_order))
        .routes(routes!(list_store_orders))
        .routes(routes!(cancel_order))
        .routes(routes!(ship_order))
        .routes(routes!(receive_order))
        .routes(routes!(create_payment))
        .routes(routes!(get_payment))
        .routes(routes!(payment_webhook))
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(refund_payment))
        .routes(routes!(crate::webhooks::create_webhook_endpoint, crate::webhooks::list_webhook_endpoints))
        .routes(routes!(crate::webhooks::patch_webhook_endpoint, crate::webhooks::delete_webhook_endpoint))
        .routes(routes!(crate::webhooks::list_webhook_deliveries))
        .routes(routes!(crate::webhooks::retry_webhook_delivery))
        .routes(routes!(crate::files::upload_attachment))
        .routes(routes!(crate::files::download_attachment))
        .routes(routes!(crate::files::put_derived))
        .routes(routes!(crate::files::get_derived))
        .routes(routes!(crate::files::add_product_image))
        .routes(routes!(crate::files::delete_product_image))
        .routes(routes!(crate::files::get_image))
        .routes(routes!(create_task))
        .routes(routes!(get_task))
        .routes(routes!(list_payouts))
        .routes(routes!(approve_payout))
        .routes(routes!(reject_payout))
        .routes(routes!(list_events))
        .routes(routes!(request_export))
        .routes(routes!(get_export))
        .routes(routes!(download_export))
        .routes(routes!(whole_store_backup))
        .routes(routes!(crate::operations::list_security_events))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
        .routes(routes!(openapi_json))
}

// ---------------------------------------------------------------- stores

/// Creates a store (super admin).
#[utoipa::path(post, path = "/v1/stores", tag = "stores", request_body = NewStore,
    responses((status = 201, body = StoreView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_store(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(req): JsonBody<NewStore>,
) -> R<Created<StoreView>> {
    Ok(created(s.agora.create_store(&actor, req).await?))
}

/// Makes a store admin key (super admin), optionally expiring; the key is shown only here.
#[utoipa::path(post, path = "/v1/stores/{store_id}/admin-keys", tag = "stores", request_body = Option<NewAdminKey>,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 201, body = AdminKeyCreated), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_admin_key(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    ip: ClientIp,
    OptionalJsonBody(req): OptionalJsonBody<NewAdminKey>,
) -> R<Created<AdminKeyCreated>> {
    Ok(created(s.agora.create_admin_key_from(&actor, StoreId(id), req, ip.as_deref()).await?))
}

/// A store's settings (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/settings", tag = "stores",
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 200, body = SettingsView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_settings(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<SettingsView>> {
    Ok(Json(s.agora.get_settings(&actor, StoreId(id)).await?))
}

/// Changes any subset of a store's settings (store admin); each changed key is audited.
#[utoipa::path(patch, path = "/v1/stores/{store_id}/settings", tag = "stores", request_body = SettingsPatch,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 200, body = SettingsView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn patch_settings(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    ip: ClientIp,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> R<Json<SettingsView>> {
    Ok(Json(s.agora.patch_settings(&actor, StoreId(id), patch, ip.as_deref()).await?))
}

/// A store's audit log, newest first (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/audit-logs", tag = "stores",
    params(("store_id" = Uuid, Path, description = "Store id"), ListDoc),
    responses((status = 200, body = ListPage<AuditView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_audit_logs(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<AuditView>>> {
    Ok(Json(s.agora.list_audit_logs(&actor, StoreId(id), &q.list_query()).await?))
}

// ---------------------------------------------------------------- catalog

/// Creates a product with its variants (store admin).
#[utoipa::path(post, path = "/v1/stores/{store_id}/products", tag = "catalog", request_body = NewProduct,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 201, body = ProductView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_product(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewProduct>,
) -> R<Created<ProductView>> {
    Ok(created(s.agora.create_product(&actor, StoreId(id), req).await?))
}

/// A store's active products, newest first, or with `q` those the search
/// finds, best match first (ties newest first); public; while the store is
/// suspended only its admins see them.
#[utoipa::path(get, path = "/v1/stores/{store_id}/products", tag = "catalog",
    params(("store_id" = Uuid, Path, description = "Store id"), ProductListDoc),
    responses((status = 200, body = ListPage<ProductView>), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn list_products(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<ProductView>>> {
    let page = match &q.q {
        Some(text) => s.agora.search_products(&actor, StoreId(id), text, &q.list_query()).await?,
        None => s.agora.list_products_as(&actor, StoreId(id), &q.list_query()).await?,
    };
    Ok(Json(page))
}

/// Searches every product of the store, drafts included (or of one
/// `status`), best match first, ties newest first (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/products/search", tag = "catalog",
    params(("store_id" = Uuid, Path, description = "Store id"), ProductSearchDoc),
    responses((status = 200, body = ListPage<ProductView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn search_products(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<ProductView>>> {
    let (text, status, page) = (q.q.as_deref(), q.status.as_deref(), q.list_query());
    Ok(Json(s.agora.search_all_products(&actor, StoreId(id), text, status, &page).await?))
}

/// A product with the availability of each variant (public; drafts only for the store's admins).
#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = ProductView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn get_product(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<ProductView>> {
    Ok(Json(s.agora.get_product(&actor, ProductId(id)).await?))
}

/// Changes a product's title or status (store admin).
#[utoipa::path(patch, path = "/v1/products/{id}", tag = "catalog", request_body = ProductPatch,
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = ProductView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn patch_product(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(patch): JsonBody<ProductPatch>,
) -> R<Json<ProductView>> {
    Ok(Json(s.agora.patch_product(&actor, ProductId(id), patch).await?))
}

/// Creates a warehouse (store admin).
#[utoipa::path(post, path = "/v1/stores/{store_id}/warehouses", tag = "catalog", request_body = NewWarehouse,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 201, body = WarehouseView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_warehouse(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewWarehouse>,
) -> R<Created<WarehouseView>> {
    Ok(created(s.agora.create_warehouse(&actor, StoreId(id), req).await?))
}

/// Sets the units on hand of a variant in a warehouse (store admin).
#[utoipa::path(put, path = "/v1/stores/{store_id}/inventory", tag = "catalog", request_body = SetInventory,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 200, body = InventoryView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn set_inventory(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    ip: ClientIp,
    JsonBody(req): JsonBody<SetInventory>,
) -> R<Json<InventoryView>> {
    Ok(Json(s.agora.set_inventory_from(&actor, StoreId(id), req, ip.as_deref()).await?))
}

// ---------------------------------------------------------------- users

/// Registers a customer.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn register_user(State(s): State<AppState>, JsonBody(req): JsonBody<NewUser>) -> R<Created<UserView>> {
    Ok(created(s.agora.register_user(req).await?))
}

/// Logs in; the token is shown only here.
#[utoipa::path(post, path = "/v1/sessions", tag = "users", request_body = Login,
    responses((status = 201, body = SessionCreated), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn login(
    State(s): State<AppState>,
    ip: ClientIp,
    JsonBody(req): JsonBody<Login>,
) -> R<Created<SessionCreated>> {
    Ok(created(s.agora.login_from(req, ip.as_deref()).await?))
}

/// Ends the caller's session (the bearer token stops working).
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "users",
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn logout(State(s): State<AppState>, Caller(actor): Caller, headers: HeaderMap) -> R<StatusCode> {
    if !matches!(actor, Actor::Customer { .. }) {
        return Err(AgoraError::Unauthorized.into());
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .map(|(_, t)| t.trim())
        .unwrap_or_default();
    s.agora.logout(token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Erases the caller's account (customer), after checking its password:
/// name, email, phone and addresses become anonymous in one commit, every
/// session ends; orders, payments and ledger rows stay for the stores'
/// books. The email can register again. A wrong password is 401 and counts
/// against the email's login limit.
#[utoipa::path(delete, path = "/v1/users/me", tag = "users", request_body = EraseAccount,
    responses((status = 204, description = "Erased"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn erase_account(
    State(s): State<AppState>,
    Caller(actor): Caller,
    ip: ClientIp,
    JsonBody(req): JsonBody<EraseAccount>,
) -> R<StatusCode> {
    s.agora.erase_account(&actor, req, ip.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds an address to the caller's account (customer).
#[utoipa::path(post, path = "/v1/users/me/addresses", tag = "users", request_body = NewAddress,
    responses((status = 201, body = AddressView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn add_address(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(req): JsonBody<NewAddress>,
) -> R<Created<AddressView>> {
    Ok(created(s.agora.add_address(&actor, req).await?))
}

/// The caller's orders, newest first (customer).
#[utoipa::path(get, path = "/v1/users/me/orders", tag = "users", params(ListDoc),
    responses((status = 200, body = ListPage<OrderView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_my_orders(
    State(s): State<AppState>,
    Caller(actor): Caller,
    q: ListParams,
) -> R<Json<ListPage<OrderView>>> {
    Ok(Json(s.agora.list_my_orders(&actor, &q.list_query()).await?))
}

// ---------------------------------------------------------------- orders

/// Places an order (customer); idempotent per user and `Idempotency-Key`.
/// A replay returns the first response byte for byte with `Idempotent-Replayed: true`.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = PlaceOrder,
    params(("Idempotency-Key" = String, Header, description = "1..=255 characters; scoped per user, kept 24 h")),
    responses(
        (status = 201, body = OrderView, headers(("Idempotent-Replayed" = String, description = "`true` on a replay"))),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn place_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> R<Response> {
    if matches!(actor, Actor::Anonymous) {
        return Err(AgoraError::Unauthorized.into());
    }
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| ApiError::validation("Idempotency-Key", "must be visible ASCII"))?),
    };
    if key.map(str::trim).is_none_or(str::is_empty) {
        return Err(AgoraError::IdempotencyKeyMissing.into());
    }
    let bytes = read_body(req, &()).await?;
    let body: PlaceOrder = parse_json(&bytes)?;
    let placed = s.agora.place_order(&actor, key, body).await?;
    if !placed.replayed {
        metrics::counter!("agora_orders_placed_total").increment(1);
    }
    // The order exactly as recorded with its key, so replays are byte-identical.
    let mut res = (StatusCode::CREATED, Body::from(placed.recorded)).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if placed.replayed {
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

/// An order (its owner or the store's admin).
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<OrderView>> {
    Ok(Json(s.agora.get_order(&actor, OrderId(id)).await?))
}

/// A store's orders, newest first, optionally of one status (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/orders", tag = "orders",
    params(("store_id" = Uuid, Path, description = "Store id"), StatusListDoc),
    responses((status = 200, body = ListPage<OrderView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_store_orders(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<OrderView>>> {
    Ok(Json(s.agora.list_store_orders(&actor, StoreId(id), q.status.as_deref(), &q.list_query()).await?))
}

/// Cancels the caller's CREATED order (owner).
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn cancel_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<OrderView>> {
    Ok(Json(s.agora.cancel_order(&actor, OrderId(id)).await?))
}

/// Ships a PAID order (store admin).
#[utoipa::path(post, path = "/v1/orders/{id}/ship", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn ship_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<OrderView>> {
    Ok(Json(s.agora.ship_order(&actor, OrderId(id)).await?))
}

/// Confirms receipt of a SHIPPED order (owner).
#[utoipa::path(post, path = "/v1/orders/{id}/receive", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 200, body = OrderView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn receive_order(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<OrderView>> {
    Ok(Json(s.agora.receive_order(&actor, OrderId(id)).await?))
}

// ---------------------------------------------------------------- payments

/// Starts paying a CREATED order (owner).
#[utoipa::path(post, path = "/v1/orders/{id}/payments", tag = "payments",
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 201, body = PaymentView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_payment(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Created<PaymentView>> {
    Ok(created(s.agora.create_payment(&actor, OrderId(id)).await?))
}

/// A payment (the order's owner or the store's admin).
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments",
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 200, body = PaymentView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_payment(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<PaymentView>> {
    Ok(Json(s.agora.get_payment(&actor, PaymentId(id)).await?))
}

/// A payment provider's event, signed with `Agora-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
#[utoipa::path(post, path = "/v1/webhooks/payments", tag = "payments", request_body = PaymentWebhook,
    params(("Agora-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body>")),
    responses((status = 200, body = WebhookAck), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("signature" = [])))]
pub(crate) async fn payment_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> R<Json<WebhookAck>> {
    let signature = headers.get("agora-signature").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = read_body(req, &()).await?;
    crate::extract::refuse_nul(&bytes)?;
    Ok(Json(s.agora.receive_payment_webhook(&bytes, signature.as_deref()).await?))
}

// ---------------------------------------------------------------- refunds

/// Asks the provider to give back part or all of a PAID, SHIPPED or
/// RECEIVED order (store admin; `Idempotency-Key` required: the same key
/// and body replay the first answer with `Idempotent-Replayed: true`).
/// Refunds of an order never add up above its paid amount (409 `conflict`).
/// The provider's `refund.succeeded` webhook settles it: `refunded_minor`
/// grows, the order is REFUNDED once refunded in full, and the `restock`
/// units go back into stock, in one commit.
#[utoipa::path(post, path = "/v1/orders/{id}/refunds", tag = "payments", request_body = NewRefund,
    params(("id" = Uuid, Path, description = "Order id"),
        ("Idempotency-Key" = String, Header, description = "1..=255 characters")),
    responses((status = 201, body = RefundView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_refund(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    headers: HeaderMap,
    JsonBody(req): JsonBody<NewRefund>,
) -> R<Response> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| ApiError::validation("Idempotency-Key", "must be visible ASCII"))?),
    };
    let done = s.agora.create_refund(&actor, OrderId(id), key, req).await?;
    let mut res = (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], done.recorded).into_response();
    if done.replayed {
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

/// An order's refunds, newest first (the store's admin or the order's owner).
#[utoipa::path(get, path = "/v1/orders/{id}/refunds", tag = "payments",
    params(("id" = Uuid, Path, description = "Order id"), ListDoc),
    responses((status = 200, body = ListPage<RefundView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_refunds(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<RefundView>>> {
    Ok(Json(s.agora.list_refunds(&actor, OrderId(id), &q.list_query()).await?))
}

/// Gives back in full a payment that arrived for an order that could no
/// longer take it (`needs_refund`; store admin). The payment is
/// `refunding` until the provider's refund webhook settles it.
#[utoipa::path(post, path = "/v1/payments/{id}/refund", tag = "payments",
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 201, body = RefundView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn refund_payment(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Created<RefundView>> {
    Ok(created(s.agora.refund_payment(&actor, PaymentId(id)).await?))
}

// ---------------------------------------------------------------- tasks and payouts

/// Opens a help task for the caller's PAID order (owner).
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = NewTask,
    responses((status = 201, body = TaskView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create_task(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(req): JsonBody<NewTask>,
) -> R<Created<TaskView>> {
    Ok(created(s.agora.create_task(&actor, req).await?))
}

/// A task with its helps (public; while the store is suspended only its
/// admins see it).
#[utoipa::path(get, path = "/v1/tasks/{task_no}", tag = "tasks",
    params(("task_no" = String, Path, description = "Task number")),
    responses((status = 200, body = TaskView), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn get_task(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathStr(task_no): PathStr,
) -> R<Json<TaskView>> {
    Ok(Json(s.agora.get_task_as(&actor, &task_no).await?))
}

/// A store's payouts, newest first, optionally of one status (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/payouts", tag = "tasks",
    params(("store_id" = Uuid, Path, description = "Store id"), StatusListDoc),
    responses((status = 200, body = ListPage<PayoutView>), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_payouts(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<ListPage<PayoutView>>> {
    Ok(Json(s.agora.list_payouts(&actor, StoreId(id), q.status.as_deref(), &q.list_query()).await?))
}

/// Approves a HELD or PENDING payout (store admin); audited.
#[utoipa::path(post, path = "/v1/payouts/{id}/approve", tag = "tasks", request_body = PayoutDecision,
    params(("id" = Uuid, Path, description = "Payout id")),
    responses((status = 200, body = PayoutView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn approve_payout(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    ip: ClientIp,
    OptionalJsonBody(req): OptionalJsonBody<PayoutDecision>,
) -> R<Json<PayoutView>> {
    Ok(Json(s.agora.decide_payout(&actor, PayoutId(id), true, req, ip.as_deref()).await?))
}

/// Rejects a HELD or PENDING payout (store admin); audited.
#[utoipa::path(post, path = "/v1/payouts/{id}/reject", tag = "tasks", request_body = PayoutDecision,
    params(("id" = Uuid, Path, description = "Payout id")),
    responses((status = 200, body = PayoutView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn reject_payout(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    ip: ClientIp,
    OptionalJsonBody(req): OptionalJsonBody<PayoutDecision>,
) -> R<Json<PayoutView>> {
    Ok(Json(s.agora.decide_payout(&actor, PayoutId(id), false, req, ip.as_deref()).await?))
}

// ---------------------------------------------------------------- events and exports

/// A store's event feed after `after`, in seq order (store admin).
#[utoipa::path(get, path = "/v1/stores/{store_id}/events", tag = "events",
    params(("store_id" = Uuid, Path, description = "Store id"), FeedDoc),
    responses((status = 200, body = EventPage), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list_events(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    q: ListParams,
) -> R<Json<EventPage>> {
    Ok(Json(s.agora.list_events(&actor, StoreId(id), q.after, q.limit).await?))
}

/// Queues an export of a store's orders (store admin).
#[utoipa::path(post, path = "/v1/stores/{store_id}/exports", tag = "events", request_body = NewExport,
    params(("store_id" = Uuid, Path, description = "Store id")),
    responses((status = 202, body = ExportView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn request_export(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
    JsonBody(req): JsonBody<NewExport>,
) -> R<(StatusCode, Json<ExportView>)> {
    Ok((StatusCode::ACCEPTED, Json(s.agora.request_export(&actor, StoreId(id), req).await?)))
}

/// An export job (store admin).
#[utoipa::path(get, path = "/v1/exports/{id}", tag = "events",
    params(("id" = Uuid, Path, description = "Export id")),
    responses((status = 200, body = ExportView), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get_export(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Json<ExportView>> {
    Ok(Json(s.agora.get_export(&actor, ExportId(id)).await?))
}

/// The file of a ready export (store admin).
#[utoipa::path(get, path = "/v1/exports/{id}/download", tag = "events",
    params(("id" = Uuid, Path, description = "Export id")),
    responses(
        (status = 200, description = "The file, in the format the export was asked in",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn download_export(
    State(s): State<AppState>,
    Caller(actor): Caller,
    PathId(id): PathId,
) -> R<Response> {
    let file = s.agora.download_export(&actor, ExportId(id)).await?;
    Ok(crate::files::file_response(file, "private, no-store"))
}

/// The whole store as the JSON Lines export of `agora export` (super
/// admin), streamed page by page; `agora import` loads it into any store.
/// A stream that fails part-way ends without its trailer line, which
/// `agora import` refuses as truncated.
#[utoipa::path(get, path = "/v1/admin/backup", tag = "operations",
    responses(
        (status = 200, description = "The export file (JSON Lines)", content_type = "application/x-ndjson"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn whole_store_backup(State(s): State<AppState>, Caller(actor): Caller) -> R<Response> {
    let export = s.agora.whole_store_export(&actor)?;
    let chunks = futures::stream::try_unfold(export, |mut export| async move {
        match export.next_chunk().await {
            Ok(Some(chunk)) => Ok(Some((axum::body::Bytes::from(chunk), export))),
            Ok(None) => Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "backup stream failed part-way; the file has no trailer");
                Err(std::io::Error::other(e.to_string()))
            }
        }
    });
    let mut res = (StatusCode::OK, Body::from_stream(chunks)).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"agora-export.jsonl\""));
    Ok(res)
}

// ---------------------------------------------------------------- operations

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = HealthView)))]
pub(crate) async fn healthz() -> Json<HealthView> {
    Json(HealthView { status: "ok" })
}

/// The store is reachable and its migrations are current.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = HealthView), (status = 503, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn readyz(State(s): State<AppState>) -> R<Json<HealthView>> {
    match (s.readiness)().await {
        Ok(()) => Ok(Json(HealthView { status: "ready" })),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            Err(ApiError::unavailable(format!("not ready: {reason}")))
        }
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub(crate) async fn metrics_text(State(s): State<AppState>) -> Response {
    let text = match &s.metrics {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    };
    let mut res = text.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    res
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi_json() -> Response {
    let mut res = crate::openapi_document().to_owned().into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}
