//! Store operations (API.md v1.1): a store's lifecycle, its admin keys,
//! the settings added in v1.1 and order flags.

use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::Harness;

// This module's scenarios, for `crate::conformance_tests!`.
crate::__scenario_list!($ __scenarios_operations:
    store_patch_changes_plan_status_and_onboarding, store_patch_refuses_bad_input_and_non_super_admins,
    suspended_store_refuses_orders_and_catalog_writes, suspended_store_vanishes_from_public_reads,
    admin_key_expires, admin_key_revocation_is_immediate_and_scoped, admin_key_use_is_written_in_batches,
    v11_settings_patch_audits_toggles_and_retention, v11_settings_refuse_bad_names_and_ranges,
    order_flag_moves_through_its_states, order_flags_are_listed_per_store_and_status,
    large_order_is_flagged_in_its_own_commit, admin_keys_and_inventory_edits_are_audited,
);

/// The keys of the store's audit rows, newest first, but for those the
/// fixture itself wrote (its admin key, its products' stock).
async fn audit_keys(h: &Harness, s: &StoreFixture) -> Vec<String> {
    let page = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap();
    page.items.into_iter().map(|a| a.key).filter(|k| !is_fixture_audit(k)).collect()
}

fn suspend() -> StorePatch {
    StorePatch { status: Some("suspended".into()), ..Default::default() }
}

pub async fn store_patch_changes_plan_status_and_onboarding(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let sa = h.super_admin().await;
    h.clock.advance(Duration::seconds(5));
    let steps = [("add_product".to_owned(), true), ("connect_payments".to_owned(), false)].into();
    let patch = StorePatch {
        name: Some(" Renamed ".into()),
        plan: Some("pro".into()),
        onboarding: Some(steps),
        ..Default::default()
    };
    let st = h.agora.patch_store(&sa, s.id, patch, Some("10.1.1.1")).await.unwrap();
    assert_eq!((st.name.as_str(), st.plan.as_str(), st.status.as_str()), ("Renamed", "pro", "active"));
    assert_eq!(st.onboarding, serde_json::json!({"add_product": true, "connect_payments": false}));
    assert!(st.updated_at > st.created_at);
    // Steps not named keep their value.
    let more = StorePatch { onboarding: Some([("connect_payments".to_owned(), true)].into()), ..Default::default() };
    let st = h.agora.patch_store(&sa, s.id, more, None).await.unwrap();
    assert_eq!(st.onboarding, serde_json::json!({"add_product": true, "connect_payments": true}));
    assert_eq!(h.agora.get_store(&s.admin, s.id).await.unwrap(), st, "the store's own admin reads it");
    let st = h.agora.patch_store(&sa, s.id, suspend(), None).await.unwrap();
    assert_eq!(st.status, "suspended");
    let st = h.agora.patch_store(&sa, s.id, StorePatch { status: Some("active".into()), ..Default::default() }, None);
    assert_eq!(st.await.unwrap().status, "active");
    let keys = audit_keys(&h, &s).await;
    for key in ["name", "plan", "status"] {
        assert!(keys.iter().any(|k| k == key), "audit rows {keys:?} lack {key}");
    }
    assert_eq!(keys.iter().filter(|k| *k == "status").count(), 2);
    let kinds = event_kinds(&h, s.id.0).await;
    for kind in ["store.created", "store.updated", "store.suspended", "store.reactivated"] {
        assert!(kinds.iter().any(|k| k == kind), "events {kinds:?} lack {kind}");
    }
    // Nothing to change writes nothing.
    let before = h.snapshot().await;
    h.agora.patch_store(&sa, s.id, StorePatch { plan: Some("pro".into()), ..Default::default() }, None).await.unwrap();
    assert_eq!(h.snapshot().await, before);
}

