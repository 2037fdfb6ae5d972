//! Store operations over a real socket (API.md v1.1): a store's lifecycle,
//! its admin keys, the v1.1 settings and order flags.

use agora_e2e::{SUPER_KEY, TestApp};
use reqwest::Method;
use serde_json::json;

pub async fn store_lifecycle_and_admin_keys(app: TestApp) {
    let shop = app.shop().await;
    let (product, variant) = app.product(&shop, 900, 5).await;
    let c = app.customer().await;
    let store = format!("/v1/stores/{}", shop.id);

    // read by super admin and the store's own admin; strangers see nothing
    let s = app.get(&store, Some(&shop.key)).await;
    let sv = s.expect(200);
    assert_eq!((sv["status"].as_str(), sv["plan"].as_str()), (Some("active"), Some("basic")));
    assert_eq!(sv["onboarding"], json!({}));
    for k in ["id", "name", "domain", "created_at", "updated_at"] {
        assert!(sv.get(k).is_some(), "store lacks {k}");
    }
    app.get(&store, Some(SUPER_KEY)).await.expect(200);
    let other = app.shop().await;
    app.get(&store, Some(&other.key)).await.expect_problem(404, "not_found");
    app.get(&store, Some(&c.token)).await.expect_problem(404, "not_found");
    app.get(&store, None).await.expect_problem(401, "unauthorized");

    // only the super admin patches it
    let patch = json!({"plan": "enterprise", "onboarding": {"add_product": true}});
    app.call(Method::PATCH, &store, Some(&shop.key), Some(patch.clone())).await.expect_problem(403, "forbidden");
    let bad = json!({"plan": "gold", "status": "closed"});
    let r = app.call(Method::PATCH, &store, Some(SUPER_KEY), Some(bad)).await;
    assert_eq!(r.expect_problem(422, "validation")["errors"].as_array().map(Vec::len), Some(2));
    app.call(Method::PATCH, &store, Some(SUPER_KEY), Some(json!({"colour": "red"})))
        .await
        .expect_problem(422, "validation");
    let p = app.call(Method::PATCH, &store, Some(SUPER_KEY), Some(patch)).await;
    assert_eq!(p.expect(200)["plan"], "enterprise");
    assert_eq!(p.json["onboarding"], json!({"add_product": true}));

    // suspended: orders, product and stock writes are 409, public reads 404
    let suspend = json!({"status": "suspended"});
    assert_eq!(
        app.call(Method::PATCH, &store, Some(SUPER_KEY), Some(suspend)).await.expect(200)["status"],
        "suspended"
    );
    app.order(&c, &shop, &variant, 1).await.expect_problem(409, "store_suspended");
    app.set_stock(&shop, &variant, 50).await.expect_problem(409, "store_suspended");
    let np = json!({"title": "T", "currency": "EUR", "variants": [{"sku": "S-SUSP", "name": "n", "price_minor": 1}]});
    app.post(&format!("{store}/products"), Some(&shop.key), np).await.expect_problem(409, "store_suspended");
    app.get(&format!("{store}/products"), None).await.expect_problem(404, "not_found");
    app.get(&format!("/v1/products/{product}"), None).await.expect_problem(404, "not_found");
    app.get(&format!("/v1/products/{product}"), Some(&shop.key)).await.expect(200);
    let active = json!({"status": "active"});
    app.call(Method::PATCH, &store, Some(SUPER_KEY), Some(active)).await.expect(200);
    app.order(&c, &shop, &variant, 1).await.expect(201);
    app.get(&format!("{store}/products"), None).await.expect(200);

    // keys: optional expiry, listed without the key, revoked at once
    let keys = format!("{store}/admin-keys");
    app.post(&keys, Some(SUPER_KEY), json!({"expires_in_seconds": 5})).await.expect_problem(422, "validation");
    let k = app.post(&keys, Some(SUPER_KEY), json!({"expires_in_seconds": 3600})).await;
    let (key_id, key) = (k.expect(201).clone()["id"].as_str().unwrap().to_owned(), k.str("key"));
    app.get(&format!("{store}/settings"), Some(&key)).await.expect(200);
    let list = app.get(&keys, Some(SUPER_KEY)).await;
    let items = list.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(!list.text.contains(&key), "a listed key is masked");
    let row = items.iter().find(|i| i["id"] == key_id.as_str()).unwrap();
    assert!(row["expires_at"].is_string() && row["revoked_at"].is_null(), "{row}");
    for k in ["masked", "created_at", "last_used_at"] {
        assert!(row.get(k).is_some(), "admin key lacks {k}");
    }
    app.get(&keys, Some(&shop.key)).await.expect_problem(403, "forbidden");
    let del = format!("{keys}/{key_id}");
    app.call(Method::DELETE, &del, Some(&other.key), None).await.expect_problem(404, "not_found");
    let r = app.call(Method::DELETE, &del, Some(&shop.key), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get(&format!("{store}/settings"), Some(&key)).await.expect_problem(401, "unauthorized");
    assert_eq!(app.call(Method::DELETE, &del, Some(SUPER_KEY), None).await.status, 204, "idempotent");
    app.call(Method::DELETE, &format!("{keys}/not-a-uuid"), Some(SUPER_KEY), None)
        .await
        .expect_problem(404, "not_found");
    let list = app.get(&keys, Some(SUPER_KEY)).await;
    let items = list.expect(200)["items"].as_array().unwrap().clone();
    assert!(items.iter().find(|i| i["id"] == key_id.as_str()).unwrap()["revoked_at"].is_string());
    let audit = app.get(&format!("{store}/audit-logs"), Some(&shop.key)).await;
    let keys_audited: Vec<&str> =
        audit.expect(200)["items"].as_array().unwrap().iter().filter_map(|a| a["key"].as_str()).collect();
    for k in ["plan", "status", "admin_key.revoked"] {
        assert!(keys_audited.contains(&k), "{keys_audited:?} lacks {k}");
    }

    // the v1.1 settings
    let st = app.get(&format!("{store}/settings"), Some(&shop.key)).await;
    let sv = st.expect(200);
    assert_eq!(sv["retention_days"], json!({"events": 0, "audit_logs": 0, "connection_events": 90, "drafts": 180}));
    assert_eq!((sv["low_stock_threshold"].as_i64(), sv["velocity_window_days"].as_i64()), (Some(5), Some(28)));
    assert!(sv["admin_keys_rotated_at"].is_string() && sv["secrets_rotated_at"].is_null());
    let patch = json!({"feature_toggles": {"beta": true}, "retention_days": {"events": 30}, "flag_amount_minor": 5000});
    let st = app.call(Method::PATCH, &format!("{store}/settings"), Some(&shop.key), Some(patch)).await;
    assert_eq!(st.expect(200)["feature_toggles"], json!({"beta": true}));
    assert_eq!(st.json["retention_days"]["events"], 30);
    let bad = json!({"feature_toggles": {"Bad-Name": true}, "retention_days": {"forever": 1}});
    app.call(Method::PATCH, &format!("{store}/settings"), Some(&shop.key), Some(bad))
        .await
        .expect_problem(422, "validation");
}

pub async fn order_flags_over_http(app: TestApp) {
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 3000, 20).await;
    let c = app.customer().await;
    let settings = format!("/v1/stores/{}/settings", shop.id);
    app.call(Method::PATCH, &settings, Some(&shop.key), Some(json!({"flag_amount_minor": 6000}))).await.expect(200);
    let small = app.order(&c, &shop, &variant, 1).await.str("id");
    let big = app.order(&c, &shop, &variant, 2).await.str("id");
    let flags = format!("/v1/stores/{}/flags", shop.id);
    let list = app.get(&flags, Some(&shop.key)).await;
    let items = list.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{}", list.text);
    assert_eq!((items[0]["order_id"].as_str(), items[0]["reason"].as_str()), (Some(big.as_str()), Some("fraud_risk")));

    let f = app
        .post(
            &format!("/v1/orders/{small}/flags"),
            Some(&shop.key),
            json!({"reason": "address_issue", "note": "po box"}),
        )
        .await;
    let fv = f.expect(201).clone();
    for k in [
        "id",
        "order_id",
        "store_id",
        "reason",
        "status",
        "note",
        "resolution",
        "created_at",
        "updated_at",
        "resolved_at",
    ] {
        assert!(fv.get(k).is_some(), "flag lacks {k}");
    }
    assert_eq!(fv["status"], "open");
    let id = fv["id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{small}/flags"), Some(&shop.key), json!({"reason": "nope"}))
        .await
        .expect_problem(422, "validation");
    app.post(&format!("/v1/orders/{small}/flags"), Some(&c.token), json!({"reason": "other"}))
        .await
        .expect_problem(404, "not_found");
    let path = format!("/v1/flags/{id}");
    let r = app.call(Method::PATCH, &path, Some(&shop.key), Some(json!({"status": "in_review"}))).await;
    assert_eq!(r.expect(200)["status"], "in_review");
    let r = app.call(Method::PATCH, &path, Some(&shop.key), Some(json!({"status": "open"}))).await;
    r.expect_problem(409, "invalid_transition");
    let done = json!({"status": "resolved", "resolution": "confirmed with customer"});
    let r = app.call(Method::PATCH, &path, Some(&shop.key), Some(done)).await;
    assert!(r.expect(200)["resolved_at"].is_string());
    let other = app.shop().await;
    app.call(Method::PATCH, &path, Some(&other.key), Some(json!({"status": "dismissed"})))
        .await
        .expect_problem(404, "not_found");
    let open = app.get(&format!("{flags}?status=open"), Some(&shop.key)).await;
    assert_eq!(open.expect(200)["items"].as_array().unwrap().len(), 1);
    let resolved = app.get(&format!("{flags}?status=resolved"), Some(&shop.key)).await;
    assert_eq!(resolved.expect(200)["items"][0]["id"], id);
    app.get(&format!("{flags}?status=bogus"), Some(&shop.key)).await.expect_problem(422, "validation");
    app.get(&flags, Some(&other.key)).await.expect_problem(404, "not_found");
}

