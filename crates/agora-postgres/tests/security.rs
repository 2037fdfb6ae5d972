//! Roles and row-level security, proven through raw SQL as `agora_app`.

mod common;

use std::sync::Arc;

use agora_core::OrderId;
use agora_postgres::PgStore;
use agora_testkit::{Harness, TestStore};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

/// A transaction acting as `role` for customer `user` (None: no customer).
async fn as_role(pg: &PgStore, role: &str, user: Option<Uuid>) -> Transaction<'static, Postgres> {
    let mut tx = pg.pool().begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL ROLE {role}"))).execute(&mut *tx).await.unwrap();
    if let Some(u) = user {
        sqlx::query("SELECT set_config('app.user_id', $1, true)").bind(u.to_string()).execute(&mut *tx).await.unwrap();
    }
    tx
}

async fn ids(conn: &mut PgConnection, sql: &'static str) -> Vec<Uuid> {
    let mut v: Vec<Uuid> = sqlx::query_scalar(sql).fetch_all(conn).await.unwrap();
    v.sort();
    v
}

async fn sqlstate(conn: &mut PgConnection, sql: &'static str) -> String {
    match sqlx::query(sql).execute(conn).await {
        Ok(_) => "ok".into(),
        Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()).unwrap_or_default(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn app_role_sees_only_the_current_users_rows() {
    let (pg, _config, guard) = common::store().await;
    let h = Harness::new(TestStore::new(Arc::new(pg.clone()), ()));
    let s = h.store_fixture("rls.example.com").await;
    let (_, variant) = h.product(&s, "RLS-1", 250, 10).await;
    let ann = h.customer("ann").await;
    let bob = h.customer("bob").await;
    let ann_order = h.order(&ann, &s, &[(variant, 1)]).await.unwrap();
    let bob_order = h.order(&bob, &s, &[(variant, 2)]).await.unwrap();
    h.pay(&ann, &ann_order).await;
    h.pay(&bob, &bob_order).await;
    let (a, b) = (ann.user.id, bob.user.id);

    // As the owner (the adapter's admin path) everything is visible.
    let mut owner = pg.pool().acquire().await.unwrap();
    assert_eq!(ids(&mut owner, "SELECT id FROM customer_order").await.len(), 2);
    drop(owner);

    let mut tx = as_role(&pg, "agora_app", Some(a)).await;
    assert_eq!(ids(&mut tx, "SELECT id FROM customer_order").await, vec![ann_order.id]);
    assert_eq!(ids(&mut tx, "SELECT user_id FROM user_address").await, vec![a]);
    assert_eq!(ids(&mut tx, "SELECT user_id FROM payment").await, vec![a]);
    assert_eq!(ids(&mut tx, "SELECT DISTINCT order_id FROM order_item").await, vec![ann_order.id]);
    for table in ["customer_order", "user_address"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE user_id = $1");
        let bobs: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(b).fetch_one(&mut *tx).await.unwrap();
        assert_eq!(bobs, 0, "ann cannot read bob's rows of {table}");
    }
    let changed = sqlx::query("UPDATE customer_order SET address_hash = 'x' WHERE id = $1")
        .bind(bob_order.id)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 0, "ann cannot change bob's order");
    // Writing a row for someone else breaks the policy's WITH CHECK.
    let forged = sqlx::query(
        "INSERT INTO user_address (id, user_id, line1, city, postal_code, country, address_hash, created_at) \
         VALUES (gen_random_uuid(), $1, 'x', 'x', 'x', 'DE', 'x', now())",
    )
    .bind(b)
    .execute(&mut *tx)
    .await;
    assert!(matches!(forged, Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501")));
    drop(tx);

    let mut tx = as_role(&pg, "agora_app", Some(b)).await;
    assert_eq!(ids(&mut tx, "SELECT id FROM customer_order").await, vec![bob_order.id]);
    assert_eq!(ids(&mut tx, "SELECT user_id FROM user_address").await, vec![b]);
    drop(tx);

    // No customer named: no customer rows at all.
    let mut tx = as_role(&pg, "agora_app", None).await;
    assert!(ids(&mut tx, "SELECT id FROM customer_order").await.is_empty());
    assert!(ids(&mut tx, "SELECT id FROM user_address").await.is_empty());
    // Tables without customer data stay readable.
    assert_eq!(ids(&mut tx, "SELECT id FROM store").await, vec![s.id.0]);
    drop(tx);

    // The adapter (the schema owner) reads across customers.
    let mine =
        agora_core::Reads::list_orders_by_user(&pg, agora_core::UserId(a), agora_core::Page::first(10)).await.unwrap();
    assert_eq!(mine.iter().map(|o| o.id).collect::<Vec<_>>(), vec![OrderId(ann_order.id)]);
    drop(h);
    drop(guard);
}

#[tokio::test]
async fn roles_have_least_privilege() {
    let (pg, _config, _guard) = common::store().await;
    let flags: Vec<(String, bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT rolname::text, rolbypassrls, rolsuper, rolcreaterole, rolcanlogin FROM pg_roles \
         WHERE rolname IN ('agora_readonly', 'agora_app', 'agora_admin') ORDER BY rolname",
    )
    .fetch_all(pg.pool())
    .await
    .unwrap();
    assert_eq!(
        flags,
        vec![
            ("agora_admin".into(), true, false, false, false),
            ("agora_app".into(), false, false, false, false),
            ("agora_readonly".into(), false, false, false, false),
        ]
    );

    // No DDL, no switching RLS off, no truncating, no touching migrations or partitions.
    for sql in [
        "CREATE TABLE intruder (a int)",
        "ALTER TABLE customer_order DISABLE ROW LEVEL SECURITY",
        "TRUNCATE audit_log",
        "DELETE FROM _sqlx_migrations",
        "SELECT agora_create_partitions(1)",
    ] {
        let mut tx = as_role(&pg, "agora_app", None).await;
        assert_eq!(sqlstate(&mut tx, sql).await, "42501", "{sql}");
    }
    // Turning row security off makes RLS-protected queries fail, not bypass.
    let mut tx = as_role(&pg, "agora_app", None).await;
    sqlx::query("SET LOCAL row_security = off").execute(&mut *tx).await.unwrap();
    assert_eq!(sqlstate(&mut tx, "SELECT * FROM customer_order").await, "42501");
    drop(tx);
    let mut tx = as_role(&pg, "agora_app", None).await;
    assert_eq!(sqlstate(&mut tx, "DELETE FROM session").await, "ok", "DML is allowed");
    drop(tx);

    let mut tx = as_role(&pg, "agora_readonly", None).await;
    assert_eq!(sqlstate(&mut tx, "SELECT * FROM store").await, "ok");
    assert_eq!(sqlstate(&mut tx, "DELETE FROM store").await, "42501");
    drop(tx);

    let mut tx = as_role(&pg, "agora_admin", None).await;
    assert_eq!(sqlstate(&mut tx, "SELECT agora_create_partitions(1)").await, "ok", "admin runs the partition job");
    assert_eq!(sqlstate(&mut tx, "SELECT * FROM customer_order").await, "ok");
    drop(tx);
    let mut tx = as_role(&pg, "agora_admin", None).await;
    assert_eq!(sqlstate(&mut tx, "CREATE TABLE intruder (a int)").await, "42501", "DDL stays with the owner");
}
