//! # agora-http
//!
//! agora's HTTP api (contract v1, `API.md`) as a library: an axum
//! [`Router`] over an [`agora_core::Agora`], plus [`serve`] with graceful
//! shutdown, a header-read timeout and a connection cap. Binaries and tests build an [`AppState`] and call [`router`].
//!
//! ```no_run
//! # async fn demo(agora: agora_core::Agora) -> std::io::Result<()> {
//! let state = agora_http::AppState::new(agora);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! agora_http::serve(listener, agora_http::router(state), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! Every error is `application/problem+json` (see [`problem`]), including
//! extractor rejections, unknown routes (404), wrong methods (405), bodies
//! over [`BODY_LIMIT`] (413), timeouts (503) and panics (500).

mod constraints;
pub mod extract;
mod files;
mod middleware;
mod operations;
pub mod problem;
mod routes;
mod webhooks;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agora_core::{Agora, RateDecision, RateLimiter};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use futures::future::BoxFuture;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

pub use problem::{ApiError, PROBLEM_JSON, Problem, ProblemCode};
pub use routes::HealthView;

/// Largest request body accepted (1 MiB); larger is 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Default per-request time budget; past it the client gets 503 `unavailable`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Says whether the service can take traffic (`/readyz`); `Err` holds the reason.
pub type Readiness = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A per-client request budget: called once per request with the client's
/// id (its IP); [`RateDecision::Limited`] becomes 429 with `Retry-After`.
#[derive(Clone)]
pub struct RequestBudget(Arc<dyn Fn(String) -> BoxFuture<'static, RateDecision> + Send + Sync>);

impl std::fmt::Debug for RequestBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestBudget")
    }
}

impl RequestBudget {
    /// A budget decided by `check(client_id)`.
    pub fn new<F, Fut>(check: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RateDecision> + Send + 'static,
    {
        Self(Arc::new(move |client| Box::pin(check(client))))
    }

    /// At most `limit` requests per `window` per client, counted by
    /// `limiter`. A failing limiter allows the request.
    pub fn from_limiter(limiter: Arc<dyn RateLimiter>, limit: u32, window: Duration) -> Self {
        Self::new(move |client: String| {
            let limiter = limiter.clone();
            async move { limiter.hit(&format!("budget:{client}"), limit, window).await.unwrap_or(RateDecision::Allowed) }
        })
    }

    /// Counts one request of `client`.
    pub async fn check(&self, client: String) -> RateDecision {
        (self.0)(client).await
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The domain service.
    pub agora: Agora,
    /// Renders `/metrics`; `None` serves an empty page.
    pub metrics: Option<PrometheusHandle>,
    /// Per-client request budget; `None` disables it.
    pub request_budget: Option<RequestBudget>,
    /// The `/readyz` check.
    pub readiness: Readiness,
    /// Time budget of one request.
    pub request_timeout: Duration,
    /// Take the client IP from the last `X-Forwarded-For` entry, the one the proxy appended (only
    /// behind a proxy that sets it); otherwise the peer address is used.
    pub trust_forwarded_for: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("agora", &self.agora)
            .field("request_budget", &self.request_budget.is_some())
            .field("request_timeout", &self.request_timeout)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Defaults: the process-wide Prometheus recorder ([`metrics_handle`]),
    /// no request budget, readiness = [`Agora::health`], a 30 s timeout,
    /// peer addresses as client IPs.
    pub fn new(agora: Agora) -> Self {
        let probe = agora.clone();
        let readiness: Readiness = Arc::new(move || {
            let agora = probe.clone();
            Box::pin(async move { agora.health().await.map_err(|e| e.to_string()) })
        });
        Self {
            agora,
            metrics: Some(metrics_handle()),
            request_budget: None,
            readiness,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            trust_forwarded_for: false,
        }
    }

    /// Replaces the `/readyz` check.
    pub fn with_readiness<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.readiness = Arc::new(move || Box::pin(check()));
        self
    }

    /// Sets the per-client request budget.
    pub fn with_request_budget(mut self, budget: RequestBudget) -> Self {
        self.request_budget = Some(budget);
        self
    }

    /// Sets the per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Trusts `X-Forwarded-For` for client IPs.
    pub fn with_trust_forwarded_for(mut self, trust: bool) -> Self {
        self.trust_forwarded_for = trust;
        self
    }
}

/// The process-wide Prometheus recorder, installed on first call. When
/// another recorder is already installed, a detached one is returned (its
/// page then lacks the metrics recorded through the other).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = || {
                let b = PrometheusBuilder::new();
                b.set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new())
            };
            match builder().install_recorder() {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder is already installed; /metrics shows a detached one");
                    builder().build_recorder().handle()
                }
            }
        })
        .clone()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "agora", description = "agora HTTP api, contract v1. Errors are application/problem+json."),
    modifiers(&SecurityAddon),
    components(schemas(Problem, problem::ProblemField))
)]
pub(crate) struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The super admin key, a store admin key (agk_...) or a customer session token (ags_...)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "signature",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "Agora-Signature",
                    "sha256=<hex HMAC-SHA256 of the raw body, keyed by AGORA_WEBHOOK_SECRET>",
                ),
            )),
        );
    }
}

