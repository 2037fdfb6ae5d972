//! Export/import, copy (with resume) and verify on every ordered pair of
//! stores: memory, SQLite (temp file), PostgreSQL (throwaway database).

mod common;

use std::sync::Arc;

use agora_core::*;
use agora_cutover::{CopyOptions, NoProgress, copy, export_to, import_from, verify};
use common::{Flaky, assert_same, fresh, populate};

async fn export_import(from: &str, to: &str) {
    let src = fresh(from).await;
    let h = populate(src.store.clone()).await;
    let mut file = Vec::new();
    let exported = export_to(src.store.as_ref(), &mut file, &NoProgress).await.expect("export");
    assert!(exported.rows > 40, "a rich history: {exported:?}");
    let dst = fresh(to).await;
    let imported =
        import_from(&mut std::io::Cursor::new(&file), dst.store.as_ref(), 7, &NoProgress).await.expect("import");
    assert_eq!(imported, exported);
    assert_same(src.store.as_ref(), dst.store.as_ref(), &format!("{from} -> {to}")).await;
    // The format is canonical: exporting the copy gives the same bytes.
    let mut again = Vec::new();
    export_to(dst.store.as_ref(), &mut again, &NoProgress).await.unwrap();
    assert!(file == again, "re-export differs");
    // Import refuses a store that holds data.
    let err = import_from(&mut std::io::Cursor::new(&file), dst.store.as_ref(), 100, &NoProgress).await.unwrap_err();
    assert!(matches!(err, agora_cutover::CutoverError::NotEmpty(_)), "{err}");
    // A truncated file is refused.
    let text = String::from_utf8(file).unwrap();
    let cut: String = text.lines().take(10).map(|l| format!("{l}\n")).collect();
    let empty = fresh("memory").await;
    let err = import_from(&mut std::io::Cursor::new(cut), empty.store.as_ref(), 100, &NoProgress).await.unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    drop(h);
}

async fn copy_resume_verify(from: &str, to: &str) {
    let src = fresh(from).await;
    let h = populate(src.store.clone()).await;
    let dst = fresh(to).await;
    let opts = CopyOptions { batch_rows: 3, deletes: true };
    // A copy that loses its connection after a few batches...
    let flaky = Flaky::new(dst.store.clone(), 4);
    let first = copy(src.store.as_ref(), &flaky, &opts, &NoProgress).await.expect("first copy");
    assert!(first.inserted() > 0 && first.conflicts() > 0, "stopped part-way: {first:?}");
    // ...is resumed by running it again: only what is missing is written.
    let second = copy(src.store.as_ref(), dst.store.as_ref(), &opts, &NoProgress).await.expect("resume");
    assert_eq!(second.conflicts(), 0, "{second:?}");
    assert!(second.inserted() > 0);
    let total: u64 = Snapshot::read(src.store.as_ref()).await.unwrap().counts().iter().map(|(_, n)| *n as u64).sum();
    assert!(first.inserted() + second.inserted() <= total, "nothing copied twice");
    let third = copy(src.store.as_ref(), dst.store.as_ref(), &opts, &NoProgress).await.unwrap();
    assert!(third.converged(), "a second complete run copies nothing: {third:?}");
    assert_same(src.store.as_ref(), dst.store.as_ref(), "after copy").await;
    let report = verify(src.store.as_ref(), dst.store.as_ref(), &NoProgress).await.unwrap();
    assert!(report.is_clean(), "{:#?}", report.differences);
    assert!(report.list_reads > 50 && report.idempotency_replays > 0, "{}", report.summary());

    // Changes to the source (status moves, sequencing, a logout) are carried by the next pass.
    let s = h.store.list_stores(Page::first(10)).await.unwrap();
    let shop = s.iter().find(|s| s.domain == "shop.example.com").unwrap().id;
    let open = h.store.list_orders_by_store(shop, Some(OrderStatus::Created), Page::first(10)).await.unwrap();
    let sa = h.super_admin().await;
    for o in &open {
        h.agora.ship_order(&sa, o.id).await.err(); // not paid: refused, nothing changes
    }
    h.clock.advance(time::Duration::days(30));
    h.agora.expire_unpaid_orders(shop, 100).await.unwrap();
    h.agora.sequence_events(shop).await.unwrap();
    h.agora.purge_expired_sessions(100).await.unwrap();
    h.agora.purge_expired_idempotency(100).await.unwrap();
    let fourth = copy(src.store.as_ref(), dst.store.as_ref(), &opts, &NoProgress).await.unwrap();
    assert!(fourth.updated() > 0 && fourth.deleted() > 0, "{fourth:?}");
    assert_eq!(fourth.conflicts(), 0, "{fourth:?}");
    assert_same(src.store.as_ref(), dst.store.as_ref(), "after second copy").await;

    // A difference is detected and named.
    let order = h.store.list_orders_by_store(shop, None, Page::first(1)).await.unwrap().remove(0);
    let mut changed = order.clone();
    changed.pay_amount_minor += 1;
    let mut cs = Changeset::new();
    cs.update(Record::Order(changed));
    dst.store.apply(cs).await.unwrap();
    let report = verify(src.store.as_ref(), dst.store.as_ref(), &NoProgress).await.unwrap();
    assert!(!report.is_clean());
    let t = report.tables.iter().find(|t| t.table == "customer_order").unwrap();
    assert!(!t.matches() && t.rows_a == t.rows_b, "{t:?}");
    assert!(
        report.differences.iter().any(|d| d.contains("customer_order") && d.contains("pay_amount_minor")),
        "{:#?}",
        report.differences
    );
    assert!(report.differences.iter().any(|d| d.starts_with("list ")), "list reads see it too");
    let _ = Arc::clone(&src.store);
}