pub async fn store_patch_refuses_bad_input_and_non_super_admins(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let sa = h.super_admin().await;
    let bad = StorePatch {
        name: Some(String::new()),
        plan: Some("gold".into()),
        status: Some("closed".into()),
        onboarding: Some([("Bad Name".to_owned(), true)].into()),
    };
    match h.agora.patch_store(&sa, s.id, bad, None).await {
        Err(AgoraError::Validation(errs)) => {
            let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["name", "plan", "status", "onboarding.Bad Name"], "{errs:?}");
        }
        other => panic!("expected validation, got {other:?}"),
    }
    let too_many: std::collections::BTreeMap<String, bool> = (0..65).map(|i| (format!("s{i}"), true)).collect();
    let r = h.agora.patch_store(&sa, s.id, StorePatch { onboarding: Some(too_many), ..Default::default() }, None);
    assert_eq!(code(r.await), "validation");
    assert_eq!(code(h.agora.patch_store(&s.admin, s.id, suspend(), None).await), "forbidden");
    assert_eq!(code(h.agora.patch_store(&Actor::Anonymous, s.id, suspend(), None).await), "unauthorized");
    assert_eq!(code(h.agora.patch_store(&sa, StoreId(Uuid::now_v7()), suspend(), None).await), "not_found");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.get_store(&other.admin, s.id).await), "not_found");
    let c = h.customer("ann").await;
    assert_eq!(code(h.agora.get_store(&c.actor, s.id).await), "not_found");
    assert_eq!(h.agora.get_store(&s.admin, s.id).await.unwrap().status, "active", "nothing changed");
}

pub async fn suspended_store_refuses_orders_and_catalog_writes(ts: TestStore) {
    let Scene { h, s, p, v, c } = scene(ts, "SUS-1", 500, 10).await;
    let sa = h.super_admin().await;
    let open = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    h.agora.patch_store(&sa, s.id, suspend(), None).await.unwrap();
    let before = h.snapshot().await;
    assert_eq!(code(h.order(&c, &s, &[(v, 1)]).await), "store_suspended");
    let np = NewProduct {
        title: "New".into(),
        currency: "EUR".into(),
        status: None,
        variants: vec![NewVariant { sku: "SUS-2".into(), name: "x".into(), price_minor: 1 }],
    };
    assert_eq!(code(h.agora.create_product(&s.admin, s.id, np).await), "store_suspended");
    let patch = ProductPatch { title: Some("Renamed".into()), status: None };
    assert_eq!(code(h.agora.patch_product(&s.admin, ProductId(p.id), patch).await), "store_suspended");
    let wh = NewWarehouse { name: "second".into() };
    assert_eq!(code(h.agora.create_warehouse(&s.admin, s.id, wh).await), "store_suspended");
    let stock = SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: 99 };
    assert_eq!(code(h.agora.set_inventory(&s.admin, s.id, stock.clone()).await), "store_suspended");
    assert_eq!(h.snapshot().await, before, "a refused write writes nothing");
    // Orders placed before the suspension can still be cancelled.
    h.agora.cancel_order(&c.actor, OrderId(open.id)).await.unwrap();
    h.agora
        .patch_store(&sa, s.id, StorePatch { status: Some("active".into()), ..Default::default() }, None)
        .await
        .unwrap();
    h.agora.set_inventory(&s.admin, s.id, stock).await.unwrap();
    h.order(&c, &s, &[(v, 1)]).await.expect("trading again");
}

