//! Router-level tests (no socket): the OpenAPI document and the layers.

use std::sync::Arc;
use std::time::Duration;

use agora_core::secrets::{Argon2Cost, Argon2Passwords, hash_token};
use agora_core::{Agora, AgoraConfig};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::get;
use tower::ServiceExt;

use super::*;

const SUPER_KEY: &str = "super-secret-admin-key";

fn state() -> AppState {
    let store = Arc::new(agora_memory::MemoryStore::new());
    let agora = Agora::builder(store)
        .passwords(Arc::new(Argon2Passwords::new(Argon2Cost::TESTING)))
        .config(AgoraConfig {
            super_admin_key_hash: Some(hash_token(SUPER_KEY)),
            webhook_secret: b"whsec".to_vec(),
            ..Default::default()
        })
        .build();
    AppState::new(agora)
}

async fn call(app: Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let res = app.oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.expect("body");
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

fn assert_problem(headers: &axum::http::HeaderMap, body: &serde_json::Value, status: u16, code: &str) {
    assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string(), "{body}");
}

/// Every (method, path) of API.md.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/v1/stores"),
    ("post", "/v1/stores/{store_id}/admin-keys"),
    ("get", "/v1/stores/{store_id}/settings"),
    ("patch", "/v1/stores/{store_id}/settings"),
    ("get", "/v1/stores/{store_id}/audit-logs"),
    ("post", "/v1/stores/{store_id}/products"),
    ("get", "/v1/stores/{store_id}/products"),
    ("get", "/v1/products/{id}"),
    ("patch", "/v1/products/{id}"),
    ("post", "/v1/stores/{store_id}/warehouses"),
    ("put", "/v1/stores/{store_id}/inventory"),
    ("post", "/v1/users"),
    ("post", "/v1/sessions"),
    ("post", "/v1/users/me/addresses"),
    ("delete", "/v1/users/me"),
    ("get", "/v1/users/me/orders"),
    ("post", "/v1/orders"),
    ("get", "/v1/orders/{id}"),
    ("get", "/v1/stores/{store_id}/orders"),
    ("post", "/v1/orders/{id}/cancel"),
    ("post", "/v1/orders/{id}/ship"),
    ("post", "/v1/orders/{id}/receive"),
    ("post", "/v1/orders/{id}/payments"),
    ("post", "/v1/webhooks/payments"),
    ("post", "/v1/tasks"),
    ("get", "/v1/tasks/{task_no}"),
    ("get", "/v1/stores/{store_id}/payouts"),
    ("post", "/v1/payouts/{id}/approve"),
    ("post", "/v1/payouts/{id}/reject"),
    ("get", "/v1/stores/{store_id}/events"),
    ("post", "/v1/stores/{store_id}/exports"),
    ("get", "/v1/exports/{id}"),
    ("get", "/v1/exports/{id}/download"),
    ("get", "/v1/admin/backup"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

#[test]
fn openapi_documents_every_contract_route() {
    let doc: serde_json::Value = serde_json::from_str(openapi_document()).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path) in CONTRACT {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is missing from /openapi.json");
        assert!(op["responses"].is_object(), "{method} {path} has no responses");
    }
    for schema in ["OrderView", "Problem", "ProductView", "PlaceOrder", "PayoutView", "EventPage"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "schema {schema} missing");
    }
}

