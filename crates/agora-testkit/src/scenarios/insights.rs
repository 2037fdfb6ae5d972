//! Insights kept by the insights job, and connection checks.

use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::Harness;

// This module's scenarios, for `crate::conformance_tests!`.
crate::__scenario_list!($ __scenarios_insights:
    insights_open_and_resolve_with_their_conditions, insights_are_acknowledged_and_dismissed,
    insights_job_never_duplicates_under_races, connection_checks_are_run_and_logged,
);

/// The live insights of a store: (kind, resource, severity, status).
async fn live(h: &Harness, s: &StoreFixture) -> Vec<(String, Uuid, String, String)> {
    let q = ListQuery { limit: Some(200), cursor: None };
    let mut out: Vec<_> = h
        .agora
        .list_insights(&s.admin, s.id, None, &q)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|i| i.status == "open" || i.status == "acknowledged")
        .map(|i| (i.kind, i.resource_id, i.severity, i.status))
        .collect();
    out.sort();
    out
}

fn kinds(items: &[(String, Uuid, String, String)]) -> Vec<&str> {
    items.iter().map(|(k, ..)| k.as_str()).collect()
}

async fn add_image(h: &Harness, product: Uuid) {
    let mut cs = Changeset::new();
    cs.insert(ProductImage {
        id: ImageId(Uuid::now_v7()),
        product_id: ProductId(product),
        url: "https://img.example/p.png".into(),
        position: 0,
        created_at: h.clock.now(),
        attachment_id: None,
        alt: None,
    });
    h.store.apply(cs).await.unwrap();
}

pub async fn insights_open_and_resolve_with_their_conditions(ts: TestStore) {
    let Scene { h, s, p, v, c } = scene(ts, "INS-1", 100, 3).await;
    h.agora.refresh_insights(s.id).await.unwrap();
    let now = live(&h, &s).await;
    assert_eq!(kinds(&now), ["low_stock", "product_without_image"]);
    assert_eq!((now[0].1, now[0].2.as_str()), (v, "warning"));
    assert_eq!(now[1].1, p.id);
    // Nothing changed: a second run writes nothing.
    let before = h.snapshot().await;
    assert_eq!(h.agora.refresh_insights(s.id).await.unwrap().changed, 0);
    assert_eq!(h.snapshot().await, before);
    // Out of stock: the same insight turns critical.
    let o = h.order(&c, &s, &[(v, 3)]).await.unwrap();
    h.agora.refresh_insights(s.id).await.unwrap();
    assert_eq!(live(&h, &s).await[0].2, "critical");
    h.agora.cancel_order(&c.actor, OrderId(o.id)).await.unwrap();
    // Restocked and pictured: both resolve.
    h.agora
        .set_inventory(&s.admin, s.id, SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: 50 })
        .await
        .unwrap();
    add_image(&h, p.id).await;
    h.agora.refresh_insights(s.id).await.unwrap();
    assert!(live(&h, &s).await.is_empty());
    let resolved = h.agora.list_insights(&s.admin, s.id, Some("resolved"), &ListQuery::default()).await.unwrap().items;
    assert_eq!(resolved.len(), 2);
    // A flag left open for over a day, and a held payout.
    let flagged = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let f = h
        .agora
        .create_flag(&s.admin, OrderId(flagged.id), NewFlag { reason: "other".into(), note: None })
        .await
        .unwrap();
    h.clock.advance(Duration::hours(23));
    h.agora.refresh_insights(s.id).await.unwrap();
    assert!(live(&h, &s).await.is_empty(), "not yet 24 hours");
    h.clock.advance(Duration::hours(2));
    let (_, _) = qualified_task(&h, &s, v, 1, true).await;
    h.clock.advance(Duration::days(8));
    h.agora.settle_due_payouts(s.id, 10).await.unwrap();
    h.agora.refresh_insights(s.id).await.unwrap();
    let now = live(&h, &s).await;
    assert_eq!(kinds(&now), ["flag_open_over_24h", "payout_held"]);
    assert_eq!(now[0].1, f.id);
    h.agora
        .patch_flag(&s.admin, FlagId(f.id), FlagPatch { status: Some("dismissed".into()), ..Default::default() })
        .await
        .unwrap();
    h.agora.refresh_insights(s.id).await.unwrap();
    assert_eq!(kinds(&live(&h, &s).await), ["payout_held"]);
    let events = h.snapshot().await.rows::<ActivityEvent>().into_iter().filter(|e| e.entity_type == "insight").count();
    assert_eq!(events, 2 + 1 + 2 + 2 + 1, "opened, updated, resolved: one event each");
}

