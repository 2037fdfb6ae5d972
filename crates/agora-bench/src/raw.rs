//! The same order transaction written by hand: a conditional stock update,
//! then the order, its line, the reservation, the activity event and the
//! idempotency record, one transaction per order. SQLite through rusqlite on
//! the adapter's file (WAL, same `synchronous`); PostgreSQL through sqlx on
//! the adapter's database. Table and column names are the adapters' own.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::Connection as _;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::inproc::{CustomerFx, Fixture, VariantFx};
use crate::measure::{Outcome, Plan, Tally, Window, run_tasks};

/// Everything one hand-written order writes.
pub struct RawOrder {
    order_id: Uuid,
    item_id: Uuid,
    reservation_id: Uuid,
    event_id: Uuid,
    order_number: String,
    now: OffsetDateTime,
    expires: OffsetDateTime,
    scope: String,
    key: String,
    fingerprint: String,
    body: String,
    payload: serde_json::Value,
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// Builds the rows of one order of one unit of `v` for `c` (the same rows
/// core writes, including the response body kept for replays).
pub fn raw_order(fx: &Fixture, c: &CustomerFx, v: &VariantFx) -> RawOrder {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now);
    let order_id = Uuid::now_v7();
    let expires = now + Duration::seconds(fx.order_ttl_seconds);
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let mut order_number = format!("{}-", now.date().to_string().replace('-', ""));
    order_number.extend((0..10).map(|_| ALPHABET[rng.gen_range(0..32)] as char));
    let request = serde_json::json!({
        "store_id": fx.store_id, "address_id": c.address_id,
        "items": [{"variant_id": v.id, "qty": 1}], "help_task_no": null,
    });
    let fingerprint = hex::encode(Sha256::digest(request.to_string().as_bytes()));
    let rfc = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let body = serde_json::json!({
        "id": order_id, "order_number": order_number, "store_id": fx.store_id, "user_id": c.user_id,
        "status": "CREATED", "amount_minor": v.price_minor, "pay_amount_minor": v.price_minor,
        "currency": fx.currency, "items": [{"variant_id": v.id, "qty": 1, "unit_price_minor": v.price_minor}],
        "created_at": rfc(now), "paid_at": null, "shipped_at": null, "received_at": null, "closed_at": null,
        "close_reason": null, "reservation_expires_at": rfc(expires), "help_task_no": null,
    })
    .to_string();
    let payload =
        serde_json::json!({"order_number": order_number, "amount_minor": v.price_minor, "user_id": c.user_id});
    RawOrder {
        order_id,
        item_id: Uuid::now_v7(),
        reservation_id: Uuid::now_v7(),
        event_id: Uuid::now_v7(),
        order_number,
        now,
        expires,
        scope: format!("orders:{}", c.user_id),
        key: Uuid::new_v4().simple().to_string(),
        fingerprint,
        body,
        payload,
    }
}

// ---------------------------------------------------------------- SQLite

