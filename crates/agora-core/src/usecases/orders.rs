//! Placing orders (idempotent, all lines or none) and moving them along.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};
use time::Duration;

use crate::catalogue::Record;
use crate::changeset::{Changeset, Condition, StockChange, Write};
use crate::error::{AgoraError, StoreError};
use crate::guards;
use crate::ids::*;
use crate::model::*;
use crate::money::Money;
use crate::ports::{InFlight, OrderContext, OrderContextQuery, Page};
use crate::reads::Reads;
use crate::state::{help_transition, order_transition, reservation_transition, task_transition};
use crate::validate::Validator;
use crate::views::*;

use super::{
    Actor, Agora, ListQuery, failed_guard, is_retryable, next_cursor, require_admin, require_customer, too_contended,
};

/// The status recorded with an order's idempotency key: created.
const RECORDED_CREATED: u16 = 201;

/// Lines per order.
pub const MAX_LINES: usize = 50;
/// Units per line.
pub const MAX_QTY: i64 = 1000;

/// The answer of [`Agora::place_order`]: the order, and the order exactly
/// as it was recorded with the idempotency key when first placed (JSON),
/// which every replay returns byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedOrder {
    /// The order as created.
    pub order: OrderView,
    /// The order's JSON as recorded with the idempotency key; a transport
    /// answers it verbatim so replays are byte-identical.
    pub recorded: String,
    /// True when this is a replay of an earlier request.
    pub replayed: bool,
}

pub(crate) fn order_view(o: &CustomerOrder, items: &[OrderItem]) -> OrderView {
    OrderView {
        id: o.id.0,
        order_number: o.order_number.clone(),
        store_id: o.store_id.0,
        user_id: o.user_id.0,
        status: o.status.as_str().to_owned(),
        amount_minor: o.amount_minor,
        pay_amount_minor: o.pay_amount_minor,
        refunded_minor: o.refunded_minor,
        refund_pending_minor: o.refund_pending_minor,
        currency: o.currency.as_str().to_owned(),
        items: items
            .iter()
            .map(|i| OrderItemView { variant_id: i.variant_id.0, qty: i.qty, unit_price_minor: i.unit_price_minor })
            .collect(),
        created_at: o.created_at,
        paid_at: o.paid_at,
        shipped_at: o.shipped_at,
        received_at: o.received_at,
        closed_at: o.closed_at,
        close_reason: o.close_reason.map(|r| r.as_str().to_owned()),
        reservation_expires_at: o.reservation_expires_at,
        help_task_no: o.help_task_no.clone(),
    }
}

/// Hex SHA-256 of the canonical request: what makes "the same body".
fn fingerprint(req: &PlaceOrder) -> String {
    let canonical = serde_json::to_vec(req).unwrap_or_default();
    hex::encode(Sha256::digest(&canonical))
}

enum Attempt {
    Done(Box<PlacedOrder>),
    Retry,
}

/// The lines of an order, each an orderable variant of the store, all in
/// one currency.
struct OrderLines<'a> {
    lines: Vec<(&'a ProductVariant, i64)>,
    currency: crate::money::Currency,
}

/// Where an order's lines come from: stock writes (reservations and their
/// holds), the order lines and the total.
struct Allocation {
    total: Money,
    items: Vec<OrderItem>,
    stock: Vec<Write>,
}

/// Checks every line against the context: an active variant of an active
/// product of this store, one currency for all.
fn orderable_lines<'a>(
    ctx: &'a OrderContext,
    store_id: StoreId,
    req: &PlaceOrder,
) -> Result<OrderLines<'a>, AgoraError> {
    let products: HashMap<ProductId, &Product> = ctx.products.iter().map(|p| (p.id, p)).collect();
    let mut currency = None;
    let mut lines = Vec::with_capacity(req.items.len());
    for (i, line) in req.items.iter().enumerate() {
        let found = ctx.variants.iter().find(|v| v.id == VariantId(line.variant_id));
        let product = found.and_then(|v| products.get(&v.product_id));
        let (Some(v), Some(p)) = (found, product) else {
            return Err(not_orderable(i));
        };
        if v.store_id != store_id || v.status != ProductStatus::Active || p.status != ProductStatus::Active {
            return Err(not_orderable(i));
        }
        if *currency.get_or_insert(p.currency) != p.currency {
            return Err(AgoraError::validation("items", "all lines must be in one currency"));
        }
        lines.push((v, line.qty));
    }
    let currency = currency.ok_or_else(|| AgoraError::validation("items", "must not be empty"))?;
    Ok(OrderLines { lines, currency })
}

