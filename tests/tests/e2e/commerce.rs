//! Stores, catalog, users, orders and payments over a real socket.

use agora_e2e::{SUPER_KEY, TestApp, unique};
use reqwest::Method;
use serde_json::{Value, json};

// ------------------------------------------------------------------ stores

pub async fn stores_keys_settings_and_audit(app: TestApp) {
    // create store: super only
    let n = unique();
    let body = json!({"name": "Acme", "domain": format!("acme{n}.test"), "access_token": "shpat_secret"});
    app.post("/v1/stores", None, body.clone()).await.expect_problem(401, "unauthorized");
    app.post("/v1/stores", Some("not-a-key"), body.clone()).await.expect_problem(401, "unauthorized");
    let s = app.post("/v1/stores", Some(SUPER_KEY), body.clone()).await;
    let v = s.expect(201);
    for k in ["id", "name", "domain", "status", "plan", "created_at"] {
        assert!(!v[k].is_null(), "store lacks {k}: {v}");
    }
    assert!(!s.text.contains("shpat_secret"), "the access token is never returned");
    let store = s.str("id");
    app.post("/v1/stores", Some(SUPER_KEY), body).await.expect_problem(409, "conflict");
    app.post("/v1/stores", Some(SUPER_KEY), json!({"name": "", "domain": "x"})).await.expect_problem(422, "validation");

    // admin keys
    let k = app.post_empty(&format!("/v1/stores/{store}/admin-keys"), Some(SUPER_KEY)).await;
    let kv = k.expect(201);
    assert!(kv["id"].is_string() && kv["masked"].is_string());
    let key = k.str("key");
    assert_ne!(kv["masked"], kv["key"]);
    app.post_empty(&format!("/v1/stores/{store}/admin-keys"), Some(&key)).await.expect_problem(403, "forbidden");
    let missing = uuid::Uuid::now_v7();
    app.post_empty(&format!("/v1/stores/{missing}/admin-keys"), Some(SUPER_KEY)).await.expect_problem(404, "not_found");

    // settings: defaults
    let st = app.get(&format!("/v1/stores/{store}/settings"), Some(&key)).await;
    let defaults = json!({"order_ttl_seconds": 1800, "auto_receive_seconds": 864000, "required_helpers": 3,
                          "help_task_ttl_seconds": 86400, "payout_cooling_seconds": 604800, "help_payout_percent": 100});
    for (k, v) in defaults.as_object().unwrap() {
        assert_eq!(&st.expect(200)[k], v, "{k}");
    }
    app.get(&format!("/v1/stores/{store}/settings"), None).await.expect_problem(401, "unauthorized");

    // patch a subset: full settings back, one audit row per changed key
    let p = app
        .call(
            Method::PATCH,
            &format!("/v1/stores/{store}/settings"),
            Some(&key),
            Some(json!({"required_helpers": 2, "order_ttl_seconds": 600, "help_payout_percent": 100})),
        )
        .await;
    let pv = p.expect(200);
    assert_eq!((pv["required_helpers"].as_i64(), pv["order_ttl_seconds"].as_i64()), (Some(2), Some(600)));
    assert_eq!(pv["auto_receive_seconds"], 864000);
    let bad = app
        .call(Method::PATCH, &format!("/v1/stores/{store}/settings"), Some(&key), Some(json!({"required_helpers": 0})))
        .await;
    assert_eq!(bad.expect_problem(422, "validation")["errors"][0]["field"], "required_helpers");
    let unknown = app
        .call(Method::PATCH, &format!("/v1/stores/{store}/settings"), Some(&key), Some(json!({"colour": "red"})))
        .await;
    assert_eq!(unknown.expect_problem(422, "validation")["errors"][0]["field"], "colour");
    let wrong_type = app
        .call(
            Method::PATCH,
            &format!("/v1/stores/{store}/settings"),
            Some(&key),
            Some(json!({"required_helpers": "2"})),
        )
        .await;
    assert_eq!(wrong_type.expect_problem(422, "validation")["errors"][0]["field"], "required_helpers");

    let logs = app.get(&format!("/v1/stores/{store}/audit-logs"), Some(&key)).await;
    let items = logs.expect(200)["items"].as_array().expect("items").clone();
    assert!(logs.json["next_cursor"].is_null());
    // The store's admin key was made by the super admin: that is audited too.
    let made = items.last().expect("the oldest row");
    assert_eq!((made["key"].as_str(), made["actor_masked"].as_str()), (Some("admin_key.created"), Some("super_admin")));
    let items = &items[..items.len() - 1];
    assert_eq!(items.len(), 2, "one row per changed key: {}", logs.text);
    let mut keys: Vec<&str> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["order_ttl_seconds", "required_helpers"]);
    for i in items {
        assert_eq!(i["ip"], "127.0.0.1", "{i}");
        assert!(i["actor_masked"].is_string() && i["at"].is_string() && i["id"].is_string());
        assert!(!i["actor_masked"].as_str().unwrap().contains(&key), "the key is masked");
    }
    let ttl = items.iter().find(|i| i["key"] == "order_ttl_seconds").unwrap();
    assert_eq!((ttl["from"].as_str(), ttl["to"].as_str()), (Some("1800"), Some("600")));
    let page = app.get(&format!("/v1/stores/{store}/audit-logs?limit=1"), Some(&key)).await;
    let cursor = page.expect(200)["next_cursor"].as_str().expect("a full page has a cursor").to_owned();
    let next = app.get(&format!("/v1/stores/{store}/audit-logs?limit=1&cursor={cursor}"), Some(&key)).await;
    assert_eq!(next.expect(200)["items"].as_array().unwrap().len(), 1);
    assert_ne!(next.json["items"][0]["id"], page.json["items"][0]["id"]);
}

