//! The conformance scenarios: each use case and each of its failure paths.
//! Every function takes a fresh [`TestStore`] and panics on a deviation.

use std::sync::Arc;

use agora_core::changeset::{Changeset, Guard, Record, Write};
use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use crate::harness::{Customer, Harness, StoreFixture, TestStore};

fn code<T: std::fmt::Debug>(r: Result<T, AgoraError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

async fn setup(ts: TestStore) -> (Harness, StoreFixture) {
    let h = Harness::new(ts);
    let s = h.store_fixture("shop.example.com").await;
    (h, s)
}

async fn paid_order(h: &Harness, c: &Customer, s: &StoreFixture, variant: Uuid) -> OrderView {
    let o = h.order(c, s, &[(variant, 1)]).await.expect("order");
    h.pay(c, &o).await;
    h.agora.get_order(&c.actor, OrderId(o.id)).await.expect("get")
}

async fn ship_then_receive(h: &Harness, c: &Customer, s: &StoreFixture, order: &OrderView) {
    h.agora.ship_order(&s.admin, OrderId(order.id)).await.expect("ship");
    h.agora.receive_order(&c.actor, OrderId(order.id)).await.expect("receive");
}

pub async fn store_created_with_default_settings(ts: TestStore) {
    let (h, s) = setup(ts).await;
    assert_eq!(s.store.status, "active");
    assert_eq!(s.store.domain, "shop.example.com");
    let st = h.agora.get_settings(&s.admin, s.id).await.unwrap();
    assert_eq!(
        st,
        SettingsView {
            order_ttl_seconds: 1800,
            auto_receive_seconds: 864000,
            required_helpers: 3,
            help_task_ttl_seconds: 86400,
            payout_cooling_seconds: 604800,
            help_payout_percent: 100
        }
    );
}

pub async fn store_creation_requires_super_admin(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let req = NewStore { name: "x".into(), domain: "x.example.com".into(), access_token: None };
    assert_eq!(code(h.agora.create_store(&s.admin, req.clone()).await), "forbidden");
    assert_eq!(code(h.agora.create_store(&Actor::Anonymous, req.clone()).await), "unauthorized");
    let c = h.customer("ann").await;
    assert_eq!(code(h.agora.create_store(&c.actor, req).await), "forbidden");
    assert_eq!(code(h.agora.authenticate_admin("not-a-key").await), "unauthorized");
}

pub async fn duplicate_domain_is_conflict(ts: TestStore) {
    let (h, _s) = setup(ts).await;
    let sa = h.super_admin().await;
    let r = h
        .agora
        .create_store(&sa, NewStore { name: "Dup".into(), domain: "SHOP.example.com".into(), access_token: None });
    assert_eq!(code(r.await), "conflict");
    let bad = h.agora.create_store(&sa, NewStore { name: "".into(), domain: "no spaces".into(), access_token: None });
    match bad.await {
        Err(AgoraError::Validation(errs)) => assert_eq!(errs.len(), 2, "{errs:?}"),
        other => panic!("expected validation, got {other:?}"),
    }
}

pub async fn access_token_is_encrypted_at_rest(ts: TestStore) {
    let h = Harness::new(ts);
    let sa = h.super_admin().await;
    let secret = "shpat_very_secret_token_123456";
    let st = h
        .agora
        .create_store(
            &sa,
            NewStore { name: "Sec".into(), domain: "sec.example.com".into(), access_token: Some(secret.into()) },
        )
        .await
        .unwrap();
    let body = serde_json::to_string(&st).unwrap();
    assert!(!body.contains(secret), "the token must never be returned");
    let snap = h.store.snapshot().await.unwrap();
    let dump = serde_json::to_string(&snap).unwrap();
    assert!(!dump.contains(secret), "the token must not be stored in plaintext");
    let sealed = snap.stores[0].access_token.clone().expect("sealed token stored");
    assert_eq!(sealed.key_version, h.agora.keyring().current_version());
    assert_eq!(h.agora.store_access_token(&sa, StoreId(st.id)).await.unwrap().as_deref(), Some(secret));
    assert_eq!(h.agora.rotate_store_secrets().await.unwrap(), 0, "already under the newest key");
}

pub async fn settings_patch_audits_each_changed_key(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let patch = SettingsPatch {
        order_ttl_seconds: Some(600),
        required_helpers: Some(3),
        help_payout_percent: Some(50),
        ..Default::default()
    };
    let st = h.agora.patch_settings(&s.admin, s.id, patch, Some("203.0.113.9")).await.unwrap();
    assert_eq!(st.order_ttl_seconds, 600);
    assert_eq!(st.help_payout_percent, 50);
    assert_eq!(st.required_helpers, 3);
    let logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap();
    assert_eq!(logs.items.len(), 2, "required_helpers did not change, so only two rows: {:?}", logs.items);
    let ttl = logs.items.iter().find(|l| l.key == "order_ttl_seconds").expect("ttl row");
    assert_eq!(ttl.from.as_deref(), Some("1800"));
    assert_eq!(ttl.to.as_deref(), Some("600"));
    assert_eq!(ttl.ip.as_deref(), Some("203.0.113.9"));
    assert!(ttl.actor_masked.contains('…'), "actor is masked: {}", ttl.actor_masked);
    assert!(!ttl.actor_masked.contains("agk_") || ttl.actor_masked.len() < 20);
    assert_eq!(h.agora.get_settings(&s.admin, s.id).await.unwrap().order_ttl_seconds, 600);
}

pub async fn settings_patch_rejects_out_of_range(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let patch = SettingsPatch { order_ttl_seconds: Some(0), help_payout_percent: Some(101), ..Default::default() };
    match h.agora.patch_settings(&s.admin, s.id, patch, None).await {
        Err(AgoraError::Validation(errs)) => {
            let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["order_ttl_seconds", "help_payout_percent"]);
        }
        other => panic!("expected validation, got {other:?}"),
    }
    let logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap();
    assert!(logs.items.is_empty());
}

pub async fn admin_key_is_scoped_to_its_store(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.get_settings(&s.admin, other.id).await), "not_found");
    assert_eq!(code(h.agora.get_settings(&Actor::Anonymous, s.id).await), "unauthorized");
    assert_eq!(code(h.agora.create_admin_key(&s.admin, s.id).await), "forbidden");
    assert_eq!(code(h.agora.create_admin_key(&h.super_admin().await, StoreId(Uuid::now_v7())).await), "not_found");
}

pub async fn admin_keys_and_sessions_stored_hashed(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let key = h.agora.create_admin_key(&h.super_admin().await, s.id).await.unwrap();
    let c = h.customer("ann").await;
    let dump = serde_json::to_string(&h.store.snapshot().await.unwrap()).unwrap();
    assert!(!dump.contains(&key.key), "admin key stored in plaintext");
    assert!(!dump.contains(&c.token), "session token stored in plaintext");
    assert!(!dump.contains("correct horse battery"), "password stored in plaintext");
    assert!(key.masked.contains('…') && !key.masked.contains(&key.key));
}

pub async fn product_created_with_availability(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "TEE-M", 1999, 7).await;
    assert_eq!(p.currency, "EUR");
    assert_eq!(p.status, "active");
    let got = h.agora.get_product(&Actor::Anonymous, ProductId(p.id)).await.unwrap();
    assert_eq!(got.variants.len(), 1);
    assert_eq!(got.variants[0].id, v);
    assert_eq!(got.variants[0].available, 7);
    assert_eq!(got.variants[0].price_minor, 1999);
    let list = h.agora.list_products(s.id, &ListQuery::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].variants[0].available, 7);
    assert_eq!(code(h.agora.get_product(&Actor::Anonymous, ProductId(Uuid::now_v7())).await), "not_found");
}

pub async fn duplicate_sku_is_conflict_per_store(ts: TestStore) {
    let (h, s) = setup(ts).await;
    h.product(&s, "SKU-1", 100, 1).await;
    let req = NewProduct {
        title: "Again".into(),
        currency: "EUR".into(),
        status: None,
        variants: vec![NewVariant { sku: "SKU-1".into(), name: "x".into(), price_minor: 1 }],
    };
    assert_eq!(code(h.agora.create_product(&s.admin, s.id, req.clone()).await), "conflict");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.create_product(&other.admin, other.id, req).await), "ok");
    let snap = h.store.snapshot().await.unwrap();
    assert_eq!(snap.products.len(), 2, "the conflicting product must not be half-written");
}

