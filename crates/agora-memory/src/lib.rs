//! # agora-memory
//!
//! The reference adapter: every table of the catalogue is an ordered map
//! behind one lock. It defines the behaviour the SQLite and PostgreSQL
//! adapters are checked against, and it is fast enough for demos and unit
//! tests. It knows no table by name: keys, unique constraints and indexes
//! all come from the catalogue's [`Table`] descriptions, so a new entity
//! needs nothing here.
//!
//! Atomicity: a changeset runs under the write lock; every row it replaces
//! is remembered, and when a guard or write fails the old rows are put back
//! in reverse order before the lock is released. Readers never see a
//! half-applied changeset.
//!
//! Lookups: by primary key, by a prefix of it, by any unique constraint,
//! and by any other uuid column (each has an index), so reads by store,
//! order, user or product never scan a table.

mod apply;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use agora_core::ports::*;
use agora_core::query::{Cmp, Filter, Query};
use agora_core::schema::{ColumnType, Key, Table, Value};
use agora_core::*;
use async_trait::async_trait;
use parking_lot::RwLock;

/// One table's rows and indexes.
#[derive(Default)]
pub(crate) struct TableData {
    /// Rows by primary key.
    rows: BTreeMap<Key, Arc<Record>>,
    /// Per unique constraint (in [`Table::unique`] order): values -> key.
    unique: Vec<BTreeMap<Key, Key>>,
    /// Per column: (uuid, key) pairs, for the non-key uuid columns.
    by_uuid: Vec<Option<BTreeSet<(uuid::Uuid, Key)>>>,
}

impl TableData {
    fn new(table: &Table) -> Self {
        let by_uuid = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.ty == ColumnType::Uuid && !table.key.contains(&i)).then(BTreeSet::new))
            .collect();
        Self { rows: BTreeMap::new(), unique: vec![BTreeMap::new(); table.unique.len()], by_uuid }
    }
}

/// The values of `cols` of a row; `None` when one is NULL (SQL unique
/// constraints ignore rows with a NULL in them).
fn unique_values(row: &[Value<'_>], cols: &[usize]) -> Option<Key> {
    let vals: Vec<Value<'static>> = cols.iter().map(|&c| row[c].clone().into_owned()).collect();
    if vals.iter().any(Value::is_null) { None } else { Some(Key(vals)) }
}

/// Every table, by name.
#[derive(Default)]
pub(crate) struct Tables {
    tables: HashMap<&'static str, TableData>,
}

impl Tables {
    fn data(&self, table: &Table) -> Option<&TableData> {
        self.tables.get(table.name)
    }

    fn data_mut(&mut self, table: &'static Table) -> &mut TableData {
        self.tables.entry(table.name).or_insert_with(|| TableData::new(table))
    }

    /// The row of `table` with `key`.
    pub(crate) fn get(&self, table: &Table, key: &Key) -> Option<&Arc<Record>> {
        self.data(table)?.rows.get(key)
    }

    /// The key of the row holding `values` in unique constraint `u`.
    pub(crate) fn unique_holder(&self, table: &Table, u: usize, values: &Key) -> Option<&Key> {
        self.data(table)?.unique.get(u)?.get(values)
    }

    /// Replaces the row of `table` at `key` with `new` (inserting or
    /// deleting as needed) and keeps every index in step; returns the old
    /// row. The caller has checked unique constraints.
    pub(crate) fn put(&mut self, table: &'static Table, key: Key, new: Option<Arc<Record>>) -> Option<Arc<Record>> {
        let data = self.data_mut(table);
        let old = match &new {
            Some(r) => data.rows.insert(key.clone(), r.clone()),
            None => data.rows.remove(&key),
        };
        if let Some(old) = &old {
            let mut vals = Vec::new();
            old.encode(&mut vals);
            for (u, def) in table.unique.iter().enumerate() {
                if let Some(v) = unique_values(&vals, &def.columns) {
                    data.unique[u].remove(&v);
                }
            }
            for (c, idx) in data.by_uuid.iter_mut().enumerate() {
                if let (Some(idx), Value::Uuid(id)) = (idx, &vals[c]) {
                    idx.remove(&(*id, key.clone()));
                }
            }
        }
        if let Some(new) = &new {
            let mut vals = Vec::new();
            new.encode(&mut vals);
            for (u, def) in table.unique.iter().enumerate() {
                if let Some(v) = unique_values(&vals, &def.columns) {
                    data.unique[u].insert(v, key.clone());
                }
            }
            for (c, idx) in data.by_uuid.iter_mut().enumerate() {
                if let (Some(idx), Value::Uuid(id)) = (idx, &vals[c]) {
                    idx.insert((*id, key.clone()));
                }
            }
        }
        old
    }

    /// The rows a query may select, before its filters: by key, by a uuid
    /// index, by a unique constraint or, failing all, every row.
    fn candidates(&self, q: &Query) -> Vec<Arc<Record>> {
        let Some(data) = self.data(q.table) else { return Vec::new() };
        if let Some(k) = q.exact_key() {
            return data.rows.get(&k).cloned().into_iter().collect();
        }
        let eq = |col: usize| -> Option<Vec<Value<'static>>> {
            q.filters.iter().find_map(|f| match f {
                Filter::Cmp { column, op: Cmp::Eq, value } if *column == col => Some(vec![value.clone()]),
                Filter::In { column, values } if *column == col => Some(values.clone()),
                _ => None,
            })
        };
        // A unique constraint whose every column is given.
        for (u, def) in q.table.unique.iter().enumerate() {
            let vals: Option<Vec<Value<'static>>> =
                def.columns.iter().map(|c| eq(*c).filter(|v| v.len() == 1).map(|mut v| v.remove(0))).collect();
            if let Some(vals) = vals {
                let key = data.unique[u].get(&Key(vals));
                return key.and_then(|k| data.rows.get(k)).cloned().into_iter().collect();
            }
        }
        // The first key column.
        if let Some(values) = eq(q.table.key[0]) {
            let mut out = Vec::new();
            for v in values {
                let start = Key(vec![v.clone()]);
                out.extend(data.rows.range(start..).take_while(|(k, _)| k.0[0] == v).map(|(_, r)| r.clone()));
            }
            return out;
        }
        // An indexed uuid column.
        for (c, idx) in data.by_uuid.iter().enumerate() {
            let (Some(idx), Some(values)) = (idx, eq(c)) else { continue };
            let mut out = Vec::new();
            for v in values {
                let Value::Uuid(id) = v else { continue };
                let from = (id, Key(Vec::new()));
                for (_, k) in idx.range(from..).take_while(|(u, _)| *u == id) {
                    if let Some(r) = data.rows.get(k) {
                        out.push(r.clone());
                    }
                }
            }
            return out;
        }
        data.rows.values().cloned().collect()
    }

    /// Every row of `table`, in key order.
    fn rows_of<'a>(&'a self, table: &Table) -> impl Iterator<Item = &'a Record> {
        self.data(table).into_iter().flat_map(|data| data.rows.values().map(|r| &**r))
    }

    pub(crate) fn query(&self, q: &Query) -> Vec<Record> {
        let mut rows: Vec<(Vec<Value<'static>>, Arc<Record>)> = self
            .candidates(q)
            .into_iter()
            .filter_map(|r| {
                let mut vals = Vec::with_capacity(q.table.columns.len());
                r.encode(&mut vals);
                let vals: Vec<Value<'static>> = vals.into_iter().map(Value::into_owned).collect();
                q.matches(&vals).then_some((vals, r))
            })
            .collect();
        if !q.order.is_empty() {
            rows.sort_by(|a, b| q.compare(&a.0, &b.0));
        }
        let limit = q.limit.map_or(usize::MAX, |l| l as usize);
        rows.into_iter().take(limit).map(|(_, r)| Record::clone(&r)).collect()
    }
}