pub async fn suspended_store_vanishes_from_public_reads(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "VIS-1", 700, 5).await;
    let (owner, task) = qualified_task(&h, &s, v, 1, false).await;
    let spare = paid_order(&h, &owner, &s, v).await;
    let sa = h.super_admin().await;
    h.agora.patch_store(&sa, s.id, suspend(), None).await.unwrap();
    let q = ListQuery::default();
    assert_eq!(code(h.agora.list_products(s.id, &q).await), "not_found");
    assert_eq!(code(h.agora.get_product(&Actor::Anonymous, ProductId(p.id)).await), "not_found");
    assert_eq!(code(h.agora.get_product(&owner.actor, ProductId(p.id)).await), "not_found");
    assert_eq!(code(h.agora.get_task(&task.task_no).await), "not_found");
    // Admins still read everything.
    assert_eq!(h.agora.list_products_as(&s.admin, s.id, &q).await.unwrap().items.len(), 1);
    assert_eq!(code(h.agora.list_products_as(&owner.actor, s.id, &q).await), "not_found");
    assert_eq!(h.agora.get_task_as(&s.admin, &task.task_no).await.unwrap().task_no, task.task_no);
    assert_eq!(code(h.agora.get_task_as(&owner.actor, &task.task_no).await), "not_found");
    let r = h.agora.create_task(&owner.actor, NewTask { order_id: spare.id }).await;
    assert_eq!(code(r), "store_suspended", "no new help tasks either");
    assert_eq!(h.agora.get_product(&s.admin, ProductId(p.id)).await.unwrap().id, p.id);
    assert_eq!(h.agora.get_product(&sa, ProductId(p.id)).await.unwrap().id, p.id);
    assert_eq!(h.agora.list_all_products(&s.admin, s.id, &q).await.unwrap().items.len(), 1);
    assert!(!h.agora.list_store_orders(&s.admin, s.id, None, &q).await.unwrap().items.is_empty());
    assert_eq!(h.agora.get_store(&s.admin, s.id).await.unwrap().status, "suspended");
    // A customer still sees their own orders.
    assert!(!h.agora.list_my_orders(&owner.actor, &q).await.unwrap().items.is_empty());
    h.agora
        .patch_store(&sa, s.id, StorePatch { status: Some("active".into()), ..Default::default() }, None)
        .await
        .unwrap();
    assert_eq!(h.agora.list_products(s.id, &q).await.unwrap().items.len(), 1);
    assert_eq!(h.agora.get_task(&task.task_no).await.unwrap().task_no, task.task_no);
}

pub async fn admin_key_expires(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let sa = h.super_admin().await;
    let key = h.agora.create_admin_key(&sa, s.id, NewAdminKey { expires_in_seconds: Some(3600) }).await.unwrap();
    assert!(
        matches!(h.agora.authenticate_admin(&key.key).await, Ok(Actor::StoreAdmin { store_id, .. }) if store_id == s.id)
    );
    h.clock.advance(Duration::seconds(3599));
    h.agora.authenticate_admin(&key.key).await.expect("valid until its expiry");
    h.clock.advance(Duration::seconds(1));
    assert_eq!(code(h.agora.authenticate_admin(&key.key).await), "unauthorized");
    let listed = h.agora.list_admin_keys(&sa, s.id, &ListQuery::default()).await.unwrap();
    let row = listed.items.iter().find(|k| k.id == key.id).expect("listed");
    assert_eq!(row.expires_at, Some(row.created_at + Duration::seconds(3600)));
    assert_eq!(row.masked, key.masked);
    assert!(!serde_json::to_string(&listed).unwrap().contains(&key.key), "the key is never listed");
    for bad in [0, 59, 315_360_001] {
        let r = h.agora.create_admin_key(&sa, s.id, NewAdminKey { expires_in_seconds: Some(bad) }).await;
        assert_eq!(code(r), "validation", "{bad}");
    }
}