pub async fn product_validation_lists_every_field(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let req = NewProduct {
        title: "".into(),
        currency: "euro".into(),
        status: Some("gone".into()),
        variants: vec![
            NewVariant { sku: "A".into(), name: "a".into(), price_minor: -1 },
            NewVariant { sku: "A".into(), name: "b".into(), price_minor: 1 },
        ],
    };
    match h.agora.create_product(&s.admin, s.id, req).await {
        Err(AgoraError::Validation(errs)) => {
            let fields: Vec<_> = errs.iter().map(|e| e.field.clone()).collect();
            for f in ["title", "currency", "status", "variants[0].price_minor", "variants[1].sku"] {
                assert!(fields.contains(&f.to_string()), "missing {f} in {fields:?}");
            }
        }
        other => panic!("expected validation, got {other:?}"),
    }
    let empty = NewProduct { title: "t".into(), currency: "EUR".into(), status: None, variants: vec![] };
    assert_eq!(code(h.agora.create_product(&s.admin, s.id, empty).await), "validation");
}

pub async fn draft_products_are_hidden_from_public(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let draft = h
        .agora
        .create_product(
            &s.admin,
            s.id,
            NewProduct {
                title: "Secret".into(),
                currency: "EUR".into(),
                status: Some("draft".into()),
                variants: vec![NewVariant { sku: "D-1".into(), name: "d".into(), price_minor: 5 }],
            },
        )
        .await
        .unwrap();
    assert_eq!(code(h.agora.get_product(&Actor::Anonymous, ProductId(draft.id)).await), "not_found");
    assert_eq!(code(h.agora.get_product(&s.admin, ProductId(draft.id)).await), "ok");
    assert!(h.agora.list_products(s.id, &ListQuery::default()).await.unwrap().items.is_empty());
    let c = h.customer("ann").await;
    let r = h.order(&c, &s, &[(draft.variants[0].id, 1)]).await;
    assert_eq!(code(r), "validation", "a draft cannot be ordered");
}

pub async fn product_patch_changes_title_and_status(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, _) = h.product(&s, "P-1", 100, 1).await;
    let patched = h
        .agora
        .patch_product(
            &s.admin,
            ProductId(p.id),
            ProductPatch { title: Some("New title".into()), status: Some("draft".into()) },
        )
        .await
        .unwrap();
    assert_eq!(patched.title, "New title");
    assert_eq!(patched.status, "draft");
    assert_eq!(code(h.agora.get_product(&Actor::Anonymous, ProductId(p.id)).await), "not_found");
    let bad = ProductPatch { title: None, status: Some("archived".into()) };
    assert_eq!(code(h.agora.patch_product(&s.admin, ProductId(p.id), bad).await), "validation");
    let other = h.store_fixture("other.example.com").await;
    let r =
        h.agora.patch_product(&other.admin, ProductId(p.id), ProductPatch { title: Some("x".into()), status: None });
    assert_eq!(code(r.await), "not_found");
}

pub async fn inventory_set_reports_reserved_and_available(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "INV-1", 100, 10).await;
    let c = h.customer("ann").await;
    h.order(&c, &s, &[(v, 3)]).await.unwrap();
    let inv = h
        .agora
        .set_inventory(&s.admin, s.id, SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: 20 })
        .await
        .unwrap();
    assert_eq!((inv.on_hand, inv.reserved, inv.available), (20, 3, 17));
    let bad = SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: -1 };
    assert_eq!(code(h.agora.set_inventory(&s.admin, s.id, bad).await), "validation");
}

pub async fn inventory_below_reserved_is_conflict(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "INV-2", 100, 10).await;
    let c = h.customer("ann").await;
    h.order(&c, &s, &[(v, 4)]).await.unwrap();
    let r =
        h.agora.set_inventory(&s.admin, s.id, SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: 3 });
    assert_eq!(code(r.await), "conflict");
    let ok =
        h.agora.set_inventory(&s.admin, s.id, SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: 4 });
    assert_eq!(ok.await.unwrap().available, 0);
}

pub async fn inventory_of_foreign_variant_is_not_found(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    let (_, v) = h.product(&other, "FOREIGN", 100, 1).await;
    let r =
        h.agora.set_inventory(&s.admin, s.id, SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: 5 });
    assert_eq!(code(r.await), "not_found");
    let (_, mine) = h.product(&s, "MINE", 100, 1).await;
    let r = h.agora.set_inventory(
        &s.admin,
        s.id,
        SetInventory { variant_id: mine, warehouse_id: other.warehouse, on_hand: 5 },
    );
    assert_eq!(code(r.await), "not_found");
}

pub async fn register_and_login(ts: TestStore) {
    let h = Harness::new(ts);
    let c = h.customer("ann").await;
    assert_eq!(c.user.email, "ann@example.com");
    match &c.actor {
        Actor::Customer { user_id } => assert_eq!(user_id.0, c.user.id),
        other => panic!("{other:?}"),
    }
    let again =
        h.agora.login(Login { email: "ANN@example.com".into(), password: "correct horse battery".into() }).await;
    let again = again.expect("email is case-insensitive");
    assert!(again.token.starts_with(SESSION_TOKEN_PREFIX));
    assert_ne!(again.token, c.token);
    assert_eq!(again.expires_at, h.clock.now() + Duration::days(7));
}

pub async fn duplicate_email_is_conflict(ts: TestStore) {
    let h = Harness::new(ts);
    h.customer("ann").await;
    let r = h
        .agora
        .register_user(NewUser {
            name: "Ann 2".into(),
            email: "Ann@Example.com".into(),
            password: "another password".into(),
            phone: None,
        })
        .await;
    assert_eq!(code(r), "conflict");
}

pub async fn registration_validation(ts: TestStore) {
    let h = Harness::new(ts);
    let r = h
        .agora
        .register_user(NewUser {
            name: "x".into(),
            email: "not-an-email".into(),
            password: "short".into(),
            phone: Some("abc".into()),
        })
        .await;
    match r {
        Err(AgoraError::Validation(errs)) => {
            let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["email", "password", "phone"]);
        }
        other => panic!("expected validation, got {other:?}"),
    }
    assert!(h.store.snapshot().await.unwrap().users.is_empty());
}

pub async fn wrong_credentials_are_unauthorized(ts: TestStore) {
    let h = Harness::new(ts);
    h.customer("ann").await;
    let wrong = h.agora.login(Login { email: "ann@example.com".into(), password: "wrong password".into() }).await;
    assert_eq!(code(wrong), "unauthorized");
    let unknown = h.agora.login(Login { email: "bob@example.com".into(), password: "whatever1".into() }).await;
    assert_eq!(code(unknown), "unauthorized");
    assert_eq!(code(h.agora.authenticate_customer("ags_bogus").await), "unauthorized");
}

pub async fn login_is_rate_limited_per_email(ts: TestStore) {
    let h = Harness::new(ts);
    h.customer("ann").await;
    h.customer("bob").await;
    let bad = || Login { email: "ann@example.com".into(), password: "wrong password".into() };
    for i in 0..10 {
        assert_eq!(code(h.agora.login(bad()).await), "unauthorized", "failure {i}");
    }
    match h.agora.login(bad()).await {
        Err(AgoraError::RateLimited { retry_after }) => assert!((1..=60).contains(&retry_after)),
        other => panic!("expected rate_limited, got {other:?}"),
    }
    let good = Login { email: "ann@example.com".into(), password: "correct horse battery".into() };
    assert_eq!(code(h.agora.login(good.clone()).await), "rate_limited", "even the right password waits");
    let bob = Login { email: "bob@example.com".into(), password: "correct horse battery".into() };
    assert_eq!(code(h.agora.login(bob).await), "ok", "the limit is per email");
    h.clock.advance(Duration::seconds(61));
    assert_eq!(code(h.agora.login(good).await), "ok");
}

