//! Help tasks and payouts, events and exports, isolation between callers,
//! races and protocol errors over a real socket.

use agora_core::Reads;
use agora_e2e::{Customer, SUPER_KEY, TestApp, unique};
use reqwest::Method;
use serde_json::{Value, json};

// ------------------------------------------------------------------ tasks and payouts

async fn paid_order(app: &TestApp, c: &Customer, shop: &agora_e2e::Shop, variant: &str) -> String {
    let id = app.order(c, shop, variant, 1).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.pay(c, &id).await;
    id
}

pub async fn help_tasks_and_payouts(app: TestApp) {
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 2000, 100).await;
    app.call(
        Method::PATCH,
        &format!("/v1/stores/{}/settings", shop.id),
        Some(&shop.key),
        Some(json!({"required_helpers": 1, "payout_cooling_seconds": 0, "help_payout_percent": 50})),
    )
    .await
    .expect(200);
    let owner = app.customer().await;
    let helper = app.customer().await;

    // only for the owner's PAID order
    let unpaid = app.order(&owner, &shop, &variant, 1).await.str("id");
    app.post("/v1/tasks", Some(&owner.token), json!({"order_id": unpaid}))
        .await
        .expect_problem(409, "invalid_transition");
    let order = paid_order(&app, &owner, &shop, &variant).await;
    app.post("/v1/tasks", None, json!({"order_id": order})).await.expect_problem(401, "unauthorized");
    app.post("/v1/tasks", Some(&helper.token), json!({"order_id": order})).await.expect_problem(404, "not_found");
    let t = app.post("/v1/tasks", Some(&owner.token), json!({"order_id": order})).await;
    let tv = t.expect(201).clone();
    assert_eq!(
        (tv["status"].as_str(), tv["helps_valid"].as_i64(), tv["required_helpers"].as_i64()),
        (Some("OPEN"), Some(0), Some(1))
    );
    for k in ["task_no", "order_id", "user_id", "expires_at", "qualified_at", "payout_at"] {
        assert!(tv.get(k).is_some(), "task lacks {k}");
    }
    let task_no = tv["task_no"].as_str().unwrap().to_owned();
    app.post("/v1/tasks", Some(&owner.token), json!({"order_id": order})).await.expect_problem(409, "conflict");

    // helping
    let help_body = |c: &Customer| json!({"store_id": shop.id, "address_id": c.address, "items": [{"variant_id": variant, "qty": 1}], "help_task_no": task_no});
    app.place(&owner, &format!("h-{}", unique()), &help_body(&owner)).await.expect_problem(409, "conflict");
    let h = app.place(&helper, &format!("h-{}", unique()), &help_body(&helper)).await;
    assert_eq!(h.expect(201)["help_task_no"], task_no.as_str());
    let help_order = h.str("id");
    app.place(&helper, &format!("h-{}", unique()), &help_body(&helper)).await.expect_problem(409, "conflict");
    let unknown = json!({"store_id": shop.id, "address_id": helper.address, "items": [{"variant_id": variant, "qty": 1}], "help_task_no": "NOPE"});
    let r = app.place(&helper, "unknown-task", &unknown).await;
    assert!(r.status == 404 || r.status == 409, "{}", r.text);

    let task = app.get(&format!("/v1/tasks/{task_no}"), None).await;
    assert_eq!(
        task.expect(200)["helps"],
        json!([{"helper_user_id": helper.id, "order_id": help_order, "status": "PENDING"}])
    );
    app.get("/v1/tasks/NOPE", None).await.expect_problem(404, "not_found");

    // the help becomes valid when the helper's order is RECEIVED; the task qualifies
    app.pay(&helper, &help_order).await;
    app.post_empty(&format!("/v1/orders/{help_order}/ship"), Some(&shop.key)).await.expect(200);
    app.post_empty(&format!("/v1/orders/{help_order}/receive"), Some(&helper.token)).await.expect(200);
    let task = app.get(&format!("/v1/tasks/{task_no}"), None).await;
    let tv = task.expect(200);
    assert_eq!((tv["status"].as_str(), tv["helps_valid"].as_i64()), (Some("QUALIFIED"), Some(1)), "{}", task.text);
    assert_eq!(tv["helps"][0]["status"], "VALID");
    assert!(tv["qualified_at"].is_string() && tv["payout_at"].is_string());

    // the worker settles it (run here directly): exactly one payout row
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let store_id = agora_core::StoreId(shop.id.parse().unwrap());
    app.agora.settle_due_payouts(store_id, 100).await.expect("settle");
    app.agora.settle_due_payouts(store_id, 100).await.expect("settle again");
    assert_eq!(app.get(&format!("/v1/tasks/{task_no}"), None).await.expect(200)["status"], "SETTLED");
    let payouts = app.get(&format!("/v1/stores/{}/payouts", shop.id), Some(&shop.key)).await;
    let items = payouts.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", payouts.text);
    let po = &items[0];
    for k in [
        "id",
        "task_no",
        "user_id",
        "order_id",
        "amount_minor",
        "payout_status",
        "risk_level",
        "risk_reasons",
        "note",
        "operator",
        "created_at",
        "updated_at",
    ] {
        assert!(po.get(k).is_some(), "payout lacks {k}");
    }
    assert_eq!((po["amount_minor"].as_i64(), po["task_no"].as_str()), (Some(1000), Some(task_no.as_str())));
    let status = po["payout_status"].as_str().unwrap().to_owned();
    assert!(status == "PENDING" || status == "HELD", "{po}");
    let filtered = app.get(&format!("/v1/stores/{}/payouts?status={status}", shop.id), Some(&shop.key)).await;
    assert_eq!(filtered.expect(200)["items"].as_array().unwrap().len(), 1);
    let none = app.get(&format!("/v1/stores/{}/payouts?status=PAID", shop.id), Some(&shop.key)).await;
    assert_eq!(none.expect(200)["items"], json!([]));
    app.get(&format!("/v1/stores/{}/payouts?status=WHAT", shop.id), Some(&shop.key))
        .await
        .expect_problem(422, "validation");
    app.get(&format!("/v1/stores/{}/payouts", shop.id), Some(&owner.token)).await.expect_problem(404, "not_found");

    // approve (audited), then no second decision
    let payout = po["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/payouts/{payout}/approve"), Some(&owner.token), json!({"note": "x"}))
        .await
        .expect_problem(404, "not_found");
    let ok = app.post(&format!("/v1/payouts/{payout}/approve"), Some(&shop.key), json!({"note": "checked"})).await;
    let okv = ok.expect(200);
    assert_eq!((okv["payout_status"].as_str(), okv["note"].as_str()), (Some("PAID"), Some("checked")));
    assert!(okv["operator"].is_string());
    app.post(&format!("/v1/payouts/{payout}/reject"), Some(&shop.key), json!({"note": "late"}))
        .await
        .expect_problem(409, "invalid_transition");
    app.post_empty(&format!("/v1/payouts/{}/reject", uuid::Uuid::now_v7()), Some(&shop.key))
        .await
        .expect_problem(404, "not_found");
    let logs = app.get(&format!("/v1/stores/{}/audit-logs", shop.id), Some(&shop.key)).await;
    assert!(logs.text.contains(&payout) || logs.text.contains("payout"), "the decision is audited: {}", logs.text);

    // reject path on a second task
    let order2 = paid_order(&app, &owner, &shop, &variant).await;
    let task2 = app.post("/v1/tasks", Some(&owner.token), json!({"order_id": order2})).await.str("task_no");
    let helper2 = app.customer().await;
    let body2 = json!({"store_id": shop.id, "address_id": helper2.address, "items": [{"variant_id": variant, "qty": 1}], "help_task_no": task2});
    let ho = app.place(&helper2, "help2", &body2).await.str("id");
    app.pay(&helper2, &ho).await;
    app.post_empty(&format!("/v1/orders/{ho}/ship"), Some(&shop.key)).await.expect(200);
    app.post_empty(&format!("/v1/orders/{ho}/receive"), Some(&helper2.token)).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.agora.settle_due_payouts(store_id, 100).await.expect("settle");
    let payouts = app.get(&format!("/v1/stores/{}/payouts", shop.id), Some(&shop.key)).await;
    let second = payouts.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["task_no"] == task2.as_str())
        .expect("second payout")
        .clone();
    let rejected =
        app.post_empty(&format!("/v1/payouts/{}/reject", second["id"].as_str().unwrap()), Some(&shop.key)).await;
    assert_eq!(rejected.expect(200)["payout_status"], "REJECTED");
}

