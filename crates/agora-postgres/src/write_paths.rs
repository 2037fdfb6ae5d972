//! Deterministic tests of the two write paths, each driven directly (no
//! committer, no timing): every outcome and the whole store afterwards are
//! compared with the memory model applying the same changesets one by one.

use agora_core::changeset::StockChange;
use agora_core::schema::Value;
use agora_core::*;
use agora_memory::MemoryStore;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::apply::{GroupOutcome, Item, apply_group};
use crate::error::{Failure, classify_commit};
use crate::testing::rows::*;
use crate::testing::{DropGuard, throwaway_database};
use crate::{PgStore, batch, direct};

struct Fixture {
    pg: PgStore,
    mem: MemoryStore,
    shop: Shop,
    user: AppUser,
    address: UserAddress,
    variant: ProductVariant,
    warehouse: Warehouse,
    now: OffsetDateTime,
    _db: DropGuard,
}

/// A store with one variant holding `on_hand` units, a customer with an
/// address, in PostgreSQL and in the memory model.
async fn fixture(on_hand: i64) -> Fixture {
    let (mut config, db) = throwaway_database().await;
    // No committer: the tests hand groups to `apply_group` themselves.
    config.max_group = 1;
    let pg = PgStore::connect(config).await.expect("connect");
    let now = t(1_700_000_000, 123_456);
    let shop = shop("shop.example.com");
    let user = user("ann@example.com");
    let address = address(&user);
    let product = product(&shop);
    let variant = variant(&product, "HOT-1", 250);
    let warehouse = warehouse(&shop);
    let mut cs = Changeset::new();
    cs.insert(shop.clone()).insert(user.clone()).insert(address.clone()).insert(product);
    cs.insert(variant.clone()).insert(warehouse.clone());
    cs.stock(variant.id, warehouse.id, now, StockChange::SetOnHand { store_id: shop.id, on_hand });
    let f = Fixture { pg, mem: MemoryStore::new(), shop, user, address, variant, warehouse, now, _db: db };
    f.pg.apply(cs.clone()).await.expect("fixture in postgres");
    f.mem.apply(cs).await.expect("fixture in memory");
    f
}

impl Fixture {
    /// A changeset shaped like placing an order of `qty` units with
    /// idempotency key `key`: no explicit guards, so it may be batched.
    fn order(&self, n: u32, key: &str, qty: i64) -> Changeset {
        let amount = qty * self.variant.price_minor;
        let order = CustomerOrder {
            created_at: self.now,
            shipped_at: None,
            close_reason: None,
            reservation_expires_at: self.now + Duration::minutes(15),
            updated_at: self.now,
            ..order(&self.shop, &self.user, &self.address, &format!("N-{n}"), amount)
        };
        let mut cs = Changeset::new();
        cs.write(Write::PutIdempotency {
            record: IdempotencyRecord {
                scope: format!("orders:{}", self.user.id),
                key: key.into(),
                fingerprint: "fp".into(),
                response_status: 201,
                response_body: format!("{{\"n\":{n}}}"),
                resource_id: Some(order.id.0),
                created_at: self.now,
                expires_at: self.now + Duration::days(1),
            },
            now: self.now,
        });
        cs.stock(self.variant.id, self.warehouse.id, self.now, StockChange::Reserve(qty));
        cs.insert(InventoryReservation {
            id: ReservationId(id()),
            order_id: order.id,
            store_id: self.shop.id,
            variant_id: self.variant.id,
            warehouse_id: self.warehouse.id,
            qty,
            status: ReservationStatus::Active,
            expires_at: order.reservation_expires_at,
            created_at: self.now,
            updated_at: self.now,
        });
        cs.insert(OrderItem {
            id: OrderItemId(id()),
            order_id: order.id,
            line_no: 0,
            variant_id: self.variant.id,
            sku: self.variant.sku.clone(),
            qty,
            unit_price_minor: self.variant.price_minor,
        });
        cs.insert(ActivityEvent {
            id: EventId(id()),
            store_id: self.shop.id,
            seq: None,
            entity_type: "order".into(),
            entity_id: order.id.0,
            kind: "order.created".into(),
            payload: json!({"n": n, "tags": ["a", "ü"], "nested": {"x": 1.5}}),
            at: self.now,
        });
        cs.insert(order);
        cs
    }