/// The in-memory store. Cloning shares the same tables.
#[derive(Clone, Default)]
pub struct MemoryStore {
    tables: Arc<RwLock<Tables>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn apply(&self, changeset: Changeset) -> StoreResult<()> {
        let mut t = self.tables.write();
        apply::apply(&mut t, &changeset)
    }

    async fn fetch(&self, query: &Query) -> StoreResult<Vec<Record>> {
        if query.filters.iter().any(|f| matches!(f, Filter::In { values, .. } if values.is_empty())) {
            return Ok(Vec::new());
        }
        Ok(self.tables.read().query(query))
    }

    async fn order_context(&self, q: &OrderContextQuery<'_>) -> StoreResult<OrderContext> {
        order_context_by_reads(self, q).await
    }

    /// The reference evaluation over every search row, no text index: one
    /// walk of the table, skipping other stores' rows. (Finding a store's
    /// rows through its `store_id` index looks each row up by key, which
    /// costs more than skipping rows unless the store is a small part of
    /// the market.)
    async fn search_products(&self, q: &ProductSearchQuery<'_>) -> StoreResult<Vec<SearchHit>> {
        let tables = self.tables.read();
        Ok(q.evaluate(tables.rows_of(ProductSearch::table()).filter_map(|r| ProductSearch::of_record(r))))
    }

    async fn purge_events_in_bulk(&self, _floors: &[EventFloor]) -> StoreResult<u64> {
        // No bulk way: retention deletes the events row by row.
        Ok(0)
    }

    async fn health(&self) -> StoreResult<()> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// The `memory:` kind of store: nothing to migrate, back up or restore (a
/// memory deployment is saved with `agora export` or `GET /v1/admin/backup`).
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryKind;

struct MemoryHandle(MemoryStore);

#[async_trait]
impl StoreHandle for MemoryHandle {
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.0.clone())
    }

    async fn migrate(&self) -> StoreResult<MigrationStatus> {
        Ok(MigrationStatus::none())
    }

    async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        Ok(MigrationStatus::none())
    }

    async fn backup_to(&self, _dest: &std::path::Path) -> StoreResult<()> {
        Err(StoreError::Unavailable(
            "a memory store has no native backup; use `agora export` or GET /v1/admin/backup".into(),
        ))
    }

    async fn close(&self) {}
}

#[async_trait]
impl StoreKind for MemoryKind {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn schemes(&self) -> &'static [&'static str] {
        &["memory"]
    }

    async fn open(&self, url: &str, _mode: OpenMode) -> StoreResult<Arc<dyn StoreHandle>> {
        if url != "memory:" && url != "memory://" {
            return Err(StoreError::Schema(format!("a memory store URL is `memory:`, not {url:?}")));
        }
        Ok(Arc::new(MemoryHandle(MemoryStore::new())))
    }

    async fn restore(&self, _backup: &std::path::Path, _url: &str) -> StoreResult<()> {
        Err(StoreError::Unavailable("a memory store cannot be restored; use `agora import`".into()))
    }
}