pub async fn kpis_over_http(app: TestApp) {
    use agora_core::usecases::Sweep;
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 1500, 50).await;
    let c = app.customer().await;
    let a = app.order(&c, &shop, &variant, 2).await.str("id");
    app.order(&c, &shop, &variant, 1).await.expect(201);
    app.pay(&c, &a).await;
    let store_id = agora_core::StoreId(shop.id.parse().unwrap());
    let kpis = format!("/v1/stores/{}/kpis", shop.id);
    let before = app.get(&kpis, Some(&shop.key)).await;
    assert!(before.expect(200)["computed_at"].is_null(), "{}", before.text);
    app.agora.sequence_events(store_id).await.unwrap();
    app.agora.run_sweep(Sweep::Kpis, store_id, 1000).await.unwrap();

    let today = app.agora.clock().now().date();
    let day = agora_core::usecases::day_key(today);
    let r = app.get(&format!("{kpis}?from={day}&to={day}"), Some(&shop.key)).await;
    let v = r.expect(200);
    assert_eq!(
        (
            v["orders_created"].as_i64(),
            v["orders_paid"].as_i64(),
            v["revenue_minor"].as_i64(),
            v["units_sold"].as_i64()
        ),
        (Some(2), Some(1), Some(3000), Some(2)),
        "{}",
        r.text
    );
    assert_eq!((v["currency"].as_str(), v["average_order_minor"].as_i64()), (Some("EUR"), Some(3000)));
    assert_eq!(
        v["days"],
        json!([{"date": day, "orders_created": 2, "orders_paid": 1, "revenue_minor": 3000, "refunded_minor": 0, "units_sold": 2}])
    );
    for k in ["from", "to", "orders_closed", "refunded_minor", "computed_at"] {
        assert!(v.get(k).is_some(), "kpis lack {k}");
    }
    let default = app.get(&kpis, Some(&shop.key)).await;
    assert_eq!(default.expect(200)["days"].as_array().map(Vec::len), Some(30));
    app.get(&format!("{kpis}?from=2025-01-01&to=2026-06-01"), Some(&shop.key)).await.expect_problem(422, "validation");
    app.get(&format!("{kpis}?from=yesterday"), Some(&shop.key)).await.expect_problem(422, "validation");
    app.get(&format!("{kpis}?limit=5"), Some(&shop.key)).await.expect(200);
    let other = app.shop().await;
    app.get(&kpis, Some(&other.key)).await.expect_problem(404, "not_found");
    app.get(&kpis, Some(&c.token)).await.expect_problem(404, "not_found");
    app.get(&kpis, None).await.expect_problem(401, "unauthorized");
}