    fn audit(&self, store_id: StoreId) -> Changeset {
        let mut cs = Changeset::new();
        cs.insert(AuditLog {
            id: AuditId(id()),
            store_id,
            at: self.now,
            actor_masked: "adm_****".into(),
            ip: None,
            key: "order_ttl_seconds".into(),
            from: None,
            to: Some("60".into()),
        });
        cs
    }

    /// The group through `apply_group` in PostgreSQL, and one by one in the
    /// memory model; the outcomes and then both stores must agree.
    async fn group(&self, group: &[Changeset]) -> GroupOutcome {
        let items: Vec<Item<'_>> = group.iter().map(|cs| Item { cs, weight: batch::weight(cs) }).collect();
        let mut conn = self.pg.pool().acquire().await.unwrap();
        let done = apply_group(&mut conn, &items, None).await;
        assert!(!done.broken);
        let mut model = Vec::new();
        for cs in group {
            model.push(self.mem.apply(cs.clone()).await);
        }
        let got: Vec<StoreResult<()>> = done.outcomes.iter().map(store_outcome).collect();
        same_outcomes(&got, &model);
        self.same_data().await;
        done
    }

    async fn same_data(&self) {
        let (pg, mem) = (Snapshot::read(&self.pg).await.unwrap(), Snapshot::read(&self.mem).await.unwrap());
        for ((table, a), (_, b)) in pg.tables.iter().zip(&mem.tables) {
            assert_eq!(a, b, "table {table}: PostgreSQL and the memory model differ");
        }
    }

    async fn reserved(&self) -> i64 {
        self.pg.list_inventory(&[self.variant.id]).await.unwrap()[0].reserved
    }

    /// Rows of `inventory` updated so far, counted by a trigger.
    async fn stock_updates(&self) -> i64 {
        sqlx::query_scalar("SELECT n FROM stock_updates").fetch_one(self.pg.pool()).await.unwrap()
    }

    async fn count_stock_updates(&self) {
        sqlx::raw_sql(
            "CREATE TABLE stock_updates (n int8 NOT NULL); INSERT INTO stock_updates VALUES (0); \
             CREATE FUNCTION count_stock_update() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN UPDATE stock_updates SET n = n + 1; RETURN NULL; END $$; \
             CREATE TRIGGER count_stock_updates AFTER UPDATE ON inventory \
             FOR EACH ROW EXECUTE FUNCTION count_stock_update();",
        )
        .execute(self.pg.pool())
        .await
        .unwrap();
    }

    /// One changeset on the direct path alone, in a transaction of its own,
    /// and in the memory model; outcomes and stores compared.
    async fn direct(&self, cs: Changeset) -> StoreResult<()> {
        let mut tx = self.pg.pool().begin().await.unwrap();
        let got = match direct::apply(&mut tx, &cs).await {
            Ok(()) => tx.commit().await.map_err(|e| classify_commit(e, &cs)),
            Err(f) => {
                tx.rollback().await.unwrap();
                Err(f)
            }
        };
        let got = store_outcome(&got);
        let model = self.mem.apply(cs).await;
        same_outcomes(std::slice::from_ref(&got), &[model]);
        self.same_data().await;
        got
    }
}

fn store_outcome(r: &Result<(), Failure>) -> StoreResult<()> {
    match r {
        Ok(()) => Ok(()),
        Err(Failure::Store(e)) => Err(e.clone()),
        Err(Failure::Retry(m)) => panic!("a deterministic test asked for a retry: {m}"),
    }
}

/// Equal outcomes: the same failed condition; for duplicates and missing
/// rows the same kind (the messages are each store's own).
fn same_outcomes(got: &[StoreResult<()>], want: &[StoreResult<()>]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = match (g, w) {
            (Err(StoreError::Duplicate(_)), Err(StoreError::Duplicate(_)))
            | (Err(StoreError::Missing(_)), Err(StoreError::Missing(_))) => true,
            (g, w) => g == w,
        };
        assert!(same, "changeset {i}: postgres {g:?}, memory model {w:?}");
    }
}

fn failed_index(r: &StoreResult<()>) -> usize {
    match r {
        Err(StoreError::GuardFailed(f)) => f.index,
        other => panic!("expected a failed condition, got {other:?}"),
    }
}