pub async fn sessions_expire(ts: TestStore) {
    let h = Harness::new(ts);
    let c = h.customer("ann").await;
    h.clock.advance(Duration::days(7) - Duration::seconds(1));
    assert_eq!(code(h.agora.authenticate_customer(&c.token).await), "ok");
    h.clock.advance(Duration::seconds(1));
    assert_eq!(code(h.agora.authenticate_customer(&c.token).await), "unauthorized");
}

pub async fn order_reserves_stock(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "O-1", 1250, 5).await;
    let (p2, v2) = h.product(&s, "O-2", 300, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 2), (v2, 1)]).await.unwrap();
    assert_eq!(o.status, "CREATED");
    assert_eq!(o.amount_minor, 2800);
    assert_eq!(o.pay_amount_minor, 2800);
    assert_eq!(o.currency, "EUR");
    assert_eq!(o.items.len(), 2);
    assert_eq!(o.items[0].unit_price_minor, 1250);
    assert_eq!(o.reservation_expires_at, h.clock.now() + Duration::seconds(1800));
    assert!(o.paid_at.is_none() && o.closed_at.is_none());
    assert_eq!(h.available(p.id, v).await, 3);
    assert_eq!(h.available(p2.id, v2).await, 4);
    assert_eq!(h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap(), o);
}

pub async fn order_replay_returns_same_body(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "R-1", 100, 5).await;
    let c = h.customer("ann").await;
    let first = h.order_with_key(&c, &s, &[(v, 1)], "key-1", None).await.unwrap();
    assert!(!first.replayed);
    assert_eq!(first.status, 201);
    let second = h.order_with_key(&c, &s, &[(v, 1)], "key-1", None).await.unwrap();
    assert!(second.replayed);
    assert_eq!(second.status, 201);
    assert_eq!(second.body, first.body, "byte-identical replay");
    assert_eq!(h.available(p.id, v).await, 4, "the replay reserved nothing");
    assert_eq!(h.store.snapshot().await.unwrap().orders.len(), 1);
    let bob = h.customer("bob").await;
    let other_user = h.order_with_key(&bob, &s, &[(v, 1)], "key-1", None).await.unwrap();
    assert!(!other_user.replayed, "keys are scoped per user");
}

pub async fn order_key_reused_with_other_body(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "R-2", 100, 5).await;
    let c = h.customer("ann").await;
    h.order_with_key(&c, &s, &[(v, 1)], "key-2", None).await.unwrap();
    let r = h.order_with_key(&c, &s, &[(v, 2)], "key-2", None).await;
    assert_eq!(code(r), "idempotency_key_reused");
    assert_eq!(h.store.snapshot().await.unwrap().orders.len(), 1);
}

pub async fn order_requires_idempotency_key(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "R-3", 100, 5).await;
    let c = h.customer("ann").await;
    let req = PlaceOrder {
        store_id: s.id.0,
        address_id: c.address_id,
        items: vec![OrderLine { variant_id: v, qty: 1 }],
        help_task_no: None,
    };
    assert_eq!(code(h.agora.place_order(&c.actor, None, req.clone()).await), "idempotency_key_missing");
    assert_eq!(code(h.agora.place_order(&c.actor, Some("  "), req.clone()).await), "idempotency_key_missing");
    let long = "k".repeat(256);
    assert_eq!(code(h.agora.place_order(&c.actor, Some(&long), req.clone()).await), "validation");
    assert_eq!(code(h.agora.place_order(&Actor::Anonymous, Some("k"), req).await), "unauthorized");
}

pub async fn out_of_stock_reserves_nothing(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p1, v1) = h.product(&s, "S-1", 100, 5).await;
    let (p2, v2) = h.product(&s, "S-2", 100, 1).await;
    let c = h.customer("ann").await;
    let r = h.order(&c, &s, &[(v1, 2), (v2, 2)]).await;
    assert_eq!(code(r), "out_of_stock");
    assert_eq!(h.available(p1.id, v1).await, 5, "the first line must not stay reserved");
    assert_eq!(h.available(p2.id, v2).await, 1);
    let snap = h.store.snapshot().await.unwrap();
    assert!(snap.orders.is_empty() && snap.reservations.is_empty() && snap.idempotency.is_empty());
}

pub async fn order_splits_across_warehouses(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "W-1", 100, 3).await;
    let w2 = h.agora.create_warehouse(&s.admin, s.id, NewWarehouse { name: "second".into() }).await.unwrap();
    h.agora
        .set_inventory(&s.admin, s.id, SetInventory { variant_id: v, warehouse_id: w2.id, on_hand: 4 })
        .await
        .unwrap();
    assert_eq!(h.available(p.id, v).await, 7);
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 6)]).await.unwrap();
    let snap = h.store.snapshot().await.unwrap();
    let holds: Vec<_> = snap.reservations.iter().filter(|r| r.order_id.0 == o.id).collect();
    assert_eq!(holds.len(), 2, "one hold per warehouse");
    assert_eq!(holds.iter().map(|r| r.qty).sum::<i64>(), 6);
    assert_eq!(h.available(p.id, v).await, 1);
    assert_eq!(code(h.order(&c, &s, &[(v, 2)]).await), "out_of_stock");
}

pub async fn order_validation(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "V-1", 100, 5000).await;
    let c = h.customer("ann").await;
    for lines in [vec![(v, 0)], vec![(v, 1001)], vec![(v, 1), (v, 1)], vec![]] {
        assert_eq!(code(h.order(&c, &s, &lines).await), "validation", "{lines:?}");
    }
    let many: Vec<(Uuid, i64)> = (0..51).map(|_| (Uuid::now_v7(), 1)).collect();
    assert_eq!(code(h.order(&c, &s, &many).await), "validation");
    assert_eq!(code(h.order(&c, &s, &[(Uuid::now_v7(), 1)]).await), "validation", "unknown variant");
    assert_eq!(code(h.order(&c, &s, &[(v, 1000)]).await), "ok", "1000 is allowed");
}

pub async fn order_with_foreign_address_is_not_found(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "A-1", 100, 5).await;
    let ann = h.customer("ann").await;
    let bob = h.customer("bob").await;
    let mut stolen = bob.clone();
    stolen.address_id = ann.address_id;
    assert_eq!(code(h.order(&stolen, &s, &[(v, 1)]).await), "not_found");
    let mut nowhere = s.clone();
    nowhere.id = StoreId(Uuid::now_v7());
    assert_eq!(code(h.order(&bob, &nowhere, &[(v, 1)]).await), "not_found");
}

/// `Store::order_context` against the single reads it stands for.
async fn context_matches_reads(store: &Arc<dyn Store>, q: &OrderContextQuery<'_>) -> OrderContext {
    let ctx = store.order_context(q).await.expect("order_context");
    let idem = store.get_idempotency(q.idempotency_scope, q.idempotency_key).await.unwrap();
    assert_eq!(ctx.idempotency, idem, "idempotency record");
    assert_eq!(ctx.store, store.get_store(q.store_id).await.unwrap(), "store");
    assert_eq!(ctx.settings, store.get_settings(q.store_id).await.unwrap(), "settings");
    assert_eq!(ctx.address, store.get_address(q.address_id).await.unwrap(), "address");
    let mut variants = store.get_variants(q.variant_ids).await.unwrap();
    variants.sort_by_key(|v| v.id);
    let mut got_variants = ctx.variants.clone();
    got_variants.sort_by_key(|v| v.id);
    assert_eq!(got_variants, variants, "variants");
    let mut product_ids: Vec<ProductId> = variants.iter().map(|v| v.product_id).collect();
    product_ids.sort();
    product_ids.dedup();
    let mut products = Vec::new();
    for id in product_ids {
        products.extend(store.get_product(id).await.unwrap());
    }
    let mut got_products = ctx.products.clone();
    got_products.sort_by_key(|p| p.id);
    assert_eq!(got_products, products, "products, each once");
    assert_eq!(ctx.inventory, store.list_inventory(q.variant_ids).await.unwrap(), "inventory, in order");
    let task = match q.task_no {
        Some(no) => store.get_task_by_no(no).await.unwrap(),
        None => None,
    };
    assert_eq!(ctx.task, task, "task");
    ctx
}