/// An export written by the build before the entity catalogue (format
/// version 1, `fixtures/v1-export.jsonl`) imports into every kind of store:
/// exporting the result gives every row again, each with every field it had
/// and the same values (columns added since come with their defaults), and
/// that export imports and exports to the same bytes.
async fn previous_export_imports(to: &str) {
    let file: &[u8] = include_bytes!("fixtures/v1-export.jsonl");
    let dst = fresh(to).await;
    let imported = import_from(&mut std::io::Cursor::new(file), dst.store.as_ref(), 10, &NoProgress).await.unwrap();
    assert_eq!(imported.rows, 81);
    let mut again = Vec::new();
    export_to(dst.store.as_ref(), &mut again, &NoProgress).await.unwrap();
    let old: Vec<serde_json::Value> =
        file.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    let new: Vec<serde_json::Value> =
        again.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    assert_eq!(old.len(), new.len());
    for (o, n) in old.iter().zip(&new) {
        assert_eq!(o["table"], n["table"]);
        let (o_row, n_row) = (&o["row"], &n["row"]);
        for (field, value) in o_row.as_object().into_iter().flatten() {
            assert_eq!(&n_row[field], value, "{}.{field} changed: {n}", o["table"]);
        }
    }
    let dst2 = fresh(to).await;
    import_from(&mut std::io::Cursor::new(&again), dst2.store.as_ref(), 10, &NoProgress).await.unwrap();
    let mut third = Vec::new();
    export_to(dst2.store.as_ref(), &mut third, &NoProgress).await.unwrap();
    assert!(third == again, "the re-export differs:\n{}", String::from_utf8_lossy(&third));
    let report = verify(dst.store.as_ref(), dst.store.as_ref(), &NoProgress).await.unwrap();
    assert!(report.is_clean() && report.idempotency_replays == 5, "{}", report.summary());
}

mod previous_export {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn into_memory() {
        super::previous_export_imports("memory").await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn into_sqlite() {
        super::previous_export_imports("sqlite").await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn into_postgres() {
        super::previous_export_imports("postgres").await
    }
}

macro_rules! pairs {
    ($($name:ident: $from:literal => $to:literal;)*) => {
        mod export_import {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::export_import($from, $to).await } )*
        }
        mod copy_and_verify {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::copy_resume_verify($from, $to).await } )*
        }
    };
}

pairs! {
    memory_to_memory: "memory" => "memory";
    memory_to_sqlite: "memory" => "sqlite";
    memory_to_postgres: "memory" => "postgres";
    sqlite_to_memory: "sqlite" => "memory";
    sqlite_to_sqlite: "sqlite" => "sqlite";
    sqlite_to_postgres: "sqlite" => "postgres";
    postgres_to_memory: "postgres" => "memory";
    postgres_to_sqlite: "postgres" => "sqlite";
    postgres_to_postgres: "postgres" => "postgres";
}