fn not_orderable(i: usize) -> AgoraError {
    AgoraError::Validation(vec![crate::error::FieldError {
        field: format!("items[{i}].variant_id"),
        message: "no such orderable variant in this store".into(),
    }])
}

impl Agora {
    /// Views of several orders with their lines in two reads.
    pub(crate) async fn order_views(&self, orders: Vec<CustomerOrder>) -> Result<Vec<OrderView>, AgoraError> {
        let ids: Vec<OrderId> = orders.iter().map(|o| o.id).collect();
        let items = if ids.is_empty() { Vec::new() } else { self.store.list_order_items(&ids).await? };
        let mut by_order: HashMap<OrderId, Vec<OrderItem>> = HashMap::new();
        for i in items {
            by_order.entry(i.order_id).or_default().push(i);
        }
        Ok(orders.iter().map(|o| order_view(o, by_order.get(&o.id).map(Vec::as_slice).unwrap_or(&[]))).collect())
    }

    /// Places an order for the calling customer: every line reserved (split
    /// across warehouses when needed) or none, idempotent per user and
    /// `Idempotency-Key`.
    ///
    /// # Errors
    /// `unauthorized`; `idempotency_key_missing`; `idempotency_key_reused`;
    /// `validation`; `not_found` (store, address, variant); `out_of_stock`
    /// (nothing reserved); `conflict` (a help rule, or the same key in flight).
    pub async fn place_order(
        &self,
        actor: &Actor,
        idempotency_key: Option<&str>,
        req: PlaceOrder,
    ) -> Result<PlacedOrder, AgoraError> {
        let user_id = require_customer(actor)?;
        let key = idempotency_key.map(str::trim).filter(|k| !k.is_empty()).ok_or(AgoraError::IdempotencyKeyMissing)?;
        if key.chars().count() > 255 {
            return Err(AgoraError::validation("Idempotency-Key", "must be 1 to 255 characters"));
        }
        validate_order(&req)?;
        let scope = format!("orders:{user_id}");
        let fp = fingerprint(&req);

        let cache = self.idempotency_cache.clone();
        if let Some(cache) = &cache {
            // The fast path only saves work; on a Redis error we fall through
            // to the primary store, which stays authoritative.
            match cache.begin(&scope, key, self.config.idempotency_lease).await {
                Ok(InFlight::Completed { fingerprint, body, .. }) => {
                    if fingerprint != fp {
                        return Err(AgoraError::IdempotencyKeyReused);
                    }
                    return replayed(body);
                }
                Ok(InFlight::Busy) => {
                    return Err(AgoraError::Conflict {
                        message: "a request with this Idempotency-Key is in progress".into(),
                        retry_after: Some(1),
                    });
                }
                Ok(InFlight::Acquired) | Err(_) => {}
            }
        }
        let result = async {
            for _ in 0..self.config.max_attempts {
                match self.try_place_order(user_id, &scope, key, &fp, &req).await? {
                    Attempt::Done(p) => return Ok(*p),
                    Attempt::Retry => continue,
                }
            }
            Err(too_contended())
        }
        .await;
        if let Some(cache) = &cache {
            match &result {
                Ok(placed) => {
                    let record = IdempotencyRecord {
                        scope: scope.clone(),
                        key: key.to_owned(),
                        fingerprint: fp.clone(),
                        response_status: RECORDED_CREATED,
                        response_body: placed.recorded.clone(),
                        resource_id: Some(placed.order.id),
                        created_at: self.now(),
                        expires_at: self.now() + self.config.idempotency_ttl,
                    };
                    let ttl = std::time::Duration::try_from(self.config.idempotency_ttl).unwrap_or_default();
                    let _ = cache.complete(&scope, key, &record, ttl).await;
                }
                Err(_) => {
                    let _ = cache.abandon(&scope, key).await;
                }
            }
        }
        result
    }