pub async fn order_context_matches_single_reads(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p1, v1) = h.product(&s, "CTX-1", 100, 5).await;
    let w2 = h.agora.create_warehouse(&s.admin, s.id, NewWarehouse { name: "second".into() }).await.unwrap();
    h.agora
        .set_inventory(&s.admin, s.id, SetInventory { variant_id: v1, warehouse_id: w2.id, on_hand: 4 })
        .await
        .unwrap();
    let (_, v2) = h.product(&s, "CTX-2", 250, 3).await;
    let other = h.store_fixture("other.example.com").await;
    let (_, foreign) = h.product(&other, "CTX-F", 90, 1).await;
    let unknown = Uuid::now_v7();
    let ann = h.customer("ann").await;
    let bob = h.customer_at("bob", "2 Side St", None).await;
    let paid = paid_order(&h, &ann, &s, v1).await;
    let task = h.agora.create_task(&ann.actor, NewTask { order_id: paid.id }).await.unwrap();
    let scope = format!("orders:{}", UserId(bob.user.id));
    h.order_with_key(&bob, &s, &[(v2, 1)], "old-key", None).await.unwrap();
    h.clock.advance(Duration::hours(25));
    h.order_with_key(&bob, &s, &[(v1, 2)], "live-key", None).await.unwrap();
    let now = h.clock.now();
    let store = h.store.clone();

    // Everything present: several warehouses, a second product, a foreign
    // and an unknown variant (absent), a live record, the task.
    let variant_ids = [VariantId(v1), VariantId(v2), VariantId(foreign), VariantId(unknown)];
    let q = OrderContextQuery {
        idempotency_scope: &scope,
        idempotency_key: "live-key",
        store_id: s.id,
        address_id: AddressId(bob.address_id),
        variant_ids: &variant_ids,
        task_no: Some(&task.task_no),
    };
    let ctx = context_matches_reads(&store, &q).await;
    assert!(ctx.idempotency.as_ref().is_some_and(|r| r.expires_at > now), "a live record");
    assert!(ctx.store.is_some() && ctx.settings.is_some());
    assert_eq!(ctx.address.as_ref().map(|a| a.user_id), Some(UserId(bob.user.id)));
    assert_eq!(ctx.variants.len(), 3, "the unknown variant is absent");
    assert_eq!(ctx.products.len(), 3);
    assert!(ctx.products.iter().any(|p| p.id == ProductId(p1.id)));
    let v1_rows = ctx.inventory.iter().filter(|r| r.variant_id == VariantId(v1)).count();
    assert_eq!(v1_rows, 2, "one stock row per warehouse");
    assert_eq!(ctx.inventory.len(), 4);
    assert_eq!(ctx.task.as_ref().map(|t| t.task_no.as_str()), Some(task.task_no.as_str()));

    // Someone else's address (returned: the caller checks the owner), an
    // expired record (returned), a task number that does not exist.
    let q = OrderContextQuery {
        idempotency_key: "old-key",
        address_id: AddressId(ann.address_id),
        variant_ids: &variant_ids[1..2],
        task_no: Some("T-NOPE"),
        ..q
    };
    let ctx = context_matches_reads(&store, &q).await;
    assert!(ctx.idempotency.as_ref().is_some_and(|r| r.expires_at <= now), "an expired record");
    assert_eq!(ctx.address.as_ref().map(|a| a.user_id), Some(UserId(ann.user.id)));
    assert_eq!(ctx.variants.len(), 1);
    assert_eq!(ctx.products.len(), 1);
    assert!(ctx.task.is_none());

    // Nothing there: unknown store, address, key and variant; no task asked.
    let nothing = [VariantId(unknown)];
    let q = OrderContextQuery {
        idempotency_scope: "orders:nobody",
        idempotency_key: "no-key",
        store_id: StoreId(Uuid::now_v7()),
        address_id: AddressId(Uuid::now_v7()),
        variant_ids: &nothing,
        task_no: None,
    };
    let ctx = context_matches_reads(&store, &q).await;
    assert_eq!(ctx, OrderContext::default());
    // Empty variant list.
    let q = OrderContextQuery { variant_ids: &[], ..q };
    assert_eq!(context_matches_reads(&store, &q).await, OrderContext::default());
}

pub async fn idempotency_keys_expire_after_24h(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "E-1", 100, 5).await;
    let c = h.customer("ann").await;
    let first = h.order_with_key(&c, &s, &[(v, 1)], "day-key", None).await.unwrap();
    h.clock.advance(Duration::hours(23));
    assert!(h.order_with_key(&c, &s, &[(v, 1)], "day-key", None).await.unwrap().replayed);
    h.clock.advance(Duration::hours(1));
    let fresh = h.order_with_key(&c, &s, &[(v, 1)], "day-key", None).await.unwrap();
    assert!(!fresh.replayed, "after 24 h the key is forgotten");
    assert_ne!(fresh.order.id, first.order.id);
    h.clock.advance(Duration::hours(25));
    let purged = h.agora.purge_expired_idempotency(100).await.unwrap();
    assert_eq!(purged.changed, 1);
    assert!(h.store.snapshot().await.unwrap().idempotency.is_empty());
}

pub async fn orders_are_private_to_owner_and_store(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PRIV", 100, 5).await;
    let ann = h.customer("ann").await;
    let bob = h.customer("bob").await;
    let o = h.order(&ann, &s, &[(v, 1)]).await.unwrap();
    assert_eq!(code(h.agora.get_order(&bob.actor, OrderId(o.id)).await), "not_found");
    assert_eq!(code(h.agora.get_order(&s.admin, OrderId(o.id)).await), "ok");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.get_order(&other.admin, OrderId(o.id)).await), "not_found");
    assert_eq!(code(h.agora.get_order(&Actor::Anonymous, OrderId(o.id)).await), "unauthorized");
    assert!(h.agora.list_my_orders(&bob.actor, &ListQuery::default()).await.unwrap().items.is_empty());
    assert_eq!(code(h.agora.cancel_order(&bob.actor, OrderId(o.id)).await), "not_found");
}

pub async fn cancel_releases_stock(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "C-1", 100, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 3)]).await.unwrap();
    assert_eq!(h.available(p.id, v).await, 2);
    let closed = h.agora.cancel_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!(closed.status, "CLOSED");
    assert_eq!(closed.close_reason.as_deref(), Some("cancelled"));
    assert_eq!(closed.closed_at, Some(h.clock.now()));
    assert_eq!(h.available(p.id, v).await, 5);
    let snap = h.store.snapshot().await.unwrap();
    assert!(snap.reservations.iter().all(|r| r.status == ReservationStatus::Released));
    assert_eq!(code(h.agora.cancel_order(&c.actor, OrderId(o.id)).await), "invalid_transition");
}

pub async fn illegal_order_moves_are_invalid_transition(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "T-1", 100, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let id = OrderId(o.id);
    assert_eq!(code(h.agora.ship_order(&s.admin, id).await), "invalid_transition");
    assert_eq!(code(h.agora.receive_order(&c.actor, id).await), "invalid_transition");
    h.pay(&c, &o).await;
    assert_eq!(code(h.agora.cancel_order(&c.actor, id).await), "invalid_transition");
    assert_eq!(code(h.agora.receive_order(&c.actor, id).await), "invalid_transition");
    assert_eq!(code(h.agora.ship_order(&c.actor, id).await), "not_found", "customers cannot ship");
}

pub async fn ship_and_receive(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "SR-1", 100, 5).await;
    let c = h.customer("ann").await;
    let o = paid_order(&h, &c, &s, v).await;
    let shipped = h.agora.ship_order(&s.admin, OrderId(o.id)).await.unwrap();
    assert_eq!(shipped.status, "SHIPPED");
    assert_eq!(shipped.shipped_at, Some(h.clock.now()));
    h.clock.advance(Duration::hours(5));
    let received = h.agora.receive_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!(received.status, "RECEIVED");
    assert_eq!(received.received_at, Some(h.clock.now()));
    assert_eq!(code(h.agora.ship_order(&s.admin, OrderId(o.id)).await), "invalid_transition");
}

