//! `application/problem+json` (RFC 9457) for every error the api returns.

use agora_core::{AgoraError, FieldError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field of a `validation` problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProblemField {
    /// The field as clients send it, e.g. `items[0].qty`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:agora:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// Stable, machine-readable code (`out_of_stock`, `validation`, ...).
    pub code: String,
    /// Human explanation of this occurrence.
    pub detail: String,
    /// Per-field errors (`validation` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
}

/// The code of a problem response, put in the response's extensions so the
/// metrics layer can count conflicts by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProblemCode(pub &'static str);

/// An error on its way to the client (boxed: it travels in `Result`s).
#[derive(Clone, Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Clone, Debug)]
struct Inner {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Option<Vec<FieldError>>,
    retry_after: Option<u64>,
    allow: Option<HeaderValue>,
}

impl ApiError {
    /// A problem with this status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner { status, code, detail: detail.into(), errors: None, retry_after: None, allow: None }))
    }

    /// 404 `not_found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 422 `validation` for one field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::from(AgoraError::Validation(vec![FieldError { field: field.into(), message: message.into() }]))
    }

    /// 400 `malformed_json`.
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", detail)
    }

    /// 503 `unavailable`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
    }

    /// 500 `internal`.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
    }

    /// 413 `payload_too_large`: the body is over the size limit.
    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
    }

    /// 429 `rate_limited` with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry later");
        e.0.retry_after = Some(retry_after.max(1));
        e
    }

    /// 405 `method_not_allowed`, keeping the `Allow` header.
    pub fn method_not_allowed(allow: Option<HeaderValue>) -> Self {
        let mut e = Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this method is not allowed here");
        e.0.allow = allow;
        e
    }

    /// A problem for a bare error status produced outside the handlers
    /// (axum's own 404/405/413 and the like).
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::malformed_json("the request could not be read"),
            401 => Self::from(AgoraError::Unauthorized),
            403 => Self::from(AgoraError::Forbidden),
            404 => Self::not_found("no such route"),
            405 => Self::method_not_allowed(None),
            408 | 503 | 504 => Self::unavailable("the request could not be served in time"),
            413 => Self::payload_too_large(),
            415 => Self::new(status, "unsupported_media_type", "send application/json"),
            422 => Self::validation("body", "is invalid"),
            429 => Self::rate_limited(1),
            s if s >= 500 => Self::internal(),
            _ => Self::new(status, "bad_request", status.canonical_reason().unwrap_or("bad request")),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// The body of this problem.
    pub fn problem(&self) -> Problem {
        let this = &self.0;
        Problem {
            kind: format!("urn:agora:problem:{}", this.code),
            title: title(this.code).to_owned(),
            status: this.status.as_u16(),
            code: this.code.to_owned(),
            detail: this.detail.clone(),
            errors: this.errors.as_ref().map(|errs| {
                errs.iter().map(|e| ProblemField { field: e.field.clone(), message: e.message.clone() }).collect()
            }),
        }
    }
}