/// Opens a connection to the adapter's file the way the adapter opens its
/// writer: WAL, `foreign_keys=ON`, the same `synchronous`.
pub fn open_sqlite(path: &PathBuf, synchronous: &str) -> anyhow::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "journal_mode stayed {mode}");
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// One order, one `BEGIN IMMEDIATE ... COMMIT`.
pub fn sqlite_order(
    conn: &mut rusqlite::Connection,
    fx: &Fixture,
    c: &CustomerFx,
    v: &VariantFx,
) -> rusqlite::Result<Option<Uuid>> {
    use rusqlite::params;
    let o = raw_order(fx, c, v);
    let (store, wh) = (fx.store_id.into_bytes(), fx.warehouse_id.into_bytes());
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = micros(o.now);
    let n = tx
        .prepare_cached(
            "UPDATE inventory SET reserved = reserved + 1, updated_at = ?3 \
             WHERE variant_id = ?1 AND warehouse_id = ?2 AND on_hand - reserved >= 1",
        )?
        .execute(params![v.id.into_bytes(), wh, now])?;
    if n != 1 {
        return Ok(None); // dropped: rolls back
    }
    tx.prepare_cached(
        "INSERT INTO customer_order (id, order_number, store_id, user_id, address_id, address_hash, status, \
         amount, pay_amount, currency, help_task_no, created_at, paid_at, shipped_at, received_at, \
         closed_at, close_reason, reservation_expires_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'CREATED', ?7, ?7, ?8, NULL, ?9, NULL, NULL, NULL, NULL, NULL, ?10, ?9)",
    )?
    .execute(params![
        o.order_id.into_bytes(),
        o.order_number,
        store,
        c.user_id.into_bytes(),
        c.address_id.into_bytes(),
        c.address_hash,
        v.price_minor,
        fx.currency,
        now,
        micros(o.expires)
    ])?;
    tx.prepare_cached(
        "INSERT INTO order_item (id, order_id, line_no, variant_id, sku, qty, unit_price) \
         VALUES (?1, ?2, 0, ?3, ?4, 1, ?5)",
    )?
    .execute(params![o.item_id.into_bytes(), o.order_id.into_bytes(), v.id.into_bytes(), v.sku, v.price_minor])?;
    tx.prepare_cached(
        "INSERT INTO inventory_reservation (id, order_id, store_id, variant_id, warehouse_id, qty, status, \
         expires_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, 'active', ?6, ?7, ?7)",
    )?
    .execute(params![
        o.reservation_id.into_bytes(),
        o.order_id.into_bytes(),
        store,
        v.id.into_bytes(),
        wh,
        micros(o.expires),
        now
    ])?;
    tx.prepare_cached(
        "INSERT INTO activity_event (id, store_id, seq, entity_type, entity_id, kind, payload, at) \
         VALUES (?1, ?2, NULL, 'order', ?3, 'order.created', ?4, ?5)",
    )?
    .execute(params![o.event_id.into_bytes(), store, o.order_id.into_bytes(), o.payload.to_string(), now])?;
    tx.prepare_cached(
        "INSERT INTO idempotency_key (scope, key, fingerprint, response_status, response_body, resource_id, \
         created_at, expires_at) VALUES (?1, ?2, ?3, 201, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        o.scope,
        o.key,
        o.fingerprint,
        o.body,
        o.order_id.into_bytes(),
        now,
        now + 86_400_000_000
    ])?;
    tx.commit()?;
    Ok(Some(o.order_id))
}

/// `clients` OS threads sharing one connection (the best a hand-written
/// one-commit-per-order program does with SQLite's single writer: no
/// busy-wait polling), each order its own transaction.
pub async fn run_sqlite(
    path: PathBuf,
    synchronous: &'static str,
    fx: &Fixture,
    clients: usize,
    hot: bool,
    plan: Plan,
) -> anyhow::Result<Outcome> {
    let conn = Arc::new(Mutex::new(open_sqlite(&path, synchronous)?));
    let window = Window::start(plan);
    let mut handles = Vec::new();
    for c in 0..clients {
        let (conn, fx, window) = (conn.clone(), fx.clone(), window.clone());
        handles.push(std::thread::spawn(move || {
            let mut tally = Tally::default();
            let (cust, mut pick) = fx.client(c);
            while window.running() {
                let v = fx.variant(hot, &mut pick);
                let t0 = Instant::now();
                let r = {
                    let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
                    sqlite_order(&mut guard, &fx, cust, v)
                };
                let r = match r {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("out of stock".to_owned()),
                    Err(e) => Err(e.to_string()),
                };
                window.record(t0, r, &mut tally);
            }
            tally
        }));
    }
    let tallies = tokio::task::spawn_blocking(move || {
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect::<Vec<_>>()
    })
    .await?;
    Ok(Outcome::merge(&window, tallies))
}

// ------------------------------------------------------------- PostgreSQL

