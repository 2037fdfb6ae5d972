//! Whole-store reads, table by table in keyset pages: the canonical
//! [`Snapshot`] the differential tests compare, and [`TableScan`], which
//! copy, verify, export and backup stream with in bounded memory.

use crate::catalogue::{Catalogued, Record, tables};
use crate::ports::{Store, StoreResult};
use crate::query::Query;
use crate::schema::{Key, Table};

/// Rows read per page by [`Snapshot::read`] (and the backups and copies that stream).
pub const SCAN_PAGE: u32 = 1000;

/// The next page of `table` after `after`, in primary-key order: up to
/// `limit` rows and the key to continue from (`None` at the end).
///
/// # Errors
/// As [`Store::fetch`].
pub async fn scan_page<S: Store + ?Sized>(
    store: &S,
    table: &'static Table,
    after: Option<&Key>,
    limit: u32,
) -> StoreResult<(Vec<Record>, Option<Key>)> {
    let rows = store.fetch(&Query::scan(table, after, limit)).await?;
    let next = if rows.len() == limit as usize { rows.last().map(Record::key) } else { None };
    Ok((rows, next))
}

/// A full scan of one table in primary-key order, page by page: memory
/// stays bounded by one page however large the table is.
#[derive(Debug)]
pub struct TableScan<'s, S: ?Sized> {
    store: &'s S,
    table: &'static Table,
    after: Option<Key>,
    limit: u32,
    done: bool,
}

impl<'s, S: Store + ?Sized> TableScan<'s, S> {
    /// A scan of `table` in pages of `limit` rows.
    pub fn new(store: &'s S, table: &'static Table, limit: u32) -> Self {
        Self { store, table, after: None, limit, done: false }
    }

    /// A scan that starts after `key` (to resume).
    pub fn after(mut self, key: Option<Key>) -> Self {
        self.after = key;
        self
    }

    /// The next page, `None` once the table is done.
    ///
    /// # Errors
    /// As [`Store::fetch`].
    pub async fn next_page(&mut self) -> StoreResult<Option<Vec<Record>>> {
        if self.done {
            return Ok(None);
        }
        let (rows, next) = scan_page(self.store, self.table, self.after.as_ref(), self.limit).await?;
        match next {
            Some(k) => self.after = Some(k),
            None => self.done = true,
        }
        Ok(if rows.is_empty() { None } else { Some(rows) })
    }

    /// The key after which the next page starts.
    pub fn position(&self) -> Option<&Key> {
        self.after.as_ref()
    }
}

/// Every row of every table, each table in primary-key order; two stores
/// hold the same data exactly when their snapshots are equal. Read page by
/// page, so it is one consistent moment only when nothing writes meanwhile
/// (tests).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    /// (table name, rows in key order), in catalogue order.
    pub tables: Vec<(&'static str, Vec<Record>)>,
}

impl Snapshot {
    /// Reads every table of `store`.
    ///
    /// # Errors
    /// As [`Store::fetch`].
    pub async fn read<S: Store + ?Sized>(store: &S) -> StoreResult<Snapshot> {
        let mut out = Vec::with_capacity(tables().len());
        for table in tables() {
            let mut rows = Vec::new();
            let mut scan = TableScan::new(store, table, SCAN_PAGE);
            while let Some(page) = scan.next_page().await? {
                rows.extend(page);
            }
            out.push((table.name, rows));
        }
        Ok(Snapshot { tables: out })
    }

    /// The rows of `T`'s table.
    pub fn rows<T: Catalogued>(&self) -> Vec<&T> {
        self.table(T::table().name).iter().filter_map(T::of_record).collect()
    }

    /// The rows of the table named `name` (empty when unknown).
    pub fn table(&self, name: &str) -> &[Record] {
        self.tables.iter().find(|(n, _)| *n == name).map_or(&[], |(_, rows)| rows.as_slice())
    }

    /// Row counts per table, in catalogue order.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        self.tables.iter().map(|(n, rows)| (*n, rows.len())).collect()
    }

    /// Whether every table is empty.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|(_, rows)| rows.is_empty())
    }
}
