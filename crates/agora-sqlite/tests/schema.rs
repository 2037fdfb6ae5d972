//! The migrated schema against the catalogue: the adapter derives every
//! statement from the catalogue, so a table or column the migrations forget
//! (or type differently) must fail here, not in production. Foreign keys
//! must be deferred (a changeset may insert a row before the row it refers
//! to) and indexed on the referring side (resolving them looks the rows
//! up). And a version-1 database keeps its data through version 2.

use std::collections::{BTreeMap, BTreeSet};

use agora_core::schema::{ColumnType, Table};
use agora_core::*;
use agora_sqlite::{SqliteConfig, SqliteStore};
use rusqlite::Connection;

/// The declared SQLite type of each catalogue column type.
fn sqlite_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Uuid | ColumnType::Bytes => "BLOB",
        ColumnType::Text | ColumnType::Json | ColumnType::UuidArray | ColumnType::TextArray => "TEXT",
        ColumnType::Int | ColumnType::Int32 | ColumnType::Money | ColumnType::Bool | ColumnType::Timestamp => "INTEGER",
        ColumnType::Float => "REAL",
    }
}

/// One column as `PRAGMA table_info` reports it.
struct Stored {
    ty: String,
    not_null: bool,
    /// Position in the primary key, from 1; 0 when not part of it.
    pk: i64,
}

fn columns(c: &Connection, table: &str) -> BTreeMap<String, Stored> {
    let mut st = c.prepare(&format!("PRAGMA table_info(\"{table}\")")).unwrap();
    let rows = st.query_map([], |r| {
        Ok((r.get::<_, String>(1)?, Stored { ty: r.get(2)?, not_null: r.get::<_, i64>(3)? != 0, pk: r.get(5)? }))
    });
    rows.unwrap().map(Result::unwrap).collect()
}