/// One order, one transaction, on a connection the client owns.
pub async fn pg_order(
    conn: &mut sqlx::PgConnection,
    fx: &Fixture,
    c: &CustomerFx,
    v: &VariantFx,
) -> Result<Option<Uuid>, sqlx::Error> {
    let o = raw_order(fx, c, v);
    let mut tx = conn.begin().await?;
    let n = sqlx::query(
        "UPDATE inventory SET reserved = reserved + 1, updated_at = $3 \
         WHERE variant_id = $1 AND warehouse_id = $2 AND on_hand - reserved >= 1",
    )
    .bind(v.id)
    .bind(fx.warehouse_id)
    .bind(o.now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO customer_order (id, order_number, store_id, user_id, address_id, address_hash, status, \
         amount, pay_amount, currency, help_task_no, created_at, paid_at, shipped_at, received_at, closed_at, \
         close_reason, reservation_expires_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'CREATED', ($7::bigint * 0.01)::numeric(12,2), \
         ($7::bigint * 0.01)::numeric(12,2), $8, NULL, $9, NULL, NULL, NULL, NULL, NULL, $10, $9)",
    )
    .bind(o.order_id)
    .bind(&o.order_number)
    .bind(fx.store_id)
    .bind(c.user_id)
    .bind(c.address_id)
    .bind(&c.address_hash)
    .bind(v.price_minor)
    .bind(&fx.currency)
    .bind(o.now)
    .bind(o.expires)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO order_item (id, order_id, line_no, variant_id, sku, qty, unit_price) \
         VALUES ($1, $2, 0, $3, $4, 1, ($5::bigint * 0.01)::numeric(12,2))",
    )
    .bind(o.item_id)
    .bind(o.order_id)
    .bind(v.id)
    .bind(&v.sku)
    .bind(v.price_minor)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO inventory_reservation (id, order_id, store_id, variant_id, warehouse_id, qty, status, \
         expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, 'active', $6, $7, $7)",
    )
    .bind(o.reservation_id)
    .bind(o.order_id)
    .bind(fx.store_id)
    .bind(v.id)
    .bind(fx.warehouse_id)
    .bind(o.expires)
    .bind(o.now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO activity_event (id, store_id, seq, entity_type, entity_id, kind, payload, at) \
         VALUES ($1, $2, NULL, 'order', $3, 'order.created', $4, $5)",
    )
    .bind(o.event_id)
    .bind(fx.store_id)
    .bind(o.order_id)
    .bind(sqlx::types::Json(&o.payload))
    .bind(o.now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO idempotency_key (scope, key, fingerprint, response_status, response_body, resource_id, \
         created_at, expires_at) VALUES ($1, $2, $3, 201, $4, $5, $6, $7)",
    )
    .bind(&o.scope)
    .bind(&o.key)
    .bind(&o.fingerprint)
    .bind(&o.body)
    .bind(o.order_id)
    .bind(o.now)
    .bind(o.now + Duration::hours(24))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(o.order_id))
}