pub async fn admin_key_revocation_is_immediate_and_scoped(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let sa = h.super_admin().await;
    let other = h.store_fixture("other.example.com").await;
    let key = h.agora.create_admin_key(&sa, s.id, NewAdminKey::default()).await.unwrap();
    let admin = h.agora.authenticate_admin(&key.key).await.unwrap();
    let id = AdminKeyId(key.id);
    assert_eq!(code(h.agora.revoke_admin_key(&other.admin, s.id, id, None).await), "not_found");
    assert_eq!(code(h.agora.revoke_admin_key(&other.admin, other.id, id, None).await), "not_found", "not its key");
    assert_eq!(code(h.agora.revoke_admin_key(&Actor::Anonymous, s.id, id, None).await), "unauthorized");
    let c = h.customer("ann").await;
    assert_eq!(code(h.agora.revoke_admin_key(&c.actor, s.id, id, None).await), "not_found");
    assert_eq!(code(h.agora.list_admin_keys(&s.admin, s.id, &ListQuery::default()).await), "forbidden");
    h.agora.authenticate_admin(&key.key).await.expect("still valid");
    h.clock.advance(Duration::seconds(1));
    // A key may revoke itself.
    h.agora.revoke_admin_key(&admin, s.id, id, Some("10.0.0.9")).await.unwrap();
    assert_eq!(code(h.agora.authenticate_admin(&key.key).await), "unauthorized");
    let before = h.snapshot().await;
    h.agora.revoke_admin_key(&sa, s.id, id, None).await.expect("revoking again is a no-op");
    assert_eq!(h.snapshot().await, before);
    let listed = h.agora.list_admin_keys(&sa, s.id, &ListQuery::default()).await.unwrap();
    let row = listed.items.iter().find(|k| k.id == key.id).unwrap();
    let revoked_at = row.revoked_at.expect("revoked_at");
    assert_eq!(listed.items.len(), 2, "the fixture's key and this one");
    assert!(listed.items[0].id > listed.items[1].id, "newest first");
    let settings = h.agora.get_settings(&s.admin, s.id).await.unwrap();
    assert_eq!(settings.admin_keys_rotated_at, Some(revoked_at));
    assert!(audit_keys(&h, &s).await.contains(&"admin_key.revoked".to_owned()));
    assert_eq!(event_kinds(&h, key.id).await, ["admin_key.created", "admin_key.revoked"]);
}

pub async fn admin_key_use_is_written_in_batches(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let sa = h.super_admin().await;
    let key = h.agora.create_admin_key(&sa, s.id, NewAdminKey::default()).await.unwrap();
    let before = h.snapshot().await;
    for _ in 0..5 {
        h.clock.advance(Duration::seconds(1));
        h.agora.authenticate_admin(&key.key).await.unwrap();
    }
    let used_at = h.clock.now();
    assert_eq!(h.snapshot().await, before, "authenticating writes nothing");
    let written = h.agora.flush_key_usage().await.unwrap();
    assert!(written >= 1, "{written}");
    let snap = h.snapshot().await;
    let row = snap.rows::<AdminKey>().into_iter().find(|k| k.id.0 == key.id).unwrap();
    assert_eq!(row.last_used_at, Some(used_at));
    let events = |snap: &Snapshot| snap.rows::<ActivityEvent>().len();
    assert_eq!(events(&h.snapshot().await), events(&before), "usage is not an event");
    assert_eq!(h.agora.flush_key_usage().await.unwrap(), 0, "nothing new to write");
    // A use noted before a revocation and flushed after it never undoes it.
    h.clock.advance(Duration::seconds(1));
    h.agora.authenticate_admin(&key.key).await.unwrap();
    h.agora.revoke_admin_key(&sa, s.id, AdminKeyId(key.id), None).await.unwrap();
    h.agora.flush_key_usage().await.unwrap();
    let snap = h.snapshot().await;
    let row = snap.rows::<AdminKey>().into_iter().find(|k| k.id.0 == key.id).unwrap();
    assert!(row.revoked_at.is_some());
    assert_eq!(row.last_used_at, Some(h.clock.now()));
    assert_eq!(code(h.agora.authenticate_admin(&key.key).await), "unauthorized");
}