// ------------------------------------------------------------------ search

/// The ids of a product list answer.
fn ids(v: &Value) -> Vec<String> {
    v["items"].as_array().expect("items").iter().map(|p| p["id"].as_str().expect("id").to_owned()).collect()
}

pub async fn product_search_over_http(app: TestApp) {
    let shop = app.shop().await;
    let path = format!("/v1/stores/{}/products", shop.id);
    let n = unique();
    let create = |title: &str, status: &str, name: &str, sku: &str| {
        json!({"title": title, "currency": "EUR", "status": status,
               "variants": [{"sku": format!("{sku}-{n}"), "name": name, "price_minor": 100}]})
    };
    let mut made = Vec::new();
    for (title, status, name, sku) in [
        ("Crème brûlée", "active", "Ramekin", "DES-CB"),
        ("Mug", "active", "Red mug", "MUG-RED"),
        ("Music box", "active", "Walnut", "MB"),
        ("Mug prototype", "draft", "Prototype", "PROTO"),
    ] {
        let p = app.post(&path, Some(&shop.key), create(title, status, name, sku)).await;
        made.push(p.expect(201)["id"].as_str().unwrap().to_owned());
    }
    let [creme, mug, music, draft] = [&made[0], &made[1], &made[2], &made[3]];
    let find = |q: &str| format!("{path}?q={q}");
    // Public: accents and case fold, prefixes match, drafts stay hidden.
    assert_eq!(ids(app.get(&find("creme"), None).await.expect(200)), [creme.as_str()]);
    assert_eq!(ids(app.get(&find("BR%C3%9BL"), None).await.expect(200)), [creme.as_str()]);
    assert_eq!(ids(app.get(&find("mu"), None).await.expect(200)), [music.as_str(), mug.as_str()]);
    assert_eq!(ids(app.get(&find("mug-red"), None).await.expect(200)), [mug.as_str()]);
    assert_eq!(ids(app.get(&find("walnut"), None).await.expect(200)), [music.as_str()]);
    assert!(ids(app.get(&find("prototype"), None).await.expect(200)).is_empty());
    // Pages continue the ranking with the search's cursor.
    let first = app.get(&format!("{path}?q=mu&limit=1"), None).await;
    let cursor = first.expect(200)["next_cursor"].as_str().expect("a full page has a cursor").to_owned();
    assert_eq!((ids(&first.json), cursor.len()), (vec![music.clone()], 23));
    let next = app.get(&format!("{path}?q=mu&limit=1&cursor={cursor}"), None).await;
    assert_eq!(ids(next.expect(200)), [mug.as_str()]);
    // What the server refuses, as problem+json naming the field.
    for q in ["", "%21%21", &"a".repeat(201), "a+b+c+d+e+f+g+h+i+j+k"] {
        let bad = app.get(&find(q), None).await;
        assert_eq!(bad.expect_problem(422, "validation")["errors"][0]["field"], "q", "q={q}");
    }
    let bad = app.get(&format!("{path}?q=mug&cursor=3{}", &cursor[1..]), None).await;
    assert_eq!(bad.expect_problem(422, "validation")["errors"][0]["field"], "cursor");
    // Admin search: drafts too, or one status; the store's admins only.
    let admin = format!("{path}/search");
    assert_eq!(
        ids(app.get(&format!("{admin}?q=mug"), Some(&shop.key)).await.expect(200)),
        [draft.as_str(), mug.as_str()]
    );
    let drafts = app.get(&format!("{admin}?q=mug&status=draft"), Some(&shop.key)).await;
    assert_eq!(ids(drafts.expect(200)), [draft.as_str()]);
    assert_eq!(drafts.json["items"][0]["status"], "draft");
    let all = app.get(&format!("{admin}?q=mug&status="), Some(&shop.key)).await;
    assert_eq!(ids(all.expect(200)).len(), 2);
    app.get(&format!("{admin}?q=mug"), None).await.expect_problem(401, "unauthorized");
    let other = app.shop().await;
    app.get(&format!("{admin}?q=mug"), Some(&other.key)).await.expect_problem(404, "not_found");
    let missing = app.get(&admin, Some(&shop.key)).await;
    assert_eq!(missing.expect_problem(422, "validation")["errors"][0]["field"], "q");
    let bad = app.get(&format!("{admin}?q=mug&status=gone"), Some(&shop.key)).await;
    assert_eq!(bad.expect_problem(422, "validation")["errors"][0]["field"], "status");
    // A change is found by the next request.
    app.call(Method::PATCH, &format!("/v1/products/{mug}"), Some(&shop.key), Some(json!({"title": "Espresso cup"})))
        .await
        .expect(200);
    assert_eq!(ids(app.get(&find("espresso"), None).await.expect(200)), [mug.as_str()]);
    app.call(Method::PATCH, &format!("/v1/products/{draft}"), Some(&shop.key), Some(json!({"status": "active"})))
        .await
        .expect(200);
    assert_eq!(ids(app.get(&find("prototype"), None).await.expect(200)), [draft.as_str()]);
}

