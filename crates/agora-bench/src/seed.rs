//! `seed-orders`: a store holding many realistic orders, written in
//! minutes, to measure copy, verify and export at scale.
//!
//! Fixtures (stores, a warehouse each, products with stock, customers with
//! an address) are created through the use cases, as for `place-orders`.
//! Orders are then applied with [`Store::apply`] in large changesets of the
//! rows `Agora::place_order` writes, in its order: the idempotency record
//! with the recorded response and the request's fingerprint, the order, its
//! line, the stock hold and its reservation, the `order.created` event.
//! Calling the use case a million times would take hours for its reads;
//! these changesets skip the reads, not the rows.
//!
//! Orders are placed evenly over the last `--hours` hours (23 by default,
//! so every idempotency record is still live under the default 24 h TTL).
//! An order younger than its store's order TTL is CREATED with an active
//! hold; an older one has moved on by a seeded draw: PAID, SHIPPED or
//! RECEIVED (with a succeeded payment, its hold consumed) or CLOSED by
//! timeout or cancellation (its hold released), with times that fit its
//! age. Core's sequencer numbers the events at the end. The same arguments
//! and `--seed` give the same orders (the fixtures' ids are random).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use agora_core::views::{OrderItemView, OrderLine, OrderView, PlaceOrder};
use agora_core::*;
use anyhow::{Context, ensure};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::inproc::{CustomerFx, Fixture, HUGE_STOCK, agora_over, create_fixture};

/// How long core keeps an idempotency record (its default).
const IDEMPOTENCY_TTL: Duration = Duration::hours(24);

/// Arguments of `seed-orders`.
#[derive(Parser, Clone, Debug)]
pub struct SeedArgs {
    /// The store to fill, e.g. `sqlite:///tmp/orders.db` (created and migrated when new).
    #[arg(long)]
    pub db: String,
    /// Orders to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub orders: u64,
    /// Stores the orders are spread over.
    #[arg(long, default_value_t = 4)]
    pub stores: usize,
    /// Products (one variant each) per store.
    #[arg(long, default_value_t = 50)]
    pub products: usize,
    /// Customers per store.
    #[arg(long, default_value_t = 250)]
    pub customers: usize,
    /// Orders per changeset.
    #[arg(long, default_value_t = 2_000)]
    pub batch: usize,
    /// The orders are placed evenly over this many hours up to now.
    #[arg(long, default_value_t = 23)]
    pub hours: u32,
    /// Seed of the draws (customers, variants, quantities, what happened since).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What happened to an order after it was placed.
#[derive(Clone, Copy, Debug, Default)]
struct Lifecycle {
    status: Option<OrderStatus>,
    paid_at: Option<OffsetDateTime>,
    shipped_at: Option<OffsetDateTime>,
    received_at: Option<OffsetDateTime>,
    closed_at: Option<OffsetDateTime>,
    close_reason: Option<CloseReason>,
}

impl Lifecycle {
    fn status(&self) -> OrderStatus {
        self.status.unwrap_or(OrderStatus::Created)
    }

    /// The last change of the order.
    fn last(&self, created: OffsetDateTime) -> OffsetDateTime {
        [self.paid_at, self.shipped_at, self.received_at, self.closed_at].into_iter().flatten().fold(created, Ord::max)
    }
}

/// One generated order: every row it has in the store.
#[derive(Clone, Debug)]
pub struct SeededOrder {
    /// The order, in its current state.
    pub order: CustomerOrder,
    /// Its one line.
    pub item: OrderItem,
    /// Its stock hold.
    pub reservation: InventoryReservation,
    /// The idempotency record of the request that placed it.
    pub record: IdempotencyRecord,
    /// Its `order.created` event (unsequenced, as written).
    pub event: ActivityEvent,
    /// The succeeded payment of a paid order.
    pub payment: Option<Payment>,
}

impl SeededOrder {
    /// Adds the order's writes to `cs`: `place_order`'s changeset, then the
    /// hold consumed by the payment or released by the close.
    fn push_writes(&self, cs: &mut Changeset) {
        let r = &self.reservation;
        let hold =
            |change| Write::Stock { variant_id: r.variant_id, warehouse_id: r.warehouse_id, at: r.updated_at, change };
        cs.write(Write::PutIdempotency { record: self.record.clone(), now: self.order.created_at });
        cs.insert(self.order.clone()).insert(self.item.clone());
        cs.stock(r.variant_id, r.warehouse_id, r.created_at, StockChange::Reserve(r.qty));
        cs.insert(r.clone()).insert(self.event.clone());
        if let Some(p) = &self.payment {
            cs.insert(p.clone());
        }
        match r.status {
            ReservationStatus::Committed => cs.write(hold(StockChange::Consume(r.qty))),
            ReservationStatus::Released => cs.write(hold(StockChange::Release(r.qty))),
            ReservationStatus::Active => return,
        };
    }
}

/// Units held and sold of one stock row, as the generated orders leave it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StockTally {
    /// Held by active reservations.
    pub reserved: i64,
    /// Consumed by payments.
    pub consumed: i64,
}