/// The OpenAPI 3.1 document of every route, with the constraints the
/// server enforces on each field and the links between operations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    serde_json::from_str(openapi_document()).unwrap_or_else(|_| openapi_unconstrained())
}

/// The document as the route attributes alone describe it.
pub(crate) fn openapi_unconstrained() -> utoipa::openapi::OpenApi {
    routes::api_router().split_for_parts().1
}

/// [`openapi`] serialized once.
pub(crate) fn openapi_document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(openapi_unconstrained()).unwrap_or_default();
        constraints::constrain(&mut doc);
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".to_owned())
    })
}

/// The whole api: every route of the contract plus the operational ones,
/// wrapped in request ids, tracing, metrics, the request budget,
/// problem+json for every error, the body limit, the per-request timeout
/// and panic catching.
pub fn router(state: AppState) -> Router {
    let (api, _) = routes::api_router().split_for_parts();
    layered(api, state)
}

/// `api` wrapped in every layer of [`router`].
pub(crate) fn layered(api: Router<AppState>, state: AppState) -> Router {
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(middleware::make_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        .layer(axum::middleware::from_fn(middleware::problems_only))
        .layer(axum::middleware::from_fn(middleware::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::request_budget))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::timeout))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    api.fallback(middleware::no_route).layer(layers).with_state(state)
}

/// Limits on the connections [`serve_with`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A connection must send a whole request head within this long of
    /// opening or of its previous response (so it is also the keep-alive
    /// idle timeout); otherwise it is closed. A client that sends half a
    /// head, or nothing, holds no connection for longer.
    pub header_read_timeout: Duration,
    /// Connections open at once. Beyond it the listener stops accepting
    /// (the kernel's backlog queues the rest) until one closes.
    pub max_connections: usize,
    /// At shutdown, how long requests in flight may take to finish; a
    /// client that stops reading a response cannot hold the process longer.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` with the default [`ConnectionLimits`]
/// until `shutdown` resolves; see [`serve_with`].
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve<F>(listener: TcpListener, router: Router, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(listener, router, shutdown, ConnectionLimits::default()).await
}

/// Serves `router` on `listener` (HTTP/1.1) until `shutdown` resolves, then
/// stops accepting, lets each connection finish its request in flight and
/// waits for them, at most [`ConnectionLimits::shutdown_grace`]. Handlers
/// see the peer address (`ConnectInfo<SocketAddr>`).
/// `axum::serve` sets no header-read timeout and no connection cap, so this
/// is its accept loop with both (hyper's `header_read_timeout` on a tokio
/// timer, and a semaphore).
///
/// # Errors
/// None in practice: accept errors are logged and retried (a full file
/// table is waited out, as `axum::serve` does).
pub async fn serve_with<F>(
    listener: TcpListener,
    router: Router,
    shutdown: F,
    limits: ConnectionLimits,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Every connection holds a sender; all dropped = all connections done.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; retrying in 1 s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            tower::ServiceExt::oneshot(router.clone(), req.map(axum::body::Body::new))
        });
        let mut stop = stop_rx.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop((permit, done));
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_tx);
    if tokio::time::timeout(limits.shutdown_grace, done_rx.recv()).await.is_err() {
        tracing::warn!(grace = ?limits.shutdown_grace, "connections still open after the shutdown grace; leaving them");
    }
    Ok(())
}

/// Errors of one incoming connection (not of the listener): skip it.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests;
