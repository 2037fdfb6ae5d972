//! Purchase orders: drafts (by hand or from the velocity job's reorder
//! suggestions), submission, cancellation and receiving, which adds the
//! units to the warehouse's stock in the same commit and is idempotent.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::catalogue::Record;
use crate::changeset::{Changeset, Condition, Guard, StockChange, Write};
use crate::error::AgoraError;
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::money::{Currency, MAX_MINOR};
use crate::query::Query;
use crate::reads::Reads;
use crate::schema::Value;
use crate::state::purchase_order_transition;
use crate::validate::Validator;
use crate::views::*;

use super::lifecycle::ensure_trading;
use super::{Actor, Agora, ListQuery, failed_guard, is_retryable, next_cursor, require_admin, too_contended};

/// Most lines on a purchase order.
pub const MAX_PO_LINES: usize = 200;
/// Most units on one line.
pub const MAX_PO_QTY: i64 = 1_000_000;

/// A purchase order with its lines, and whether the answer is a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedPurchaseOrder {
    /// The order after receiving.
    pub order: PurchaseOrderView,
    /// The exact body recorded for the idempotency key.
    pub recorded: String,
    /// Whether this answer replays an earlier request with the same key.
    pub replayed: bool,
}

fn po_view(po: &PurchaseOrder, lines: &[PurchaseOrderLine]) -> PurchaseOrderView {
    let mut lines: Vec<&PurchaseOrderLine> = lines.iter().filter(|l| l.purchase_order_id == po.id).collect();
    lines.sort_by_key(|l| l.line_no);
    PurchaseOrderView {
        id: po.id.0,
        store_id: po.store_id.0,
        number: po.number.clone(),
        vendor: po.vendor.clone(),
        warehouse_id: po.warehouse_id.0,
        currency: po.currency.as_str().to_owned(),
        status: po.status.as_str().to_owned(),
        lines: lines
            .into_iter()
            .map(|l| PurchaseOrderLineView {
                variant_id: l.variant_id.0,
                qty: l.qty,
                unit_cost_minor: l.unit_cost_minor,
                received_qty: l.received_qty,
            })
            .collect(),
        total_minor: po.total_minor,
        note: po.note.clone(),
        created_at: po.created_at,
        updated_at: po.updated_at,
        submitted_at: po.submitted_at,
        received_at: po.received_at,
    }
}

impl Agora {
    async fn po_lines(&self, po: PurchaseOrderId) -> Result<Vec<PurchaseOrderLine>, AgoraError> {
        let q = Query::of::<PurchaseOrderLine>().eq("purchase_order_id", po).asc("line_no");
        Ok(self.store.fetch_all(q).await?)
    }

    /// The purchase order, if `actor` administers its store.
    async fn admin_po(&self, actor: &Actor, id: PurchaseOrderId) -> Result<PurchaseOrder, AgoraError> {
        self.admin_row(actor, id, "purchase order", |p: &PurchaseOrder| p.store_id).await
    }

