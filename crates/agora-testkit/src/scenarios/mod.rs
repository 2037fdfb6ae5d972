//! The conformance scenarios: each use case and each of its failure paths.
//! Every function takes a fresh [`TestStore`] and panics on a deviation.

use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use crate::harness::{Customer, Harness, StoreFixture, TestStore};

mod files;
mod insights;
mod jobs;
mod kpis;
mod operations;
mod orders;
mod payments;
mod purchasing;
mod races;
mod refunds;
mod retention;
mod search;
mod storage;
mod stores;
mod support;
mod webhooks;

pub use files::*;
pub use insights::*;
pub use jobs::*;
pub use kpis::*;
pub use operations::*;
pub use orders::*;
pub use payments::*;
pub use purchasing::*;
pub use races::*;
pub use refunds::*;
pub use retention::*;
pub use search::*;
pub use storage::*;
pub use stores::*;
pub use support::*;
pub use webhooks::*;

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

/// Where most scenarios start: a store with one product (`sku` at `price`,
/// `stock` units in the store's warehouse) and a customer, ann.
struct Scene {
    h: Harness,
    s: StoreFixture,
    p: ProductView,
    v: Uuid,
    c: Customer,
}

async fn scene(ts: TestStore, sku: &str, price: i64, stock: i64) -> Scene {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, sku, price, stock).await;
    let c = h.customer("ann").await;
    Scene { h, s, p, v, c }
}

async fn paid_order(h: &Harness, c: &Customer, s: &StoreFixture, variant: Uuid) -> OrderView {
    let o = h.order(c, s, &[(variant, 1)]).await.expect("order");
    h.pay(c, &o).await;
    h.agora.get_order(&c.actor, OrderId(o.id)).await.expect("get")
}

/// The kinds of the events written about `entity_id`, in the order written.
async fn event_kinds(h: &Harness, entity_id: Uuid) -> Vec<String> {
    let snap = h.snapshot().await;
    let mut events = snap.rows::<ActivityEvent>();
    events.sort_by_key(|e| e.id);
    events.into_iter().filter(|e| e.entity_id == entity_id).map(|e| e.kind.clone()).collect()
}

/// Changes the settings of `s` (as its admin, from no client address).
async fn configure(h: &Harness, s: &StoreFixture, patch: SettingsPatch) {
    h.agora.patch_settings(&s.admin, s.id, patch, None).await.expect("patch settings");
}

/// A second warehouse of `s`, holding `on_hand` units of `variant`.
async fn second_warehouse(h: &Harness, s: &StoreFixture, variant: Uuid, on_hand: i64) -> WarehouseView {
    let w = h.agora.create_warehouse(&s.admin, s.id, NewWarehouse { name: "second".into() }).await.expect("warehouse");
    let stock = SetInventory { variant_id: variant, warehouse_id: w.id, on_hand };
    h.agora.set_inventory(&s.admin, s.id, stock).await.expect("stock");
    w
}

async fn ship_then_receive(h: &Harness, c: &Customer, s: &StoreFixture, order: &OrderView) {
    h.agora.ship_order(&s.admin, OrderId(order.id)).await.expect("ship");
    h.agora.receive_order(&c.actor, OrderId(order.id)).await.expect("receive");
}

