//! Stores, settings, admin keys, the catalog and stock.

use agora_core::views::*;
use agora_core::*;
use uuid::Uuid;

use super::*;
use crate::harness::{Harness, TestStore};

// This module's scenarios, for `crate::conformance_tests!`: a new
// scenario is listed here, beside its code.
crate::__scenario_list!($ __scenarios_stores:
    store_created_with_default_settings, store_creation_requires_super_admin, duplicate_domain_is_conflict,
    access_token_is_encrypted_at_rest, settings_patch_audits_each_changed_key, settings_patch_rejects_out_of_range,
    admin_key_is_scoped_to_its_store, admin_keys_and_sessions_stored_hashed, product_created_with_availability,
    duplicate_sku_is_conflict_per_store, product_validation_lists_every_field, draft_products_are_hidden_from_public,
    product_patch_changes_title_and_status, inventory_set_reports_reserved_and_available,
    inventory_below_reserved_is_conflict, inventory_of_foreign_variant_is_not_found,
);

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
            help_payout_percent: 100,
            feature_toggles: Default::default(),
            low_stock_threshold: 5,
            velocity_window_days: 28,
            reorder_lead_days: 14,
            reorder_cover_days: 30,
            flag_amount_minor: 0,
            retention_days: RetentionDays { events: 0, audit_logs: 0, connection_events: 90, drafts: 180 },
            secrets_rotated_at: None,
            admin_keys_rotated_at: st.admin_keys_rotated_at,
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
    let snap = h.snapshot().await;
    let dump = serde_json::to_string(&snap).unwrap();
    assert!(!dump.contains(secret), "the token must not be stored in plaintext");
    let sealed = snap.rows::<Shop>()[0].access_token.clone().expect("sealed token stored");
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
    let mut logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap();
    // The fixture's own rows: its admin key was created, audited.
    let fixture: Vec<String> = logs.items.iter().map(|l| l.key.clone()).filter(|k| is_fixture_audit(k)).collect();
    assert_eq!(fixture, ["admin_key.created"]);
    logs.items.retain(|l| !is_fixture_audit(&l.key));
    assert_eq!(logs.items.len(), 2, "required_helpers did not change, so only two rows: {:?}", logs.items);
    let ttl = logs.items.iter().find(|l| l.key == "order_ttl_seconds").expect("ttl row");
    assert_eq!(ttl.from.as_deref(), Some("1800"));
    assert_eq!(ttl.to.as_deref(), Some("600"));
    assert_eq!(ttl.ip.as_deref(), Some("203.0.113.9"));
    assert!(ttl.actor_masked.contains('…'), "actor is masked: {}", ttl.actor_masked);
    assert!(!ttl.actor_masked.contains("agk_") || ttl.actor_masked.len() < 20);
    assert_eq!(h.agora.get_settings(&s.admin, s.id).await.unwrap().order_ttl_seconds, 600);
    // The super admin's key shows in no store's audit log, not even in part.
    let sa = h.super_admin().await;
    let patch = SettingsPatch { order_ttl_seconds: Some(900), ..Default::default() };
    h.agora.patch_settings(&sa, s.id, patch, None).await.unwrap();
    let logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap();
    let by_super = logs.items.iter().find(|l| l.to.as_deref() == Some("900")).expect("the super admin's row");
    assert_eq!(by_super.actor_masked, "super_admin");
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
    assert!(logs.items.iter().all(|l| is_fixture_audit(&l.key)), "{:?}", logs.items);
}

pub async fn admin_key_is_scoped_to_its_store(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.get_settings(&s.admin, other.id).await), "not_found");
    assert_eq!(code(h.agora.get_settings(&Actor::Anonymous, s.id).await), "unauthorized");
    assert_eq!(code(h.agora.create_admin_key(&s.admin, s.id, Default::default()).await), "forbidden");
    assert_eq!(
        code(h.agora.create_admin_key(&h.super_admin().await, StoreId(Uuid::now_v7()), Default::default()).await),
        "not_found"
    );
}

pub async fn admin_keys_and_sessions_stored_hashed(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let key = h.agora.create_admin_key(&h.super_admin().await, s.id, Default::default()).await.unwrap();
    let c = h.customer("ann").await;
    let dump = serde_json::to_string(&h.snapshot().await).unwrap();
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
    let snap = h.snapshot().await;
    assert_eq!(snap.rows::<Product>().len(), 2, "the conflicting product must not be half-written");
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
    let draft = h.draft_product(&s, "Secret", "D-1").await;
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
    let Scene { h, s, v, c, .. } = scene(ts, "INV-1", 100, 10).await;
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
    let Scene { h, s, v, c, .. } = scene(ts, "INV-2", 100, 10).await;
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