/// `clients` tasks, each on its own connection for the whole run.
pub async fn run_pg(url: &str, fx: &Fixture, clients: usize, hot: bool, plan: Plan) -> anyhow::Result<Outcome> {
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(sqlx::PgConnection::connect(url).await?);
    }
    let mut conns = conns.into_iter();
    let outcome = run_tasks(plan, clients, |c, window| {
        let fx = fx.clone();
        let mut conn = conns.next().expect("a connection per client");
        async move {
            let mut tally = Tally::default();
            let (cust, mut pick) = fx.client(c);
            while window.running() {
                let v = fx.variant(hot, &mut pick);
                let t0 = Instant::now();
                let r = match pg_order(&mut conn, &fx, cust, v).await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("out of stock".to_owned()),
                    Err(e) => Err(e.to_string()),
                };
                window.record(t0, r, &mut tally);
            }
            let _ = conn.close().await;
            tally
        }
    })
    .await;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    //! The hand-written transactions must write exactly what the adapters
    //! read back, or the comparison would be against a different workload.

    use agora_core::{OrderId, OrderStatus, Reads, ReservationStatus};

    use super::*;
    use crate::inproc::{HUGE_STOCK, agora_over, create_fixture};
    use crate::target::Target;

    async fn check_readable(store: &dyn agora_core::Store, fx: &Fixture, id: Uuid) {
        let o = store.get_order(OrderId(id)).await.unwrap().expect("raw order readable by the adapter");
        assert_eq!(o.status, OrderStatus::Created);
        assert_eq!(o.amount_minor, fx.variants[0].price_minor);
        assert_eq!(o.address_hash, fx.customers[0].address_hash);
        let items = store.list_order_items(&[OrderId(id)]).await.unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!((items[0].qty, items[0].unit_price_minor), (1, fx.variants[0].price_minor));
        let rs = store.list_reservations(OrderId(id)).await.unwrap();
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].status, ReservationStatus::Active);
        let inv = store.list_inventory(&[agora_core::VariantId(fx.variants[0].id)]).await.unwrap();
        assert_eq!((inv[0].on_hand, inv[0].reserved), (HUGE_STOCK, 1));
        let scope = format!("orders:{}", fx.customers[0].user_id);
        let snap = agora_core::Snapshot::read(store).await.unwrap();
        let keys = snap.rows::<agora_core::IdempotencyRecord>();
        let rec = keys.iter().find(|r| r.scope == scope).expect("idempotency record");
        assert_eq!(rec.resource_id, Some(id));
        assert_eq!(rec.response_status, 201);
        let view: agora_core::views::OrderView = serde_json::from_str(&rec.response_body).expect("body is an order");
        assert_eq!(view.id, id);
        let events = snap.rows::<agora_core::ActivityEvent>();
        let ev = events.iter().find(|e| e.entity_id == id).expect("activity event");
        assert_eq!(ev.kind, "order.created");
    }

    /// A SQLite target with a fixture of `variants` variants, opened by
    /// the adapter (kept open) and by a raw connection.
    async fn sqlite_fixture(
        variants: usize,
    ) -> (Target, Arc<dyn agora_core::StoreHandle>, Fixture, rusqlite::Connection) {
        let target = Target::prepare("sqlite://?synchronous=normal").await.unwrap();
        let handle = crate::open_store(&target, 2).await.unwrap();
        let agora = agora_over(handle.store());
        let fx = create_fixture(&agora, handle.store().as_ref(), variants, 1).await.unwrap();
        let Target::Sqlite { path, .. } = &target else { unreachable!() };
        let conn = open_sqlite(path, "NORMAL").unwrap();
        (target, handle, fx, conn)
    }

    #[tokio::test]
    async fn raw_sqlite_order_is_what_the_adapter_reads() {
        let (_target, handle, fx, mut conn) = sqlite_fixture(2).await;
        let id = sqlite_order(&mut conn, &fx, &fx.customers[0], &fx.variants[0]).unwrap().expect("stock available");
        check_readable(handle.store().as_ref(), &fx, id).await;
    }

    #[tokio::test]
    async fn raw_sqlite_order_refuses_without_stock() {
        let (_target, _handle, fx, mut conn) = sqlite_fixture(1).await;
        conn.execute("UPDATE inventory SET on_hand = 0", []).unwrap();
        assert_eq!(sqlite_order(&mut conn, &fx, &fx.customers[0], &fx.variants[0]).unwrap(), None);
        let n: i64 = conn.query_row("SELECT count(*) FROM customer_order", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "nothing written when the stock update matches no row");
    }

    /// Needs the server at AGORA_TEST_POSTGRES_URL (default
    /// postgres://root@127.0.0.1:5432/postgres); fails when it is unreachable.
    #[tokio::test]
    async fn raw_pg_order_is_what_the_adapter_reads() {
        let target = Target::prepare("postgres").await.expect("AGORA_TEST_POSTGRES_URL must name a reachable server");
        let url = target.url().to_owned();
        let result = async move {
            let config = agora_runtime::Config::default();
            let handle = agora_runtime::open_store(&config, &url, true).await.unwrap();
            let agora = agora_over(handle.store());
            let fx = create_fixture(&agora, handle.store().as_ref(), 2, 1).await.unwrap();
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let id = pg_order(&mut conn, &fx, &fx.customers[0], &fx.variants[0]).await.unwrap().expect("stock");
            check_readable(handle.store().as_ref(), &fx, id).await;
            handle.close().await;
        };
        let r = tokio::spawn(result).await;
        target.cleanup().await;
        r.unwrap();
    }
}