#[tokio::test]
async fn reservations_of_a_hot_row_take_one_update_per_group_and_never_oversell() {
    let f = fixture(10).await;
    f.count_stock_updates().await;
    let group: Vec<Changeset> = (0..6).map(|n| f.order(n, &format!("k{n}"), 1)).collect();
    let done = f.group(&group).await;
    assert!(done.outcomes.iter().all(Result::is_ok));
    assert_eq!(done.batched, 6, "the whole group went as one statement");
    assert_eq!(f.stock_updates().await, 1, "six reservations of one row, one UPDATE");
    assert_eq!(f.reserved().await, 6);

    // Six more, four left: the sum does not fit, so the run is undone and
    // applied one by one; the first four get the stock, in arrival order.
    let group: Vec<Changeset> = (6..12).map(|n| f.order(n, &format!("k{n}"), 1)).collect();
    let done = f.group(&group).await;
    assert_eq!(done.batched, 0);
    let refused: Vec<usize> = done.outcomes.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
    assert_eq!(refused, vec![4, 5]);
    for r in &done.outcomes[4..] {
        let r = store_outcome(r);
        assert_eq!(failed_index(&r), 1, "the reservation's own condition (write 1)");
    }
    assert_eq!(f.reserved().await, 10, "never more than on hand");
    assert_eq!(f.stock_updates().await, 1 + 4);
}

#[tokio::test]
async fn a_failing_member_fails_alone_with_its_own_condition() {
    let f = fixture(10).await;
    // A live record under the key "taken".
    f.group(&[f.order(0, "taken", 1)]).await;
    let mut bad_guard = f.audit(f.shop.id);
    bad_guard.guard(guards::order_status_is(OrderId(id()), OrderStatus::Created));
    let mut both_fail = f.order(4, "taken", 50);
    both_fail.writes.swap(0, 1);
    let group = vec![
        f.order(1, "a", 1),
        f.order(2, "taken", 1),
        f.order(3, "b", 50),
        bad_guard,
        both_fail,
        f.order(5, "c", 2),
        // The twin of the first: its key is taken by then, inside this group.
        f.order(6, "a", 1),
    ];
    let done = f.group(&group).await;
    let outcomes: Vec<StoreResult<()>> = done.outcomes.iter().map(store_outcome).collect();
    assert!(outcomes[0].is_ok() && outcomes[5].is_ok());
    assert_eq!(failed_index(&outcomes[1]), 0, "the key is taken");
    assert_eq!(failed_index(&outcomes[2]), 1, "not enough stock");
    assert_eq!(failed_index(&outcomes[3]), 0, "the explicit guard");
    assert_eq!(failed_index(&outcomes[4]), 0, "the first failing condition: the stock, now write 0");
    assert_eq!(failed_index(&outcomes[6]), 0, "the twin's key");
    assert_eq!(f.reserved().await, 1 + 1 + 2);
}