pub async fn velocity_and_purchase_orders_over_http(app: TestApp) {
    use agora_core::usecases::Sweep;
    let shop = app.shop().await;
    let (product, variant) = app.product(&shop, 500, 3).await;
    let c = app.customer().await;
    let o = app.order(&c, &shop, &variant, 2).await.str("id");
    app.pay(&c, &o).await;
    let store_id = agora_core::StoreId(shop.id.parse().unwrap());
    app.agora.sequence_events(store_id).await.unwrap();
    app.agora.run_sweep(Sweep::Velocity, store_id, 100).await.unwrap();

    let vel = app.get(&format!("/v1/stores/{}/velocity", shop.id), Some(&shop.key)).await;
    let row = vel.expect(200)["items"][0].clone();
    for k in [
        "variant_id",
        "sku",
        "units_sold",
        "window_days",
        "daily_velocity",
        "available",
        "on_order",
        "days_of_cover",
        "stockout_at",
        "reorder_qty",
        "computed_at",
    ] {
        assert!(row.get(k).is_some(), "velocity lacks {k}: {row}");
    }
    assert_eq!(
        (row["units_sold"].as_i64(), row["daily_velocity"].as_str(), row["available"].as_i64()),
        (Some(2), Some("0.071"), Some(1))
    );
    assert_eq!(row["reorder_qty"], 3, "ceil(2/28 x 44) - 1");

    let pos = format!("/v1/stores/{}/purchase-orders", shop.id);
    let bad = json!({"vendor": "Acme", "warehouse_id": shop.warehouse, "currency": "EUR", "lines": []});
    app.post(&pos, Some(&shop.key), bad).await.expect_problem(422, "validation");
    let draft = app
        .post(
            &format!("{pos}/from-velocity"),
            Some(&shop.key),
            json!({"vendor": "Acme", "warehouse_id": shop.warehouse}),
        )
        .await;
    let dv = draft.expect(201).clone();
    assert_eq!((dv["status"].as_str(), dv["lines"][0]["qty"].as_i64()), (Some("draft"), Some(3)));
    for k in [
        "id",
        "number",
        "vendor",
        "warehouse_id",
        "currency",
        "lines",
        "total_minor",
        "note",
        "created_at",
        "updated_at",
        "submitted_at",
        "received_at",
    ] {
        assert!(dv.get(k).is_some(), "purchase order lacks {k}");
    }
    let id = dv["id"].as_str().unwrap();
    let receive = format!("/v1/purchase-orders/{id}/receive");
    let body = json!({"lines": [{"variant_id": variant, "qty": 3}]});
    app.call(Method::POST, &receive, Some(&shop.key), Some(body.clone()))
        .await
        .expect_problem(400, "idempotency_key_missing");
    app.post_empty(&format!("/v1/purchase-orders/{id}/submit"), Some(&shop.key)).await.expect(200);
    app.post_empty(&format!("/v1/purchase-orders/{id}/submit"), Some(&shop.key))
        .await
        .expect_problem(409, "invalid_transition");
    let send = |key: &str, body: serde_json::Value| {
        app.send(app.request(Method::POST, &receive, Some(&shop.key)).header("Idempotency-Key", key).json(&body))
    };
    let first = send("r-1", body.clone()).await;
    assert_eq!(first.expect(200)["status"], "received");
    let again = send("r-1", body.clone()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    send("r-1", json!({"lines": [{"variant_id": variant, "qty": 1}]}))
        .await
        .expect_problem(422, "idempotency_key_reused");
    assert_eq!(app.available(&product).await, 4, "1 left + 3 received, once");
    let got = app.get(&format!("/v1/purchase-orders/{id}"), Some(&shop.key)).await;
    assert_eq!(got.expect(200)["lines"][0]["received_qty"], 3);
    let listed = app.get(&format!("{pos}?status=received"), Some(&shop.key)).await;
    assert_eq!(listed.expect(200)["items"][0]["id"], id);
    app.post_empty(&format!("/v1/purchase-orders/{id}/cancel"), Some(&shop.key))
        .await
        .expect_problem(409, "invalid_transition");
    let other = app.shop().await;
    app.get(&format!("/v1/purchase-orders/{id}"), Some(&other.key)).await.expect_problem(404, "not_found");
    app.get(&format!("/v1/stores/{}/velocity", shop.id), Some(&other.key)).await.expect_problem(404, "not_found");
}

pub async fn suspended_store_admins_still_read_lists(app: TestApp) {
    let shop = app.shop().await;
    app.product(&shop, 100, 1).await;
    let store = format!("/v1/stores/{}", shop.id);
    app.call(Method::PATCH, &store, Some(SUPER_KEY), Some(json!({"status": "suspended"}))).await.expect(200);
    app.get(&format!("{store}/products"), None).await.expect_problem(404, "not_found");
    let listed = app.get(&format!("{store}/products"), Some(&shop.key)).await;
    assert_eq!(listed.expect(200)["items"].as_array().map(Vec::len), Some(1));
    app.get(&format!("{store}/kpis?to=-9999-01-05"), Some(&shop.key)).await.expect_problem(422, "validation");
}

pub async fn support_tickets_drafts_and_quick_replies_over_http(app: TestApp) {
    let shop = app.shop().await;
    let c = app.customer().await;
    let t = app
        .post(
            "/v1/tickets",
            Some(&c.token),
            json!({"store_id": shop.id, "subject": "Size?", "body": "Does it run small?"}),
        )
        .await;
    let tv = t.expect(201).clone();
    for k in [
        "id",
        "number",
        "store_id",
        "user_id",
        "order_id",
        "subject",
        "status",
        "priority",
        "unread_for_customer",
        "unread_for_store",
        "last_message_at",
        "created_at",
        "updated_at",
    ] {
        assert!(tv.get(k).is_some(), "ticket lacks {k}");
    }
    assert_eq!(
        (tv["status"].as_str(), tv["priority"].as_str(), tv["unread_for_store"].as_i64()),
        (Some("open"), Some("normal"), Some(1))
    );
    let id = tv["id"].as_str().unwrap();
    app.post("/v1/tickets", Some(&shop.key), json!({"store_id": shop.id, "subject": "x", "body": "y"}))
        .await
        .expect_problem(403, "forbidden");
    let unread = app.get(&format!("/v1/stores/{}/unread", shop.id), Some(&shop.key)).await;
    assert_eq!(unread.expect(200), &json!({"tickets": 1, "work_order_messages": 0}));

    let d = app
        .post(
            &format!("/v1/tickets/{id}/drafts"),
            Some(&shop.key),
            json!({"body": "It runs true to size.", "source": "model", "model": "m1", "version": "v2"}),
        )
        .await;
    let dv = d.expect(201).clone();
    for k in [
        "id",
        "ticket_id",
        "body",
        "source",
        "model",
        "version",
        "status",
        "final_body",
        "approved",
        "reward_score",
        "feedback",
        "created_at",
        "updated_at",
    ] {
        assert!(dv.get(k).is_some(), "draft lacks {k}");
    }
    let draft = dv["id"].as_str().unwrap();
    let sent = app.post_empty(&format!("/v1/drafts/{draft}/send"), Some(&shop.key)).await;
    assert_eq!((sent.expect(200)["status"].as_str(), sent.json["approved"].as_bool()), (Some("sent"), Some(true)));
    let scored = app
        .call(Method::PATCH, &format!("/v1/drafts/{draft}"), Some(&shop.key), Some(json!({"reward_score": 1.0})))
        .await;
    assert_eq!(scored.expect(200)["reward_score"], 1.0);
    app.call(Method::PATCH, &format!("/v1/drafts/{draft}"), Some(&shop.key), Some(json!({"reward_score": 3})))
        .await
        .expect_problem(422, "validation");
    let messages = app.get(&format!("/v1/tickets/{id}/messages"), Some(&c.token)).await;
    let items = messages.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!((items[1]["author"].as_str(), items[1]["draft_id"].as_str()), (Some("store"), Some(draft)));
    let m = app.post(&format!("/v1/tickets/{id}/messages"), Some(&c.token), json!({"body": "Great, thanks"})).await;
    assert_eq!(m.expect(201)["author"], "customer");
    let read = app.post_empty(&format!("/v1/tickets/{id}/read"), Some(&c.token)).await;
    assert_eq!(read.expect(200)["unread_for_customer"], 0);
    let p = app
        .call(
            Method::PATCH,
            &format!("/v1/tickets/{id}"),
            Some(&shop.key),
            Some(json!({"status": "solved", "priority": "low"})),
        )
        .await;
    assert_eq!(p.expect(200)["status"], "solved");
    app.call(Method::PATCH, &format!("/v1/tickets/{id}"), Some(&c.token), Some(json!({"status": "closed"})))
        .await
        .expect_problem(404, "not_found");
    let mine = app.get("/v1/users/me/tickets", Some(&c.token)).await;
    assert_eq!(mine.expect(200)["items"][0]["id"], id);
    let solved = app.get(&format!("/v1/stores/{}/tickets?status=solved", shop.id), Some(&shop.key)).await;
    assert_eq!(solved.expect(200)["items"][0]["id"], id);
    let other = app.customer().await;
    app.get(&format!("/v1/tickets/{id}"), Some(&other.token)).await.expect_problem(404, "not_found");

    let qr = format!("/v1/stores/{}/quick-replies", shop.id);
    let q = app.post(&qr, Some(&shop.key), json!({"content": "We ship in 2 days.", "role": "support"})).await;
    let qid = q.expect(201)["id"].as_str().unwrap().to_owned();
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/quick-replies/{qid}"),
            Some(&shop.key),
            Some(json!({"content": "We ship in 1 day."})),
        )
        .await;
    assert_eq!(patched.expect(200)["content"], "We ship in 1 day.");
    assert_eq!(app.get(&qr, Some(&shop.key)).await.expect(200)["items"].as_array().map(Vec::len), Some(1));
    let del = app.call(Method::DELETE, &format!("/v1/quick-replies/{qid}"), Some(&shop.key), None).await;
    assert_eq!(del.status, 204, "{}", del.text);
    app.call(Method::DELETE, &format!("/v1/quick-replies/{qid}"), Some(&shop.key), None)
        .await
        .expect_problem(404, "not_found");
    app.post(&qr, Some(&shop.key), json!({"content": "x", "role": "boss"})).await.expect_problem(422, "validation");
}