// ------------------------------------------------------------------ events and exports

pub async fn events_and_exports(app: TestApp) {
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 500, 10).await;
    let c = app.customer().await;
    let order = app.order(&c, &shop, &variant, 1).await.expect(201).clone();
    let order_id = order["id"].as_str().unwrap().to_owned();
    app.pay(&c, &order_id).await;

    let feed = app.get(&format!("/v1/stores/{}/events", shop.id), Some(&shop.key)).await;
    let items = feed.expect(200)["items"].as_array().unwrap().clone();
    assert!(items.len() >= 2, "{}", feed.text);
    for (i, e) in items.iter().enumerate() {
        assert_eq!(e["seq"].as_i64(), Some(i as i64 + 1), "seqs run 1, 2, 3, ...: {}", feed.text);
        for k in ["id", "entity_type", "entity_id", "kind", "payload", "at"] {
            assert!(e.get(k).is_some(), "event lacks {k}");
        }
    }
    assert!(items.iter().any(|e| e["entity_id"] == order["id"]));
    let next_after = feed.json["next_after"].as_i64().unwrap();
    assert_eq!(next_after, items.len() as i64);
    let empty = app.get(&format!("/v1/stores/{}/events?after={next_after}", shop.id), Some(&shop.key)).await;
    assert_eq!(empty.expect(200)["items"], json!([]));
    assert_eq!(empty.json["next_after"], next_after);
    let one = app.get(&format!("/v1/stores/{}/events?after=0&limit=1", shop.id), Some(&shop.key)).await;
    assert_eq!((one.expect(200)["items"].as_array().unwrap().len(), one.json["next_after"].as_i64()), (1, Some(1)));
    app.post_empty(&format!("/v1/orders/{order_id}/ship"), Some(&shop.key)).await.expect(200);
    let more = app.get(&format!("/v1/stores/{}/events?after={next_after}", shop.id), Some(&shop.key)).await;
    assert_eq!(more.expect(200)["items"][0]["seq"].as_i64(), Some(next_after + 1), "{}", more.text);
    app.get(&format!("/v1/stores/{}/events?after=-5", shop.id), Some(&shop.key))
        .await
        .expect_problem(422, "validation");
    app.get(&format!("/v1/stores/{}/events", shop.id), None).await.expect_problem(401, "unauthorized");

    // exports
    let path = format!("/v1/stores/{}/exports", shop.id);
    app.post(&path, Some(&shop.key), json!({"kind": "orders", "format": "xml"}))
        .await
        .expect_problem(422, "validation");
    app.post(&path, Some(&c.token), json!({"kind": "orders", "format": "csv"})).await.expect_problem(404, "not_found");
    let queued = app.post(&path, Some(&shop.key), json!({"kind": "orders", "format": "csv"})).await;
    assert_eq!(queued.expect(202)["status"], "queued");
    let export = queued.str("id");
    let jsonl = app.post(&path, Some(&shop.key), json!({"kind": "orders", "format": "jsonl"})).await.str("id");
    app.get(&format!("/v1/exports/{export}/download"), Some(&shop.key)).await.expect_problem(409, "conflict");
    app.agora.run_queued_exports(10, &|_, _| {}).await.expect("run exports");
    let ready = app.get(&format!("/v1/exports/{export}"), Some(&shop.key)).await;
    let rv = ready.expect(200);
    assert_eq!((rv["status"].as_str(), rv["rows"].as_i64()), (Some("ready"), Some(1)), "{}", ready.text);
    assert!(rv["bytes"].as_i64().unwrap() > 0 && rv["expires_at"].is_string());
    let file = app.get(&format!("/v1/exports/{export}/download"), Some(&shop.key)).await;
    assert_eq!(file.status, 200);
    assert!(file.header("content-type").unwrap().starts_with("text/csv"), "{:?}", file.headers);
    assert!(file.text.contains(order["order_number"].as_str().unwrap()), "{}", file.text);
    let lines = app.get(&format!("/v1/exports/{jsonl}/download"), Some(&shop.key)).await;
    assert_eq!(lines.status, 200);
    let first: Value = serde_json::from_str(lines.text.lines().next().unwrap()).expect("jsonl");
    assert!(first.is_object());
    let other = app.shop().await;
    app.get(&format!("/v1/exports/{export}"), Some(&other.key)).await.expect_problem(404, "not_found");
    app.get(&format!("/v1/exports/{export}/download"), Some(&other.key)).await.expect_problem(404, "not_found");
    app.get(&format!("/v1/exports/{}", uuid::Uuid::now_v7()), Some(&shop.key)).await.expect_problem(404, "not_found");
    // request and download each wrote an export audit record (no route shows them)
    let export_id = agora_core::ExportId(export.parse().unwrap());
    let records = app.store.list_export_audit(export_id).await.expect("export audit");
    let actions: Vec<String> = records.iter().map(|r| format!("{:?}", r.action)).collect();
    assert!(actions.len() >= 2, "request and download are audited: {actions:?}");
}