    /// Writes a new draft: checks the warehouse and the variants belong to
    /// the store, numbers it, one changeset with its event.
    async fn insert_draft(
        &self,
        store_id: StoreId,
        vendor: &str,
        warehouse_id: WarehouseId,
        currency: Currency,
        lines: &[NewPurchaseOrderLine],
        note: Option<String>,
    ) -> Result<PurchaseOrderView, AgoraError> {
        self.store.get_store(store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        let wh = self.store.get_warehouse(warehouse_id).await?;
        if wh.map(|w| w.store_id) != Some(store_id) {
            return Err(AgoraError::NotFound("warehouse"));
        }
        let ids: Vec<VariantId> = lines.iter().map(|l| VariantId(l.variant_id)).collect();
        let known: HashSet<VariantId> =
            self.store.get_variants(&ids).await?.into_iter().filter(|v| v.store_id == store_id).map(|v| v.id).collect();
        // Like an order's lines: an id that names no variant of this store
        // is a missing thing (404), not a malformed request.
        if !ids.iter().all(|id| known.contains(id)) {
            return Err(AgoraError::NotFound("variant"));
        }
        let now = self.now();
        let id = PurchaseOrderId(self.new_uuid());
        let mut total: i64 = 0;
        for l in lines {
            total = l
                .qty
                .checked_mul(l.unit_cost_minor)
                .and_then(|x| total.checked_add(x))
                .filter(|t| *t <= MAX_MINOR * 1000)
                .ok_or_else(|| AgoraError::validation("lines", "the total is too large"))?;
        }
        let po = PurchaseOrder {
            id,
            store_id,
            number: self.random_code("PO-", 8),
            vendor: vendor.trim().to_owned(),
            warehouse_id,
            currency,
            status: PurchaseOrderStatus::Draft,
            total_minor: total,
            note: note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
            version: 1,
            created_at: now,
            updated_at: now,
            submitted_at: None,
            received_at: None,
        };
        let rows: Vec<PurchaseOrderLine> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| PurchaseOrderLine {
                id: PurchaseOrderLineId(self.new_uuid()),
                purchase_order_id: id,
                store_id,
                line_no: i as i32,
                variant_id: VariantId(l.variant_id),
                qty: l.qty,
                unit_cost_minor: l.unit_cost_minor,
                received_qty: 0,
            })
            .collect();
        let mut cs = Changeset::new();
        cs.guard(Guard::free::<PurchaseOrder>(
            "purchase_order_number_key",
            vec![Value::Uuid(store_id.0), Value::from(po.number.clone())],
        ));
        cs.insert(Record::PurchaseOrder(po.clone()));
        for l in &rows {
            cs.insert(Record::PurchaseOrderLine(l.clone()));
        }
        cs.insert(self.event(
            store_id,
            "purchase_order",
            id.0,
            "purchase_order.created",
            serde_json::json!({"number": po.number, "vendor": po.vendor, "total_minor": po.total_minor}),
        ));
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(po_view(&po, &rows)),
            // Two drafts drew the same random number: the client may retry.
            Err(e) if is_retryable(&e) => Err(AgoraError::Conflict {
                message: "the purchase order number was taken; retry".into(),
                retry_after: Some(1),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// A draft purchase order (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn create_purchase_order(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: NewPurchaseOrder,
    ) -> Result<PurchaseOrderView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = Validator::new();
        v.text("vendor", &req.vendor, 1, 200);
        let currency = Currency::parse(&req.currency);
        v.check(currency.is_ok(), "currency", "must be a three-letter ISO 4217 code in upper case");
        v.check((1..=MAX_PO_LINES).contains(&req.lines.len()), "lines", format!("must have 1 to {MAX_PO_LINES} lines"));
        let mut seen = HashSet::new();
        for (i, l) in req.lines.iter().enumerate() {
            v.range(&format!("lines[{i}].qty"), l.qty, 1, MAX_PO_QTY);
            v.range(&format!("lines[{i}].unit_cost_minor"), l.unit_cost_minor, 0, MAX_MINOR);
            v.check(
                seen.insert(l.variant_id),
                format!("lines[{i}].variant_id"),
                "the same variant appears on two lines",
            );
        }
        if let Some(n) = &req.note {
            v.multiline_text("note", n, 0, 2000);
        }
        v.finish()?;
        let currency = currency?;
        self.insert_draft(store_id, &req.vendor, WarehouseId(req.warehouse_id), currency, &req.lines, req.note).await
    }

    /// A draft of every positive `reorder_qty` of the velocity job, at
    /// unit cost 0 for the buyer to fill in (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`, also when nothing needs
    /// reordering.
    pub async fn purchase_order_from_velocity(
        &self,
        actor: &Actor,
        store_id: StoreId,
        req: PurchaseOrderFromVelocity,
    ) -> Result<PurchaseOrderView, AgoraError> {
        require_admin(actor, store_id)?;
        let mut v = Validator::new();
        v.text("vendor", &req.vendor, 1, 200);
        let currency = req.currency.as_deref().map(Currency::parse).transpose();
        v.check(currency.is_ok(), "currency", "must be a three-letter ISO 4217 code in upper case");
        v.finish()?;
        let mut rows = self.reorder_suggestions(store_id).await?;
        if rows.is_empty() {
            return Err(AgoraError::validation("velocity", "nothing needs reordering"));
        }
        // The suggestions are as of the velocity job's last run: take off
        // what was ordered since (a second draft never orders twice).
        let on_order = self.on_order(store_id).await?;
        for r in &mut rows {
            let now_on_order = on_order.get(&r.variant_id).copied().unwrap_or(0);
            r.reorder_qty -= (now_on_order - r.on_order).max(0);
        }
        rows.retain(|r| r.reorder_qty > 0);
        if rows.is_empty() {
            return Err(AgoraError::validation("velocity", "nothing needs reordering"));
        }
        rows.sort_by_key(|r| r.variant_id);
        rows.truncate(MAX_PO_LINES);
        let currency = match currency? {
            Some(c) => c,
            None => {
                let ids: Vec<VariantId> = rows.iter().map(|r| r.variant_id).collect();
                let variants = self.store.get_variants(&ids).await?;
                let product = variants.first().map(|v| v.product_id).ok_or(AgoraError::NotFound("variant"))?;
                self.store.get_product(product).await?.ok_or(AgoraError::NotFound("product"))?.currency
            }
        };
        let lines: Vec<NewPurchaseOrderLine> = rows
            .iter()
            .map(|r| NewPurchaseOrderLine {
                variant_id: r.variant_id.0,
                qty: r.reorder_qty.min(MAX_PO_QTY),
                unit_cost_minor: 0,
            })
            .collect();
        let note = Some("drafted from the velocity job's reorder suggestions".to_owned());
        self.insert_draft(store_id, &req.vendor, WarehouseId(req.warehouse_id), currency, &lines, note).await
    }

    /// One purchase order (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`.
    pub async fn get_purchase_order(
        &self,
        actor: &Actor,
        id: PurchaseOrderId,
    ) -> Result<PurchaseOrderView, AgoraError> {
        let po = self.admin_po(actor, id).await?;
        Ok(po_view(&po, &self.po_lines(id).await?))
    }

    /// A store's purchase orders, newest first, optionally of one status.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation`.
    pub async fn list_purchase_orders(
        &self,
        actor: &Actor,
        store_id: StoreId,
        status: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage<PurchaseOrderView>, AgoraError> {
        require_admin(actor, store_id)?;
        let status = status
            .map(|s| {
                PurchaseOrderStatus::parse(s)
                    .ok_or_else(|| AgoraError::validation("status", "unknown purchase order status"))
            })
            .transpose()?;
        let page = q.page()?;
        let query = Query::of::<PurchaseOrder>().eq("store_id", store_id).is_opt("status", status.map(|s| s.as_str()));
        let pos: Vec<PurchaseOrder> = self.store.fetch_all(query.page(page)).await?;
        let ids: Vec<Value<'static>> = pos.iter().map(|p| Value::Uuid(p.id.0)).collect();
        let lines: Vec<PurchaseOrderLine> = if ids.is_empty() {
            Vec::new()
        } else {
            self.store.fetch_all(Query::of::<PurchaseOrderLine>().any("purchase_order_id", ids)).await?
        };
        Ok(ListPage {
            next_cursor: next_cursor(&pos, &page, |p| p.id.0),
            items: pos.iter().map(|p| po_view(p, &lines)).collect(),
        })
    }

    /// Submits a draft (draft -> submitted) or cancels (draft or submitted
    /// -> cancelled) a purchase order (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `invalid_transition`.
    pub async fn move_purchase_order(
        &self,
        actor: &Actor,
        id: PurchaseOrderId,
        to: PurchaseOrderStatus,
    ) -> Result<PurchaseOrderView, AgoraError> {
        for _ in 0..self.config.max_attempts {
            let po = self.admin_po(actor, id).await?;
            let mut next = po.clone();
            next.status = purchase_order_transition(po.status, to)?;
            let now = self.now();
            next.version += 1;
            next.updated_at = now;
            if to == PurchaseOrderStatus::Submitted {
                next.submitted_at = Some(now);
            }
            let mut cs = Changeset::new();
            cs.guard(Guard::row_is::<PurchaseOrder>(id, &[("version", Value::Int(po.version))]))
                .update(Record::PurchaseOrder(next.clone()))
                .insert(self.event(
                    po.store_id,
                    "purchase_order",
                    id.0,
                    &format!("purchase_order.{to}"),
                    serde_json::json!({"number": po.number, "from": po.status, "to": to}),
                ));
            match self.apply_changeset(cs).await {
                Ok(()) => return Ok(po_view(&next, &self.po_lines(id).await?)),
                Err(e) if failed_guard(&e).is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_contended())
    }
}

impl Agora {
    /// Receives units of a submitted or partially received purchase order
    /// (store admin; `Idempotency-Key` required): the lines' `received_qty`,
    /// the order's status (`received` once every line is complete) and the
    /// warehouse's `on_hand` change in one commit with its event. The same
    /// key and body again replay the first answer and add nothing.
    ///
    /// # Errors
    /// `unauthorized`; `idempotency_key_missing`/`_reused`; `not_found`;
    /// `validation` (more than ordered, a variant not on the order);
    /// `invalid_transition`; `store_suspended`.
    pub async fn receive_purchase_order(
        &self,
        actor: &Actor,
        id: PurchaseOrderId,
        idempotency_key: Option<&str>,
        req: ReceivePurchaseOrder,
    ) -> Result<ReceivedPurchaseOrder, AgoraError> {
        // Who asks comes before what is asked: an anonymous call is 401
        // whatever its key or body.
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let key = idempotency_key.map(str::trim).filter(|k| !k.is_empty()).ok_or(AgoraError::IdempotencyKeyMissing)?;
        if key.chars().count() > 255 {
            return Err(AgoraError::validation("Idempotency-Key", "must be 1 to 255 characters"));
        }
        let mut v = Validator::new();
        v.check(!req.lines.is_empty() && req.lines.len() <= MAX_PO_LINES, "lines", "must have 1 to 200 lines");
        let mut seen = HashSet::new();
        for (i, l) in req.lines.iter().enumerate() {
            v.range(&format!("lines[{i}].qty"), l.qty, 1, MAX_PO_QTY);
            v.check(
                seen.insert(l.variant_id),
                format!("lines[{i}].variant_id"),
                "the same variant appears on two lines",
            );
        }
        v.finish()?;
        let scope = format!("purchase_order_receive:{id}");
        let fp = hex::encode(Sha256::digest(serde_json::to_vec(&req).unwrap_or_default()));
        for _ in 0..self.config.max_attempts {
            let po = self.admin_po(actor, id).await?;
            if let Some(done) = self.receive_replay(&scope, key, &fp).await? {
                return Ok(done);
            }
            match self.try_receive(&po, &scope, key, &fp, &req).await? {
                Some(done) => return Ok(done),
                None => continue,
            }
        }
        Err(too_contended())
    }

    /// Creates the empty stock rows a receipt will add to, where missing
    /// (a row created meanwhile by someone else is fine: the insert of an
    /// existing row changes nothing).
    async fn ensure_stock_rows(&self, po: &PurchaseOrder, req: &ReceivePurchaseOrder) -> Result<(), AgoraError> {
        let ids: Vec<VariantId> = req.lines.iter().map(|l| VariantId(l.variant_id)).collect();
        let stock = self.store.list_inventory(&ids).await?;
        for id in ids {
            if stock.iter().any(|s| s.variant_id == id && s.warehouse_id == po.warehouse_id) {
                continue;
            }
            let mut cs = Changeset::new();
            cs.insert(Record::Inventory(Inventory {
                variant_id: id,
                warehouse_id: po.warehouse_id,
                store_id: po.store_id,
                on_hand: 0,
                reserved: 0,
                updated_at: self.now(),
            }));
            match self.apply_changeset(cs).await {
                Ok(()) => {}
                Err(e) if is_retryable(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn receive_replay(
        &self,
        scope: &str,
        key: &str,
        fp: &str,
    ) -> Result<Option<ReceivedPurchaseOrder>, AgoraError> {
        match self.store.get_idempotency(scope, key).await? {
            Some(rec) if rec.expires_at > self.now() => {
                if rec.fingerprint != fp {
                    return Err(AgoraError::IdempotencyKeyReused);
                }
                let order: PurchaseOrderView = serde_json::from_str(&rec.response_body)
                    .map_err(|e| AgoraError::Internal(format!("stored response is not a purchase order: {e}")))?;
                Ok(Some(ReceivedPurchaseOrder { order, recorded: rec.response_body, replayed: true }))
            }
            _ => Ok(None),
        }
    }

    /// One attempt; `None` when a concurrent change means try again.
    async fn try_receive(
        &self,
        po: &PurchaseOrder,
        scope: &str,
        key: &str,
        fp: &str,
        req: &ReceivePurchaseOrder,
    ) -> Result<Option<ReceivedPurchaseOrder>, AgoraError> {
        let store = self.store.get_store(po.store_id).await?.ok_or(AgoraError::NotFound("store"))?;
        ensure_trading(&store)?;
        let mut lines = self.po_lines(po.id).await?;
        let by_variant: HashMap<VariantId, usize> = lines.iter().enumerate().map(|(i, l)| (l.variant_id, i)).collect();
        let mut v = Validator::new();
        for (i, r) in req.lines.iter().enumerate() {
            match by_variant.get(&VariantId(r.variant_id)) {
                None => v.error(format!("lines[{i}].variant_id"), "is not on this purchase order"),
                Some(&at) => {
                    let l = &lines[at];
                    let left = l.qty - l.received_qty;
                    v.check(
                        r.qty <= left,
                        format!("lines[{i}].qty"),
                        format!("only {left} of {} left to receive", l.qty),
                    );
                }
            }
        }
        let all_received = {
            let mut copy = lines.clone();
            for r in &req.lines {
                if let Some(&at) = by_variant.get(&VariantId(r.variant_id)) {
                    copy[at].received_qty += r.qty;
                }
            }
            copy.iter().all(|l| l.received_qty >= l.qty)
        };
        let to = if all_received { PurchaseOrderStatus::Received } else { PurchaseOrderStatus::PartiallyReceived };
        let status = purchase_order_transition(po.status, to)?;
        v.finish()?;
        let now = self.now();
        let mut next = po.clone();
        next.status = status;
        next.version += 1;
        next.updated_at = now;
        if all_received {
            next.received_at = Some(now);
        }
        self.ensure_stock_rows(po, req).await?;
        let mut cs = Changeset::new();
        cs.guard(guards::store_is_active(po.store_id))
            .guard(Guard::row_is::<PurchaseOrder>(po.id, &[("version", Value::Int(po.version))]));
        for r in &req.lines {
            let at = by_variant[&VariantId(r.variant_id)];
            lines[at].received_qty += r.qty;
            cs.update(Record::PurchaseOrderLine(lines[at].clone()));
            // An increment: concurrent sales, receipts and stock edits of the
            // row all count.
            cs.stock(
                VariantId(r.variant_id),
                po.warehouse_id,
                now,
                StockChange::Adjust { on_hand: r.qty, reserved: 0 },
            );
        }
        let view = po_view(&next, &lines);
        let recorded = serde_json::to_string(&view).map_err(|e| AgoraError::Internal(e.to_string()))?;
        let record = IdempotencyRecord {
            scope: scope.to_owned(),
            key: key.to_owned(),
            fingerprint: fp.to_owned(),
            response_status: 200,
            response_body: recorded.clone(),
            resource_id: Some(po.id.0),
            created_at: now,
            expires_at: now + self.config.idempotency_ttl,
        };
        cs.write(Write::PutIdempotency { record, now });
        cs.update(Record::PurchaseOrder(next.clone()));
        let received: Vec<serde_json::Value> =
            req.lines.iter().map(|r| serde_json::json!({"variant_id": r.variant_id, "qty": r.qty})).collect();
        cs.insert(self.event(
            po.store_id,
            "purchase_order",
            po.id.0,
            &format!("purchase_order.{status}"),
            serde_json::json!({"number": po.number, "lines": received}),
        ));
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(Some(ReceivedPurchaseOrder { order: view, recorded, replayed: false })),
            Err(e) => match failed_guard(&e) {
                Some(Condition::Guard(g)) if g.table().name == "store" => Err(AgoraError::StoreSuspended),
                Some(Condition::IdempotencyKeyFree { .. }) => self.receive_replay(scope, key, fp).await,
                _ if is_retryable(&e) => Ok(None),
                _ => Err(e.into()),
            },
        }
    }
}
