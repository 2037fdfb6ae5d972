//! Outgoing webhooks over a real socket: endpoints managed over HTTP, the
//! real sender POSTing to a loopback receiver, signatures checked by
//! Python's hmac (an implementation agora does not share).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_core::StoreId;
use agora_e2e::TestApp;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{Value, json};

/// What the receiver got: (headers, body), in arrival order.
type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A receiver on 127.0.0.1 that answers 500 to its first request and 200
/// to the rest; returns its URL and what it received.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let mut all = seen.lock().unwrap();
                all.push((headers, body.to_vec()));
                if all.len() == 1 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// HMAC-SHA256 of "<t>.<body>" by Python's standard library.
fn python_signature(secret: &str, t: &str, body: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body");
    std::fs::write(&path, body).unwrap();
    let script = "import hmac, hashlib, sys\n\
        body = open(sys.argv[3], 'rb').read()\n\
        print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode() + b'.' + body, hashlib.sha256).hexdigest())";
    let out = std::process::Command::new("python3")
        .args(["-c", script, secret, t, path.to_str().unwrap()])
        .output()
        .expect("python3 runs (it verifies the signatures independently)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub async fn outgoing_webhooks_over_http(app: TestApp) {
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 300, 50).await;
    let (url, got) = receiver().await;
    let endpoints = format!("/v1/stores/{}/webhook-endpoints", shop.id);
    app.post(&endpoints, Some(&shop.key), json!({"url": "ftp://x.example.com", "events": ["*"]}))
        .await
        .expect_problem(422, "validation");
    app.post(&endpoints, Some(&shop.key), json!({"url": url, "events": ["Order"]}))
        .await
        .expect_problem(422, "validation");
    app.post(&endpoints, None, json!({"url": url, "events": ["*"]})).await.expect_problem(401, "unauthorized");
    let created =
        app.post(&endpoints, Some(&shop.key), json!({"url": url, "events": ["order.created", "order.paid"]})).await;
    let ep = created.expect(201).clone();
    assert_eq!(ep["status"], "enabled");
    let secret = ep["secret"].as_str().expect("secret shown once").to_owned();
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    let listed = app.get(&endpoints, Some(&shop.key)).await;
    assert!(listed.expect(200)["items"][0].get("secret").is_none(), "never listed");
    assert!(!listed.text.contains(&secret));

    let c = app.customer().await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        orders.push(app.order(&c, &shop, &variant, 1).await.expect(201)["id"].as_str().unwrap().to_owned());
    }
    app.pay(&c, &orders[0]).await;

    // The worker's part, in process: queue, then deliver until all four
    // arrived (the first answer is a 500: retried after about a second).
    let store = StoreId(uuid::Uuid::parse_str(&shop.id).unwrap());
    let dispatcher = agora_runtime::webhooks::WebhookDispatcher::new(
        app.agora.clone(),
        Duration::from_millis(10),
        Duration::from_secs(30),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().len() < 5 {
        assert!(std::time::Instant::now() < deadline, "deliveries did not arrive: {}", got.lock().unwrap().len());
        app.agora.sequence_events(store).await.unwrap();
        app.agora.fan_out_webhooks(store, 1000).await.unwrap();
        dispatcher.dispatch_once().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while dispatcher.busy() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 5, "4 events, the first sent twice (its 500 was retried)");
    let mut seqs = Vec::new();
    for (headers, body) in &received {
        let signature = headers["agora-signature"].to_str().unwrap();
        let (t, v1) = signature.split_once(',').unwrap();
        let t = t.strip_prefix("t=").unwrap();
        assert_eq!(v1.strip_prefix("v1=").unwrap(), python_signature(&secret, t, body));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((now - t.parse::<i64>().unwrap()).abs() < 60, "a fresh timestamp");
        let json: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(headers["agora-delivery-id"].to_str().unwrap(), json["delivery_id"].as_str().unwrap());
        assert_eq!(headers["agora-event-id"].to_str().unwrap(), json["event"]["id"].as_str().unwrap());
        assert!(["order.created", "order.paid"].contains(&json["event"]["kind"].as_str().unwrap()));
        seqs.push(json["event"]["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs[0], seqs[1], "the retried first delivery");
    assert!(seqs[1..].windows(2).all(|w| w[0] < w[1]), "in seq order: {seqs:?}");

    let log = app.get(&format!("/v1/webhook-endpoints/{ep_id}/deliveries?status=delivered"), Some(&shop.key)).await;
    let items = log.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 4);
    let first = items.iter().min_by_key(|d| d["seq"].as_i64()).unwrap();
    assert_eq!((first["attempts"].as_i64(), first["last_status"].as_i64()), (Some(2), Some(204)));
    app.post_empty(&format!("/v1/deliveries/{}/retry", first["id"].as_str().unwrap()), Some(&shop.key))
        .await
        .expect_problem(409, "invalid_transition");
    app.get(&format!("/v1/webhook-endpoints/{ep_id}/deliveries?status=lost"), Some(&shop.key))
        .await
        .expect_problem(422, "validation");

    let other = app.shop().await;
    app.call(
        Method::PATCH,
        &format!("/v1/webhook-endpoints/{ep_id}"),
        Some(&other.key),
        Some(json!({"status": "disabled"})),
    )
    .await
    .expect_problem(404, "not_found");
    let off = app
        .call(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{ep_id}"),
            Some(&shop.key),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(off.expect(200)["status"], "disabled");
    app.call(Method::DELETE, &format!("/v1/webhook-endpoints/{ep_id}"), Some(&shop.key), None).await.expect(204);
    let gone = app.get(&endpoints, Some(&shop.key)).await;
    assert_eq!(gone.expect(200)["items"].as_array().unwrap().len(), 0);
}

/// A receiver that takes `delay` to answer 200 to each request; returns its
/// URL and how many requests it has answered.
async fn receiver_with_delay(delay: Duration) -> (String, Arc<Mutex<usize>>) {
    let count: Arc<Mutex<usize>> = Arc::default();
    let seen = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(delay).await;
                *seen.lock().unwrap() += 1;
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), count)
}

pub async fn a_slow_endpoint_holds_back_no_other(app: TestApp) {
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 300, 50).await;
    let (slow_url, slow) = receiver_with_delay(Duration::from_secs(3)).await;
    let (fast_url, fast) = receiver_with_delay(Duration::ZERO).await;
    let endpoints = format!("/v1/stores/{}/webhook-endpoints", shop.id);
    for url in [&slow_url, &fast_url] {
        app.post(&endpoints, Some(&shop.key), json!({"url": url, "events": ["order.created"]})).await.expect(201);
    }
    let c = app.customer().await;
    for _ in 0..10 {
        app.order(&c, &shop, &variant, 1).await.expect(201);
    }
    let store = StoreId(uuid::Uuid::parse_str(&shop.id).unwrap());
    app.agora.sequence_events(store).await.unwrap();
    app.agora.fan_out_webhooks(store, 1000).await.unwrap();
    let dispatcher = agora_runtime::webhooks::WebhookDispatcher::new(
        app.agora.clone(),
        Duration::from_millis(10),
        Duration::from_secs(30),
    );
    let started = std::time::Instant::now();
    while *fast.lock().unwrap() < 10 {
        assert!(started.elapsed() < Duration::from_secs(2), "the fast endpoint waited for the slow one");
        dispatcher.dispatch_once().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*slow.lock().unwrap(), 0, "the slow receiver is still on its first request");
    // The slow endpoint's task ends with the test's runtime.
}
