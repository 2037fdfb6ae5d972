//! The layers around every route.

use std::any::Any;
use std::time::Instant;

use agora_core::RateDecision;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Span;

use crate::AppState;
use crate::extract::ClientIp;
use crate::problem::{ApiError, PROBLEM_JSON, ProblemCode};

/// The span of one request, with its id.
pub(crate) fn make_span<B>(req: &axum::http::Request<B>) -> Span {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
    tracing::info_span!(
        "request",
        method = %method_label(req.method()),
        path = %req.uri().path(),
        route = %route,
        request_id = %request_id,
    )
}

/// The `method` label of a request: one of the standard methods, or
/// `other`. Any token is a valid HTTP method, and each distinct label is a
/// new time series kept for ever: a client must not be able to grow
/// `/metrics` by inventing methods.
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Counts requests and their latency by route template and status, and
/// 409s by their code.
pub(crate) async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method.to_owned()), ("route", route), ("status", status)];
    metrics::counter!("agora_http_requests_total", &labels).increment(1);
    metrics::histogram!("agora_http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    if res.status() == StatusCode::CONFLICT {
        let code = res.extensions().get::<ProblemCode>().map(|c| c.0).unwrap_or("conflict");
        metrics::counter!("agora_conflicts_total", "code" => code).increment(1);
    }
    res
}

/// 422 for a path or query holding a percent-encoded NUL (`%00`), before
/// any handler or store sees it: no store keeps NUL in text (PostgreSQL
/// refuses it), so every store answers the same.
pub(crate) async fn refuse_nul_in_uri(req: Request, next: Next) -> Response {
    let uri = req.uri();
    if uri.path().contains("%00") {
        return ApiError::validation("path", "must not contain the NUL character (%00)").into_response();
    }
    if uri.query().is_some_and(|q| q.contains("%00")) {
        return ApiError::validation("query", "must not contain the NUL character (%00)").into_response();
    }
    next.run(req).await
}

/// Turns any error response that is not problem+json yet (axum's 405,
/// rejections of layers) into one.
pub(crate) async fn problems_only(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return res;
    }
    let allow = res.headers().get(header::ALLOW).cloned();
    let err = if status == StatusCode::METHOD_NOT_ALLOWED {
        ApiError::method_not_allowed(allow)
    } else {
        ApiError::from_status(status)
    };
    err.into_response()
}

/// The per-client request budget (exempt: /healthz, /readyz, /metrics).
pub(crate) async fn request_budget(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(budget) = &state.request_budget else { return next.run(req).await };
    if matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    let client = ClientIp::resolve(req.headers(), req.extensions(), state.trust_forwarded_for)
        .0
        .unwrap_or_else(|| "unknown".to_owned());
    match budget.check(client).await {
        RateDecision::Allowed => next.run(req).await,
        RateDecision::Limited { retry_after } => ApiError::rate_limited(retry_after).into_response(),
    }
}

/// The per-request time budget: past it, 503 `unavailable`.
pub(crate) async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(timeout_ms = state.request_timeout.as_millis() as u64, "request timed out");
            ApiError::unavailable("the request took too long; retry later").into_response()
        }
    }
}

/// A panic in a handler: a log line and a 500 problem.
pub(crate) fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let message = if let Some(s) = err.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = err.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "unknown panic payload".to_owned()
    };
    tracing::error!(panic = %message, "handler panicked");
    ApiError::internal().into_response()
}

/// An unknown route.
pub(crate) async fn no_route() -> ApiError {
    ApiError::not_found("no such route")
}