#[tokio::test]
async fn a_failing_commit_is_retried_changeset_by_changeset() {
    let f = fixture(10).await;
    let nowhere = StoreId(id());
    // Batched (plain inserts) and direct (with a guard): the foreign key of
    // the bad one is checked at COMMIT, which fails the whole group.
    for guarded in [false, true] {
        let mut group: Vec<Changeset> = (0..5).map(|_| f.audit(f.shop.id)).collect();
        group.insert(2, f.audit(nowhere));
        if guarded {
            for cs in &mut group {
                cs.guard(Guard::row_is::<Shop>(f.shop.id, &[("status", StoreStatus::Active.into())]));
            }
        }
        let items: Vec<Item<'_>> = group.iter().map(|cs| Item { cs, weight: batch::weight(cs) }).collect();
        let mut conn = f.pg.pool().acquire().await.unwrap();
        let done = apply_group(&mut conn, &items, None).await;
        assert!(!done.broken);
        for (i, r) in done.outcomes.iter().enumerate() {
            match (i, store_outcome(r)) {
                (2, Err(StoreError::Missing(_))) => {}
                (2, other) => panic!("the bad changeset: {other:?}"),
                (_, other) => assert!(other.is_ok(), "changeset {i} failed with its group: {other:?}"),
            }
        }
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(f.pg.pool()).await.unwrap();
    assert_eq!(n, 10);
    // Alone, its own COMMIT error.
    let mut conn = f.pg.pool().acquire().await.unwrap();
    let bad = f.audit(nowhere);
    let done = apply_group(&mut conn, &[Item { cs: &bad, weight: batch::weight(&bad) }], None).await;
    assert!(matches!(store_outcome(&done.outcomes[0]), Err(StoreError::Missing(_))));
}

#[tokio::test]
async fn the_direct_path_follows_the_memory_model() {
    let f = fixture(5).await;
    let (v, w, now) = (f.variant.id, f.warehouse.id, f.now);
    let stock = |change| {
        let mut cs = Changeset::new();
        cs.stock(v, w, now, change);
        cs
    };
    // Stock: every change and its condition, in order.
    assert!(f.direct(stock(StockChange::Reserve(3))).await.is_ok());
    assert_eq!(failed_index(&f.direct(stock(StockChange::Reserve(3))).await), 0);
    let mut two = stock(StockChange::Reserve(1));
    two.stock(VariantId(id()), w, now, StockChange::Reserve(1));
    assert_eq!(failed_index(&f.direct(two).await), 1, "no such row: the condition");
    assert_eq!(failed_index(&f.direct(stock(StockChange::SetOnHand { store_id: f.shop.id, on_hand: 2 })).await), 0);
    assert_eq!(failed_index(&f.direct(stock(StockChange::SetReserved { expected: 9, reserved: 0 })).await), 0);
    let mut gone = Changeset::new();
    gone.stock(VariantId(id()), w, now, StockChange::SetReserved { expected: 0, reserved: 0 });
    assert!(matches!(f.direct(gone).await, Err(StoreError::Missing(_))));
    assert!(matches!(f.direct(stock(StockChange::Release(4))).await, Err(StoreError::Missing(_))));
    assert!(matches!(f.direct(stock(StockChange::Consume(4))).await, Err(StoreError::Missing(_))));
    let below = StockChange::Adjust { on_hand: -4, reserved: 0 };
    assert!(matches!(f.direct(stock(below)).await, Err(StoreError::Missing(_))));
    for change in [
        StockChange::Consume(1),
        StockChange::Release(1),
        StockChange::SetReserved { expected: 1, reserved: 0 },
        StockChange::SetOnHand { store_id: f.shop.id, on_hand: 7 },
        StockChange::Adjust { on_hand: 1, reserved: 1 },
    ] {
        assert!(f.direct(stock(change)).await.is_ok());
    }

    // Row checks compare every listed column (money included); a free check
    // covers a unique violation inside its changeset; an uncovered one is a
    // duplicate.
    let price = Guard::row_is::<ProductVariant>(v, &[("price", Value::Int(250)), ("sku", "HOT-1".into())]);
    let mut cs = f.audit(f.shop.id);
    cs.guard(price.clone());
    assert!(f.direct(cs).await.is_ok());
    let mut cs = f.audit(f.shop.id);
    cs.guard(price).guard(Guard::row_is::<ProductVariant>(v, &[("price", Value::Int(251))]));
    assert_eq!(failed_index(&f.direct(cs).await), 1);
    let event = |provider: &str| PaymentEvent {
        id: PaymentEventId(id()),
        provider: provider.into(),
        event_id: "evt-1".into(),
        payment_id: None,
        store_id: Some(f.shop.id),
        kind: "payment.succeeded".into(),
        amount_minor: 999_999_999_999,
        outcome: "applied".into(),
        raw: json!({"big": 9_007_199_254_740_993u64}),
        received_at: now,
    };
    let mut twins = Changeset::new();
    twins.guard(guards::payment_event_free("test", "evt-1")).insert(event("test")).insert(event("test"));
    assert_eq!(failed_index(&f.direct(twins).await), 0, "the trigger's key violation, as the guard");
    let one = || {
        let mut cs = Changeset::new();
        cs.insert(event("test"));
        cs
    };
    assert!(f.direct(one()).await.is_ok());
    assert!(matches!(f.direct(one()).await, Err(StoreError::Duplicate(c)) if c == guards::PAYMENT_EVENT));
    let mut taken = Changeset::new();
    taken.guard(guards::payment_event_free("test", "evt-1")).insert(event("other"));
    assert_eq!(failed_index(&f.direct(taken).await), 0);
    let mut dup_email = Changeset::new();
    dup_email.insert(AppUser { id: UserId(id()), ..f.user.clone() });
    assert!(matches!(f.direct(dup_email).await, Err(StoreError::Duplicate(c)) if c == guards::EMAIL));

    // Updates of missing rows, deletes, idempotent responses, sequencing.
    let mut cs = Changeset::new();
    cs.update(Warehouse { id: WarehouseId(id()), ..f.warehouse.clone() });
    assert!(matches!(f.direct(cs).await, Err(StoreError::Missing(_))));
    let mut cs = Changeset::new();
    cs.update(Warehouse { name: "renamed".into(), ..f.warehouse.clone() }).delete::<Session>(SessionId(id()));
    assert!(f.direct(cs).await.is_ok());
    let put = f.order(1, "k", 1).writes.swap_remove(0);
    let mut cs = Changeset::new();
    cs.write(put.clone());
    assert!(f.direct(cs.clone()).await.is_ok());
    assert_eq!(failed_index(&f.direct(cs).await), 0, "a live record is never replaced");
    let unknown: Vec<EventId> = f.order(3, "k3", 1).writes.iter().filter_map(event_id).collect();
    let mut order = f.order(2, "k2", 1);
    order.writes.retain(|w| matches!(w, Write::Insert(Record::Event(_))));
    let ids: Vec<EventId> = order.writes.iter().filter_map(event_id).collect();
    assert!(f.direct(order).await.is_ok());
    let sequence = |after, events: Vec<EventId>| {
        let mut cs = Changeset::new();
        cs.write(Write::SequenceEvents { store_id: f.shop.id, after, events });
        cs
    };
    assert_eq!(failed_index(&f.direct(sequence(3, ids.clone())).await), 0);
    assert!(matches!(f.direct(sequence(0, unknown)).await, Err(StoreError::Missing(_))));
    assert!(f.direct(sequence(0, ids)).await.is_ok());
    assert!(f.direct(sequence(1, Vec::new())).await.is_ok());
}

fn event_id(w: &Write) -> Option<EventId> {
    match w {
        Write::Insert(Record::Event(e)) => Some(e.id),
        _ => None,
    }
}

#[tokio::test]
async fn runs_stop_at_a_repeated_key_and_at_the_byte_cap() {
    let f = fixture(1_000).await;
    let a = f.order(1, "a", 1);
    assert!(batch::weight(&a).is_some(), "an order is batchable");
    let again = f.order(2, "a", 1);
    let other = f.order(3, "b", 1);
    let run = |group: &[&Changeset]| batch::run_len(group.iter().map(|cs| (*cs, batch::weight(cs))));
    assert_eq!(run(&[&a, &other, &again]), 2);
    let mut guarded = f.order(4, "c", 1);
    guarded.guard(guards::order_status_is(OrderId(id()), OrderStatus::Created));
    assert_eq!(run(&[&guarded, &a]), 0);
    let many: Vec<Changeset> = (0..200).map(|n| f.order(n, &format!("m{n}"), 1)).collect();
    let refs: Vec<&Changeset> = many.iter().collect();
    let mut bytes = 0;
    let fits = many.iter().filter_map(batch::weight).take_while(|w| {
        bytes += w;
        bytes <= batch::BATCH_BYTES
    });
    let fits = fits.count();
    assert!(fits > 10 && fits < 200, "{fits} orders per run");
    assert_eq!(run(&refs), fits);
    let mut payout = f.audit(f.shop.id);
    payout.writes.clear();
    payout.insert(PayoutLedger {
        id: PayoutId(id()),
        task_id: TaskId(id()),
        task_no: "T".into(),
        store_id: f.shop.id,
        user_id: f.user.id,
        order_id: OrderId(id()),
        helper_user_ids: vec![f.user.id],
        helper_order_ids: Vec::new(),
        amount_minor: 1,
        currency: Currency::parse("EUR").unwrap(),
        qualified_at: f.now,
        payout_at: f.now,
        payout_status: PayoutStatus::Pending,
        risk_level: RiskLevel::Low,
        risk_reasons: Vec::new(),
        note: None,
        operator: None,
        created_at: f.now,
        updated_at: f.now,
    });
    assert_eq!(batch::weight(&payout), None, "list columns are not batched");
    // A whole cap's worth goes as one statement and agrees with the model.
    let done = f.group(&many[..fits]).await;
    assert_eq!(done.batched, fits);
}