    async fn replay_if_known(&self, scope: &str, key: &str, fp: &str) -> Result<Option<PlacedOrder>, AgoraError> {
        match self.store.get_idempotency(scope, key).await? {
            Some(rec) if rec.expires_at > self.now() => {
                if rec.fingerprint != fp {
                    return Err(AgoraError::IdempotencyKeyReused);
                }
                replayed(rec.response_body).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn try_place_order(
        &self,
        user_id: UserId,
        scope: &str,
        key: &str,
        fp: &str,
        req: &PlaceOrder,
    ) -> Result<Attempt, AgoraError> {
        // Every read the decision needs, in one port call: adapters answer
        // it in one hop or round trip where they can (SQLite: one read
        // transaction on one connection), the default reads concurrently.
        let store_id = StoreId(req.store_id);
        let variant_ids: Vec<VariantId> = req.items.iter().map(|l| VariantId(l.variant_id)).collect();
        let ctx = self
            .store
            .order_context(&OrderContextQuery {
                idempotency_scope: scope,
                idempotency_key: key,
                store_id,
                address_id: AddressId(req.address_id),
                variant_ids: &variant_ids,
                task_no: req.help_task_no.as_deref(),
            })
            .await?;
        if let Some(rec) = &ctx.idempotency
            && rec.expires_at > self.now()
        {
            if rec.fingerprint != fp {
                return Err(AgoraError::IdempotencyKeyReused);
            }
            return replayed(rec.response_body.clone()).map(|p| Attempt::Done(Box::new(p)));
        }
        // A suspension committed after this read is ordered after the order:
        // the read is the order's view of the store, as for prices.
        let store = ctx.store.as_ref().ok_or(AgoraError::NotFound("store"))?;
        super::lifecycle::ensure_trading(store)?;
        let settings = ctx.settings.as_ref().ok_or(AgoraError::NotFound("store"))?;
        let address = ctx.address.as_ref().filter(|a| a.user_id == user_id).ok_or(AgoraError::NotFound("address"))?;
        let lines = orderable_lines(&ctx, store.id, req)?;
        let task = self.helped_task(&ctx, store.id, user_id, req).await?;
        // One reading for the id and `created_at`: a store's order list
        // (newest first by id) is then newest first by time as well.
        let (order_id, now) = self.new_stamp();
        let order_id = OrderId(order_id);
        let expires = now + Duration::seconds(settings.order_ttl_seconds);
        let alloc = self.allocate(&lines, &ctx.inventory, store.id, order_id, now, expires)?;
        let order = CustomerOrder {
            id: order_id,
            order_number: self.random_code(&format!("{}-", now.date().to_string().replace('-', "")), 10),
            store_id: store.id,
            user_id,
            address_id: address.id,
            address_hash: address.address_hash.clone(),
            status: OrderStatus::Created,
            amount_minor: alloc.total.minor,
            pay_amount_minor: alloc.total.minor,
            refunded_minor: 0,
            refund_pending_minor: 0,
            currency: lines.currency,
            help_task_no: task.as_ref().map(|t| t.task_no.clone()),
            created_at: now,
            paid_at: None,
            shipped_at: None,
            received_at: None,
            closed_at: None,
            close_reason: None,
            reservation_expires_at: expires,
            updated_at: now,
        };
        let view = order_view(&order, &alloc.items);
        let recorded = serde_json::to_string(&view).map_err(|e| AgoraError::Internal(e.to_string()))?;
        let record = IdempotencyRecord {
            scope: scope.to_owned(),
            key: key.to_owned(),
            fingerprint: fp.to_owned(),
            response_status: RECORDED_CREATED,
            response_body: recorded.clone(),
            resource_id: Some(order_id.0),
            created_at: now,
            expires_at: now + self.config.idempotency_ttl,
        };
        let flag = self.automatic_flag(settings, &order);
        let cs = self.order_changeset(record, order, alloc, task.as_ref(), flag, now);
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(Attempt::Done(Box::new(PlacedOrder { order: view, recorded, replayed: false }))),
            Err(e) => self.lost_order_race(e, scope, key, fp).await,
        }
    }

    /// The help task an order names, checked: OPEN, of this store, not the
    /// helper's own, not helped by them yet.
    async fn helped_task(
        &self,
        ctx: &OrderContext,
        store_id: StoreId,
        user_id: UserId,
        req: &PlaceOrder,
    ) -> Result<Option<HelpTask>, AgoraError> {
        let t = match (&req.help_task_no, &ctx.task) {
            (None, _) => return Ok(None),
            (Some(_), None) => return Err(AgoraError::NotFound("task")),
            (Some(_), Some(t)) => t,
        };
        if t.store_id != store_id {
            return Err(AgoraError::conflict("the task belongs to another store"));
        }
        if t.status != TaskStatus::Open {
            return Err(AgoraError::conflict("the task is not open"));
        }
        if t.user_id == user_id {
            return Err(AgoraError::conflict("you cannot help your own task"));
        }
        if self.store.list_helps(t.id).await?.iter().any(|h| h.helper_user_id == user_id) {
            return Err(AgoraError::conflict("you already help this task"));
        }
        Ok(Some(t.clone()))
    }

    /// Reserves every line from the warehouses with the most available
    /// first (a line may be split), or fails with `out_of_stock`: nothing
    /// is written unless all fit.
    fn allocate(
        &self,
        lines: &OrderLines<'_>,
        stock: &[Inventory],
        store_id: StoreId,
        order_id: OrderId,
        now: time::OffsetDateTime,
        expires: time::OffsetDateTime,
    ) -> Result<Allocation, AgoraError> {
        let mut by_variant: HashMap<VariantId, Vec<&Inventory>> = HashMap::new();
        for row in stock {
            by_variant.entry(row.variant_id).or_default().push(row);
        }
        let mut alloc = Allocation { total: Money::zero(lines.currency), items: Vec::new(), stock: Vec::new() };
        for (i, (variant, qty)) in lines.lines.iter().enumerate() {
            let vid = variant.id;
            let mut rows = by_variant.remove(&vid).unwrap_or_default();
            rows.sort_by(|a, b| b.available().cmp(&a.available()).then(a.warehouse_id.cmp(&b.warehouse_id)));
            let mut need = *qty;
            for row in rows {
                let take = need.min(row.available());
                if take <= 0 {
                    continue;
                }
                need -= take;
                alloc.stock.push(Write::Stock {
                    variant_id: vid,
                    warehouse_id: row.warehouse_id,
                    at: now,
                    change: StockChange::Reserve(take),
                });
                alloc.stock.push(Write::Insert(Record::Reservation(InventoryReservation {
                    id: ReservationId(self.new_uuid()),
                    order_id,
                    store_id,
                    variant_id: vid,
                    warehouse_id: row.warehouse_id,
                    qty: take,
                    status: ReservationStatus::Active,
                    expires_at: expires,
                    created_at: now,
                    updated_at: now,
                })));
            }
            if need > 0 {
                return Err(AgoraError::OutOfStock(format!("not enough stock of {} for items[{i}]", variant.sku)));
            }
            let unit = Money::new(variant.price_minor, lines.currency, "price_minor")?;
            alloc.total = alloc.total.checked_add(unit.checked_mul(*qty)?)?;
            alloc.items.push(OrderItem {
                id: OrderItemId(self.new_uuid()),
                order_id,
                line_no: i as i32,
                variant_id: vid,
                sku: variant.sku.clone(),
                qty: *qty,
                unit_price_minor: variant.price_minor,
            });
        }
        Ok(alloc)
    }

    /// The order's one changeset: the idempotency record first (when it and
    /// anything else fail, the first failure reported is "the key is
    /// taken", answered as a replay), the order and its lines, then the
    /// reservations (after the row they refer to), the help, the event.
    fn order_changeset(
        &self,
        record: IdempotencyRecord,
        order: CustomerOrder,
        alloc: Allocation,
        task: Option<&HelpTask>,
        flag: Option<OrderFlag>,
        now: time::OffsetDateTime,
    ) -> Changeset {
        let mut cs = Changeset::new();
        cs.write(Write::PutIdempotency { record, now });
        let event = serde_json::json!({
            "order_number": order.order_number, "amount_minor": order.amount_minor, "user_id": order.user_id,
        });
        let (store_id, order_id, user_id) = (order.store_id, order.id, order.user_id);
        cs.insert(Record::Order(order));
        for item in alloc.items {
            cs.insert(Record::OrderItem(item));
        }
        cs.writes.extend(alloc.stock);
        if let Some(t) = task {
            cs.guard(guards::no_help_by_helper(t.id, user_id));
            cs.guard(guards::task_state_is(t.id, TaskStatus::Open, t.helps_valid));
            cs.insert(Record::Help(Help {
                id: HelpId(self.new_uuid()),
                task_id: t.id,
                helper_user_id: user_id,
                order_id,
                status: HelpStatus::Pending,
                created_at: now,
                received_at: None,
            }));
        }
        cs.insert(self.event(store_id, "order", order_id.0, "order.created", event));
        if let Some(flag) = flag {
            cs.insert(self.event(store_id, "order_flag", flag.id.0, "flag.created", super::flags::flag_event(&flag)));
            cs.insert(Record::Flag(flag));
        }
        cs
    }

    /// What a refused order changeset means: the twin that won with the
    /// same key is answered as a replay, a lost stock race is retried.
    async fn lost_order_race(&self, e: StoreError, scope: &str, key: &str, fp: &str) -> Result<Attempt, AgoraError> {
        match failed_guard(&e) {
            Some(Condition::IdempotencyKeyFree { .. }) => match self.replay_if_known(scope, key, fp).await? {
                Some(done) => Ok(Attempt::Done(Box::new(done))),
                None => Ok(Attempt::Retry),
            },
            // The help guards come before the key's condition: a twin of
            // this request that won counts as a replay here too.
            Some(c) if guards::is_free(c, guards::HELP_PER_HELPER) => match self.replay_if_known(scope, key, fp).await?
            {
                Some(done) => Ok(Attempt::Done(Box::new(done))),
                None => Err(AgoraError::conflict("you already help this task")),
            },
            _ if is_retryable(&e) => Ok(Attempt::Retry),
            _ => Err(e.into()),
        }
    }

    /// One order, for its owner or an admin of its store.
    ///
    /// # Errors
    /// `unauthorized`; `not_found` for anyone else.
    pub async fn get_order(&self, actor: &Actor, id: OrderId) -> Result<OrderView, AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        let o = self.store.get_order(id).await?.ok_or(AgoraError::NotFound("order"))?;
        let visible = match actor {
            Actor::Customer { user_id } => o.user_id == *user_id,
            a => a.administers(o.store_id),
        };
        if !visible {
            return Err(AgoraError::NotFound("order"));
        }
        let mut v = self.order_views(vec![o]).await?;
        v.pop().ok_or(AgoraError::NotFound("order"))
    }

    /// The calling customer's orders, newest first.
    ///
    /// # Errors
    /// `unauthorized`; `validation`.
    pub async fn list_my_orders(&self, actor: &Actor, q: &ListQuery) -> Result<ListPage<OrderView>, AgoraError> {
        let user_id = require_customer(actor)?;
        let page = q.page()?;
        let orders = self.store.list_orders_by_user(user_id, page).await?;
        let next = next_cursor(&orders, &page, |o| o.id.0);
        Ok(ListPage { items: self.order_views(orders).await?, next_cursor: next })
    }

    /// A store's orders, optionally of one status, newest first (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `validation` (bad status, limit or cursor).
    pub async fn list_store_orders(
        &self,
        actor: &Actor,
        store_id: StoreId,
        status: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage<OrderView>, AgoraError> {
        require_admin(actor, store_id)?;
        let status = status
            .map(|s| OrderStatus::parse(s).ok_or_else(|| AgoraError::validation("status", "unknown order status")))
            .transpose()?;
        let page: Page = q.page()?;
        let orders = self.store.list_orders_by_store(store_id, status, page).await?;
        let next = next_cursor(&orders, &page, |o| o.id.0);
        Ok(ListPage { items: self.order_views(orders).await?, next_cursor: next })
    }

    async fn load_owned_order(&self, actor: &Actor, id: OrderId) -> Result<CustomerOrder, AgoraError> {
        self.owned_order(require_customer(actor)?, id).await
    }

    /// The order `id` if `user_id` owns it; `NotFound` otherwise (another
    /// customer's order is not there for them).
    async fn owned_order(&self, user_id: UserId, id: OrderId) -> Result<CustomerOrder, AgoraError> {
        self.store.get_order(id).await?.filter(|o| o.user_id == user_id).ok_or(AgoraError::NotFound("order"))
    }

    /// Cancels the caller's CREATED order; its stock is released.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `invalid_transition` from any other status.
    pub async fn cancel_order(&self, actor: &Actor, id: OrderId) -> Result<OrderView, AgoraError> {
        for _ in 0..self.config.max_attempts {
            let o = self.load_owned_order(actor, id).await?;
            match self.close_order(o, CloseReason::Cancelled).await {
                Err(AgoraError::Conflict { .. }) => continue,
                other => return other,
            }
        }
        Err(too_contended())
    }

    /// Closes a CREATED order (cancel or timeout) and releases its holds.
    /// A lost race is reported as `conflict` so the caller re-reads.
    pub(crate) async fn close_order(&self, o: CustomerOrder, reason: CloseReason) -> Result<OrderView, AgoraError> {
        order_transition(o.status, OrderStatus::Closed)?;
        let now = self.now();
        let mut cs = Changeset::new();
        cs.guard(guards::order_status_is(o.id, OrderStatus::Created));
        let mut closed = o.clone();
        closed.status = OrderStatus::Closed;
        closed.closed_at = Some(now);
        closed.close_reason = Some(reason);
        closed.updated_at = now;
        cs.update(Record::Order(closed.clone()));
        self.settle_reservations(&mut cs, o.id, now, ReservationStatus::Released).await?;
        if let Some(help) = self.store.get_help_by_order(o.id).await?
            && help.status == HelpStatus::Pending
        {
            help_transition(help.status, HelpStatus::Invalid)?;
            cs.guard(guards::help_status_is(help.id, HelpStatus::Pending));
            cs.update(Record::Help(Help { status: HelpStatus::Invalid, ..help }));
        }
        cs.insert(self.event(
            o.store_id,
            "order",
            o.id.0,
            "order.closed",
            serde_json::json!({"order_number": o.order_number, "close_reason": reason}),
        ));
        self.apply_transition(cs).await?;
        let mut v = self.order_views(vec![closed]).await?;
        v.pop().ok_or(AgoraError::NotFound("order"))
    }

    /// The caller's own order, which must be in `status` for what the
    /// caller is about to start (`to`, named in the error).
    pub(crate) async fn own_order_in(
        &self,
        user_id: UserId,
        order_id: OrderId,
        status: OrderStatus,
        to: &str,
    ) -> Result<CustomerOrder, AgoraError> {
        let o = self.owned_order(user_id, order_id).await?;
        if o.status != status {
            return Err(AgoraError::InvalidTransition { entity: "order", from: o.status.to_string(), to: to.into() });
        }
        Ok(o)
    }

    /// Adds the settlement of an order's active holds to `cs`: `Released`
    /// gives the units back to stock, `Committed` consumes them (paid).
    pub(crate) async fn settle_reservations(
        &self,
        cs: &mut Changeset,
        order_id: OrderId,
        now: time::OffsetDateTime,
        to: ReservationStatus,
    ) -> Result<(), AgoraError> {
        for r in self.store.list_reservations(order_id).await? {
            if r.status != ReservationStatus::Active {
                continue;
            }
            let status = reservation_transition(r.status, to)?;
            let change = if to == ReservationStatus::Committed {
                StockChange::Consume(r.qty)
            } else {
                StockChange::Release(r.qty)
            };
            cs.guard(guards::reservation_status_is(r.id, ReservationStatus::Active));
            cs.stock(r.variant_id, r.warehouse_id, now, change);
            cs.update(Record::Reservation(InventoryReservation { status, updated_at: now, ..r }));
        }
        Ok(())
    }

    /// Applies a transition's changeset; a lost race becomes a retryable `conflict`.
    pub(crate) async fn apply_transition(&self, cs: Changeset) -> Result<(), AgoraError> {
        match self.apply_changeset(cs).await {
            Ok(()) => Ok(()),
            Err(e @ (StoreError::GuardFailed(_) | StoreError::Duplicate(_))) => {
                Err(AgoraError::Conflict { message: format!("concurrent change: {e}"), retry_after: Some(1) })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ships a PAID order (store admin).
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `invalid_transition` from any other status.
    pub async fn ship_order(&self, actor: &Actor, id: OrderId) -> Result<OrderView, AgoraError> {
        if matches!(actor, Actor::Anonymous) {
            return Err(AgoraError::Unauthorized);
        }
        for _ in 0..self.config.max_attempts {
            let o = self.store.get_order(id).await?.ok_or(AgoraError::NotFound("order"))?;
            if !actor.administers(o.store_id) {
                return Err(AgoraError::NotFound("order"));
            }
            let status = order_transition(o.status, OrderStatus::Shipped)?;
            let now = self.now();
            let shipped = CustomerOrder { status, shipped_at: Some(now), updated_at: now, ..o.clone() };
            let mut cs = Changeset::new();
            cs.guard(guards::order_is(&o)).update(Record::Order(shipped.clone())).insert(self.event(
                o.store_id,
                "order",
                id.0,
                "order.shipped",
                serde_json::json!({"order_number": o.order_number}),
            ));
            match self.apply_transition(cs).await {
                Ok(()) => {
                    let mut v = self.order_views(vec![shipped]).await?;
                    return v.pop().ok_or(AgoraError::NotFound("order"));
                }
                Err(AgoraError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(too_contended())
    }

    /// The owner confirms receipt of a SHIPPED order.
    ///
    /// # Errors
    /// `unauthorized`; `not_found`; `invalid_transition` from any other status.
    pub async fn receive_order(&self, actor: &Actor, id: OrderId) -> Result<OrderView, AgoraError> {
        for _ in 0..self.config.max_attempts {
            let o = self.load_owned_order(actor, id).await?;
            match self.mark_received(o).await {
                Err(AgoraError::Conflict { .. }) => continue,
                other => return other,
            }
        }
        Err(too_contended())
    }

    /// SHIPPED -> RECEIVED, and if the order is a help, the help becomes
    /// valid and the task may qualify, all in one changeset.
    pub(crate) async fn mark_received(&self, o: CustomerOrder) -> Result<OrderView, AgoraError> {
        let status = order_transition(o.status, OrderStatus::Received)?;
        let now = self.now();
        let received = CustomerOrder { status, received_at: Some(now), updated_at: now, ..o.clone() };
        let mut cs = Changeset::new();
        cs.guard(guards::order_is(&o)).update(Record::Order(received.clone()));
        cs.insert(self.event(
            o.store_id,
            "order",
            o.id.0,
            "order.received",
            serde_json::json!({"order_number": o.order_number}),
        ));
        if let Some(help) = self.store.get_help_by_order(o.id).await?
            && help.status == HelpStatus::Pending
        {
            help_transition(help.status, HelpStatus::Valid)?;
            cs.guard(guards::help_status_is(help.id, HelpStatus::Pending));
            cs.update(Record::Help(Help { status: HelpStatus::Valid, received_at: Some(now), ..help.clone() }));
            let task = self.store.get_task(help.task_id).await?.ok_or(AgoraError::NotFound("task"))?;
            if task.status == TaskStatus::Open {
                let mut next = task.clone();
                next.helps_valid += 1;
                next.updated_at = now;
                let mut kind = "task.help_valid";
                if next.helps_valid >= next.required_helpers {
                    let settings =
                        self.store.get_settings(task.store_id).await?.ok_or(AgoraError::NotFound("store"))?;
                    next.status = task_transition(task.status, TaskStatus::Qualified)?;
                    next.qualified_at = Some(now);
                    next.payout_at = Some(now + Duration::seconds(settings.payout_cooling_seconds));
                    kind = "task.qualified";
                }
                cs.guard(guards::task_state_is(task.id, task.status, task.helps_valid));
                cs.update(Record::Task(next.clone()));
                cs.insert(self.event(
                    task.store_id,
                    "task",
                    task.id.0,
                    kind,
                    serde_json::json!({"task_no": task.task_no, "helps_valid": next.helps_valid}),
                ));
            }
        }
        self.apply_transition(cs).await?;
        let mut v = self.order_views(vec![received]).await?;
        v.pop().ok_or(AgoraError::NotFound("order"))
    }
}

fn replayed(recorded: String) -> Result<PlacedOrder, AgoraError> {
    let order: OrderView = serde_json::from_str(&recorded)
        .map_err(|e| AgoraError::Internal(format!("stored response is not an order: {e}")))?;
    Ok(PlacedOrder { order, recorded, replayed: true })
}

/// The checks of a [`PlaceOrder`] that need no read.
fn validate_order(req: &PlaceOrder) -> Result<(), AgoraError> {
    let mut v = Validator::new();
    v.check((1..=MAX_LINES).contains(&req.items.len()), "items", format!("must have 1 to {MAX_LINES} lines"));
    let mut seen = HashSet::new();
    for (i, line) in req.items.iter().enumerate() {
        v.range(&format!("items[{i}].qty"), line.qty, 1, MAX_QTY);
        if !seen.insert(line.variant_id) {
            v.error(format!("items[{i}].variant_id"), "the same variant appears on two lines");
        }
    }
    if let Some(t) = &req.help_task_no {
        v.text("help_task_no", t, 1, 64);
    }
    v.finish()
}