/// Owner with a task, and `n` helpers whose help orders are received. A
/// `suspicious` set of helpers shares the owner's address and registers
/// after the task opened (two risk rules); otherwise they are clean.
async fn qualified_task(h: &Harness, s: &StoreFixture, v: Uuid, n: usize, suspicious: bool) -> (Customer, TaskView) {
    configure(h, s, SettingsPatch { required_helpers: Some(n as i64), ..Default::default() }).await;
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

/// Puts at least one row in every table of the catalogue, through the use
/// cases where one writes it (a product image through a raw changeset: no
/// use case writes images yet).
/// Whether an audit key is one a fixture's setup writes (its admin key,
/// its products' stock), not the change a scenario is about.
/// Uploads `bytes` as an attachment of `s` (its admin), in three chunks.
pub(crate) async fn upload(h: &Harness, s: &StoreFixture, content_type: &str, bytes: Vec<u8>) -> AttachmentView {
    h.agora.upload_attachment(&s.admin, s.id, content_type, Some(bytes.len() as u64), chunked(bytes, 3)).await.unwrap()
}

/// `bytes` as a stream of `parts` chunks.
pub(crate) fn chunked(bytes: Vec<u8>, parts: usize) -> ByteStream {
    use futures::StreamExt;
    let size = bytes.len().div_ceil(parts.max(1)).max(1);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        bytes.chunks(size).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(chunks).boxed()
}

/// Everything a file download streams, collected.
pub(crate) async fn read_all(file: FileDownload) -> Vec<u8> {
    use futures::TryStreamExt;
    let chunks: Vec<bytes::Bytes> = file.body.try_collect().await.unwrap();
    chunks.concat()
}

pub(crate) fn is_fixture_audit(key: &str) -> bool {
    key == "admin_key.created" || key.starts_with("inventory:")
}

pub(crate) async fn populate_every_table(h: &Harness, s: &StoreFixture) {
    let admin = h.agora.authenticate_admin(crate::harness::SUPER_KEY).await.unwrap();
    let req = NewStore { name: "Sealed".into(), domain: "sealed.example.com".into(), access_token: Some("tok".into()) };
    h.agora.create_store(&admin, req).await.unwrap();
    let patch = SettingsPatch { order_ttl_seconds: Some(3600), ..Default::default() };
    h.agora.patch_settings(&s.admin, s.id, patch, Some("10.0.0.1")).await.unwrap();
    let (p, v) = h.product(s, "ALL-1", 1000, 50).await;
    let mut cs = Changeset::new();
    cs.insert(ProductImage {
        id: ImageId(Uuid::now_v7()),
        product_id: ProductId(p.id),
        url: "https://img.example/1.png".into(),
        position: 0,
        created_at: h.clock.now(),
        attachment_id: None,
        alt: None,
    });
    cs.insert(DeploymentSetting {
        name: "object_store_url".into(),
        value: "file:///srv/agora/blobs".into(),
        updated_at: h.clock.now(),
    });
    h.store.apply(cs).await.unwrap();
    let png = upload(h, s, "image/png", b"\x89PNG every table".to_vec()).await;
    let image = NewProductImage { attachment_id: png.id, alt: Some("front".into()), position: None };
    h.agora.add_product_image(&s.admin, ProductId(p.id), image).await.unwrap();
    let ocr =
        NewDerived { kind: "ocr".into(), content: serde_json::json!({"text": "PNG"}).as_object().unwrap().clone() };
    h.agora.put_derived(&admin, AttachmentId(png.id), ocr).await.unwrap();
    let (owner, task) = qualified_task(h, s, v, 1, true).await;
    let flag = NewFlag { reason: "other".into(), note: Some("every table".into()) };
    h.agora.create_flag(&s.admin, OrderId(task.order_id), flag).await.unwrap();
    h.clock.advance(Duration::seconds(604800));
    h.agora.settle_due_payouts(s.id, 100).await.unwrap();
    // A refund with a restock line, settled.
    let back = vec![RestockLine { variant_id: v, warehouse_id: s.warehouse, qty: 1 }];
    let ask = NewRefund { amount_minor: 1, reason: "every table".into(), restock: Some(back) };
    let refund = h.agora.create_refund(&s.admin, OrderId(task.order_id), Some("every"), ask).await.unwrap();
    h.refund_webhook("every-refund", "refund.succeeded", refund.refund.id, 1).await.unwrap();
    // An outgoing webhook endpoint with a delivered delivery.
    let hook =
        NewWebhookEndpoint { url: "https://hooks.example.com/".into(), events: vec!["*".into()], description: None };
    let hook = h.agora.create_webhook_endpoint(&s.admin, s.id, hook).await.unwrap();
    h.order(&owner, s, &[(v, 1)]).await.unwrap();
    h.agora.sequence_events(s.id).await.unwrap();
    h.agora.fan_out_webhooks(s.id, 100).await.unwrap();
    h.agora.deliver_next_webhook(WebhookEndpointId(hook.id)).await.unwrap().expect("a delivery");
    let export = NewExport { kind: "orders".into(), format: "jsonl".into() };
    h.agora.request_export(&s.admin, s.id, export).await.unwrap();
    h.agora.sequence_events(s.id).await.unwrap();
    h.agora.refresh_kpis(s.id, 1000).await.unwrap();
    let line = NewPurchaseOrderLine { variant_id: v, qty: 2, unit_cost_minor: 100 };
    let po = NewPurchaseOrder {
        vendor: "V".into(),
        warehouse_id: s.warehouse,
        currency: "EUR".into(),
        lines: vec![line],
        note: None,
    };
    h.agora.create_purchase_order(&s.admin, s.id, po).await.unwrap();
    h.agora.refresh_velocity(s.id).await.unwrap();
    let ticket = NewTicket { store_id: s.id.0, subject: "S".into(), body: "B".into(), order_id: None };
    let ticket = h.agora.create_ticket(&owner.actor, ticket).await.unwrap();
    let draft =
        NewDraft { body: "R".into(), source: "model".into(), model: Some("m".into()), version: Some("1".into()) };
    let draft = h.agora.create_draft(&s.admin, TicketId(ticket.id), draft).await.unwrap();
    h.agora.send_draft(&s.admin, DraftId(draft.id), SendDraft::default()).await.unwrap();
    let reply = NewQuickReply { content: "Q".into(), role: "support".into() };
    h.agora.create_quick_reply(&s.admin, s.id, reply).await.unwrap();
    h.agora.refresh_insights(s.id).await.unwrap();
    let check = NewConnectionCheck { target: "database".into(), endpoint_id: None };
    h.agora.run_connection_check(&s.admin, s.id, check).await.unwrap();
    // A login refused by its rate limit is a security event.
    let guess = || Login { email: "nobody@example.com".into(), password: "guess".into() };
    while code(h.agora.login_from(guess(), Some("192.0.2.1")).await) != "rate_limited" {}
}