pub async fn v11_settings_patch_audits_toggles_and_retention(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let patch = SettingsPatch {
        feature_toggles: Some([("beta_checkout".to_owned(), true), ("gift_cards".to_owned(), false)].into()),
        low_stock_threshold: Some(3),
        flag_amount_minor: Some(100_000),
        retention_days: Some(RetentionPatch { events: Some(365), drafts: Some(30), ..Default::default() }),
        ..Default::default()
    };
    let st = h.agora.patch_settings(&s.admin, s.id, patch, Some("10.0.0.2")).await.unwrap();
    assert_eq!(st.feature_toggles.get("beta_checkout"), Some(&true));
    assert_eq!(st.feature_toggles.get("gift_cards"), Some(&false));
    assert_eq!((st.low_stock_threshold, st.flag_amount_minor), (3, 100_000));
    assert_eq!(st.retention_days, RetentionDays { events: 365, audit_logs: 0, connection_events: 90, drafts: 30 });
    let mut keys = audit_keys(&h, &s).await;
    keys.sort();
    assert_eq!(
        keys,
        [
            "feature_toggles.beta_checkout",
            "feature_toggles.gift_cards",
            "flag_amount_minor",
            "low_stock_threshold",
            "retention_days.drafts",
            "retention_days.events"
        ]
    );
    // Toggles not named keep their value; an unchanged value is not audited.
    let patch = SettingsPatch {
        feature_toggles: Some([("gift_cards".to_owned(), true), ("beta_checkout".to_owned(), true)].into()),
        ..Default::default()
    };
    let st = h.agora.patch_settings(&s.admin, s.id, patch, None).await.unwrap();
    assert_eq!(st.feature_toggles.len(), 2);
    assert_eq!(st.feature_toggles.get("gift_cards"), Some(&true));
    assert_eq!(audit_keys(&h, &s).await.len(), 7);
    assert_eq!(h.agora.get_settings(&s.admin, s.id).await.unwrap(), st);
}

pub async fn v11_settings_refuse_bad_names_and_ranges(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let before = h.snapshot().await;
    let patch = SettingsPatch {
        feature_toggles: Some([("Has-Caps".to_owned(), true), ("x".repeat(65), true)].into()),
        velocity_window_days: Some(0),
        flag_amount_minor: Some(-1),
        retention_days: Some(RetentionPatch { audit_logs: Some(-1), ..Default::default() }),
        ..Default::default()
    };
    match h.agora.patch_settings(&s.admin, s.id, patch, None).await {
        Err(AgoraError::Validation(errs)) => {
            let mut fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
            fields.sort();
            let long = format!("feature_toggles.{}", "x".repeat(65));
            let mut want = vec![
                "feature_toggles.Has-Caps",
                &long,
                "flag_amount_minor",
                "retention_days.audit_logs",
                "velocity_window_days",
            ];
            want.sort();
            assert_eq!(fields, want, "{errs:?}");
        }
        other => panic!("expected validation, got {other:?}"),
    }
    assert_eq!(h.snapshot().await, before, "a refused patch writes nothing");
    // At most 64 toggles in all, counting those already set.
    let first: std::collections::BTreeMap<String, bool> = (0..60).map(|i| (format!("t{i}"), true)).collect();
    let patch = SettingsPatch { feature_toggles: Some(first), ..Default::default() };
    h.agora.patch_settings(&s.admin, s.id, patch, None).await.unwrap();
    let before_more = h.snapshot().await;
    let more: std::collections::BTreeMap<String, bool> = (60..70).map(|i| (format!("t{i}"), true)).collect();
    let patch = SettingsPatch { feature_toggles: Some(more), ..Default::default() };
    assert_eq!(code(h.agora.patch_settings(&s.admin, s.id, patch, None).await), "validation");
    assert_eq!(h.snapshot().await, before_more);
}

fn flag(reason: &str, note: Option<&str>) -> NewFlag {
    NewFlag { reason: reason.into(), note: note.map(str::to_owned) }
}

fn to(status: &str) -> FlagPatch {
    FlagPatch { status: Some(status.into()), ..Default::default() }
}