pub async fn my_orders_newest_first_with_cursor(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "L-1", 100, 50).await;
    let c = h.customer("ann").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.order(&c, &s, &[(v, 1)]).await.unwrap().id);
        h.clock.advance(Duration::milliseconds(2));
    }
    ids.reverse();
    let p1 = h.agora.list_my_orders(&c.actor, &ListQuery { limit: Some(2), cursor: None }).await.unwrap();
    assert_eq!(p1.items.iter().map(|o| o.id).collect::<Vec<_>>(), ids[..2]);
    let p2 =
        h.agora.list_my_orders(&c.actor, &ListQuery { limit: Some(2), cursor: p1.next_cursor.clone() }).await.unwrap();
    assert_eq!(p2.items.iter().map(|o| o.id).collect::<Vec<_>>(), ids[2..4]);
    let p3 =
        h.agora.list_my_orders(&c.actor, &ListQuery { limit: Some(2), cursor: p2.next_cursor.clone() }).await.unwrap();
    assert_eq!(p3.items.iter().map(|o| o.id).collect::<Vec<_>>(), ids[4..]);
    assert!(p3.next_cursor.is_none());
    assert_eq!(p1.items[0].items.len(), 1, "lines are included");
}

pub async fn store_orders_filter_by_status(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "F-1", 100, 50).await;
    let c = h.customer("ann").await;
    let a = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let b = paid_order(&h, &c, &s, v).await;
    let created = h.agora.list_store_orders(&s.admin, s.id, Some("CREATED"), &ListQuery::default()).await.unwrap();
    assert_eq!(created.items.iter().map(|o| o.id).collect::<Vec<_>>(), [a.id]);
    let paid = h.agora.list_store_orders(&s.admin, s.id, Some("PAID"), &ListQuery::default()).await.unwrap();
    assert_eq!(paid.items.iter().map(|o| o.id).collect::<Vec<_>>(), [b.id]);
    let all = h.agora.list_store_orders(&s.admin, s.id, None, &ListQuery::default()).await.unwrap();
    assert_eq!(all.items.len(), 2);
    assert_eq!(
        code(h.agora.list_store_orders(&s.admin, s.id, Some("LOST"), &ListQuery::default()).await),
        "validation"
    );
    assert_eq!(code(h.agora.list_store_orders(&c.actor, s.id, None, &ListQuery::default()).await), "not_found");
}

pub async fn payment_success_marks_paid_and_commits_stock(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "PAY-1", 4999, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 2)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!((pay.status.as_str(), pay.amount_minor, pay.provider.as_str()), ("pending", 9998, "test"));
    let ack = h.webhook("evt-1", "payment.succeeded", pay.id, 9998).await.unwrap();
    assert_eq!(ack, WebhookAck { received: true, duplicate: false });
    let paid = h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!(paid.status, "PAID");
    assert_eq!(paid.paid_at, Some(h.clock.now()));
    assert_eq!(h.agora.get_payment(&c.actor, PaymentId(pay.id)).await.unwrap().status, "succeeded");
    let snap = h.store.snapshot().await.unwrap();
    let inv = &snap.inventory[0];
    assert_eq!((inv.on_hand, inv.reserved), (3, 0), "stock committed: on_hand reduced, hold gone");
    assert!(snap.reservations.iter().all(|r| r.status == ReservationStatus::Committed));
    assert_eq!(h.available(p.id, v).await, 3);
    let ev = &snap.payment_events[0];
    assert_eq!(ev.raw["event_id"], "evt-1", "raw payload kept");
    assert_eq!(ev.outcome, "applied");
}

pub async fn duplicate_webhook_has_no_second_effect(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PAY-2", 100, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    assert!(!h.webhook("evt-dup", "payment.succeeded", pay.id, 100).await.unwrap().duplicate);
    let before = h.store.snapshot().await.unwrap();
    assert!(h.webhook("evt-dup", "payment.succeeded", pay.id, 100).await.unwrap().duplicate);
    assert!(h.webhook("evt-dup", "payment.failed", pay.id, 100).await.unwrap().duplicate);
    assert_eq!(h.store.snapshot().await.unwrap(), before, "a repeated event changes nothing");
}

pub async fn webhook_signature_is_required(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PAY-3", 100, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    let body = serde_json::to_vec(
        &serde_json::json!({"event_id": "e", "type": "payment.succeeded", "payment_id": pay.id, "amount_minor": 100}),
    )
    .unwrap();
    assert_eq!(code(h.agora.receive_payment_webhook(&body, None).await), "unauthorized");
    let wrong = agora_core::secrets::sign_webhook(b"wrong secret", &body);
    assert_eq!(code(h.agora.receive_payment_webhook(&body, Some(&wrong)).await), "unauthorized");
    let right = agora_core::secrets::sign_webhook(crate::harness::WEBHOOK_SECRET, &body);
    let mut tampered = body.clone();
    tampered.push(b' ');
    assert_eq!(code(h.agora.receive_payment_webhook(&tampered, Some(&right)).await), "unauthorized");
    assert!(h.store.snapshot().await.unwrap().payment_events.is_empty());
}

pub async fn webhook_amount_mismatch_fails_payment(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PAY-4", 100, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    h.webhook("evt-short", "payment.succeeded", pay.id, 99).await.unwrap();
    assert_eq!(h.agora.get_payment(&c.actor, PaymentId(pay.id)).await.unwrap().status, "failed");
    assert_eq!(h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap().status, "CREATED");
    let snap = h.store.snapshot().await.unwrap();
    assert_eq!(snap.payment_events[0].outcome, "amount_mismatch");
    let failed = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    h.webhook("evt-fail", "payment.failed", failed.id, 100).await.unwrap();
    assert_eq!(h.agora.get_payment(&c.actor, PaymentId(failed.id)).await.unwrap().status, "failed");
}

pub async fn webhook_success_after_close_needs_refund(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PAY-5", 100, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let pay = h.agora.create_payment(&c.actor, OrderId(o.id)).await.unwrap();
    h.agora.cancel_order(&c.actor, OrderId(o.id)).await.unwrap();
    h.webhook("evt-late", "payment.succeeded", pay.id, 100).await.unwrap();
    assert_eq!(h.agora.get_payment(&c.actor, PaymentId(pay.id)).await.unwrap().status, "needs_refund");
    assert_eq!(h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap().status, "CLOSED");
    let unknown = h.webhook("evt-unknown", "payment.succeeded", Uuid::now_v7(), 100).await.unwrap();
    assert!(!unknown.duplicate);
    let snap = h.store.snapshot().await.unwrap();
    assert!(snap.payment_events.iter().any(|e| e.outcome == "unknown_payment"), "every event is stored raw");
}

pub async fn webhook_malformed_body(ts: TestStore) {
    let h = Harness::new(ts);
    let sign = |b: &[u8]| agora_core::secrets::sign_webhook(crate::harness::WEBHOOK_SECRET, b);
    let truncated = br#"{"event_id": "e1", "type""#;
    assert_eq!(code(h.agora.receive_payment_webhook(truncated, Some(&sign(truncated))).await), "malformed_json");
    let wrong_type = br#"{"event_id": "e1", "type": "payment.succeeded", "payment_id": "nope", "amount_minor": 1}"#;
    assert_eq!(code(h.agora.receive_payment_webhook(wrong_type, Some(&sign(wrong_type))).await), "validation");
    let bad_kind =
        format!(r#"{{"event_id": "e1", "type": "refund", "payment_id": "{}", "amount_minor": 1}}"#, Uuid::now_v7());
    let r = h.agora.receive_payment_webhook(bad_kind.as_bytes(), Some(&sign(bad_kind.as_bytes()))).await;
    assert_eq!(code(r), "validation");
}

pub async fn payment_requires_created_order(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PAY-6", 100, 5).await;
    let c = h.customer("ann").await;
    let o = paid_order(&h, &c, &s, v).await;
    assert_eq!(code(h.agora.create_payment(&c.actor, OrderId(o.id)).await), "invalid_transition");
    let bob = h.customer("bob").await;
    assert_eq!(code(h.agora.create_payment(&bob.actor, OrderId(o.id)).await), "not_found");
}

pub async fn task_requires_paid_order_and_is_unique(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "TK-1", 100, 5).await;
    let c = h.customer("ann").await;
    let unpaid = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    assert_eq!(code(h.agora.create_task(&c.actor, NewTask { order_id: unpaid.id }).await), "invalid_transition");
    let paid = paid_order(&h, &c, &s, v).await;
    let t = h.agora.create_task(&c.actor, NewTask { order_id: paid.id }).await.unwrap();
    assert_eq!((t.status.as_str(), t.required_helpers, t.helps_valid), ("OPEN", 3, 0));
    assert_eq!(t.expires_at, h.clock.now() + Duration::seconds(86400));
    assert!(t.qualified_at.is_none() && t.payout_at.is_none());
    assert_eq!(code(h.agora.create_task(&c.actor, NewTask { order_id: paid.id }).await), "conflict");
    let bob = h.customer("bob").await;
    assert_eq!(code(h.agora.create_task(&bob.actor, NewTask { order_id: paid.id }).await), "not_found");
    let got = h.agora.get_task(&t.task_no).await.unwrap();
    assert_eq!(got.helps.as_deref(), Some(&[][..]));
    assert_eq!(code(h.agora.get_task("T-NOPE").await), "not_found");
}