pub async fn insights_are_acknowledged_and_dismissed(ts: TestStore) {
    let Scene { h, s, p, v, c } = scene(ts, "INS-2", 100, 1).await;
    add_image(&h, p.id).await;
    h.agora.refresh_insights(s.id).await.unwrap();
    let q = ListQuery::default();
    let i = h.agora.list_insights(&s.admin, s.id, Some("open"), &q).await.unwrap().items.remove(0);
    let id = InsightId(i.id);
    let ack = InsightPatch { status: "acknowledged".into() };
    assert_eq!(h.agora.patch_insight(&s.admin, id, ack.clone()).await.unwrap().status, "acknowledged");
    assert_eq!(code(h.agora.patch_insight(&s.admin, id, InsightPatch { status: "open".into() }).await), "validation");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.patch_insight(&other.admin, id, ack.clone()).await), "not_found");
    assert_eq!(code(h.agora.patch_insight(&c.actor, id, ack.clone()).await), "not_found");
    let dismiss = InsightPatch { status: "dismissed".into() };
    assert_eq!(h.agora.patch_insight(&s.admin, id, dismiss.clone()).await.unwrap().status, "dismissed");
    assert_eq!(code(h.agora.patch_insight(&s.admin, id, ack.clone()).await), "invalid_transition");
    // Dismissed: silent while the condition holds.
    h.agora.refresh_insights(s.id).await.unwrap();
    assert!(live(&h, &s).await.is_empty());
    assert_eq!(h.agora.list_insights(&s.admin, s.id, Some("dismissed"), &q).await.unwrap().items.len(), 1);
    // Gone, then back: a new insight opens.
    let stock = |n| SetInventory { variant_id: v, warehouse_id: s.warehouse, on_hand: n };
    h.agora.set_inventory(&s.admin, s.id, stock(40)).await.unwrap();
    h.agora.refresh_insights(s.id).await.unwrap();
    h.agora.set_inventory(&s.admin, s.id, stock(2)).await.unwrap();
    h.agora.refresh_insights(s.id).await.unwrap();
    let open = h.agora.list_insights(&s.admin, s.id, Some("open"), &q).await.unwrap().items;
    assert_eq!(open.len(), 1);
    assert_ne!(open[0].id, i.id);
    assert_eq!(code(h.agora.list_insights(&s.admin, s.id, Some("new"), &q).await), "validation");
    // A resolved insight cannot be acknowledged.
    h.agora.set_inventory(&s.admin, s.id, stock(40)).await.unwrap();
    h.agora.refresh_insights(s.id).await.unwrap();
    assert_eq!(code(h.agora.patch_insight(&s.admin, InsightId(open[0].id), ack).await), "invalid_transition");
}

pub async fn insights_job_never_duplicates_under_races(ts: TestStore) {
    let (h, s) = setup(ts).await;
    for i in 0..5 {
        h.product(&s, &format!("INS-R{i}"), 100, i).await;
    }
    let (a, b, c) =
        tokio::join!(h.agora.refresh_insights(s.id), h.agora.refresh_insights(s.id), h.agora.refresh_insights(s.id));
    let reports = [a.unwrap(), b.unwrap(), c.unwrap()];
    h.agora.refresh_insights(s.id).await.unwrap();
    let all =
        h.snapshot().await.rows::<Insight>().into_iter().filter(|i| i.store_id == s.id).cloned().collect::<Vec<_>>();
    assert_eq!(all.len(), 10, "5 low_stock + 5 without image, once each: {reports:?}");
    let mut keys: Vec<_> = all.iter().map(|i| i.live_key.clone().unwrap()).collect();
    keys.dedup();
    assert_eq!(keys.len(), 10);
}

pub async fn connection_checks_are_run_and_logged(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let check = |target: &str| NewConnectionCheck { target: target.into(), endpoint_id: None };
    let db = h.agora.run_connection_check(&s.admin, s.id, check("database")).await.unwrap();
    assert!(db.ok, "{db:?}");
    assert_eq!(db.target, "database");
    let redis = h.agora.run_connection_check(&s.admin, s.id, check("redis")).await.unwrap();
    assert_eq!((redis.ok, redis.detail.as_str()), (false, "redis is not configured"));
    assert_eq!(code(h.agora.run_connection_check(&s.admin, s.id, check("webhook_endpoint")).await), "not_found");
    assert_eq!(code(h.agora.run_connection_check(&s.admin, s.id, check("ftp")).await), "validation");
    let other = h.store_fixture("other.example.com").await;
    assert_eq!(code(h.agora.run_connection_check(&other.admin, s.id, check("database")).await), "not_found");
    let listed = h.agora.list_connection_checks(&s.admin, s.id, &ListQuery::default()).await.unwrap().items;
    assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), [redis.id, db.id]);
    let events =
        h.snapshot().await.rows::<ActivityEvent>().into_iter().filter(|e| e.kind == "connection.checked").count();
    assert_eq!(events, 2);
}