pub async fn order_flag_moves_through_its_states(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "FLG-1", 500, 10).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let f = h.agora.create_flag(&s.admin, OrderId(o.id), flag("address_issue", Some(" check street "))).await.unwrap();
    assert_eq!(
        (f.status.as_str(), f.reason.as_str(), f.note.as_deref()),
        ("open", "address_issue", Some("check street"))
    );
    assert_eq!((f.order_id, f.store_id, f.resolved_at), (o.id, s.id.0, None));
    let id = FlagId(f.id);
    h.clock.advance(Duration::seconds(1));
    let f = h.agora.patch_flag(&s.admin, id, to("in_review")).await.unwrap();
    assert_eq!(f.status, "in_review");
    assert!(f.updated_at > f.created_at);
    let edit = FlagPatch { note: Some("called the customer".into()), ..Default::default() };
    assert_eq!(h.agora.patch_flag(&s.admin, id, edit).await.unwrap().note.as_deref(), Some("called the customer"));
    assert_eq!(code(h.agora.patch_flag(&s.admin, id, to("open")).await), "invalid_transition");
    h.clock.advance(Duration::seconds(1));
    let done = FlagPatch { status: Some("resolved".into()), resolution: Some("address fixed".into()), note: None };
    let f = h.agora.patch_flag(&s.admin, id, done).await.unwrap();
    assert_eq!((f.status.as_str(), f.resolution.as_deref()), ("resolved", Some("address fixed")));
    assert_eq!(f.resolved_at, Some(h.clock.now()));
    for next in ["open", "in_review", "dismissed"] {
        assert_eq!(code(h.agora.patch_flag(&s.admin, id, to(next)).await), "invalid_transition", "{next}");
    }
    let again = h.agora.patch_flag(&s.admin, id, to("resolved")).await.unwrap();
    assert_eq!(again, f, "asking for the state it is in changes nothing");
    // open -> dismissed directly.
    let g = h.agora.create_flag(&s.admin, OrderId(o.id), flag("other", None)).await.unwrap();
    assert_eq!(h.agora.patch_flag(&s.admin, FlagId(g.id), to("dismissed")).await.unwrap().status, "dismissed");
    assert_eq!(
        event_kinds(&h, f.id).await,
        ["flag.created", "flag.status_changed", "flag.updated", "flag.status_changed"]
    );
    // Refusals.
    let bad = h.agora.create_flag(&s.admin, OrderId(o.id), flag("spam", Some(&"x".repeat(2001)))).await;
    match bad {
        Err(AgoraError::Validation(errs)) => assert_eq!(errs.len(), 2, "{errs:?}"),
        other => panic!("expected validation, got {other:?}"),
    }
    assert_eq!(code(h.agora.patch_flag(&s.admin, id, to("closed")).await), "validation");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.create_flag(&other.admin, OrderId(o.id), flag("other", None)).await), "not_found");
    assert_eq!(code(h.agora.patch_flag(&other.admin, id, to("dismissed")).await), "not_found");
    assert_eq!(code(h.agora.create_flag(&c.actor, OrderId(o.id), flag("other", None)).await), "not_found");
    assert_eq!(code(h.agora.create_flag(&Actor::Anonymous, OrderId(o.id), flag("other", None)).await), "unauthorized");
    assert_eq!(code(h.agora.create_flag(&s.admin, OrderId(Uuid::now_v7()), flag("other", None)).await), "not_found");
    assert_eq!(code(h.agora.patch_flag(&s.admin, FlagId(Uuid::now_v7()), to("dismissed")).await), "not_found");
}

pub async fn order_flags_are_listed_per_store_and_status(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "FLG-2", 500, 10).await;
    let o = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let mut ids = Vec::new();
    for reason in ["fraud_risk", "address_issue", "customer_request"] {
        ids.push(h.agora.create_flag(&s.admin, OrderId(o.id), flag(reason, None)).await.unwrap().id);
    }
    h.agora.patch_flag(&s.admin, FlagId(ids[1]), to("in_review")).await.unwrap();
    let q = ListQuery::default();
    let all = h.agora.list_flags(&s.admin, s.id, None, &q).await.unwrap();
    let listed: Vec<Uuid> = all.items.iter().map(|f| f.id).collect();
    assert_eq!(listed, [ids[2], ids[1], ids[0]], "newest first");
    let open = h.agora.list_flags(&s.admin, s.id, Some("open"), &q).await.unwrap();
    assert_eq!(open.items.iter().map(|f| f.id).collect::<Vec<_>>(), [ids[2], ids[0]]);
    let page = ListQuery { limit: Some(2), cursor: None };
    let first = h.agora.list_flags(&s.admin, s.id, None, &page).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let rest = ListQuery { limit: Some(2), cursor: first.next_cursor };
    assert_eq!(h.agora.list_flags(&s.admin, s.id, None, &rest).await.unwrap().items[0].id, ids[0]);
    assert_eq!(code(h.agora.list_flags(&s.admin, s.id, Some("shut"), &q).await), "validation");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.list_flags(&other.admin, s.id, None, &q).await), "not_found");
    assert!(h.agora.list_flags(&other.admin, other.id, None, &q).await.unwrap().items.is_empty());
}

