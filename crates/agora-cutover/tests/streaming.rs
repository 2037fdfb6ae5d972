//! Copy, verify and export read page by page, whatever the size of a table.

mod common;

use std::sync::Arc;

use agora_core::*;
use agora_cutover::{CopyOptions, NoProgress, copy, export_to, import_from, verify};
use agora_memory::MemoryStore;
use common::{Recorder, assert_same, populate};
use time::OffsetDateTime;
use uuid::Uuid;

/// Sessions added to the source: many pages of every size used below.
const SESSIONS: usize = 3_500;

async fn big_source() -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let h = populate(store.clone()).await;
    let user = h.customer("many").await.user.id;
    let at = OffsetDateTime::now_utc();
    let mut cs = Changeset::new();
    for i in 0..SESSIONS {
        let id = SessionId(Uuid::now_v7());
        let expires_at = at + time::Duration::days(1);
        cs.insert(Session { id, user_id: UserId(user), token_hash: format!("bulk-{i}"), created_at: at, expires_at });
    }
    store.apply(cs).await.expect("bulk sessions");
    store
}

/// Asserts every read of `table` asked for at most `page` rows.
fn paged(reads: &[(Option<u32>, usize)], page: u32, what: &str) {
    assert!(reads.len() >= SESSIONS / page as usize, "{what}: {} reads", reads.len());
    for (limit, rows) in reads {
        assert!(
            limit.is_some_and(|l| l <= page) && *rows <= page as usize,
            "{what}: a read of {limit:?} ({rows} rows)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_reads_both_stores_page_by_page() {
    let source = Recorder::new(big_source().await);
    let target = Recorder::new(Arc::new(MemoryStore::new()));
    let opts = CopyOptions { batch_rows: 200, deletes: true };
    let report = copy(&source, &target, &opts, &NoProgress).await.expect("copy");
    let sessions = report.tables.iter().find(|t| t.table == "session").expect("sessions");
    assert!(sessions.inserted as usize > SESSIONS && sessions.source_rows == sessions.inserted, "{sessions:?}");
    paged(&source.reads_of("session"), 200, "source");
    paged(&target.reads_of("session"), 200, "target");
    let again = copy(&source, &target, &opts, &NoProgress).await.expect("second copy");
    assert!(again.converged(), "{again:?}");
    assert_same(&source, &target, "after copy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_export_and_import_read_page_by_page() {
    let source = Recorder::new(big_source().await);
    let mut file = Vec::new();
    let exported = export_to(&source, &mut file, &NoProgress).await.expect("export");
    assert!(exported.rows as usize > SESSIONS);
    paged(&source.reads_of("session"), SCAN_PAGE, "export");
    let target = Recorder::new(Arc::new(MemoryStore::new()));
    import_from(&mut std::io::Cursor::new(&file), &target, 250, &NoProgress).await.expect("import");
    assert!(target.reads_of("session").iter().all(|(limit, _)| *limit == Some(1)), "import only checks emptiness");
    let (source, target) = (Recorder::new(source.inner.clone()), Recorder::new(target.inner.clone()));
    let report = verify(&source, &target, &NoProgress).await.expect("verify");
    assert!(report.is_clean(), "{:#?}", report.differences);
    let t = report.tables.iter().find(|t| t.table == "session").expect("sessions");
    assert!(t.matches() && t.rows_a as usize > SESSIONS, "{t:?}");
    for (store, what) in [(&source, "verify a"), (&target, "verify b")] {
        let scans: Vec<_> = store.reads_of("session").into_iter().filter(|(l, _)| *l == Some(SCAN_PAGE)).collect();
        paged(&scans, SCAN_PAGE, what);
        assert!(store.reads_of("session").iter().all(|(l, _)| l.is_some()), "{what}: no unbounded read");
    }
}
