//! Users, sessions and orders: placing, replaying, reading, moving along.

use std::sync::Arc;

use agora_core::secrets::{Argon2Cost, Argon2Passwords};
use agora_core::views::*;
use agora_core::*;
use time::Duration;
use uuid::Uuid;

use super::*;
use crate::harness::{Harness, TestStore};

// This module's scenarios, for `crate::conformance_tests!`: a new
// scenario is listed here, beside its code.
crate::__scenario_list!($ __scenarios_orders:
    register_and_login, duplicate_email_is_conflict, registration_validation, wrong_credentials_are_unauthorized,
    login_is_rate_limited_per_email, a_login_burst_gets_no_more_password_checks_than_the_limit,
    logins_from_one_address_are_limited_across_emails, sessions_expire, order_reserves_stock, order_replay_returns_same_body,
    order_key_reused_with_other_body, order_requires_idempotency_key, out_of_stock_reserves_nothing,
    order_splits_across_warehouses, order_validation, order_with_foreign_address_is_not_found,
    order_context_matches_single_reads, idempotency_keys_expire_after_24h, orders_are_private_to_owner_and_store,
    cancel_releases_stock, illegal_order_moves_are_invalid_transition, ship_and_receive,
    my_orders_newest_first_with_cursor, store_orders_filter_by_status,
    account_erasure_keeps_the_books_and_frees_the_email,
);

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
    assert!(h.snapshot().await.rows::<AppUser>().is_empty());
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
    // Two refusals in one minute: one security event, for the super admin only.
    let sa = h.super_admin().await;
    let events = h.agora.list_security_events(&sa, &ListQuery::default()).await.unwrap().items;
    let seen: Vec<(&str, &str, Option<&str>)> =
        events.iter().map(|e| (e.kind.as_str(), e.subject.as_str(), e.ip.as_deref())).collect();
    assert_eq!(seen, [("login.rate_limited", "email:ann@example.com", None)]);
    let c = h.customer("carl").await;
    assert_eq!(code(h.agora.list_security_events(&c.actor, &ListQuery::default()).await), "forbidden");
    h.clock.advance(Duration::seconds(61));
    assert_eq!(code(h.agora.login(good).await), "ok");
}

