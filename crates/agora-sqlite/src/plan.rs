//! The debug-build check that no filtered read and no guard scans a table:
//! every index a read needs must be in the migrations, and a missing one
//! fails the tests loudly instead of slowing production down quietly.

use rusqlite::{Connection, Statement};

/// Statement counters sampled before a run, to see what the run itself did
/// (a cached statement keeps its counters across runs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counters {
    #[cfg_attr(not(debug_assertions), allow(dead_code))] // read by the debug-build check only
    scans: i32,
}

/// The counters of `st` now.
pub(crate) fn counters(st: &Statement<'_>) -> Counters {
    #[cfg(debug_assertions)]
    {
        use rusqlite::StatementStatus::{AutoIndex, FullscanStep};
        Counters { scans: st.get_status(FullscanStep) + st.get_status(AutoIndex) }
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = st;
        Counters { scans: 0 }
    }
}

/// In debug builds, panics when the run of `st` since `before` stepped
/// through a table or index without a search, or made SQLite build a
/// transient index, or when the plan of `sql` (checked once per text with
/// `EXPLAIN QUERY PLAN`) scans a table. A statement without `WHERE` (the
/// first page of a full scan, by primary key) walks a table on purpose.
pub(crate) fn assert_indexed(c: &Connection, st: &Statement<'_>, before: Counters, sql: &str) {
    #[cfg(debug_assertions)]
    {
        if !sql.contains(" WHERE ") {
            return;
        }
        let ran = counters(st).scans - before.scans;
        assert!(ran == 0, "statement scanned a table (add an index): {sql}");
        thread_local! {
            static CHECKED: std::cell::RefCell<std::collections::HashSet<String>> = Default::default();
        }
        if CHECKED.with(|s| s.borrow().contains(sql)) {
            return;
        }
        let scans = table_scans(c, sql).expect("EXPLAIN QUERY PLAN");
        assert!(scans.is_empty(), "statement scans {scans:?} (add an index): {sql}");
        CHECKED.with(|s| s.borrow_mut().insert(sql.to_owned()));
    }
    let _ = (c, st, before, sql);
}

/// The plan steps of `sql` that scan a table with no index at all.
#[cfg_attr(not(debug_assertions), allow(dead_code))] // only the debug-build check and tests use it
pub(crate) fn table_scans(c: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    // Parameters stay unbound (NULL): the plan does not depend on them.
    let mut rows = st.raw_query();
    let mut scans = Vec::new();
    while let Some(r) = rows.next()? {
        let detail: String = r.get(3)?;
        if detail.starts_with("SCAN ") && !detail.contains(" INDEX ") {
            scans.push(detail);
        }
    }
    Ok(scans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_detection_sees_unindexed_reads() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER); CREATE INDEX t_x ON t (x); \
             INSERT INTO t (x) VALUES (1), (2), (3);",
        )
        .unwrap();
        let run = |sql: &str| {
            let mut st = c.prepare_cached(sql).unwrap();
            let before = counters(&st);
            assert_eq!(st.raw_query().mapped(|r| r.get::<_, i64>(0)).count(), 1);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| assert_indexed(&c, &st, before, sql))).is_err()
        };
        assert!(!run("SELECT id FROM t WHERE x = 2"));
        assert_eq!(run("SELECT id FROM t WHERE x + 0 = 2"), cfg!(debug_assertions));
        assert!(table_scans(&c, "SELECT id FROM t WHERE x = ?1").unwrap().is_empty());
        assert!(table_scans(&c, "SELECT id FROM t ORDER BY x LIMIT 3").unwrap().is_empty());
        assert_eq!(table_scans(&c, "SELECT id FROM t WHERE x + 0 = ?1").unwrap(), vec!["SCAN t".to_owned()]);
    }
}