pub async fn help_rules(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "HP-1", 100, 50).await;
    let owner = h.customer("owner").await;
    let paid = paid_order(&h, &owner, &s, v).await;
    let t = h.agora.create_task(&owner.actor, NewTask { order_id: paid.id }).await.unwrap();
    let own = h.order_with_key(&owner, &s, &[(v, 1)], "own", Some(&t.task_no)).await;
    assert_eq!(code(own), "conflict", "owners cannot help their own task");
    let helper = h.customer_at("helper", "9 Elm St", None).await;
    let o = h.order_with_key(&helper, &s, &[(v, 1)], "h1", Some(&t.task_no)).await.unwrap();
    assert_eq!(o.order.help_task_no.as_deref(), Some(t.task_no.as_str()));
    let twice = h.order_with_key(&helper, &s, &[(v, 1)], "h2", Some(&t.task_no)).await;
    assert_eq!(code(twice), "conflict", "one help per helper per task");
    let unknown = h.order_with_key(&helper, &s, &[(v, 1)], "h3", Some("T-UNKNOWN")).await;
    assert_eq!(code(unknown), "not_found");
    let helps = h.agora.get_task(&t.task_no).await.unwrap().helps.unwrap();
    assert_eq!(helps.len(), 1);
    assert_eq!(helps[0].status, "PENDING");
    h.clock.advance(Duration::days(2));
    h.agora.expire_tasks(s.id, 100).await.unwrap();
    let late = h.customer_at("late", "5 Oak St", None).await;
    assert_eq!(code(h.order_with_key(&late, &s, &[(v, 1)], "h4", Some(&t.task_no)).await), "conflict", "task not open");
}

/// Owner with a task, and `n` helpers whose help orders are received. A
/// `suspicious` set of helpers shares the owner's address and registers
/// after the task opened (two risk rules); otherwise they are clean.
async fn qualified_task(h: &Harness, s: &StoreFixture, v: Uuid, n: usize, suspicious: bool) -> (Customer, TaskView) {
    h.agora
        .patch_settings(&s.admin, s.id, SettingsPatch { required_helpers: Some(n as i64), ..Default::default() }, None)
        .await
        .unwrap();
    let owner = h.customer_at("owner", "1 Main St", Some("+4915100000001")).await;
    let mut helpers = Vec::new();
    if !suspicious {
        for i in 0..n {
            helpers.push(h.customer_at(&format!("helper{i}"), &format!("{} Helper Rd", i + 10), None).await);
        }
    }
    h.clock.advance(Duration::seconds(1));
    let paid = paid_order(h, &owner, s, v).await;
    let t = h.agora.create_task(&owner.actor, NewTask { order_id: paid.id }).await.unwrap();
    h.clock.advance(Duration::seconds(1));
    if suspicious {
        for i in 0..n {
            helpers.push(h.customer_at(&format!("helper{i}"), "1 Main St", None).await);
        }
    }
    for (i, helper) in helpers.iter().enumerate() {
        let o = h.order_with_key(helper, s, &[(v, 1)], &format!("help-{i}"), Some(&t.task_no)).await.unwrap().order;
        h.pay(helper, &o).await;
        ship_then_receive(h, helper, s, &o).await;
    }
    let t = h.agora.get_task(&t.task_no).await.unwrap();
    (owner, t)
}

pub async fn task_qualifies_when_helps_are_valid(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "Q-1", 1000, 50).await;
    let (_, t) = qualified_task(&h, &s, v, 2, false).await;
    assert_eq!(t.status, "QUALIFIED");
    assert_eq!(t.helps_valid, 2);
    assert_eq!(t.qualified_at, Some(h.clock.now()));
    assert_eq!(t.payout_at, Some(h.clock.now() + Duration::seconds(604800)));
    assert!(t.helps.unwrap().iter().all(|h| h.status == "VALID"));
}

pub async fn payout_is_written_once_per_task(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PO-1", 1000, 50).await;
    h.agora
        .patch_settings(&s.admin, s.id, SettingsPatch { help_payout_percent: Some(50), ..Default::default() }, None)
        .await
        .unwrap();
    let (owner, t) = qualified_task(&h, &s, v, 1, false).await;
    assert_eq!(h.agora.settle_due_payouts(s.id, 100).await.unwrap().changed, 0, "not due yet");
    h.clock.advance(Duration::seconds(604800));
    let first = h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    assert_eq!(first.changed, 1);
    let again = h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    assert_eq!(again.changed, 0);
    let rows = h.agora.list_payouts(&s.admin, s.id, None, &ListQuery::default()).await.unwrap().items;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].task_no, t.task_no);
    assert_eq!(rows[0].amount_minor, 500);
    assert_eq!(rows[0].payout_status, "PENDING");
    assert_eq!(rows[0].risk_level, "low");
    assert_eq!(rows[0].user_id, owner.user.id);
    assert_eq!(h.agora.get_task(&t.task_no).await.unwrap().status, "SETTLED");
    let task_id = h.store.get_task_by_no(&t.task_no).await.unwrap().unwrap().id;
    let mut cs = Changeset::new();
    cs.guard(Guard::NoPayoutForTask { task_id });
    cs.write(Write::SetEventSeq { store_id: s.id, last_seq: 0 });
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::GuardFailed(_))), "the guard sees the row");
}

pub async fn payout_risk_rules_hold_it(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PO-2", 1000, 50).await;
    let (_, _t) = qualified_task(&h, &s, v, 1, true).await;
    h.clock.advance(Duration::seconds(604800));
    h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    let rows = h.agora.list_payouts(&s.admin, s.id, Some("HELD"), &ListQuery::default()).await.unwrap().items;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].risk_level, "high");
    assert!(rows[0].risk_reasons.iter().any(|r| r.contains("address")), "{:?}", rows[0].risk_reasons);
    assert!(rows[0].risk_reasons.iter().any(|r| r.contains("younger")), "{:?}", rows[0].risk_reasons);
}

pub async fn payout_approve_and_reject_are_audited(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PO-3", 1000, 50).await;
    qualified_task(&h, &s, v, 1, true).await;
    h.clock.advance(Duration::seconds(604800));
    h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    let row = h.agora.list_payouts(&s.admin, s.id, None, &ListQuery::default()).await.unwrap().items.remove(0);
    let id = PayoutId(row.id);
    let c = h.customer("mallory").await;
    assert_eq!(code(h.agora.decide_payout(&c.actor, id, true, PayoutDecision::default(), None).await), "not_found");
    let paid = h
        .agora
        .decide_payout(
            &s.admin,
            id,
            true,
            PayoutDecision { note: Some("checked by phone".into()) },
            Some("198.51.100.7"),
        )
        .await
        .unwrap();
    assert_eq!(paid.payout_status, "PAID");
    assert_eq!(paid.note.as_deref(), Some("checked by phone"));
    assert!(paid.operator.is_some());
    assert_eq!(
        code(h.agora.decide_payout(&s.admin, id, false, PayoutDecision::default(), None).await),
        "invalid_transition"
    );
    let logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    let row = logs.iter().find(|l| l.key.starts_with("payout:")).expect("audited");
    assert_eq!((row.from.as_deref(), row.to.as_deref()), (Some("HELD"), Some("PAID")));
    assert_eq!(row.ip.as_deref(), Some("198.51.100.7"));
}