pub async fn large_order_is_flagged_in_its_own_commit(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "FLG-3", 500, 10).await;
    configure(&h, &s, SettingsPatch { flag_amount_minor: Some(1000), ..Default::default() }).await;
    let q = ListQuery::default();
    let small = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    assert!(h.agora.list_flags(&s.admin, s.id, None, &q).await.unwrap().items.is_empty(), "{small:?} is below");
    let big = h.order_with_key(&c, &s, &[(v, 2)], "big", None).await.unwrap().order;
    let flags = h.agora.list_flags(&s.admin, s.id, None, &q).await.unwrap().items;
    assert_eq!(flags.len(), 1);
    assert_eq!((flags[0].order_id, flags[0].reason.as_str(), flags[0].status.as_str()), (big.id, "fraud_risk", "open"));
    assert_eq!(flags[0].created_at, big.created_at, "written with the order");
    assert_eq!(event_kinds(&h, flags[0].id).await, ["flag.created"]);
    // A replay creates nothing; a refused order flags nothing.
    let replay = h.order_with_key(&c, &s, &[(v, 2)], "big", None).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(code(h.order(&c, &s, &[(v, 100)]).await), "out_of_stock");
    assert_eq!(h.agora.list_flags(&s.admin, s.id, None, &q).await.unwrap().items.len(), 1);
    configure(&h, &s, SettingsPatch { flag_amount_minor: Some(0), ..Default::default() }).await;
    h.order_with_key(&c, &s, &[(v, 3)], "off", None).await.unwrap();
    assert_eq!(h.agora.list_flags(&s.admin, s.id, None, &q).await.unwrap().items.len(), 1, "0 = off");
}

/// Security changes in a store's audit log: an admin key made (by whom, from
/// where, which key, masked) and every inventory edit (from, to).
pub async fn admin_keys_and_inventory_edits_are_audited(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "AUD-1", 100, 5).await;
    let sa = h.super_admin().await;
    let key = h.agora.create_admin_key_from(&sa, s.id, NewAdminKey::default(), Some("192.0.2.9")).await.unwrap();
    let edit = SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: 9 };
    h.agora.set_inventory_from(&s.admin, s.id, edit, Some("192.0.2.10")).await.unwrap();
    assert_eq!(h.available(p.id, v).await, 9);
    let logs = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    let made = logs.iter().find(|l| l.key == "admin_key.created" && l.to.as_deref() == Some(key.masked.as_str()));
    let made = made.expect("the new key's row");
    assert_eq!(
        (made.actor_masked.as_str(), made.ip.as_deref(), made.from.as_deref()),
        ("super_admin", Some("192.0.2.9"), None)
    );
    assert!(!logs.iter().any(|l| l.to.as_deref().is_some_and(|t| t.contains(&key.key))), "never the key itself");
    let stock_key = format!("inventory:{v}:{}", s.warehouse);
    let edits: Vec<(Option<&str>, Option<&str>, Option<&str>)> = logs
        .iter()
        .filter(|l| l.key == stock_key)
        .map(|l| (l.from.as_deref(), l.to.as_deref(), l.ip.as_deref()))
        .collect();
    assert_eq!(edits, [(Some("5"), Some("9"), Some("192.0.2.10")), (None, Some("5"), None)], "newest first");
    // A refused edit writes no row.
    let below = SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: -1 };
    assert_eq!(code(h.agora.set_inventory(&s.admin, s.id, below).await), "validation");
    let after = h.agora.list_audit_logs(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    assert_eq!(after.len(), logs.len());
}