/// The column sets of every full (not partial) unique index of `table`.
fn unique_indexes(c: &Connection, table: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut st = c.prepare(&format!("PRAGMA index_list(\"{table}\")")).unwrap();
    let list: Vec<(String, bool, bool)> = st
        .query_map([], |r| Ok((r.get(1)?, r.get::<_, i64>(2)? != 0, r.get::<_, i64>(4)? != 0)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for (name, unique, partial) in list {
        if !unique || partial {
            continue;
        }
        let mut info = c.prepare(&format!("PRAGMA index_info(\"{name}\")")).unwrap();
        let cols = info.query_map([], |r| r.get::<_, String>(2)).unwrap().map(Result::unwrap).collect();
        out.push((name, cols));
    }
    out
}

/// Foreign keys of `table` that are not deferred, or whose referring column
/// leads no index.
fn foreign_key_problems(c: &Connection, table: &str) -> Vec<String> {
    let mut out = Vec::new();
    let sql: String =
        c.query_row("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1", [table], |r| r.get(0)).unwrap();
    let references = sql.matches("REFERENCES").count();
    if sql.matches("DEFERRABLE INITIALLY DEFERRED").count() != references {
        out.push(format!("{table}: a foreign key is not DEFERRABLE INITIALLY DEFERRED"));
    }
    let mut st = c.prepare(&format!("PRAGMA foreign_key_list(\"{table}\")")).unwrap();
    let from: Vec<String> = st.query_map([], |r| r.get(3)).unwrap().map(Result::unwrap).collect();
    let mut leading = BTreeSet::new();
    let mut list = c.prepare(&format!("PRAGMA index_list(\"{table}\")")).unwrap();
    let indexes: Vec<String> = list.query_map([], |r| r.get(1)).unwrap().map(Result::unwrap).collect();
    for index in indexes {
        let first: String = c.query_row(&format!("PRAGMA index_info(\"{index}\")"), [], |r| r.get(2)).unwrap();
        leading.insert(first);
    }
    let pk: Option<String> = columns(c, table).into_iter().find(|(_, s)| s.pk == 1).map(|(n, _)| n);
    for column in from {
        if !leading.contains(&column) && pk.as_ref() != Some(&column) {
            out.push(format!("{table}.{column}: a foreign key no index leads with"));
        }
    }
    out
}

fn names(table: &Table, cols: &[usize]) -> BTreeSet<String> {
    cols.iter().map(|c| table.columns[*c].name.to_owned()).collect()
}

/// Every way `table`'s migrated form differs from its declaration.
fn differences(c: &Connection, table: &Table) -> Vec<String> {
    let mut out = Vec::new();
    let stored = columns(c, table.name);
    if stored.is_empty() {
        return vec![format!("{}: no such table", table.name)];
    }
    for col in &table.columns {
        let Some(s) = stored.get(col.name) else {
            out.push(format!("{}.{}: no such column", table.name, col.name));
            continue;
        };
        if !s.ty.eq_ignore_ascii_case(sqlite_type(col.ty)) {
            out.push(format!("{}.{}: {} for a {:?} column", table.name, col.name, s.ty, col.ty));
        }
        if s.not_null == col.nullable {
            out.push(format!("{}.{}: NOT NULL is {}, nullable is {}", table.name, col.name, s.not_null, col.nullable));
        }
    }
    for name in stored.keys() {
        if table.column(name).is_none() {
            out.push(format!("{}.{name}: not in the catalogue", table.name));
        }
    }
    let mut pk: Vec<(&i64, &String)> = stored.iter().filter(|(_, s)| s.pk > 0).map(|(n, s)| (&s.pk, n)).collect();
    pk.sort();
    let pk: Vec<&str> = pk.into_iter().map(|(_, n)| n.as_str()).collect();
    let key: Vec<&str> = table.key.iter().map(|k| table.columns[*k].name).collect();
    if pk != key {
        out.push(format!("{}: primary key {pk:?}, declared {key:?}", table.name));
    }
    let indexes = unique_indexes(c, table.name);
    for u in &table.unique {
        if !indexes.iter().any(|(_, cols)| *cols == names(table, &u.columns)) {
            out.push(format!("{}: no UNIQUE index over exactly the columns of {}", table.name, u.name));
        }
    }
    for (index, cols) in &indexes {
        let declared =
            *cols == names(table, &table.key) || table.unique.iter().any(|u| *cols == names(table, &u.columns));
        if !declared {
            out.push(format!("{}: unique index {index} over {cols:?} is no constraint of the catalogue", table.name));
        }
    }
    out
}

#[tokio::test]
async fn the_migrated_schema_is_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agora.db");
    SqliteStore::open(SqliteConfig::new(&path)).await.unwrap().close().await;
    let c = Connection::open(&path).unwrap();
    let problems: Vec<String> =
        tables().iter().flat_map(|t| differences(&c, t).into_iter().chain(foreign_key_problems(&c, t.name))).collect();
    assert!(problems.is_empty(), "the SQLite migrations differ from the catalogue:\n{}", problems.join("\n"));
    // Full-text indexes (FTS5 virtual tables and their shadow tables) are
    // indexes of catalogue tables, not tables of their own.
    let mut st = c
        .prepare(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .unwrap();
    for name in st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap) {
        assert!(table_named(&name).is_some(), "table {name} is not in the catalogue");
    }
    let virtual_tables: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'virtual'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(virtual_tables, ["product_search_fts"]);
}

#[test]
fn a_forgotten_column_or_constraint_is_reported() {
    let c = Connection::open_in_memory().unwrap();
    c.execute_batch(
        "CREATE TABLE event_seq (store_id BLOB PRIMARY KEY NOT NULL, last_seq TEXT) STRICT; \
         CREATE TABLE app_user (id BLOB PRIMARY KEY NOT NULL, email TEXT NOT NULL, extra INTEGER) STRICT;",
    )
    .unwrap();
    let seq = differences(&c, EventSeq::table());
    assert!(seq.iter().any(|p| p.contains("last_seq: TEXT")), "{seq:?}");
    assert!(seq.iter().any(|p| p.contains("last_seq: NOT NULL is false")), "{seq:?}");
    let user = differences(&c, AppUser::table());
    assert!(user.iter().any(|p| p.contains("app_user.name: no such column")), "{user:?}");
    assert!(user.iter().any(|p| p.contains("app_user.extra: not in the catalogue")), "{user:?}");
    assert!(user.iter().any(|p| p.contains("app_user_email_key")), "{user:?}");
    assert_eq!(differences(&c, Shop::table()), ["store: no such table"]);
    c.execute_batch(
        "CREATE TABLE session (id BLOB PRIMARY KEY NOT NULL, user_id BLOB REFERENCES app_user (id)) STRICT;",
    )
    .unwrap();
    let fk = foreign_key_problems(&c, "session");
    assert!(
        fk.iter().any(|p| p.contains("not DEFERRABLE")) && fk.iter().any(|p| p.contains("session.user_id")),
        "{fk:?}"
    );
}

#[tokio::test]
async fn a_version_one_database_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let c = Connection::open(&path).unwrap();
    c.execute_batch(include_str!("../../../migrations/sqlite/0001_init.sql")).unwrap();
    c.pragma_update(None, "user_version", 1).unwrap();
    let id = uuid::Uuid::now_v7();
    c.execute(
        "INSERT INTO store (id, name, domain, plan, status, access_token, encryption_version, created_at, updated_at) \
         VALUES (?1, 'Shop', 'v1.example.com', 'basic', 'active', x'0102', 3, 1000000, 2000000)",
        [id.as_bytes().as_slice()],
    )
    .unwrap();
    let (product, variant) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    c.execute(
        "INSERT INTO product (id, store_id, title, status, currency, version, created_at, updated_at) \
         VALUES (?1, ?2, 'Tea', 'active', 'EUR', 1, 0, 0)",
        [product.as_bytes().as_slice(), id.as_bytes().as_slice()],
    )
    .unwrap();
    c.execute(
        "INSERT INTO product_variant (id, product_id, store_id, sku, name, price_minor, status, created_at) \
         VALUES (?1, ?2, ?3, 'T-1', 'Tea', 1250, 'active', 0)",
        [variant.as_bytes().as_slice(), product.as_bytes().as_slice(), id.as_bytes().as_slice()],
    )
    .unwrap();
    drop(c);
    let store = SqliteStore::open(SqliteConfig::new(&path)).await.unwrap();
    assert!(store.migration_status().await.unwrap().is_current());
    let shop = store.get_store(StoreId(id)).await.unwrap().unwrap();
    assert_eq!(shop.access_token, Some(SealedSecret { key_version: 3, ciphertext: vec![1, 2] }));
    assert_eq!(shop.updated_at, time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(2));
    let variants = store.get_variants(&[VariantId(variant)]).await.unwrap();
    assert_eq!((variants[0].price_minor, variants[0].product_id), (1250, ProductId(product)));
    // The search migration gave the product a row without words; the
    // start-up pass of core fills it, and search finds the product.
    let row = store.get::<ProductSearch, _>(ProductId(product)).await.unwrap().unwrap();
    assert_eq!((row.words_version, row.title_words.as_str()), (0, ""));
    let agora = agora_testkit::harness::agora_builder(std::sync::Arc::new(store.clone())).build();
    let all = ListQuery::default();
    let tea = || agora.search_products(&Actor::Anonymous, StoreId(id), "TEA", &all);
    assert!(tea().await.unwrap().items.is_empty());
    assert_eq!(agora.refresh_search_index(100).await.unwrap(), 1);
    assert_eq!(agora.refresh_search_index(100).await.unwrap(), 0);
    let found = tea().await.unwrap();
    assert_eq!(found.items.iter().map(|p| p.id).collect::<Vec<_>>(), [product]);
    let row = store.get::<ProductSearch, _>(ProductId(product)).await.unwrap().unwrap();
    assert_eq!((row.title_words.as_str(), row.other_words.as_str()), ("tea", "t 1"));
    assert_eq!(row.words_version, agora_core::search::WORDS_VERSION);
    store.integrity_check().await.unwrap();
}