pub async fn open_tasks_expire(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "EX-1", 100, 5).await;
    let c = h.customer("ann").await;
    let paid = paid_order(&h, &c, &s, v).await;
    let t = h.agora.create_task(&c.actor, NewTask { order_id: paid.id }).await.unwrap();
    h.clock.advance(Duration::seconds(86399));
    assert_eq!(h.agora.expire_tasks(s.id, 100).await.unwrap().changed, 0);
    h.clock.advance(Duration::seconds(1));
    assert_eq!(h.agora.expire_tasks(s.id, 100).await.unwrap().changed, 1);
    assert_eq!(h.agora.get_task(&t.task_no).await.unwrap().status, "EXPIRED");
    assert_eq!(h.agora.expire_tasks(s.id, 100).await.unwrap().scanned, 0);
}

pub async fn unpaid_orders_time_out_and_release_stock(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "TO-1", 100, 5).await;
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 2)]).await.unwrap();
    let kept = paid_order(&h, &c, &s, v).await;
    h.clock.advance(Duration::seconds(1799));
    assert_eq!(h.agora.expire_unpaid_orders(s.id, 100).await.unwrap().changed, 0);
    h.clock.advance(Duration::seconds(1));
    let r = h.agora.expire_unpaid_orders(s.id, 100).await.unwrap();
    assert_eq!((r.scanned, r.changed), (1, 1));
    let closed = h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!(closed.status, "CLOSED");
    assert_eq!(closed.close_reason.as_deref(), Some("timeout"));
    assert_eq!(h.agora.get_order(&c.actor, OrderId(kept.id)).await.unwrap().status, "PAID");
    assert_eq!(h.available(p.id, v).await, 4);
    assert_eq!(h.agora.expire_unpaid_orders(s.id, 100).await.unwrap().scanned, 0, "idempotent");
}

pub async fn shipped_orders_are_auto_received(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "AR-1", 100, 5).await;
    h.agora
        .patch_settings(&s.admin, s.id, SettingsPatch { auto_receive_seconds: Some(3600), ..Default::default() }, None)
        .await
        .unwrap();
    let c = h.customer("ann").await;
    let o = paid_order(&h, &c, &s, v).await;
    h.agora.ship_order(&s.admin, OrderId(o.id)).await.unwrap();
    h.clock.advance(Duration::seconds(3599));
    assert_eq!(h.agora.auto_receive_orders(s.id, 100).await.unwrap().changed, 0);
    h.clock.advance(Duration::seconds(1));
    assert_eq!(h.agora.auto_receive_orders(s.id, 100).await.unwrap().changed, 1);
    assert_eq!(h.agora.get_order(&c.actor, OrderId(o.id)).await.unwrap().status, "RECEIVED");
}

pub async fn expired_sessions_and_keys_are_purged(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "PU-1", 100, 5).await;
    let c = h.customer("ann").await;
    h.order(&c, &s, &[(v, 1)]).await.unwrap();
    h.clock.advance(Duration::days(8));
    assert_eq!(h.agora.purge_expired_sessions(100).await.unwrap().changed, 1);
    assert_eq!(h.agora.purge_expired_idempotency(100).await.unwrap().changed, 1);
    let snap = h.store.snapshot().await.unwrap();
    assert!(snap.sessions.is_empty() && snap.idempotency.is_empty());
    assert_eq!(snap.orders.len(), 1, "orders are kept");
}

pub async fn reconciliation_records_drift_as_audit(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "RC-1", 100, 10).await;
    let c = h.customer("ann").await;
    h.order(&c, &s, &[(v, 2)]).await.unwrap();
    assert_eq!(h.agora.reconcile_inventory(s.id).await.unwrap().changed, 0, "no drift, no audit");
    let mut cs = Changeset::new();
    cs.write(Write::AdjustStock {
        variant_id: VariantId(v),
        warehouse_id: WarehouseId(s.warehouse),
        on_hand_delta: 0,
        reserved_delta: 3,
        at: h.clock.now(),
    });
    h.store.apply(cs).await.unwrap();
    assert_eq!(h.available(p.id, v).await, 5);
    let r = h.agora.reconcile_inventory(s.id).await.unwrap();
    assert_eq!(r.changed, 1);
    assert_eq!(h.available(p.id, v).await, 8);
    let logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    let row = logs.iter().find(|l| l.key.starts_with("inventory_reserved:")).expect("drift audited");
    assert_eq!((row.from.as_deref(), row.to.as_deref()), (Some("5"), Some("2")));
}

pub async fn event_feed_is_gapless_and_ordered(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "EV-1", 100, 5).await;
    let c = h.customer("ann").await;
    let o = paid_order(&h, &c, &s, v).await;
    let page = h.agora.list_events(&s.admin, s.id, 0, Some(200)).await.unwrap();
    let seqs: Vec<i64> = page.items.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "1, 2, 3, ... without gaps");
    assert_eq!(page.next_after, *seqs.last().unwrap());
    let kinds: Vec<&str> = page.items.iter().map(|e| e.kind.as_str()).collect();
    for k in ["store.created", "product.created", "order.created", "order.paid"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(page.items.iter().any(|e| e.entity_id == o.id));
    let tail = h.agora.list_events(&s.admin, s.id, 2, Some(2)).await.unwrap();
    assert_eq!(tail.items.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
    let empty = h.agora.list_events(&s.admin, s.id, page.next_after, None).await.unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.next_after, page.next_after);
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.list_events(&other.admin, s.id, 0, None).await), "not_found");
    let first_other = h.agora.list_events(&other.admin, other.id, 0, None).await.unwrap();
    assert_eq!(first_other.items[0].seq, 1, "seqs are per store");
}

pub async fn event_feed_misses_nothing_under_concurrency(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let h = Arc::new(h);
    let (_, v) = h.product(&s, "EV-2", 100, 1000).await;
    let mut customers = Vec::new();
    for i in 0..4 {
        customers.push(h.customer(&format!("c{i}")).await);
    }
    let writers: Vec<_> = customers
        .into_iter()
        .map(|c| {
            let (h, s) = (h.clone(), s.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    h.order(&c, &s, &[(v, 1)]).await.unwrap();
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let page = h.agora.list_events(&s.admin, s.id, after, Some(200)).await.unwrap();
        for e in &page.items {
            assert_eq!(e.seq, after + 1, "a reader polling with `after` must never skip");
            after = e.seq;
            seen.push(e.id);
        }
        if done && page.items.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    let snap = h.store.snapshot().await.unwrap();
    let total = snap.events.iter().filter(|e| e.store_id == s.id).count();
    assert_eq!(seen.len(), total, "every committed event was read exactly once");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());
}

pub async fn export_lifecycle_csv_and_jsonl(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "X-1", 100, 50).await;
    let c = h.customer("ann").await;
    for _ in 0..3 {
        h.order(&c, &s, &[(v, 1)]).await.unwrap();
    }
    let job = h
        .agora
        .request_export(&s.admin, s.id, NewExport { kind: "orders".into(), format: "csv".into() })
        .await
        .unwrap();
    assert_eq!(job.status, "queued");
    assert_eq!(code(h.agora.download_export(&s.admin, ExportId(job.id)).await), "conflict", "not ready yet");
    let jsonl = h
        .agora
        .request_export(&s.admin, s.id, NewExport { kind: "orders".into(), format: "jsonl".into() })
        .await
        .unwrap();
    let report = h.agora.run_queued_exports(10, &|_, _| {}).await.unwrap();
    assert_eq!(report.changed, 2);
    let ready = h.agora.get_export(&s.admin, ExportId(job.id)).await.unwrap();
    assert_eq!((ready.status.as_str(), ready.rows), ("ready", 3));
    assert_eq!(ready.expires_at, Some(h.clock.now() + Duration::days(7)));
    let file = h.agora.download_export(&s.admin, ExportId(job.id)).await.unwrap();
    assert_eq!(file.content_type, "text/csv");
    assert_eq!(file.bytes.len() as i64, ready.bytes);
    let text = String::from_utf8(file.bytes).unwrap();
    assert_eq!(text.lines().count(), 4, "header + 3 rows");
    assert!(text.starts_with("id,order_number"));
    let lines = h.agora.download_export(&s.admin, ExportId(jsonl.id)).await.unwrap();
    for line in String::from_utf8(lines.bytes).unwrap().lines() {
        let o: OrderView = serde_json::from_str(line).unwrap();
        assert_eq!(o.store_id, s.id.0);
    }
    let audit = h.store.list_export_audit(ExportId(job.id)).await.unwrap();
    let actions: Vec<_> = audit.iter().map(|a| a.action).collect();
    assert_eq!(actions, [ExportAction::Requested, ExportAction::Downloaded]);
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.get_export(&other.admin, ExportId(job.id)).await), "not_found");
    let bad = h.agora.request_export(&s.admin, s.id, NewExport { kind: "users".into(), format: "xml".into() }).await;
    assert_eq!(code(bad), "validation");
}