/// Password checks that take a while (as argon2 does) and are counted, so
/// a burst of logins really overlaps.
struct SlowCountedPasswords {
    inner: Argon2Passwords,
    checks: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl PasswordHasher for SlowCountedPasswords {
    async fn hash(&self, password: &str, salt: [u8; 16]) -> Result<String, AgoraError> {
        self.inner.hash(password, salt).await
    }

    async fn verify(&self, password: &str, hash: &str) -> Result<bool, AgoraError> {
        self.checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        self.inner.verify(password, hash).await
    }
}

/// 59 wrong passwords and the right one, sent at once: only the limit's
/// worth of attempts get their password checked, the rest are 429 before
/// any check (counted after the check, every one of them was checked and
/// the right one got in wherever it was in the burst).
pub async fn a_login_burst_gets_no_more_password_checks_than_the_limit(ts: TestStore) {
    let h = Harness::new(ts);
    h.customer("ann").await;
    let passwords =
        Arc::new(SlowCountedPasswords { inner: Argon2Passwords::new(Argon2Cost::TESTING), checks: Default::default() });
    let agora = crate::harness::agora_builder(h.store.clone()).clock(h.clock.clone()).passwords(passwords.clone());
    let agora = Arc::new(agora.build());
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..60 {
        let agora = agora.clone();
        let password = if i == 59 { "correct horse battery" } else { "wrong password" };
        let login = Login { email: "ann@example.com".into(), password: password.into() };
        burst.spawn(async move { code(agora.login(login).await) });
    }
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    while let Some(c) = burst.join_next().await {
        *seen.entry(c.expect("join")).or_default() += 1;
    }
    assert_eq!(passwords.checks.load(std::sync::atomic::Ordering::SeqCst), 10, "passwords checked: {seen:?}");
    let checked = seen.get("unauthorized").copied().unwrap_or(0) + seen.get("ok").copied().unwrap_or(0);
    assert_eq!(checked, 10, "{seen:?}");
    assert_eq!(seen.get("rate_limited"), Some(&50), "{seen:?}");
}

/// Password spraying: one wrong password per email over many emails from
/// one address reaches the address's own limit; other
/// addresses, and the right password's owner elsewhere, are not held up.
pub async fn logins_from_one_address_are_limited_across_emails(ts: TestStore) {
    let h = Harness::new(ts);
    h.customer("ann").await;
    // A limit of 5 (production: 100): each unknown email costs a check
    // against a production-cost dummy hash.
    let config = AgoraConfig { login_failures_per_ip_per_minute: 5, ..h.agora.config().clone() };
    let agora = crate::harness::agora_builder(h.store.clone()).clock(h.clock.clone()).config(config).build();
    let spray = |i: usize| Login { email: format!("user{i}@example.com"), password: "Summer2026!".into() };
    for i in 0..5 {
        assert_eq!(code(agora.login_from(spray(i), Some("203.0.113.7")).await), "unauthorized", "attempt {i}");
    }
    assert_eq!(code(agora.login_from(spray(5), Some("203.0.113.7")).await), "rate_limited");
    let ann = Login { email: "ann@example.com".into(), password: "correct horse battery".into() };
    assert_eq!(code(agora.login_from(ann.clone(), Some("203.0.113.7")).await), "rate_limited", "even right");
    assert_eq!(code(agora.login_from(spray(6), Some("198.51.100.1")).await), "unauthorized", "per address");
    assert_eq!(code(agora.login_from(ann.clone(), Some("198.51.100.1")).await), "ok");
    // Refused attempts did not eat the emails' own budgets.
    assert_eq!(code(agora.login_from(spray(5), Some("198.51.100.1")).await), "unauthorized");
    let sa = h.super_admin().await;
    let events = agora.list_security_events(&sa, &ListQuery::default()).await.unwrap().items;
    let seen: Vec<(&str, &str, Option<&str>)> =
        events.iter().map(|e| (e.kind.as_str(), e.subject.as_str(), e.ip.as_deref())).collect();
    assert_eq!(seen, [("login.rate_limited", "ip:203.0.113.7", Some("203.0.113.7"))], "once a minute per address");
    h.clock.advance(Duration::seconds(61));
    assert_eq!(code(agora.login_from(ann, Some("203.0.113.7")).await), "ok", "the window slid");
}

/// `DELETE /v1/users/me`: the person goes, the books stay.
pub async fn account_erasure_keeps_the_books_and_frees_the_email(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (_, v) = h.product(&s, "ER-1", 500, 5).await;
    let c = h.customer_at("ann", "7 Hidden Lane", Some("+4915112345678")).await;
    let order = h.order(&c, &s, &[(v, 1)]).await.unwrap();
    let right = || Login { email: "ann@example.com".into(), password: "correct horse battery".into() };
    let second = h.agora.login(right()).await.unwrap();
    // A security event names her email (someone guessed at it).
    let guess = || Login { email: "ann@example.com".into(), password: "guess".into() };
    while code(h.agora.login(guess()).await) != "rate_limited" {}
    h.clock.advance(Duration::seconds(61));
    let sa = h.super_admin().await;
    let events = |h: &Harness| {
        let sa = sa.clone();
        let agora = h.agora.clone();
        async move { agora.list_security_events(&sa, &ListQuery::default()).await.unwrap().items }
    };
    assert!(events(&h).await.iter().any(|e| e.subject == "email:ann@example.com"));

    let before = h.snapshot().await;
    let wrong = EraseAccount { password: "not it".into() };
    assert_eq!(code(h.agora.erase_account(&c.actor, wrong, None).await), "unauthorized");
    let anyone = EraseAccount { password: "correct horse battery".into() };
    assert_eq!(code(h.agora.erase_account(&Actor::Anonymous, anyone.clone(), None).await), "unauthorized");
    assert_eq!(code(h.agora.erase_account(&s.admin, anyone.clone(), None).await), "forbidden");
    assert_eq!(h.snapshot().await, before, "a refused erasure changes nothing");

    h.agora.erase_account(&c.actor, anyone, Some("192.0.2.44")).await.unwrap();
    for token in [&c.token, &second.token] {
        assert_eq!(code(h.agora.authenticate_customer(token).await), "unauthorized", "every session ends");
    }
    assert_eq!(code(h.agora.login(right()).await), "unauthorized");
    let snap = h.snapshot().await;
    let dump = serde_json::to_string(&snap).unwrap();
    for personal in ["ann@example.com", "7 Hidden Lane", "15112345678", "\"ann\""] {
        assert!(!dump.contains(personal), "{personal} is gone from every table");
    }
    let user = snap.rows::<AppUser>().into_iter().find(|u| u.id.0 == c.user.id).expect("the row stays");
    assert_eq!((user.name.as_str(), user.phone.as_deref()), ("erased", None));
    let erased_email = user.email.clone();
    let addresses: Vec<&UserAddress> =
        snap.rows::<UserAddress>().into_iter().filter(|a| a.user_id == user.id).collect();
    assert_eq!(addresses.len(), 1);
    assert_eq!((addresses[0].line1.as_str(), addresses[0].country.as_str()), ("erased", "DE"), "country kept");
    // The books: the order is there, with the user id, as it was.
    let kept = snap.rows::<CustomerOrder>().into_iter().find(|o| o.id.0 == order.id).expect("the order stays");
    assert_eq!(kept.user_id.0, c.user.id);
    assert_eq!(h.agora.get_order(&s.admin, OrderId(order.id)).await.unwrap().amount_minor, 500);
    // Security events: the erasure, and nothing naming the email any more.
    let after = events(&h).await;
    assert!(after.iter().all(|e| !e.subject.contains("ann@example.com")), "{after:?}");
    let erased: Vec<(&str, Option<&str>)> = after
        .iter()
        .filter(|e| e.subject == format!("user:{}", c.user.id))
        .map(|e| (e.kind.as_str(), e.ip.as_deref()))
        .collect();
    assert_eq!(erased, [("account.erased", Some("192.0.2.44"))]);
    // The erased account cannot be logged into, by any email.
    let into_erased = Login { email: erased_email.clone(), password: "correct horse battery".into() };
    assert_eq!(code(h.agora.login(into_erased).await), "unauthorized");
    // The email is free again: a new account, a new id.
    let again = h.customer("ann").await;
    assert_ne!(again.user.id, c.user.id);
    assert!(!erased_email.contains(&c.user.id.to_string()), "nobody can guess and take it first");
    // A double submit: one erasure, the other finds the password gone.
    let twice = || EraseAccount { password: "correct horse battery".into() };
    let (a, b) = tokio::join!(
        h.agora.erase_account(&again.actor, twice(), None),
        h.agora.erase_account(&again.actor, twice(), None)
    );
    let mut codes = [code(a), code(b)];
    codes.sort_unstable();
    assert_eq!(codes, ["ok", "unauthorized"]);
    // An address added by a session checked before the erasure does not land.
    let late = NewAddress {
        line1: "9 Late St".into(),
        city: "Berlin".into(),
        postal_code: "10115".into(),
        country: "DE".into(),
    };
    assert_eq!(code(h.agora.add_address(&again.actor, late).await), "unauthorized");
    assert!(!serde_json::to_string(&h.snapshot().await).unwrap().contains("9 Late St"));
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
    let Scene { h, s, p, v, c } = scene(ts, "R-1", 100, 5).await;
    let first = h.order_with_key(&c, &s, &[(v, 1)], "key-1", None).await.unwrap();
    assert!(!first.replayed);
    let second = h.order_with_key(&c, &s, &[(v, 1)], "key-1", None).await.unwrap();
    assert!(second.replayed);
    assert_eq!(second.order, first.order);
    assert_eq!(second.recorded, first.recorded, "byte-identical replay");
    assert_eq!(h.available(p.id, v).await, 4, "the replay reserved nothing");
    assert_eq!(h.snapshot().await.rows::<CustomerOrder>().len(), 1);
    let bob = h.customer("bob").await;
    let other_user = h.order_with_key(&bob, &s, &[(v, 1)], "key-1", None).await.unwrap();
    assert!(!other_user.replayed, "keys are scoped per user");
}

pub async fn order_key_reused_with_other_body(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "R-2", 100, 5).await;
    h.order_with_key(&c, &s, &[(v, 1)], "key-2", None).await.unwrap();
    let r = h.order_with_key(&c, &s, &[(v, 2)], "key-2", None).await;
    assert_eq!(code(r), "idempotency_key_reused");
    assert_eq!(h.snapshot().await.rows::<CustomerOrder>().len(), 1);
}