/// Makes the orders, one after the other.
pub struct Generator {
    rng: StdRng,
    shops: Vec<Fixture>,
    start: OffsetDateTime,
    now: OffsetDateTime,
    step_micros: i64,
    /// Per (variant, warehouse).
    pub stock: HashMap<(Uuid, Uuid), StockTally>,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.whole_microseconds()).unwrap_or(i64::MAX)
}

impl Generator {
    /// `orders` orders over `shops`, placed evenly over `hours` hours up to `now`.
    pub fn new(shops: Vec<Fixture>, orders: u64, hours: u32, seed: u64, now: OffsetDateTime) -> Self {
        let now = clock::truncate_to_micros(now);
        let span = Duration::hours(i64::from(hours.max(1)));
        let step_micros = micros(span) / i64::try_from(orders.max(1)).unwrap_or(i64::MAX);
        Self { rng: StdRng::seed_from_u64(seed), shops, start: now - span, now, step_micros, stock: HashMap::new() }
    }

    /// A v7 uuid of time `t` (ids sort by time, as core's do).
    fn uuid_at(&mut self, t: OffsetDateTime) -> Uuid {
        let millis = u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let mut random = [0u8; 10];
        self.rng.fill(&mut random);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    /// A random span between `lo` and `hi` seconds.
    fn between(&mut self, lo: i64, hi: i64) -> Duration {
        Duration::microseconds(self.rng.gen_range(lo * 1_000_000..=hi.max(lo) * 1_000_000))
    }

    /// What happened to an order placed at `created` by now.
    fn lifecycle(&mut self, created: OffsetDateTime, ttl: Duration) -> Lifecycle {
        let mut l = Lifecycle::default();
        if created + ttl > self.now {
            return l;
        }
        let ttl_s = ttl.whole_seconds();
        match self.rng.gen_range(0..100) {
            0..8 => {
                // Unpaid: the worker's sweep closes it within a minute of expiry.
                l.status = Some(OrderStatus::Closed);
                l.closed_at = Some(created + ttl + self.between(0, 60));
                l.close_reason = Some(CloseReason::Timeout);
            }
            8..12 => {
                l.status = Some(OrderStatus::Closed);
                l.closed_at = Some(created + self.between(30, ttl_s - 1));
                l.close_reason = Some(CloseReason::Cancelled);
            }
            _ => {
                let paid = created + self.between(20, ttl_s - 1);
                l.status = Some(OrderStatus::Paid);
                l.paid_at = Some(paid);
                let shipped = paid + self.between(3_600, 8 * 3_600);
                if shipped <= self.now && self.rng.gen_bool(0.8) {
                    l.status = Some(OrderStatus::Shipped);
                    l.shipped_at = Some(shipped);
                    let received = shipped + self.between(4 * 3_600, 20 * 3_600);
                    if received <= self.now && self.rng.gen_bool(0.7) {
                        l.status = Some(OrderStatus::Received);
                        l.received_at = Some(received);
                    }
                }
            }
        }
        l
    }

    /// The Crockford base32 order number core gives an order placed at `t`.
    fn order_number(&mut self, t: OffsetDateTime) -> String {
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let mut s = format!("{}-", t.date().to_string().replace('-', ""));
        s.extend((0..10).map(|_| ALPHABET[self.rng.gen_range(0..32)] as char));
        s
    }

    /// Order `i` of the run.
    pub fn order(&mut self, i: u64) -> anyhow::Result<SeededOrder> {
        let created = self.start + Duration::microseconds(self.step_micros * i64::try_from(i)?);
        let shop = self.rng.gen_range(0..self.shops.len());
        let (c, v) = {
            let fx = &self.shops[shop];
            let c = fx.customers[self.rng.gen_range(0..fx.customers.len())].clone();
            (c, fx.variants[self.rng.gen_range(0..fx.variants.len())].clone())
        };
        let qty = self.rng.gen_range(1..=3);
        let (fx_store, warehouse, currency, ttl) = {
            let fx = &self.shops[shop];
            (StoreId(fx.store_id), WarehouseId(fx.warehouse_id), Currency::parse(&fx.currency)?, fx.order_ttl_seconds)
        };
        let ttl = Duration::seconds(ttl);
        let life = self.lifecycle(created, ttl);
        let order = CustomerOrder {
            id: OrderId(self.uuid_at(created)),
            order_number: self.order_number(created),
            store_id: fx_store,
            user_id: UserId(c.user_id),
            address_id: AddressId(c.address_id),
            address_hash: c.address_hash.clone(),
            status: life.status(),
            amount_minor: v.price_minor * qty,
            pay_amount_minor: v.price_minor * qty,
            refunded_minor: 0,
            refund_pending_minor: 0,
            currency,
            help_task_no: None,
            created_at: created,
            paid_at: life.paid_at,
            shipped_at: life.shipped_at,
            received_at: life.received_at,
            closed_at: life.closed_at,
            close_reason: life.close_reason,
            reservation_expires_at: created + ttl,
            updated_at: life.last(created),
        };
        let item = OrderItem {
            id: OrderItemId(self.uuid_at(created)),
            order_id: order.id,
            line_no: 0,
            variant_id: VariantId(v.id),
            sku: v.sku.clone(),
            qty,
            unit_price_minor: v.price_minor,
        };
        let reservation = self.reservation(&order, &item, warehouse, &life);
        let key = Uuid::from_bytes(self.rng.r#gen()).simple().to_string();
        let record = placed_record(&order, &item, &c, key);
        let event = ActivityEvent {
            id: EventId(self.uuid_at(created)),
            store_id: order.store_id,
            seq: None,
            entity_type: "order".into(),
            entity_id: order.id.0,
            kind: "order.created".into(),
            payload: serde_json::json!({
                "order_number": order.order_number, "amount_minor": order.amount_minor, "user_id": order.user_id,
            }),
            at: created,
        };
        let payment = life.paid_at.map(|paid| self.payment(&order, paid));
        Ok(SeededOrder { order, item, reservation, record, event, payment })
    }

    /// The order's hold, in the state its order leaves it (and the stock tally).
    fn reservation(
        &mut self,
        order: &CustomerOrder,
        item: &OrderItem,
        warehouse: WarehouseId,
        life: &Lifecycle,
    ) -> InventoryReservation {
        let (status, updated_at) = match (life.paid_at, life.closed_at) {
            (Some(paid), _) => (ReservationStatus::Committed, paid),
            (None, Some(closed)) => (ReservationStatus::Released, closed),
            (None, None) => (ReservationStatus::Active, order.created_at),
        };
        let tally = self.stock.entry((item.variant_id.0, warehouse.0)).or_default();
        match status {
            ReservationStatus::Active => tally.reserved += item.qty,
            ReservationStatus::Committed => tally.consumed += item.qty,
            ReservationStatus::Released => {}
        }
        InventoryReservation {
            id: ReservationId(self.uuid_at(order.created_at)),
            order_id: order.id,
            store_id: order.store_id,
            variant_id: item.variant_id,
            warehouse_id: warehouse,
            qty: item.qty,
            status,
            expires_at: order.reservation_expires_at,
            created_at: order.created_at,
            updated_at,
        }
    }

    /// The payment that paid the order at `paid`, started a little before.
    fn payment(&mut self, order: &CustomerOrder, paid: OffsetDateTime) -> Payment {
        let started = (paid - self.between(1, 15)).max(order.created_at);
        Payment {
            id: PaymentId(self.uuid_at(started)),
            order_id: order.id,
            store_id: order.store_id,
            user_id: order.user_id,
            amount_minor: order.pay_amount_minor,
            currency: order.currency,
            status: PaymentStatus::Succeeded,
            // Core's built-in provider, the one its payment use cases name.
            provider: "test".into(),
            created_at: started,
            updated_at: paid,
        }
    }
}

/// The request that placed the order, as its customer sent it.
pub fn placing_request(order: &CustomerOrder, item: &OrderItem) -> PlaceOrder {
    PlaceOrder {
        store_id: order.store_id.0,
        address_id: order.address_id.0,
        items: vec![OrderLine { variant_id: item.variant_id.0, qty: item.qty }],
        help_task_no: None,
    }
}

/// The idempotency record `place_order` keeps under the client's `key`: the
/// order as created (JSON), the request fingerprinted as core does it.
fn placed_record(order: &CustomerOrder, item: &OrderItem, c: &CustomerFx, key: String) -> IdempotencyRecord {
    let view = OrderView {
        id: order.id.0,
        order_number: order.order_number.clone(),
        store_id: order.store_id.0,
        user_id: order.user_id.0,
        status: OrderStatus::Created.as_str().to_owned(),
        amount_minor: order.amount_minor,
        pay_amount_minor: order.pay_amount_minor,
        refunded_minor: 0,
        refund_pending_minor: 0,
        currency: order.currency.as_str().to_owned(),
        items: vec![OrderItemView {
            variant_id: item.variant_id.0,
            qty: item.qty,
            unit_price_minor: item.unit_price_minor,
        }],
        created_at: order.created_at,
        paid_at: None,
        shipped_at: None,
        received_at: None,
        closed_at: None,
        close_reason: None,
        reservation_expires_at: order.reservation_expires_at,
        help_task_no: None,
    };
    let request = serde_json::to_vec(&placing_request(order, item)).unwrap_or_default();
    IdempotencyRecord {
        scope: format!("orders:{}", c.user_id),
        key,
        fingerprint: hex::encode(Sha256::digest(&request)),
        response_status: 201,
        response_body: serde_json::to_string(&view).unwrap_or_default(),
        resource_id: Some(order.id.0),
        created_at: order.created_at,
        expires_at: order.created_at + IDEMPOTENCY_TTL,
    }
}

/// What a seeding run wrote.
#[derive(Debug)]
pub struct Seeded {
    /// The fixtures, one per store.
    pub shops: Vec<Fixture>,
    /// Orders written.
    pub orders: u64,
    /// Rows written for them (events sequenced afterwards not counted again).
    pub rows: u64,
    /// Every `sample_every`-th order, to read back.
    pub sample: Vec<SeededOrder>,
    /// What the stock rows must hold.
    pub stock: HashMap<(Uuid, Uuid), StockTally>,
}

/// Creates the fixtures through core, then writes `args.orders` orders in
/// changesets of `args.batch` orders (the next one generated while the
/// previous one is applied) and numbers their events.
///
/// # Errors
/// A use case or store failure.
pub async fn seed(store: Arc<dyn Store>, args: &SeedArgs, sample_every: u64) -> anyhow::Result<Seeded> {
    let agora = agora_over(store.clone());
    let mut shops = Vec::with_capacity(args.stores);
    for _ in 0..args.stores.max(1) {
        shops.push(create_fixture(&agora, store.as_ref(), args.products, args.customers).await?);
    }
    let mut generator =
        Generator::new(shops.clone(), args.orders, args.hours, args.seed, agora_core::SystemClock.now());
    let (mut rows, mut sample) = (0u64, Vec::new());
    let mut pending: Option<tokio::task::JoinHandle<StoreResult<()>>> = None;
    let (batch, started) = (args.batch.max(1) as u64, Instant::now());
    let mut next = 0u64;
    while next < args.orders {
        let end = (next + batch).min(args.orders);
        let mut cs = Changeset::new();
        for i in next..end {
            let o = generator.order(i)?;
            o.push_writes(&mut cs);
            if i % sample_every.max(1) == 0 {
                sample.push(o);
            }
        }
        rows += cs.writes.iter().filter(|w| !matches!(w, Write::Stock { .. })).count() as u64;
        if let Some(p) = pending.take() {
            p.await?.context("applying a batch of orders")?;
        }
        let s = store.clone();
        pending = Some(tokio::spawn(async move { s.apply(cs).await }));
        if end * 10 / args.orders.max(1) != next * 10 / args.orders.max(1) {
            eprintln!("  {end} orders ({:.0?})", started.elapsed());
        }
        next = end;
    }
    if let Some(p) = pending {
        p.await?.context("applying a batch of orders")?;
    }
    for fx in &shops {
        let n = agora.sequence_events(StoreId(fx.store_id)).await?;
        eprintln!("  store {}: {n} events sequenced ({:.0?})", fx.store_id, started.elapsed());
    }
    Ok(Seeded { shops, orders: args.orders, rows, sample, stock: generator.stock })
}

/// Reads the sampled orders back through the store's typed reads and checks
/// every stock row: what the adapter answers must be what was written.
///
/// # Errors
/// The first disagreement, or a store failure.
pub async fn check(store: &dyn Store, seeded: &Seeded) -> anyhow::Result<()> {
    for o in &seeded.sample {
        let id = o.order.id;
        ensure!(store.get_order(id).await?.as_ref() == Some(&o.order), "order {id} reads back differently");
        ensure!(store.list_order_items(&[id]).await? == [o.item.clone()], "order {id}: its line");
        ensure!(store.list_reservations(id).await? == [o.reservation.clone()], "order {id}: its hold");
        ensure!(store.list_payments(id).await? == o.payment.clone().into_iter().collect::<Vec<_>>(), "payment {id}");
        let record = store.get_idempotency(&o.record.scope, &o.record.key).await?;
        ensure!(record.as_ref() == Some(&o.record), "order {id}: its idempotency record");
        let view: OrderView = serde_json::from_str(&o.record.response_body).context("the recorded response")?;
        ensure!(view.id == id.0 && view.status == "CREATED", "order {id}: the recorded response");
        let event: Option<ActivityEvent> = store.fetch_one(Query::key::<ActivityEvent>(o.event.id)).await?;
        let event = event.with_context(|| format!("order {id}: no event"))?;
        ensure!(event.seq.is_some(), "order {id}: its event is not sequenced");
        ensure!(ActivityEvent { seq: None, ..event } == o.event, "order {id}: its event");
    }
    for fx in &seeded.shops {
        let ids: Vec<VariantId> = fx.variants.iter().map(|v| VariantId(v.id)).collect();
        for row in store.list_inventory(&ids).await? {
            let want = seeded.stock.get(&(row.variant_id.0, row.warehouse_id.0)).copied().unwrap_or_default();
            ensure!(
                (row.on_hand, row.reserved) == (HUGE_STOCK - want.consumed, want.reserved),
                "stock of {}: {} on hand, {} reserved; want {want:?}",
                row.variant_id,
                row.on_hand,
                row.reserved
            );
        }
    }
    Ok(())
}

/// Runs `seed-orders`: opens (and migrates) the store, seeds it, checks a
/// sample and prints what was written.
///
/// # Errors
/// Opening the store, seeding or the check.
pub async fn run(args: &SeedArgs) -> anyhow::Result<()> {
    let handle = agora_runtime::open_store(&agora_runtime::Config::default(), &args.db, true).await?;
    let started = Instant::now();
    println!(
        "seed-orders: {} orders over {} stores ({} products, {} customers each), {} per changeset",
        args.orders, args.stores, args.products, args.customers, args.batch
    );
    let seeded = seed(handle.store(), args, (args.orders / 1_000).max(1)).await?;
    let elapsed = started.elapsed();
    check(handle.store().as_ref(), &seeded).await.context("reading the orders back")?;
    println!(
        "wrote {} orders ({} rows) in {elapsed:.1?} ({:.0} orders/s); {} sampled orders and {} stock rows read back",
        seeded.orders,
        seeded.rows,
        seeded.orders as f64 / elapsed.as_secs_f64().max(1e-9),
        seeded.sample.len(),
        seeded.stock.len()
    );
    handle.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The seeded rows must be rows core itself reads, replays and moves
    //! along, or copy and verify would be measured on a different workload.

    use std::collections::HashSet;

    use agora_core::Actor;

    use super::*;
    use crate::target::Target;

    fn small(db: &str) -> SeedArgs {
        SeedArgs { db: db.into(), orders: 400, stores: 2, products: 3, customers: 4, batch: 64, hours: 23, seed: 7 }
    }

    /// The sampled order of `status` (every order is sampled in these tests).
    fn of(seeded: &Seeded, status: OrderStatus) -> &SeededOrder {
        seeded.sample.iter().find(|o| o.order.status == status).expect("an order of each status")
    }

    async fn seeded_orders_are_what_core_reads(store: Arc<dyn Store>) {
        let seeded = seed(store.clone(), &small("unused"), 1).await.expect("seed");
        check(store.as_ref(), &seeded).await.expect("rows read back as written");
        let statuses: HashSet<OrderStatus> = seeded.sample.iter().map(|o| o.order.status).collect();
        // Every status of the order lifecycle the seed writes; it writes no
        // refunds, so no REFUNDED order.
        let lifecycle = OrderStatus::ALL.iter().filter(|s| **s != OrderStatus::Refunded).count();
        assert_eq!(statuses.len(), lifecycle, "every status: {statuses:?}");
        assert_eq!(store.fetch(&Query::of::<CustomerOrder>()).await.expect("orders").len(), 400);
        for fx in &seeded.shops {
            let sid = StoreId(fx.store_id);
            let unsequenced = store.list_unsequenced_events(sid, 10).await.expect("events");
            assert!(unsequenced.is_empty() && store.last_event_seq(sid).await.expect("seq") > 0, "all numbered");
        }

        let agora = agora_over(store.clone());
        let placed = of(&seeded, OrderStatus::Received);
        let customer = Actor::Customer { user_id: placed.order.user_id };
        let request = placing_request(&placed.order, &placed.item);
        let replay = agora.place_order(&customer, Some(&placed.record.key), request).await.expect("replay");
        assert!(replay.replayed && replay.recorded == placed.record.response_body, "core replays the record");

        let created = of(&seeded, OrderStatus::Created);
        let r = &created.reservation;
        let held = |rows: Vec<Inventory>| rows.iter().map(|i| i.reserved).sum::<i64>();
        let before = held(store.list_inventory(&[r.variant_id]).await.expect("stock"));
        let customer = Actor::Customer { user_id: created.order.user_id };
        let closed = agora.cancel_order(&customer, created.order.id).await.expect("cancel through core");
        assert_eq!(closed.status, "CLOSED");
        assert_eq!(held(store.list_inventory(&[r.variant_id]).await.expect("stock")), before - r.qty);

        let admin = Actor::SuperAdmin { masked: "test".into() };
        let paid = of(&seeded, OrderStatus::Paid);
        assert_eq!(agora.ship_order(&admin, paid.order.id).await.expect("ship").status, "SHIPPED");
        let shipped = of(&seeded, OrderStatus::Shipped);
        let customer = Actor::Customer { user_id: shipped.order.user_id };
        assert_eq!(agora.receive_order(&customer, shipped.order.id).await.expect("receive").status, "RECEIVED");

        let mut tampered = placed.order.clone();
        tampered.address_hash.push('x');
        let mut cs = Changeset::new();
        cs.update(tampered);
        store.apply(cs).await.expect("update");
        let only = Seeded { sample: vec![placed.clone()], ..seeded };
        assert!(check(store.as_ref(), &only).await.is_err(), "check sees a row that differs");
    }

    async fn on(db: &str) {
        let target = Target::prepare(db).await.expect("target");
        let handle = crate::open_store(&target, 2).await.expect("open");
        seeded_orders_are_what_core_reads(handle.store()).await;
        handle.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seeded_memory_store() {
        on("memory:").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seeded_sqlite_store() {
        on("sqlite://?synchronous=normal").await;
    }

    #[test]
    fn the_same_seed_gives_the_same_orders() {
        let fx = Fixture {
            store_id: Uuid::from_u128(1),
            warehouse_id: Uuid::from_u128(2),
            currency: "EUR".into(),
            order_ttl_seconds: 1800,
            variants: vec![crate::inproc::VariantFx {
                id: Uuid::from_u128(3),
                product_id: Uuid::from_u128(4),
                sku: "SKU".into(),
                price_minor: 1000,
            }],
            customers: vec![CustomerFx {
                user_id: Uuid::from_u128(5),
                address_id: Uuid::from_u128(6),
                address_hash: "h".into(),
                token: None,
            }],
        };
        let now = OffsetDateTime::now_utc();
        let run = |seed| {
            let mut g = Generator::new(vec![fx.clone()], 50, 23, seed, now);
            (0..50).map(|i| g.order(i).expect("order").order).collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