// ------------------------------------------------------------------ catalog

pub async fn catalog_and_stock(app: TestApp) {
    let shop = app.shop().await;
    let path = format!("/v1/stores/{}/products", shop.id);
    let sku = format!("SKU-{}", unique());
    let body = json!({"title": "Tee", "currency": "EUR", "variants": [
        {"sku": sku, "name": "S", "price_minor": 1500}, {"sku": format!("{sku}-M"), "name": "M", "price_minor": 1600}]});
    app.post(&path, None, body.clone()).await.expect_problem(401, "unauthorized");
    let p = app.post(&path, Some(&shop.key), body.clone()).await;
    let pv = p.expect(201).clone();
    for k in ["id", "store_id", "title", "status", "currency", "variants", "created_at"] {
        assert!(!pv[k].is_null(), "product lacks {k}");
    }
    assert_eq!((pv["status"].as_str(), pv["store_id"].as_str()), (Some("active"), Some(shop.id.as_str())));
    let v0 = &pv["variants"][0];
    for k in ["id", "sku", "name", "price_minor", "status", "available"] {
        assert!(!v0[k].is_null(), "variant lacks {k}");
    }
    assert_eq!(v0["available"], 0);
    let product = pv["id"].as_str().unwrap().to_owned();
    let variant = v0["id"].as_str().unwrap().to_owned();

    // duplicate SKU in the store
    app.post(&path, Some(&shop.key), body).await.expect_problem(409, "conflict");
    // rules
    let bad = app.post(&path, Some(&shop.key), json!({"title": "X", "currency": "EUR", "variants": []})).await;
    assert_eq!(bad.expect_problem(422, "validation")["errors"][0]["field"], "variants");
    let bad = app
        .post(
            &path,
            Some(&shop.key),
            json!({"title": "X", "currency": "EUR", "variants": [{"sku": "A", "name": "A", "price_minor": "1"}]}),
        )
        .await;
    assert_eq!(bad.expect_problem(422, "validation")["errors"][0]["field"], "variants[0].price_minor");

    // a draft is hidden from the public list and from anonymous GET
    let draft = app
        .post(
            &path,
            Some(&shop.key),
            json!({"title": "Draft", "currency": "EUR", "status": "draft",
            "variants": [{"sku": format!("D-{}", unique()), "name": "D", "price_minor": 1}]}),
        )
        .await;
    let draft_id = draft.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(draft.json["status"], "draft");
    app.get(&format!("/v1/products/{draft_id}"), None).await.expect_problem(404, "not_found");
    app.get(&format!("/v1/products/{draft_id}"), Some(&shop.key)).await.expect(200);
    let list = app.get(&path, None).await;
    let ids: Vec<&str> =
        list.expect(200)["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [product.as_str()]);
    let missing = uuid::Uuid::now_v7();
    app.get(&format!("/v1/stores/{missing}/products"), None).await.expect_problem(404, "not_found");
    app.get(&format!("/v1/products/{missing}"), None).await.expect_problem(404, "not_found");

    // patch
    let patched = app
        .call(Method::PATCH, &format!("/v1/products/{product}"), Some(&shop.key), Some(json!({"title": "Tee 2"})))
        .await;
    assert_eq!(patched.expect(200)["title"], "Tee 2");
    app.call(Method::PATCH, &format!("/v1/products/{product}"), None, Some(json!({"title": "x"})))
        .await
        .expect_problem(401, "unauthorized");
    app.call(Method::PATCH, &format!("/v1/products/{product}"), Some(&shop.key), Some(json!({"status": "gone"})))
        .await
        .expect_problem(422, "validation");

    // warehouses and inventory
    let wh = app.post(&format!("/v1/stores/{}/warehouses", shop.id), Some(&shop.key), json!({"name": "Second"})).await;
    let whv = wh.expect(201);
    assert_eq!((whv["store_id"].as_str(), whv["name"].as_str()), (Some(shop.id.as_str()), Some("Second")));
    app.post(&format!("/v1/stores/{}/warehouses", shop.id), Some(&shop.key), json!({"name": ""}))
        .await
        .expect_problem(422, "validation");
    let inv = app.set_stock(&shop, &variant, 5).await;
    assert_eq!(
        inv.expect(200),
        &json!({"variant_id": variant, "warehouse_id": shop.warehouse, "on_hand": 5, "reserved": 0, "available": 5})
    );
    app.set_stock(&shop, &variant, -1).await.expect_problem(422, "validation");
    let second = whv["id"].as_str().unwrap().to_owned();
    app.call(
        Method::PUT,
        &format!("/v1/stores/{}/inventory", shop.id),
        Some(&shop.key),
        Some(json!({"variant_id": variant, "warehouse_id": second, "on_hand": 3})),
    )
    .await
    .expect(200);
    assert_eq!(app.available(&product).await, 8, "sum over warehouses");

    // on_hand below what is reserved
    let c = app.customer().await;
    app.order(&c, &shop, &variant, 5).await.expect(201);
    assert_eq!(app.available(&product).await, 3);
    let below = app
        .call(
            Method::PUT,
            &format!("/v1/stores/{}/inventory", shop.id),
            Some(&shop.key),
            Some(json!({"variant_id": variant, "warehouse_id": shop.warehouse, "on_hand": 0})),
        )
        .await;
    if below.status == 200 {
        // the order's reservation was split onto the other warehouse; the
        // first one must then hold nothing reserved
        assert_eq!(below.json["reserved"], 0, "{}", below.text);
        let back = app
            .call(
                Method::PUT,
                &format!("/v1/stores/{}/inventory", shop.id),
                Some(&shop.key),
                Some(json!({"variant_id": variant, "warehouse_id": second, "on_hand": 0})),
            )
            .await;
        back.expect_problem(409, "conflict");
    } else {
        below.expect_problem(409, "conflict");
    }
}

// ------------------------------------------------------------------ users

pub async fn users_sessions_and_addresses(app: TestApp) {
    let email = format!("u{}@example.com", unique());
    let u = app
        .post(
            "/v1/users",
            None,
            json!({"name": "Bo", "email": email, "password": "long enough", "phone": "+33100000000"}),
        )
        .await;
    let uv = u.expect(201);
    for k in ["id", "name", "email", "created_at"] {
        assert!(!uv[k].is_null(), "user lacks {k}");
    }
    assert!(!u.text.contains("long enough") && uv.get("password").is_none());
    app.post("/v1/users", None, json!({"name": "Bo", "email": email, "password": "long enough"}))
        .await
        .expect_problem(409, "conflict");
    let short = app
        .post(
            "/v1/users",
            None,
            json!({"name": "Bo", "email": format!("x{}@example.com", unique()), "password": "short"}),
        )
        .await;
    assert_eq!(short.expect_problem(422, "validation")["errors"][0]["field"], "password");
    let bad_email =
        app.post("/v1/users", None, json!({"name": "Bo", "email": "not-an-email", "password": "long enough"})).await;
    assert_eq!(bad_email.expect_problem(422, "validation")["errors"][0]["field"], "email");
    let missing = app.post("/v1/users", None, json!({"name": "Bo", "email": "a@b.c"})).await;
    assert_eq!(missing.expect_problem(422, "validation")["errors"][0]["field"], "password");

    let s = app.post("/v1/sessions", None, json!({"email": email, "password": "long enough"})).await;
    let sv = s.expect(201);
    assert_eq!(sv["user_id"], uv["id"]);
    assert!(sv["expires_at"].is_string());
    let token = s.str("token");
    assert!(token.starts_with("ags_"));
    app.post("/v1/sessions", None, json!({"email": email, "password": "wrong password"}))
        .await
        .expect_problem(401, "unauthorized");
    app.post("/v1/sessions", None, json!({"email": "nobody@example.com", "password": "whatever1"}))
        .await
        .expect_problem(401, "unauthorized");

    // addresses
    let addr = json!({"line1": "2 Rue", "city": "Paris", "postal_code": "75001", "country": "FR"});
    app.post("/v1/users/me/addresses", None, addr.clone()).await.expect_problem(401, "unauthorized");
    app.post("/v1/users/me/addresses", Some("ags_forged"), addr.clone()).await.expect_problem(401, "unauthorized");
    let a = app.post("/v1/users/me/addresses", Some(&token), addr).await;
    let av = a.expect(201);
    assert!(av["id"].is_string());
    assert_eq!((av["city"].as_str(), av["country"].as_str()), (Some("Paris"), Some("FR")));
    app.post(
        "/v1/users/me/addresses",
        Some(&token),
        json!({"line1": "x", "city": "y", "postal_code": "z", "country": "France"}),
    )
    .await
    .expect_problem(422, "validation");
    let mine = app.get("/v1/users/me/orders", Some(&token)).await;
    assert_eq!(mine.expect(200), &json!({"items": [], "next_cursor": null}));
    app.get("/v1/users/me/orders", None).await.expect_problem(401, "unauthorized");

    // logout
    app.call(Method::DELETE, "/v1/sessions/current", Some(&token), None).await.expect(204);
    app.get("/v1/users/me/orders", Some(&token)).await.expect_problem(401, "unauthorized");

    // more than 10 failures a minute for one email -> 429 with Retry-After
    let mut limited = None;
    for _ in 0..12 {
        let r = app.post("/v1/sessions", None, json!({"email": email, "password": "wrong password"})).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        r.expect_problem(401, "unauthorized");
    }
    let limited = limited.expect("the 11th failure in a minute is rate limited");
    limited.expect_problem(429, "rate_limited");
    assert!(limited.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s >= 1));
}