pub async fn order_requires_idempotency_key(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "R-3", 100, 5).await;
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
    let snap = h.snapshot().await;
    assert!(
        snap.rows::<CustomerOrder>().is_empty()
            && snap.rows::<InventoryReservation>().is_empty()
            && snap.rows::<IdempotencyRecord>().is_empty()
    );
}

pub async fn order_splits_across_warehouses(ts: TestStore) {
    let (h, s) = setup(ts).await;
    let (p, v) = h.product(&s, "W-1", 100, 3).await;
    second_warehouse(&h, &s, v, 4).await;
    assert_eq!(h.available(p.id, v).await, 7);
    let c = h.customer("ann").await;
    let o = h.order(&c, &s, &[(v, 6)]).await.unwrap();
    let snap = h.snapshot().await;
    let holds: Vec<_> = snap.rows::<InventoryReservation>().into_iter().filter(|r| r.order_id.0 == o.id).collect();
    assert_eq!(holds.len(), 2, "one hold per warehouse");
    assert_eq!(holds.iter().map(|r| r.qty).sum::<i64>(), 6);
    assert_eq!(h.available(p.id, v).await, 1);
    assert_eq!(code(h.order(&c, &s, &[(v, 2)]).await), "out_of_stock");
}

pub async fn order_validation(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "V-1", 100, 5000).await;
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
    second_warehouse(&h, &s, v1, 4).await;
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
    let Scene { h, s, v, c, .. } = scene(ts, "E-1", 100, 5).await;
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
    assert!(h.snapshot().await.rows::<IdempotencyRecord>().is_empty());
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
    let Scene { h, s, p, v, c } = scene(ts, "C-1", 100, 5).await;
    let o = h.order(&c, &s, &[(v, 3)]).await.unwrap();
    assert_eq!(h.available(p.id, v).await, 2);
    let closed = h.agora.cancel_order(&c.actor, OrderId(o.id)).await.unwrap();
    assert_eq!(closed.status, "CLOSED");
    assert_eq!(closed.close_reason.as_deref(), Some("cancelled"));
    assert_eq!(closed.closed_at, Some(h.clock.now()));
    assert_eq!(h.available(p.id, v).await, 5);
    let snap = h.snapshot().await;
    assert!(snap.rows::<InventoryReservation>().iter().all(|r| r.status == ReservationStatus::Released));
    assert_eq!(code(h.agora.cancel_order(&c.actor, OrderId(o.id)).await), "invalid_transition");
}

pub async fn illegal_order_moves_are_invalid_transition(ts: TestStore) {
    let Scene { h, s, v, c, .. } = scene(ts, "T-1", 100, 5).await;
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
    let Scene { h, s, v, c, .. } = scene(ts, "SR-1", 100, 5).await;
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
    let Scene { h, s, v, c, .. } = scene(ts, "L-1", 100, 50).await;
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
    let Scene { h, s, v, c, .. } = scene(ts, "F-1", 100, 50).await;
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