pub async fn insights_and_connection_checks_over_http(app: TestApp) {
    let shop = app.shop().await;
    let (_, variant) = app.product(&shop, 100, 2).await;
    let store_id = agora_core::StoreId(shop.id.parse().unwrap());
    app.agora.refresh_insights(store_id).await.unwrap();
    let list = app.get(&format!("/v1/stores/{}/insights?status=open", shop.id), Some(&shop.key)).await;
    let items = list.expect(200)["items"].as_array().unwrap().clone();
    let low = items.iter().find(|i| i["kind"] == "low_stock").expect("a low_stock insight");
    for k in ["id", "kind", "severity", "status", "resource_type", "resource_id", "message", "created_at", "updated_at"]
    {
        assert!(low.get(k).is_some(), "insight lacks {k}");
    }
    assert_eq!((low["resource_type"].as_str(), low["resource_id"].as_str()), (Some("variant"), Some(variant.as_str())));
    let path = format!("/v1/insights/{}", low["id"].as_str().unwrap());
    let r = app.call(Method::PATCH, &path, Some(&shop.key), Some(json!({"status": "acknowledged"}))).await;
    assert_eq!(r.expect(200)["status"], "acknowledged");
    app.call(Method::PATCH, &path, Some(&shop.key), Some(json!({"status": "resolved"})))
        .await
        .expect_problem(422, "validation");
    let other = app.shop().await;
    app.call(Method::PATCH, &path, Some(&other.key), Some(json!({"status": "dismissed"})))
        .await
        .expect_problem(404, "not_found");

    let checks = format!("/v1/stores/{}/connection-checks", shop.id);
    let c = app.post(&checks, Some(&shop.key), json!({"target": "database"})).await;
    let cv = c.expect(201).clone();
    for k in ["id", "target", "ok", "latency_ms", "detail", "at"] {
        assert!(cv.get(k).is_some(), "check lacks {k}");
    }
    assert_eq!(cv["ok"], true);
    app.post(&checks, Some(&shop.key), json!({"target": "mainframe"})).await.expect_problem(422, "validation");
    let listed = app.get(&checks, Some(&shop.key)).await;
    assert_eq!(listed.expect(200)["items"][0]["id"], cv["id"]);
    app.get(&checks, Some(&other.key)).await.expect_problem(404, "not_found");
}