// ------------------------------------------------------------------ orders

pub async fn orders_lifecycle_and_idempotency(app: TestApp) {
    let shop = app.shop().await;
    let (product, variant) = app.product(&shop, 1250, 10).await;
    let c = app.customer().await;
    let body = TestApp::order_body(&c, &shop, &variant, 2);

    // header rules
    app.send(app.request(Method::POST, "/v1/orders", None).header("Idempotency-Key", "a").json(&body))
        .await
        .expect_problem(401, "unauthorized");
    app.send(app.request(Method::POST, "/v1/orders", Some(&c.token)).json(&body))
        .await
        .expect_problem(400, "idempotency_key_missing");
    app.place(&c, "  ", &body).await.expect_problem(400, "idempotency_key_missing");
    app.place(&c, &"k".repeat(256), &body).await.expect_problem(422, "validation");
    app.send(
        app.request(Method::POST, "/v1/orders", Some(&c.token)).header("Idempotency-Key", "t").body("{\"store_id\":"),
    )
    .await
    .expect_problem(400, "malformed_json");

    // place
    let key = format!("order-{}", unique());
    let first = app.place(&c, &key, &body).await;
    let o = first.expect(201).clone();
    assert!(first.header("idempotent-replayed").is_none());
    for k in [
        "id",
        "order_number",
        "store_id",
        "user_id",
        "status",
        "amount_minor",
        "pay_amount_minor",
        "currency",
        "items",
        "created_at",
        "paid_at",
        "shipped_at",
        "received_at",
        "closed_at",
        "close_reason",
        "reservation_expires_at",
        "help_task_no",
    ] {
        assert!(o.get(k).is_some(), "order lacks {k}: {o}");
    }
    assert_eq!(o["status"], "CREATED");
    assert_eq!((o["amount_minor"].as_i64(), o["currency"].as_str()), (Some(2500), Some("EUR")));
    assert_eq!(o["items"], json!([{"variant_id": variant, "qty": 2, "unit_price_minor": 1250}]));
    assert!(o["paid_at"].is_null() && o["closed_at"].is_null() && o["help_task_no"].is_null());
    let order_id = o["id"].as_str().unwrap().to_owned();
    assert_eq!(app.available(&product).await, 8);

    // replay: same status and body, byte for byte, nothing created
    let again = app.place(&c, &key, &body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    assert_eq!(app.available(&product).await, 8);
    // same key, different body
    app.place(&c, &key, &TestApp::order_body(&c, &shop, &variant, 3))
        .await
        .expect_problem(422, "idempotency_key_reused");
    // keys are per user: another customer may use the same key
    let other = app.customer().await;
    let theirs = app.place(&other, &key, &TestApp::order_body(&other, &shop, &variant, 1)).await;
    assert_ne!(theirs.expect(201)["id"], o["id"]);
    let other_order = theirs.str("id");

    // line rules
    let too_many = app.order(&c, &shop, &variant, 1001).await;
    assert_eq!(too_many.expect_problem(422, "validation")["errors"][0]["field"], "items[0].qty");
    app.order(&c, &shop, &variant, 0).await.expect_problem(422, "validation");
    let no_lines = json!({"store_id": shop.id, "address_id": c.address, "items": []});
    app.place(&c, "no-lines", &no_lines).await.expect_problem(422, "validation");
    let lines: Vec<Value> = (0..51).map(|_| json!({"variant_id": variant, "qty": 1})).collect();
    app.place(&c, "many-lines", &json!({"store_id": shop.id, "address_id": c.address, "items": lines}))
        .await
        .expect_problem(422, "validation");
    let unknown_variant = TestApp::order_body(&c, &shop, &uuid::Uuid::now_v7().to_string(), 1);
    let r = app.place(&c, "unknown-variant", &unknown_variant).await;
    assert_eq!(r.expect_problem(422, "validation")["errors"][0]["field"], "items[0].variant_id");
    let foreign_address =
        json!({"store_id": shop.id, "address_id": other.address, "items": [{"variant_id": variant, "qty": 1}]});
    app.place(&c, "foreign-address", &foreign_address).await.expect_problem(404, "not_found");

    // out of stock: nothing reserved
    let before = app.available(&product).await;
    assert_eq!(before, 7);
    let (_, other_variant) = app.product(&shop, 100, 1).await;
    let two_lines = json!({"store_id": shop.id, "address_id": c.address,
        "items": [{"variant_id": other_variant, "qty": 1}, {"variant_id": variant, "qty": 8}]});
    app.place(&c, "oos", &two_lines).await.expect_problem(409, "out_of_stock");
    assert_eq!(app.available(&product).await, before, "nothing reserved");

    // reads
    let got = app.get(&format!("/v1/orders/{order_id}"), Some(&c.token)).await;
    assert_eq!(got.expect(200)["id"], o["id"]);
    app.get(&format!("/v1/orders/{order_id}"), Some(&shop.key)).await.expect(200);
    app.get(&format!("/v1/orders/{order_id}"), Some(SUPER_KEY)).await.expect(200);
    app.get(&format!("/v1/orders/{order_id}"), None).await.expect_problem(401, "unauthorized");
    app.get(&format!("/v1/orders/{}", uuid::Uuid::now_v7()), Some(&c.token)).await.expect_problem(404, "not_found");
    let mine = app.get("/v1/users/me/orders", Some(&c.token)).await;
    let ids: Vec<&str> =
        mine.expect(200)["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [order_id.as_str()]);
    let store_orders = app.get(&format!("/v1/stores/{}/orders?status=CREATED", shop.id), Some(&shop.key)).await;
    let ids: Vec<&str> =
        store_orders.expect(200)["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [other_order.as_str(), order_id.as_str()], "newest first");
    let paid = app.get(&format!("/v1/stores/{}/orders?status=PAID", shop.id), Some(&shop.key)).await;
    assert_eq!(paid.expect(200)["items"], json!([]));
    app.get(&format!("/v1/stores/{}/orders?status=LOST", shop.id), Some(&shop.key))
        .await
        .expect_problem(422, "validation");
    app.get(&format!("/v1/stores/{}/orders?limit=0", shop.id), Some(&shop.key)).await.expect_problem(422, "validation");
    app.get(&format!("/v1/stores/{}/orders", shop.id), Some(&c.token)).await.expect_problem(404, "not_found");
    let page = app.get(&format!("/v1/stores/{}/orders?limit=1", shop.id), Some(&shop.key)).await;
    let cursor = page.expect(200)["next_cursor"].as_str().expect("cursor").to_owned();
    let page2 = app.get(&format!("/v1/stores/{}/orders?limit=1&cursor={cursor}", shop.id), Some(&shop.key)).await;
    assert_eq!(page2.expect(200)["items"][0]["id"], o["id"]);

    // transitions
    app.post_empty(&format!("/v1/orders/{order_id}/ship"), Some(&shop.key))
        .await
        .expect_problem(409, "invalid_transition");
    app.post_empty(&format!("/v1/orders/{order_id}/receive"), Some(&c.token))
        .await
        .expect_problem(409, "invalid_transition");
    app.post_empty(&format!("/v1/orders/{order_id}/cancel"), None).await.expect_problem(401, "unauthorized");
    let cancelled = app.post_empty(&format!("/v1/orders/{order_id}/cancel"), Some(&c.token)).await;
    let cv = cancelled.expect(200);
    assert_eq!((cv["status"].as_str(), cv["close_reason"].as_str()), (Some("CLOSED"), Some("cancelled")));
    assert!(cv["closed_at"].is_string());
    assert_eq!(app.available(&product).await, 9, "reservation released");
    app.post_empty(&format!("/v1/orders/{order_id}/cancel"), Some(&c.token))
        .await
        .expect_problem(409, "invalid_transition");
    app.post_empty(&format!("/v1/orders/{order_id}/payments"), Some(&c.token))
        .await
        .expect_problem(409, "invalid_transition");
}

// ------------------------------------------------------------------ payments

pub async fn payments_and_webhooks(app: TestApp) {
    let shop = app.shop().await;
    let (product, variant) = app.product(&shop, 999, 5).await;
    let c = app.customer().await;
    let order = app.order(&c, &shop, &variant, 2).await.expect(201).clone();
    let order_id = order["id"].as_str().unwrap().to_owned();

    let p = app.post_empty(&format!("/v1/orders/{order_id}/payments"), Some(&c.token)).await;
    let pv = p.expect(201).clone();
    assert_eq!(pv["order_id"], order["id"]);
    assert_eq!((pv["amount_minor"].as_i64(), pv["currency"].as_str()), (Some(1998), Some("EUR")));
    assert_eq!((pv["status"].as_str(), pv["provider"].as_str()), (Some("pending"), Some("test")));
    let payment = pv["id"].as_str().unwrap().to_owned();
    let stranger = app.customer().await;
    app.post_empty(&format!("/v1/orders/{order_id}/payments"), Some(&stranger.token))
        .await
        .expect_problem(404, "not_found");
    app.post_empty(&format!("/v1/orders/{order_id}/payments"), None).await.expect_problem(401, "unauthorized");

    // signatures
    let event = json!({"event_id": format!("evt-{}", unique()), "type": "payment.succeeded", "payment_id": payment, "amount_minor": 1998});
    let raw = serde_json::to_vec(&event).unwrap();
    app.send(app.request(Method::POST, "/v1/webhooks/payments", None).body(raw.clone()))
        .await
        .expect_problem(401, "unauthorized");
    app.send(
        app.request(Method::POST, "/v1/webhooks/payments", None)
            .header("Agora-Signature", "sha256=00")
            .body(raw.clone()),
    )
    .await
    .expect_problem(401, "unauthorized");
    // the signature is over the raw bytes: re-serialised JSON does not match
    let mut spaced = raw.clone();
    spaced.push(b' ');
    app.send(
        app.request(Method::POST, "/v1/webhooks/payments", None)
            .header("Agora-Signature", agora_e2e::sign(&raw))
            .body(spaced),
    )
    .await
    .expect_problem(401, "unauthorized");
    let truncated = b"{\"event_id\": ".to_vec();
    app.send(
        app.request(Method::POST, "/v1/webhooks/payments", None)
            .header("Agora-Signature", agora_e2e::sign(&truncated))
            .body(truncated),
    )
    .await
    .expect_problem(400, "malformed_json");
    app.webhook(&json!({"event_id": "e", "type": "payment.refunded", "payment_id": payment, "amount_minor": 1}))
        .await
        .expect_problem(422, "validation");

    // succeeded with the full amount: PAID, stock committed
    let ack = app.webhook(&event).await;
    assert_eq!(ack.expect(200), &json!({"received": true, "duplicate": false}));
    let paid = app.get(&format!("/v1/orders/{order_id}"), Some(&c.token)).await;
    assert_eq!(paid.expect(200)["status"], "PAID");
    assert!(paid.json["paid_at"].is_string());
    let inv = app.set_stock(&shop, &variant, 3).await;
    assert_eq!(inv.expect(200)["reserved"], 0, "reservations committed: {}", inv.text);
    assert_eq!(app.available(&product).await, 3);
    let payment_view = app.get(&format!("/v1/payments/{payment}"), Some(&c.token)).await;
    assert_eq!(payment_view.expect(200)["status"], "succeeded");
    // the same event again: no second effect
    let dup = app.webhook(&event).await;
    assert_eq!(dup.expect(200), &json!({"received": true, "duplicate": true}));
    assert_eq!(app.available(&product).await, 3);

    // ship and receive
    app.post_empty(&format!("/v1/orders/{order_id}/ship"), Some(&c.token)).await.expect_problem(404, "not_found");
    let shipped = app.post_empty(&format!("/v1/orders/{order_id}/ship"), Some(&shop.key)).await;
    assert_eq!(shipped.expect(200)["status"], "SHIPPED");
    assert!(shipped.json["shipped_at"].is_string());
    app.post_empty(&format!("/v1/orders/{order_id}/ship"), Some(&shop.key))
        .await
        .expect_problem(409, "invalid_transition");
    app.post_empty(&format!("/v1/orders/{order_id}/cancel"), Some(&c.token))
        .await
        .expect_problem(409, "invalid_transition");
    let received = app.post_empty(&format!("/v1/orders/{order_id}/receive"), Some(&c.token)).await;
    assert_eq!(received.expect(200)["status"], "RECEIVED");
    assert!(received.json["received_at"].is_string());
    app.post_empty(&format!("/v1/orders/{order_id}/receive"), Some(&c.token))
        .await
        .expect_problem(409, "invalid_transition");

    // amount mismatch: payment failed, order unchanged
    let o2 = app.order(&c, &shop, &variant, 1).await.expect(201)["id"].as_str().unwrap().to_owned();
    let (p2, ack) = app.pay_with(&c, &o2, Some(1)).await;
    ack.expect(200);
    assert_eq!(app.get(&format!("/v1/payments/{p2}"), Some(&c.token)).await.expect(200)["status"], "failed");
    assert_eq!(app.get(&format!("/v1/orders/{o2}"), Some(&c.token)).await.expect(200)["status"], "CREATED");

    // succeeded on an order already CLOSED: needs_refund, order stays CLOSED
    let o3 = app.order(&c, &shop, &variant, 1).await.expect(201)["id"].as_str().unwrap().to_owned();
    let p3 = app.post_empty(&format!("/v1/orders/{o3}/payments"), Some(&c.token)).await.str("id");
    app.post_empty(&format!("/v1/orders/{o3}/cancel"), Some(&c.token)).await.expect(200);
    app.webhook(&json!({"event_id": format!("evt-{}", unique()), "type": "payment.succeeded", "payment_id": p3, "amount_minor": 999}))
        .await
        .expect(200);
    assert_eq!(app.get(&format!("/v1/payments/{p3}"), Some(&c.token)).await.expect(200)["status"], "needs_refund");
    assert_eq!(app.get(&format!("/v1/orders/{o3}"), Some(&c.token)).await.expect(200)["status"], "CLOSED");

    // payment.failed
    let o4 = app.order(&c, &shop, &variant, 1).await.expect(201)["id"].as_str().unwrap().to_owned();
    let p4 = app.post_empty(&format!("/v1/orders/{o4}/payments"), Some(&c.token)).await.str("id");
    app.webhook(&json!({"event_id": format!("evt-{}", unique()), "type": "payment.failed", "payment_id": p4, "amount_minor": 999}))
        .await
        .expect(200);
    assert_eq!(app.get(&format!("/v1/payments/{p4}"), Some(&c.token)).await.expect(200)["status"], "failed");
    assert_eq!(app.get(&format!("/v1/orders/{o4}"), Some(&c.token)).await.expect(200)["status"], "CREATED");
}

pub async fn refunds_over_http(app: TestApp) {
    let shop = app.shop().await;
    let (product, variant) = app.product(&shop, 500, 5).await;
    let c = app.customer().await;
    let order = app.order(&c, &shop, &variant, 2).await.expect(201).clone();
    let order_id = order["id"].as_str().unwrap().to_owned();
    let refunds = format!("/v1/orders/{order_id}/refunds");
    let ask = |amount: i64, restock: bool| {
        let mut body = json!({"amount_minor": amount, "reason": "returned\nbox damaged"});
        if restock {
            body["restock"] = json!([{"variant_id": variant, "warehouse_id": shop.warehouse, "qty": 1}]);
        }
        body
    };
    let with_key = |key: &str, body: Value| {
        app.request(Method::POST, &refunds, Some(&shop.key)).header("Idempotency-Key", key.to_owned()).json(&body)
    };
    // Not paid yet.
    app.send(with_key("early", ask(100, false))).await.expect_problem(409, "invalid_transition");
    app.pay(&c, &order_id).await;
    assert_eq!(app.available(&product).await, 3);
    app.post(&refunds, Some(&shop.key), ask(100, false)).await.expect_problem(400, "idempotency_key_missing");
    app.send(with_key("x", json!({"amount_minor": 0, "reason": "r"}))).await.expect_problem(422, "validation");
    app.send(with_key("x", json!({"amount_minor": 1, "reason": "r", "extra": true})))
        .await
        .expect_problem(422, "validation");
    app.send(app.request(Method::POST, &refunds, Some(&c.token)).header("Idempotency-Key", "c").json(&ask(100, false)))
        .await
        .expect_problem(404, "not_found");

    let first = app.send(with_key("r1", ask(300, true))).await;
    let refund = first.expect(201).clone();
    assert_eq!((refund["status"].as_str(), refund["amount_minor"].as_i64()), (Some("pending"), Some(300)));
    assert_eq!(refund["order_id"], order["id"]);
    assert!(refund["payment_id"].is_string() && refund["succeeded_at"].is_null() && refund["created_at"].is_string());
    let replay = app.send(with_key("r1", ask(300, true))).await;
    assert_eq!(replay.expect(201), &refund);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    app.send(with_key("r1", ask(301, true))).await.expect_problem(422, "idempotency_key_reused");
    app.send(with_key("r2", ask(701, false))).await.expect_problem(409, "conflict");

    // The provider confirms: refunded_minor grows, one unit is back.
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    let settle = |event: &str, amount: i64, id: &str| json!({"event_id": event, "type": "refund.succeeded", "refund_id": id, "amount_minor": amount});
    let ack = app.webhook(&settle(&format!("rf-{}", unique()), 300, &refund_id)).await;
    assert_eq!(ack.expect(200), &json!({"received": true, "duplicate": false}));
    let after = app.get(&format!("/v1/orders/{order_id}"), Some(&c.token)).await;
    assert_eq!(
        (after.expect(200)["status"].as_str(), after.json["refunded_minor"].as_i64()),
        (Some("PAID"), Some(300))
    );
    assert_eq!(app.available(&product).await, 4);
    app.webhook(&json!({"event_id": "no-id", "type": "refund.succeeded", "amount_minor": 1}))
        .await
        .expect_problem(422, "validation");

    // The rest: REFUNDED.
    let rest = app.send(with_key("r3", ask(700, false))).await.expect(201)["id"].as_str().unwrap().to_owned();
    app.webhook(&settle(&format!("rf-{}", unique()), 700, &rest)).await.expect(200);
    let done = app.get(&format!("/v1/orders/{order_id}"), Some(&shop.key)).await;
    assert_eq!(
        (done.expect(200)["status"].as_str(), done.json["refunded_minor"].as_i64()),
        (Some("REFUNDED"), Some(1000))
    );
    let listed = app.get(&refunds, Some(&c.token)).await;
    let items = listed.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|r| r["status"] == "succeeded"));
    let by_status = app.get(&format!("/v1/stores/{}/orders?status=REFUNDED", shop.id), Some(&shop.key)).await;
    assert_eq!(by_status.expect(200)["items"].as_array().unwrap().len(), 1);

    // A payment that lands on a closed order is given back in full.
    let late = app.order(&c, &shop, &variant, 1).await.expect(201)["id"].as_str().unwrap().to_owned();
    let p = app.post_empty(&format!("/v1/orders/{late}/payments"), Some(&c.token)).await;
    let payment = p.expect(201)["id"].as_str().unwrap().to_owned();
    app.post_empty(&format!("/v1/orders/{late}/cancel"), Some(&c.token)).await.expect(200);
    let paid_late = json!({"event_id": format!("late-{}", unique()), "type": "payment.succeeded", "payment_id": payment, "amount_minor": 500});
    app.webhook(&paid_late).await.expect(200);
    let stray = app.post_empty(&format!("/v1/payments/{payment}/refund"), Some(&shop.key)).await;
    let stray_id = stray.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(stray.json["amount_minor"].as_i64(), Some(500));
    app.post_empty(&format!("/v1/payments/{payment}/refund"), Some(&shop.key))
        .await
        .expect_problem(409, "invalid_transition");
    app.webhook(&settle(&format!("late-rf-{}", unique()), 500, &stray_id)).await.expect(200);
    let pv = app.get(&format!("/v1/payments/{payment}"), Some(&c.token)).await;
    assert_eq!(pv.expect(200)["status"], "refunded");
}
