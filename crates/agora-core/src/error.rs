//! The one domain error enum, and the storage port's error.
//!
//! Each [`AgoraError`] variant maps to exactly one stable `code` of the HTTP
//! contract (see [`AgoraError::code`]); the HTTP crate maps codes to
//! statuses in one place. Nothing here knows about HTTP.

use serde::Serialize;

use crate::changeset::GuardFailure;

/// One field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name as clients send it, e.g. `items[0].qty`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every error a use case can return.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgoraError {
    /// No or bad credentials (`unauthorized`, 401).
    #[error("unauthorized")]
    Unauthorized,
    /// Authenticated, but not allowed (`forbidden`, 403). Resources a caller
    /// may not see are reported as [`AgoraError::NotFound`] instead.
    #[error("forbidden")]
    Forbidden,
    /// The resource does not exist or the caller may not see it (`not_found`, 404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// One or more fields broke a rule (`validation`, 422).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The body is not well-formed JSON (`malformed_json`, 400).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The `Idempotency-Key` header is missing or empty (`idempotency_key_missing`, 400).
    #[error("the Idempotency-Key header is required")]
    IdempotencyKeyMissing,
    /// The key was used before with a different request (`idempotency_key_reused`, 422).
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// Not enough stock for a line (`out_of_stock`, 409).
    #[error("out of stock: {0}")]
    OutOfStock(String),
    /// A state machine refused the move (`invalid_transition`, 409).
    #[error("cannot move {entity} from {from} to {to}")]
    InvalidTransition {
        /// The kind of entity, e.g. `order`.
        entity: &'static str,
        /// Its current state.
        from: String,
        /// The state asked for.
        to: String,
    },
    /// The write collides with existing data or a concurrent write (`conflict`, 409).
    #[error("conflict: {message}")]
    Conflict {
        /// What collided.
        message: String,
        /// Seconds after which a retry may succeed, when known.
        retry_after: Option<u64>,
    },
    /// The store is suspended: it takes no orders and no product or stock
    /// writes (`store_suspended`, 409).
    #[error("the store is suspended")]
    StoreSuspended,
    /// The request body is over its size limit (`payload_too_large`, 413).
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// Too many requests (`rate_limited`, 429).
    #[error("rate limited")]
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// A dependency (the store) cannot serve now (`unavailable`, 503).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or broken invariant (`internal`, 500). Never expected.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AgoraError {
    /// A validation error for one field.
    pub fn validation(field: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError { field: field.to_owned(), message: message.to_owned() }])
    }

    /// A conflict without a retry hint.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict { message: message.into(), retry_after: None }
    }

    /// The stable, machine-readable code of the HTTP contract.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Validation(_) => "validation",
            Self::MalformedJson(_) => "malformed_json",
            Self::IdempotencyKeyMissing => "idempotency_key_missing",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::OutOfStock(_) => "out_of_stock",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::Conflict { .. } => "conflict",
            Self::StoreSuspended => "store_suspended",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// What a storage adapter can report. No driver type appears here: adapters
/// convert their own errors into these variants.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A guard of the changeset, or the condition a write carries, did not
    /// hold; nothing was written.
    #[error("guard failed: {0:?}")]
    GuardFailed(GuardFailure),
    /// A uniqueness rule not covered by a guard was broken; nothing was written.
    #[error("unique constraint violated: {0}")]
    Duplicate(String),
    /// The write referenced a row that does not exist; nothing was written.
    #[error("missing row: {0}")]
    Missing(String),
    /// The backend cannot be reached or failed; the outcome of a write is
    /// unknown only if the adapter says so in the message.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database schema is newer than this build knows, or broken.
    #[error("schema: {0}")]
    Schema(String),
}

impl From<StoreError> for AgoraError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::GuardFailed(f) => AgoraError::conflict(format!("{:?}", f.condition)),
            StoreError::Duplicate(what) => AgoraError::conflict(what),
            StoreError::Missing(what) => AgoraError::Internal(format!("missing row: {what}")),
            StoreError::Unavailable(msg) | StoreError::Schema(msg) => AgoraError::Unavailable(msg),
        }
    }
}

/// Shorthand for results of use cases.
pub type Result<T, E = AgoraError> = std::result::Result<T, E>;