#[tokio::test]
async fn every_contract_route_is_routed() {
    let app = router(state());
    let id = uuid::Uuid::nil();
    for (method, path) in CONTRACT {
        let uri =
            path.replace("{store_id}", &id.to_string()).replace("{id}", &id.to_string()).replace("{task_no}", "T1");
        let req = Request::builder().method(method.to_uppercase().as_str()).uri(&uri).body(Body::empty()).unwrap();
        let (status, _, body) = call(app.clone(), req).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        if status == StatusCode::NOT_FOUND {
            assert_ne!(body["detail"], "no such route", "{method} {uri} is not routed");
        }
    }
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_405_problem() {
    let app = router(state());
    let (status, headers, body) = call(app.clone(), Request::get("/v1/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 404);
    assert_problem(&headers, &body, 404, "not_found");
    assert!(headers.contains_key("x-request-id"));

    let (status, headers, body) = call(app, Request::delete("/v1/stores").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 405);
    assert_problem(&headers, &body, 405, "method_not_allowed");
    assert!(headers.contains_key(header::ALLOW));
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let app = router(state());
    let req = Request::get("/healthz").header("x-request-id", "abc-123").body(Body::empty()).unwrap();
    let (status, headers, body) = call(app.clone(), req).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    assert_eq!(headers["x-request-id"], "abc-123");
    let (_, headers, _) = call(app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(headers["x-request-id"].len(), 36);
}

fn super_post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {SUPER_KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn body_errors_are_problems() {
    let app = router(state());
    let (status, headers, body) = call(app.clone(), super_post("/v1/stores", r#"{"name": "x", "dom"#)).await;
    assert_eq!(status, 400);
    assert_problem(&headers, &body, 400, "malformed_json");

    let (status, headers, body) = call(app.clone(), super_post("/v1/stores", r#"{"name": 5, "domain": "a.b"}"#)).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "validation");
    assert_eq!(body["errors"][0]["field"], "name");

    let (status, _, body) = call(app.clone(), super_post("/v1/stores", r#"{"name": "x"}"#)).await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("domain")));

    let big = format!(r#"{{"name": "{}", "domain": "a.b"}}"#, "x".repeat(BODY_LIMIT + 10));
    let (status, headers, body) = call(app.clone(), super_post("/v1/stores", big)).await;
    assert_eq!(status, 413);
    assert_problem(&headers, &body, 413, "payload_too_large");

    let (status, headers, body) =
        call(app, super_post("/v1/stores", r#"{"name": "Shop", "domain": "shop.test"}"#)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(body["status"], "active");
}

/// What /openapi.json says of bodies is what the server does (Schemathesis
/// checks it broadly in `.ci/fuzz`; these pin each rule).
#[tokio::test]
async fn bodies_are_read_as_the_document_says() {
    let app = router(state());
    let post = |uri: &str, body: &str| call(app.clone(), super_post(uri, body.to_owned()));

    // An array is no object, even though serde would read one into a struct.
    let (status, headers, body) = post("/v1/stores", r#"["Shop", "shop.test"]"#).await;
    assert_eq!(status, 422);
    assert_problem(&headers, &body, 422, "validation");
    assert_eq!(body["errors"][0]["field"], "body");
    // A field the body does not have is refused, not ignored.
    let (status, _, body) = post("/v1/stores", r#"{"name": "Shop", "domain": "shop.test", "nmae": "x"}"#).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("nmae"), "{body}");
    // Text on one line refuses a line break; a length counts what was sent.
    let (status, _, body) = post("/v1/stores", r#"{"name": "Two\nlines", "domain": "shop.test"}"#).await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("name")));
    let long = format!(r#"{{"name": " {} ", "domain": "shop.test"}}"#, "x".repeat(199));
    let (status, _, body) = post("/v1/stores", &long).await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("name")), "201 characters");

    let (status, _, store) = post("/v1/stores", r#"{"name": "Shop", "domain": "shop.test"}"#).await;
    assert_eq!(status, 201);
    let id = store["id"].as_str().expect("id");
    // JSON has numbers: 300.0 is the integer 300; 1.5 is not an integer.
    let patch = |body: &str| {
        let req = Request::patch(format!("/v1/stores/{id}/settings"))
            .header(header::AUTHORIZATION, format!("Bearer {SUPER_KEY}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        call(app.clone(), req)
    };
    let (status, _, body) = patch(r#"{"order_ttl_seconds": 300.0}"#).await;
    assert_eq!((status.as_u16(), &body["order_ttl_seconds"]), (200, &serde_json::json!(300)), "{body}");
    let (status, _, body) = patch(r#"{"order_ttl_seconds": 300.5}"#).await;
    assert_eq!((status.as_u16(), body["errors"][0]["field"].as_str()), (422, Some("order_ttl_seconds")));
    // An optional body may be absent, empty or null.
    for body in ["", "null", "{}"] {
        let (status, _, created) = post(&format!("/v1/stores/{id}/admin-keys"), body).await;
        assert_eq!(status, 201, "{body:?}: {created}");
    }
    // Who asks comes before what is asked: anonymous is 401 whatever the key.
    let req = Request::post(format!("/v1/purchase-orders/{}/receive", uuid::Uuid::nil()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"lines": []}"#))
        .unwrap();
    let (status, _, body) = call(app.clone(), req).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn bad_query_params_and_path_ids() {
    let app = router(state());
    let req = |uri: &str| {
        Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {SUPER_KEY}")).body(Body::empty()).unwrap()
    };
    let id = uuid::Uuid::now_v7();
    for (uri, field) in [
        (format!("/v1/stores/{id}/orders?limit=abc"), "limit"),
        (format!("/v1/stores/{id}/orders?limit=0"), "limit"),
        (format!("/v1/stores/{id}/orders?limit=201"), "limit"),
        (format!("/v1/stores/{id}/events?after=-1"), "after"),
        (format!("/v1/stores/{id}/events?after=x"), "after"),
        (format!("/v1/stores/{id}/orders?cursor=!!"), "cursor"),
        (format!("/v1/stores/{id}/orders?status=WHAT"), "status"),
    ] {
        let (status, headers, body) = call(app.clone(), req(&uri)).await;
        assert_eq!(status, 422, "{uri}: {body}");
        assert_problem(&headers, &body, 422, "validation");
        assert_eq!(body["errors"][0]["field"], field, "{uri}");
    }
    let (status, _, body) = call(app, req("/v1/orders/not-a-uuid")).await;
    assert_eq!((status.as_u16(), body["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn bad_bearer_is_401_and_missing_is_401() {
    let app = router(state());
    let uri = format!("/v1/stores/{}/settings", uuid::Uuid::now_v7());
    for auth in [Some("Bearer nope"), Some("Basic abc"), Some("Bearer ags_nope"), None] {
        let mut b = Request::get(&uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        let (status, headers, body) = call(app.clone(), b.body(Body::empty()).unwrap()).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_problem(&headers, &body, 401, "unauthorized");
    }
}

async fn boom() -> &'static str {
    let v: Vec<u8> = Vec::new();
    if v.is_empty() {
        panic!("kaboom");
    }
    "unreachable"
}

#[tokio::test]
async fn panics_become_500_problems_and_timeouts_503() {
    let s = state().with_request_timeout(Duration::from_millis(50));
    let api: Router<AppState> = Router::new()
        .route("/boom", get(boom))
        .route("/slow", get(|| async { tokio::time::sleep(Duration::from_secs(5)).await }));
    let app = layered(api, s);
    let (status, headers, body) = call(app.clone(), Request::get("/boom").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 500);
    assert_problem(&headers, &body, 500, "internal");
    assert!(!body.to_string().contains("kaboom"));
    let (status, headers, body) = call(app, Request::get("/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 503);
    assert_problem(&headers, &body, 503, "unavailable");
}

#[tokio::test]
async fn readiness_failure_is_503_problem() {
    let app = router(state().with_readiness(|| async { Err("store down".to_owned()) }));
    let (status, headers, body) = call(app, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 503);
    assert_problem(&headers, &body, 503, "unavailable");
    let app = router(state());
    let (status, _, body) = call(app, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!((status.as_u16(), body["status"].as_str()), (200, Some("ready")));
}

#[tokio::test]
async fn request_budget_limits_with_retry_after() {
    let budget = RequestBudget::new(|client: String| async move {
        assert_eq!(client, "unknown");
        RateDecision::Limited { retry_after: 9 }
    });
    let app = router(state().with_request_budget(budget));
    let (status, headers, body) = call(app.clone(), Request::get("/v1/tasks/T1").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 429);
    assert_problem(&headers, &body, 429, "rate_limited");
    assert_eq!(headers[header::RETRY_AFTER], "9");
    let (status, _, _) = call(app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = router(state());
    let id = uuid::Uuid::now_v7();
    let req = Request::builder().method(Method::GET).uri(format!("/v1/products/{id}")).body(Body::empty()).unwrap();
    let (status, _, _) = call(app.clone(), req).await;
    assert_eq!(status, 404);
    let res = app.oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), 200);
    let text = String::from_utf8(axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("agora_http_requests_total")
            && l.contains(r#"route="/v1/products/{id}""#)
            && l.contains(r#"status="404""#)),
        "{text}"
    );
    assert!(text.contains("agora_http_request_duration_seconds_bucket"), "{text}");
}

/// The backup streams the canonical export: header, every row, trailer;
/// only the super admin may take it.
#[tokio::test]
async fn whole_store_backup_streams_the_export_format() {
    let state = state();
    let agora = state.agora.clone();
    let admin = agora.authenticate_admin(SUPER_KEY).await.unwrap();
    let req = agora_core::views::NewStore { name: "B".into(), domain: "b.example".into(), access_token: None };
    agora.create_store(&admin, req).await.unwrap();
    let app = router(state);
    let get = |key: &str| {
        Request::get("/v1/admin/backup")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };
    let res = app.clone().oneshot(get(SUPER_KEY)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/x-ndjson");
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
    let lines: Vec<serde_json::Value> =
        std::str::from_utf8(&bytes).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["format"], "agora-export");
    let trailer = lines.last().unwrap();
    assert_eq!(trailer["end"], true);
    assert_eq!(trailer["counts"]["store"], 1);
    assert_eq!(trailer["rows"], (lines.len() - 2) as u64);
    assert!(lines.iter().any(|l| l["table"] == "store" && l["row"]["domain"] == "b.example"));
    let (status, headers, body) = call(app, get("wrong-key")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_problem(&headers, &body, 401, "unauthorized");
}

/// A server with `limits` on port 0, and its address.
async fn serve_on_port_0(limits: ConnectionLimits) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve_with(listener, router(state()), std::future::pending(), limits));
    addr
}

/// Reads until the server closes the connection (or `within` passes):
/// what it sent, and whether it closed.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// Half a request head, or nothing after a response, holds a connection
/// no longer than the header-read timeout.
#[tokio::test]
async fn slow_and_idle_connections_are_cut_off_after_the_header_read_timeout() {
    use tokio::io::AsyncWriteExt;
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        max_connections: 100,
        ..Default::default()
    };
    let addr = serve_on_port_0(limits).await;

    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("half a head");
    let started = std::time::Instant::now();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed, "a half-sent head keeps its connection");
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());

    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("a request");
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle keep-alive connection stays open");
}

/// Beyond `max_connections` the server accepts nothing more until one closes.
#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_close() {
    use tokio::io::AsyncWriteExt;
    let limits =
        ConnectionLimits { header_read_timeout: Duration::from_secs(30), max_connections: 2, ..Default::default() };
    let addr = serve_on_port_0(limits).await;
    let first = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _second = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.expect("the kernel queues it");
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("request");
    let (answer, _) = read_until_closed(&mut third, Duration::from_millis(500)).await;
    assert_eq!(answer, "", "served beyond the cap");
    drop(first);
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200") && closed, "{answer}");
}