pub async fn export_expiry_deletes_file_and_audits(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let job = h
        .agora
        .request_export(&s.admin, s.id, NewExport { kind: "orders".into(), format: "csv".into() })
        .await
        .unwrap();
    h.agora.run_queued_exports(10, &|_, _| {}).await.unwrap();
    h.clock.advance(Duration::days(7));
    let r = h.agora.expire_exports(10).await.unwrap();
    assert_eq!(r.changed, 1);
    assert_eq!(h.agora.get_export(&s.admin, ExportId(job.id)).await.unwrap().status, "expired");
    assert_eq!(code(h.agora.download_export(&s.admin, ExportId(job.id)).await), "conflict");
    let audit = h.store.list_export_audit(ExportId(job.id)).await.unwrap();
    assert_eq!(audit.last().unwrap().action, ExportAction::Expired);
    assert_eq!(h.agora.expire_exports(10).await.unwrap().scanned, 0);
}

pub async fn changeset_guard_failure_writes_nothing(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "CS-1", 100, 2).await;
    let before = h.store.snapshot().await.unwrap();
    let mut cs = Changeset::new();
    cs.guard(Guard::StockAvailable { variant_id: VariantId(v), warehouse_id: WarehouseId(s.warehouse), qty: 2 })
        .guard(Guard::StockAvailable { variant_id: VariantId(v), warehouse_id: WarehouseId(s.warehouse), qty: 3 })
        .write(Write::AdjustStock {
            variant_id: VariantId(v),
            warehouse_id: WarehouseId(s.warehouse),
            on_hand_delta: 0,
            reserved_delta: 2,
            at: h.clock.now(),
        })
        .insert(Record::Audit(AuditLog {
            id: AuditId(Uuid::now_v7()),
            store_id: s.id,
            at: h.clock.now(),
            actor_masked: "t".into(),
            ip: None,
            key: "k".into(),
            from: None,
            to: None,
        }));
    match h.store.apply(cs).await {
        Err(StoreError::GuardFailed(f)) => assert_eq!(f.index, 1, "the second guard failed"),
        other => panic!("expected a guard failure, got {other:?}"),
    }
    assert_eq!(h.store.snapshot().await.unwrap(), before);
}

pub async fn changeset_duplicate_insert_writes_nothing(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let before = h.store.snapshot().await.unwrap();
    let audit = AuditLog {
        id: AuditId(Uuid::now_v7()),
        store_id: s.id,
        at: h.clock.now(),
        actor_masked: "t".into(),
        ip: None,
        key: "k".into(),
        from: Some("a".into()),
        to: None,
    };
    let mut cs = Changeset::new();
    cs.insert(Record::Audit(audit.clone())).insert(Record::Audit(audit));
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::Duplicate(_))));
    assert_eq!(h.store.snapshot().await.unwrap(), before);
}

pub async fn changeset_update_of_missing_row_fails(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let before = h.store.snapshot().await.unwrap();
    let mut settings = h.store.get_settings(s.id).await.unwrap().unwrap();
    settings.store_id = StoreId(Uuid::now_v7());
    let mut cs = Changeset::new();
    cs.write(Write::SetEventSeq { store_id: s.id, last_seq: 99 }).update(Record::StoreSettings(settings));
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::Missing(_))));
    let mut cs = Changeset::new();
    cs.write(Write::AdjustStock {
        variant_id: VariantId(Uuid::now_v7()),
        warehouse_id: WarehouseId(s.warehouse),
        on_hand_delta: 1,
        reserved_delta: 0,
        at: h.clock.now(),
    });
    assert!(matches!(h.store.apply(cs).await, Err(StoreError::Missing(_))));
    assert_eq!(h.store.snapshot().await.unwrap(), before);
}

pub async fn concurrent_orders_never_oversell(ts: TestStore) {
    let (placed, left) = crate::race::oversell_race(ts, 16, 20).await;
    assert_eq!((placed, left), (20, 0));
}

pub async fn concurrent_retries_of_one_key_create_one_order(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let h = Arc::new(h);
    let (p, v) = h.product(&s, "IK-1", 100, 50).await;
    let c = h.customer("ann").await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (h, s, c) = (h.clone(), s.clone(), c.clone());
            tokio::spawn(async move { h.order_with_key(&c, &s, &[(v, 2)], "same-key", None).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(p) => bodies.push(p.body),
            Err(AgoraError::Conflict { retry_after: Some(_), .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(!bodies.is_empty());
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every answer is the same order");
    assert_eq!(h.store.snapshot().await.unwrap().orders.len(), 1);
    assert_eq!(h.available(p.id, v).await, 48);
}

pub async fn concurrent_settlement_pays_out_once(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "CP-1", 1000, 50).await;
    qualified_task(&h, &s, v, 1, false).await;
    h.clock.advance(Duration::seconds(604800));
    let h = Arc::new(h);
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.agora.settle_due_payouts(s.id, 100).await.unwrap() })
        })
        .collect();
    let mut changed = 0;
    for r in runs {
        changed += r.await.unwrap().changed;
    }
    assert_eq!(changed, 1, "exactly one settlement succeeded");
    assert_eq!(h.store.snapshot().await.unwrap().payouts.len(), 1);
}

pub async fn store_key_cannot_touch_another_store(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    let (p, _) = h.product(&other, "OT-1", 100, 5).await;
    let a = &s.admin;
    assert_eq!(code(h.agora.patch_settings(a, other.id, SettingsPatch::default(), None).await), "not_found");
    assert_eq!(code(h.agora.create_warehouse(a, other.id, NewWarehouse { name: "w".into() }).await), "not_found");
    let np = NewProduct {
        title: "t".into(),
        currency: "EUR".into(),
        status: None,
        variants: vec![NewVariant { sku: "Z".into(), name: "z".into(), price_minor: 1 }],
    };
    assert_eq!(code(h.agora.create_product(a, other.id, np).await), "not_found");
    assert_eq!(code(h.agora.patch_product(a, ProductId(p.id), ProductPatch::default()).await), "not_found");
    assert_eq!(code(h.agora.list_store_orders(a, other.id, None, &ListQuery::default()).await), "not_found");
    assert_eq!(code(h.agora.list_payouts(a, other.id, None, &ListQuery::default()).await), "not_found");
    assert_eq!(
        code(h.agora.request_export(a, other.id, NewExport { kind: "orders".into(), format: "csv".into() }).await),
        "not_found"
    );
    assert_eq!(code(h.agora.list_audit_logs(a, other.id, &ListQuery::default()).await), "not_found");
}

pub async fn list_limits_are_validated(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let bad = ListQuery { limit: Some(0), cursor: None };
    assert_eq!(code(h.agora.list_products(s.id, &bad).await), "validation");
    let bad = ListQuery { limit: Some(201), cursor: None };
    assert_eq!(code(h.agora.list_products(s.id, &bad).await), "validation");
    let bad = ListQuery { limit: None, cursor: Some("%%%".into()) };
    assert_eq!(code(h.agora.list_products(s.id, &bad).await), "validation");
    assert_eq!(code(h.agora.list_events(&s.admin, s.id, -1, None).await), "validation");
    assert_eq!(code(h.agora.list_products(StoreId(Uuid::now_v7()), &ListQuery::default()).await), "not_found");
}