// ------------------------------------------------------------------ isolation

pub async fn callers_see_only_their_own(app: TestApp) {
    let a = app.shop().await;
    let b = app.shop().await;
    let (pa, va) = app.product(&a, 100, 10).await;
    let (pb, vb) = app.product(&b, 100, 10).await;
    let alice = app.customer().await;
    let bob = app.customer().await;
    let oa = app.order(&alice, &a, &va, 1).await.str("id");
    let ob = app.order(&bob, &b, &vb, 1).await.str("id");

    // a customer cannot see or touch another's order
    app.get(&format!("/v1/orders/{oa}"), Some(&bob.token)).await.expect_problem(404, "not_found");
    app.post_empty(&format!("/v1/orders/{oa}/cancel"), Some(&bob.token)).await.expect_problem(404, "not_found");
    app.post_empty(&format!("/v1/orders/{oa}/payments"), Some(&bob.token)).await.expect_problem(404, "not_found");
    let bobs = app.get("/v1/users/me/orders", Some(&bob.token)).await;
    let ids: Vec<&str> =
        bobs.expect(200)["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [ob.as_str()]);

    // a store key cannot touch another store
    let kb = &b.key;
    for path in [
        format!("/v1/stores/{}/settings", a.id),
        format!("/v1/stores/{}/audit-logs", a.id),
        format!("/v1/stores/{}/orders", a.id),
        format!("/v1/stores/{}/payouts", a.id),
        format!("/v1/stores/{}/events", a.id),
        format!("/v1/orders/{oa}"),
    ] {
        app.get(&path, Some(kb)).await.expect_problem(404, "not_found");
    }
    app.call(Method::PATCH, &format!("/v1/stores/{}/settings", a.id), Some(kb), Some(json!({"required_helpers": 9})))
        .await
        .expect_problem(404, "not_found");
    app.post(
        &format!("/v1/stores/{}/products", a.id),
        Some(kb),
        json!({"title": "x", "currency": "EUR", "variants": [{"sku": "Z", "name": "Z", "price_minor": 1}]}),
    )
    .await
    .expect_problem(404, "not_found");
    app.call(Method::PATCH, &format!("/v1/products/{pa}"), Some(kb), Some(json!({"title": "mine"})))
        .await
        .expect_problem(404, "not_found");
    app.post(&format!("/v1/stores/{}/warehouses", a.id), Some(kb), json!({"name": "x"}))
        .await
        .expect_problem(404, "not_found");
    app.call(
        Method::PUT,
        &format!("/v1/stores/{}/inventory", a.id),
        Some(kb),
        Some(json!({"variant_id": va, "warehouse_id": a.warehouse, "on_hand": 1})),
    )
    .await
    .expect_problem(404, "not_found");
    // a variant of store B through store A's inventory route
    app.call(
        Method::PUT,
        &format!("/v1/stores/{}/inventory", a.id),
        Some(&a.key),
        Some(json!({"variant_id": vb, "warehouse_id": a.warehouse, "on_hand": 1})),
    )
    .await
    .expect_problem(404, "not_found");
    app.post(&format!("/v1/stores/{}/exports", a.id), Some(kb), json!({"kind": "orders", "format": "csv"}))
        .await
        .expect_problem(404, "not_found");
    app.post_empty(&format!("/v1/stores/{}/admin-keys", a.id), Some(kb)).await.expect_problem(403, "forbidden");
    app.post("/v1/stores", Some(kb), json!({"name": "x", "domain": "x.test"})).await.expect_problem(403, "forbidden");
    // ship of another store's order
    app.pay(&alice, &oa).await;
    app.post_empty(&format!("/v1/orders/{oa}/ship"), Some(kb)).await.expect_problem(404, "not_found");
    app.post_empty(&format!("/v1/orders/{oa}/ship"), Some(&a.key)).await.expect(200);
    // a customer is not an admin
    app.get(&format!("/v1/stores/{}/settings", a.id), Some(&alice.token)).await.expect_problem(404, "not_found");
    // an order in store A for a variant of store B
    let cross = json!({"store_id": a.id, "address_id": alice.address, "items": [{"variant_id": vb, "qty": 1}]});
    let r = app.place(&alice, "cross", &cross).await;
    assert_eq!(r.expect_problem(422, "validation")["errors"][0]["field"], "items[0].variant_id");
    assert_eq!(app.available(&pb).await, 9);
}

// ------------------------------------------------------------------ races

pub async fn concurrent_retries_of_one_key_make_one_order(app: TestApp) {
    let shop = app.shop().await;
    let (product, variant) = app.product(&shop, 100, 100).await;
    let c = app.customer().await;
    let body = TestApp::order_body(&c, &shop, &variant, 1);
    let key = format!("retry-{}", unique());
    let results = futures::future::join_all((0..16).map(|_| app.place(&c, &key, &body))).await;
    let mut ids = std::collections::BTreeSet::new();
    for r in &results {
        match r.status {
            201 => {
                ids.insert(r.str("id"));
            }
            409 => {
                r.expect_problem(409, "conflict");
                assert!(r.header("retry-after").is_some(), "409 in flight carries Retry-After: {}", r.text);
            }
            _ => panic!("unexpected {}: {}", r.status, r.text),
        }
    }
    assert!(ids.len() <= 1, "one order: {ids:?}");
    let after = app.place(&c, &key, &body).await;
    assert_eq!(
        after.expect(201)["id"].as_str().unwrap(),
        ids.iter().next().map(String::as_str).unwrap_or(&after.str("id"))
    );
    assert_eq!(after.header("idempotent-replayed"), Some("true"));
    let mine = app.get("/v1/users/me/orders", Some(&c.token)).await;
    assert_eq!(mine.expect(200)["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.available(&product).await, 99);
}

pub async fn thirty_two_clients_race_for_fifty_units(app: TestApp) {
    let shop = app.shop().await;
    let (product, variant) = app.product(&shop, 100, 50).await;
    let customers = futures::future::join_all((0..32).map(|_| app.customer())).await;
    let app = &app;
    let shop = &shop;
    let variant = &variant;
    let per_client = futures::future::join_all(customers.iter().map(|c| async move {
        let mut ok = 0u32;
        for _ in 0..200 {
            let r = app.order(c, shop, variant, 1).await;
            match r.status {
                201 => ok += 1,
                409 if r.json["code"] == "out_of_stock" => return ok,
                409 if r.json["code"] == "conflict" => continue,
                _ => panic!("unexpected {}: {}", r.status, r.text),
            }
        }
        panic!("never ran out of stock");
    }))
    .await;
    let total: u32 = per_client.iter().sum();
    assert_eq!(total, 50, "exactly 50 orders: {per_client:?}");
    assert_eq!(app.available(&product).await, 0);
    let orders = app.get(&format!("/v1/stores/{}/orders?limit=200", shop.id), Some(&shop.key)).await;
    assert_eq!(orders.expect(200)["items"].as_array().unwrap().len(), 50);
}

// ------------------------------------------------------------------ protocol

pub async fn protocol_errors_and_operations(app: TestApp) {
    let r = app.get("/v1/nowhere", None).await;
    r.expect_problem(404, "not_found");
    assert!(r.header("x-request-id").is_some());
    let r = app.send(app.request(Method::DELETE, "/v1/users", None)).await;
    r.expect_problem(405, "method_not_allowed");
    let r = app.send(app.request(Method::GET, "/healthz", None).header("x-request-id", "trace-me-1")).await;
    assert_eq!(r.expect(200)["status"], "ok");
    assert_eq!(r.header("x-request-id"), Some("trace-me-1"));
    assert_eq!(app.get("/readyz", None).await.expect(200)["status"], "ready");

    let big = vec![b' '; 1024 * 1024 + 1];
    app.send(app.request(Method::POST, "/v1/users", None).header("content-type", "application/json").body(big))
        .await
        .expect_problem(413, "payload_too_large");
    app.send(
        app.request(Method::POST, "/v1/users", None)
            .header("content-type", "application/json")
            .body("{\"name\": \"x\""),
    )
    .await
    .expect_problem(400, "malformed_json");
    let wrong = app.post("/v1/users", None, json!({"name": ["x"], "email": "a@b.c", "password": "long enough"})).await;
    assert_eq!(
        wrong.expect_problem(422, "validation")["errors"],
        json!([{"field": "name", "message": wrong.json["errors"][0]["message"]}])
    );
    app.get("/v1/orders/not-a-uuid", None).await.expect_problem(404, "not_found");

    let spec = app.get("/openapi.json", None).await;
    assert_eq!(spec.expect(200)["openapi"], "3.1.0");
    assert!(spec.json["paths"]["/v1/orders"]["post"].is_object());

    // metrics: requests by route template and status, orders placed, conflicts by kind
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 100, 1).await;
    let c = app.customer().await;
    app.order(&c, &shop, &variant, 1).await.expect(201);
    app.order(&c, &shop, &variant, 1).await.expect_problem(409, "out_of_stock");
    let m = app.get("/metrics", None).await;
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let has = |needle: &[&str]| m.text.lines().any(|l| needle.iter().all(|n| l.contains(n)));
    assert!(has(&["agora_http_requests_total", r#"route="/v1/orders""#, r#"status="201""#]), "{}", m.text);
    assert!(
        has(&["agora_http_request_duration_seconds_bucket", r#"route="/v1/stores/{store_id}/products""#]),
        "{}",
        m.text
    );
    assert!(has(&["agora_orders_placed_total"]), "{}", m.text);
    assert!(has(&["agora_conflicts_total", r#"code="out_of_stock""#]), "{}", m.text);

    // Invented methods share one label: a client cannot grow /metrics.
    let invented: Vec<String> = (0..20).map(|i| format!("INVENTED{i}{}", "Q".repeat(500))).collect();
    for name in &invented {
        let method = Method::from_bytes(name.as_bytes()).expect("a token is a method");
        let r = app.call(method, "/v1/orders", None, None).await;
        assert!(r.status < 500, "{}", r.status);
    }
    let m = app.get("/metrics", None).await;
    assert!(!m.text.contains("INVENTED"), "a method name became a label");
    assert!(m.text.lines().any(|l| l.starts_with("agora_http_requests_total") && l.contains(r#"method="other""#)));
}

/// NUL in a JSON string, a path or a query is 422 naming where, before any
/// store call: the same answer on every store (PostgreSQL would refuse to
/// keep it and answered 503).
pub async fn nul_characters_are_refused_before_any_store_call(app: TestApp) {
    let login = app.post("/v1/sessions", None, json!({"email": "a\u{0}@example.com", "password": "whatever"})).await;
    assert_eq!(login.expect_problem(422, "validation")["errors"][0]["field"], "email");
    let nested = app
        .post(
            "/v1/users",
            None,
            json!({"name": "n", "email": "n@example.com", "password": "long enough", "x": ["ok", "b\u{0}"]}),
        )
        .await;
    assert_eq!(nested.expect_problem(422, "validation")["errors"][0]["field"], "x[1]");
    // A backslash followed by "u0000" is not NUL: the usual answer.
    let escaped =
        app.post("/v1/sessions", None, json!({"email": "a\\u0000@example.com", "password": "whatever"})).await;
    assert_eq!(escaped.status, 401);
    let task = app.get("/v1/tasks/T%00-1", None).await;
    assert_eq!(task.expect_problem(422, "validation")["errors"][0]["field"], "path");
    let shop = app.shop().await;
    let listed = app.get(&format!("/v1/stores/{}/orders?status=paid%00", shop.id), Some(&shop.key)).await;
    assert_eq!(listed.expect_problem(422, "validation")["errors"][0]["field"], "query");
    let hook = app
        .webhook(
            &json!({"event_id": "evt\u{0}", "type": "payment.succeeded", "payment_id": unique(), "amount_minor": 1}),
        )
        .await;
    assert_eq!(hook.expect_problem(422, "validation")["errors"][0]["field"], "event_id");
    // Nothing reached a store: the api still answers normally.
    assert_eq!(app.get("/readyz", None).await.status, 200);
}

/// `DELETE /v1/users/me` and `GET /v1/admin/security-events` over a socket.
pub async fn account_erasure_and_security_events_over_http(app: TestApp) {
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 700, 5).await;
    // Someone guesses at one customer's password until the limit refuses them.
    let guessed = app.customer().await;
    let mut refused = false;
    for _ in 0..12 {
        let r = app.post("/v1/sessions", None, json!({"email": guessed.email, "password": "guess"})).await;
        if r.status == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the login limit refused the guesses");
    let events = app.get("/v1/admin/security-events", Some(SUPER_KEY)).await;
    let guessed_subject = format!("email:{}", guessed.email);
    assert!(events.expect(200)["items"].as_array().expect("items").iter().any(|e| e["subject"] == guessed_subject));
    app.get("/v1/admin/security-events", Some(&shop.key)).await.expect_problem(403, "forbidden");
    app.get("/v1/admin/security-events", Some(&guessed.token)).await.expect_problem(403, "forbidden");

    // Another customer erases her account.
    let c = app.customer().await;
    let order = app.order(&c, &shop, &variant, 1).await;
    let order_id = order.expect(201)["id"].as_str().expect("order id").to_owned();
    let erase = |password: &str| json!({"password": password});
    app.call(Method::DELETE, "/v1/users/me", None, Some(erase("x"))).await.expect_problem(401, "unauthorized");
    app.call(Method::DELETE, "/v1/users/me", Some(&c.token), Some(erase("wrong password")))
        .await
        .expect_problem(401, "unauthorized");
    app.call(Method::DELETE, "/v1/users/me", Some(&c.token), Some(json!({"password": "x", "extra": 1})))
        .await
        .expect_problem(422, "validation");
    app.call(Method::DELETE, "/v1/users/me", Some(&c.token), Some(erase("correct horse battery"))).await.expect(204);
    app.get("/v1/users/me/orders", Some(&c.token)).await.expect_problem(401, "unauthorized");
    app.post("/v1/sessions", None, json!({"email": c.email, "password": "correct horse battery"}))
        .await
        .expect_problem(401, "unauthorized");
    // The store's books keep the order, with the user id.
    let kept = app.get(&format!("/v1/orders/{order_id}"), Some(&shop.key)).await;
    assert_eq!(kept.expect(200)["user_id"].as_str(), Some(c.id.as_str()));
    // The email registers again.
    app.post("/v1/users", None, json!({"name": "Ann", "email": c.email, "password": "correct horse battery"}))
        .await
        .expect(201);
    let events = app.get("/v1/admin/security-events", Some(SUPER_KEY)).await;
    let items = events.expect(200)["items"].as_array().expect("items").clone();
    assert!(items.iter().any(|e| e["kind"] == "account.erased" && e["subject"] == format!("user:{}", c.id)));
    assert!(items.iter().any(|e| e["subject"] == guessed_subject), "other people's events stay");
}