/// The status the contract gives each domain error: the one place domain
/// errors meet HTTP.
pub fn status_of(e: &AgoraError) -> StatusCode {
    match e {
        AgoraError::Unauthorized => StatusCode::UNAUTHORIZED,
        AgoraError::Forbidden => StatusCode::FORBIDDEN,
        AgoraError::NotFound(_) => StatusCode::NOT_FOUND,
        AgoraError::Validation(_) | AgoraError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        AgoraError::MalformedJson(_) | AgoraError::IdempotencyKeyMissing => StatusCode::BAD_REQUEST,
        AgoraError::OutOfStock(_)
        | AgoraError::InvalidTransition { .. }
        | AgoraError::Conflict { .. }
        | AgoraError::StoreSuspended => StatusCode::CONFLICT,
        AgoraError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        AgoraError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        AgoraError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AgoraError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<AgoraError> for ApiError {
    fn from(e: AgoraError) -> Self {
        let status = status_of(&e);
        let detail = match &e {
            AgoraError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                return Self::internal();
            }
            AgoraError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "dependency unavailable");
                "the service is temporarily unavailable; retry later".to_owned()
            }
            AgoraError::Validation(_) => "one or more fields are invalid".to_owned(),
            AgoraError::Conflict { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let mut out = Self::new(status, e.code(), detail);
        match e {
            AgoraError::Validation(errors) => out.0.errors = Some(errors),
            AgoraError::Conflict { retry_after, .. } => out.0.retry_after = retry_after,
            AgoraError::RateLimited { retry_after } => out.0.retry_after = Some(retry_after.max(1)),
            // A dependency that is down or saturated: come back shortly.
            AgoraError::Unavailable(_) => out.0.retry_after = Some(1),
            _ => {}
        }
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let inner = *self.0;
        let mut res = (inner.status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = inner.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = inner.allow {
            headers.insert(header::ALLOW, allow);
        }
        res.extensions_mut().insert(ProblemCode(inner.code));
        res
    }
}

fn title(code: &str) -> &'static str {
    match code {
        "unauthorized" => "Unauthorized",
        "forbidden" => "Forbidden",
        "not_found" => "Not found",
        "validation" => "Validation failed",
        "malformed_json" => "Malformed JSON",
        "idempotency_key_missing" => "Idempotency-Key missing",
        "idempotency_key_reused" => "Idempotency-Key reused",
        "out_of_stock" => "Out of stock",
        "invalid_transition" => "Invalid transition",
        "conflict" => "Conflict",
        "store_suspended" => "Store suspended",
        "rate_limited" => "Too many requests",
        "payload_too_large" => "Payload too large",
        "unavailable" => "Service unavailable",
        "method_not_allowed" => "Method not allowed",
        "unsupported_media_type" => "Unsupported media type",
        "internal" => "Internal server error",
        _ => "Bad request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_keeps_its_code_and_status() {
        let all = [
            AgoraError::Unauthorized,
            AgoraError::Forbidden,
            AgoraError::NotFound("order"),
            AgoraError::validation("x", "bad"),
            AgoraError::MalformedJson("eof".into()),
            AgoraError::IdempotencyKeyMissing,
            AgoraError::IdempotencyKeyReused,
            AgoraError::PayloadTooLarge,
            AgoraError::OutOfStock("sku".into()),
            AgoraError::InvalidTransition { entity: "order", from: "PAID".into(), to: "CLOSED".into() },
            AgoraError::conflict("dup"),
            AgoraError::StoreSuspended,
            AgoraError::RateLimited { retry_after: 3 },
            AgoraError::Unavailable("db".into()),
            AgoraError::Internal("bug".into()),
        ];
        let statuses = [401, 403, 404, 422, 400, 400, 422, 413, 409, 409, 409, 409, 429, 503, 500];
        for (e, status) in all.into_iter().zip(statuses) {
            let api = ApiError::from(e.clone());
            assert_eq!(api.status().as_u16(), status, "{e:?}");
            assert_eq!(api.code(), e.code(), "{e:?}");
            assert_ne!(title(api.code()), "Bad request", "{e:?} has no title");
        }
    }

    #[test]
    fn retry_after_is_sent_on_429_and_on_409_when_known() {
        let res = ApiError::from(AgoraError::RateLimited { retry_after: 7 }).into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        let res = ApiError::from(AgoraError::Conflict { message: "busy".into(), retry_after: Some(2) }).into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
        let res = ApiError::from(AgoraError::conflict("dup")).into_response();
        assert!(res.headers().get(header::RETRY_AFTER).is_none());
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn internal_details_are_not_leaked() {
        let p = ApiError::from(AgoraError::Internal("secret table name".into())).problem();
        assert!(!p.detail.contains("secret"));
        let res = ApiError::from(AgoraError::Unavailable("saturated".into())).into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "1", "a 503 says when to come back");
        let p = ApiError::from(AgoraError::Unavailable("postgres://u:pw@h".into())).problem();
        assert!(!p.detail.contains("pw"));
    }
}
