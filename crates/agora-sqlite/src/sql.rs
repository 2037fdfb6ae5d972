//! Statements generated from the catalogue's [`Table`] descriptions, once
//! per table (and once per shape for the statements whose columns vary),
//! so no table is written out by hand. Parameters of a row statement are
//! numbered by column position: `?N` is column `N - 1`, so one binding of a
//! row's values in column order serves its INSERT and its UPDATE.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};

use agora_core::schema::Table;
use agora_core::{StoreError, tables};
use parking_lot::Mutex;

/// `name` as a quoted SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `name` as a quoted SQL string literal.
pub(crate) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The quoted names of `columns` (positions in `table`), comma-separated.
pub(crate) fn column_list(table: &Table, columns: impl IntoIterator<Item = usize>) -> String {
    columns.into_iter().map(|c| ident(table.columns[c].name)).collect::<Vec<_>>().join(", ")
}

/// `c1 = ?a AND c2 = ?b ...` for `columns` with parameters numbered from `first`.
pub(crate) fn equal_params(table: &Table, columns: &[usize], first: usize) -> String {
    let parts: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} = ?{}", ident(table.columns[*c].name), first + i))
        .collect();
    parts.join(" AND ")
}

/// `key1 = ?k1 AND ...` where each key column's parameter is its column position + 1.
fn key_by_position(table: &Table) -> String {
    let parts: Vec<String> =
        table.key.iter().map(|&c| format!("{} = ?{}", ident(table.columns[c].name), c + 1)).collect();
    parts.join(" AND ")
}

/// The statements of one table.
#[derive(Debug)]
pub(crate) struct TableSql {
    /// `SELECT <every column> FROM t`, to which a query adds its clauses.
    pub select: String,
    /// `INSERT INTO t (...) VALUES (?1, ?2, ...)`.
    pub insert: String,
    /// `UPDATE t SET <non-key> = ?N ... WHERE <key> = ?N`, parameters by column position.
    pub update: String,
    /// `DELETE FROM t WHERE <key> = ?1 ...`.
    pub delete: String,
    /// `SELECT <key> FROM t WHERE <constraint columns> = ?1 ...`, per unique
    /// constraint: the row holding a value, if any.
    pub holder: Vec<String>,
    /// The INSERT, replacing every non-key column of an existing row instead
    /// (`ON CONFLICT (<key>) DO UPDATE SET c = excluded.c ...`).
    pub upsert: String,
}

impl TableSql {
    fn new(table: &Table) -> Self {
        let name = ident(table.name);
        let all = column_list(table, 0..table.columns.len());
        let key = column_list(table, table.key.iter().copied());
        let select = format!("SELECT {all} FROM {name}");
        let key_eq = equal_params(table, &table.key, 1);
        let params: Vec<String> = (1..=table.columns.len()).map(|i| format!("?{i}")).collect();
        let mut sets: Vec<String> = (0..table.columns.len())
            .filter(|c| !table.key.contains(c))
            .map(|c| format!("{} = ?{}", ident(table.columns[c].name), c + 1))
            .collect();
        if sets.is_empty() {
            // A table of key columns only: the update rewrites the key with itself.
            sets = table.key.iter().map(|&c| format!("{} = ?{}", ident(table.columns[c].name), c + 1)).collect();
        }
        let insert = format!("INSERT INTO {name} ({all}) VALUES ({})", params.join(", "));
        let replace: Vec<String> = (0..table.columns.len())
            .filter(|c| !table.key.contains(c))
            .map(|c| format!("{0} = excluded.{0}", ident(table.columns[c].name)))
            .collect();
        let upsert = if replace.is_empty() {
            format!("{insert} ON CONFLICT ({key}) DO NOTHING")
        } else {
            format!("{insert} ON CONFLICT ({key}) DO UPDATE SET {}", replace.join(", "))
        };
        Self {
            insert,
            upsert,
            update: format!("UPDATE {name} SET {} WHERE {}", sets.join(", "), key_by_position(table)),
            delete: format!("DELETE FROM {name} WHERE {key_eq}"),
            holder: table
                .unique
                .iter()
                .map(|u| format!("SELECT {key} FROM {name} WHERE {}", equal_params(table, &u.columns, 1)))
                .collect(),
            select,
        }
    }
}

/// The statements of `table`, generated on first use for the whole catalogue.
///
/// # Errors
/// [`StoreError::Schema`] for a table the catalogue does not list.
pub(crate) fn table_sql(table: &Table) -> Result<&'static TableSql, StoreError> {
    static ALL: OnceLock<HashMap<&'static str, TableSql>> = OnceLock::new();
    ALL.get_or_init(|| tables().iter().map(|t| (t.name, TableSql::new(t))).collect())
        .get(table.name)
        .ok_or_else(|| StoreError::Schema(format!("table {} is not in the catalogue", table.name)))
}

/// Generated SQL by shape, for statements whose form varies per call (a
/// query's filters, a guard's columns). Bounded: past `capacity` shapes it
/// starts over, so a stream of odd shapes cannot grow it without end.
pub(crate) struct ShapeCache<K> {
    map: Mutex<HashMap<K, Arc<str>>>,
    capacity: usize,
}

impl<K: Hash + Eq> ShapeCache<K> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { map: Mutex::new(HashMap::new()), capacity }
    }

    /// The SQL of `shape`, generated by `make` the first time.
    pub(crate) fn get(&self, shape: K, make: impl FnOnce(&K) -> String) -> Arc<str> {
        let mut map = self.map.lock();
        if let Some(sql) = map.get(&shape) {
            return Arc::clone(sql);
        }
        if map.len() >= self.capacity {
            map.clear();
        }
        let sql: Arc<str> = make(&shape).into();
        map.insert(shape, Arc::clone(&sql));
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_core::Entity;
    use agora_core::model::{IdempotencyRecord, Inventory, ProductVariant};

    #[test]
    fn statements_follow_the_declaration() {
        let v = table_sql(ProductVariant::table()).unwrap();
        assert!(v.select.starts_with("SELECT \"id\", \"product_id\", \"store_id\", \"sku\""), "{}", v.select);
        assert!(v.insert.ends_with("VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"), "{}", v.insert);
        assert!(v.update.contains("\"price\" = ?6") && v.update.ends_with("WHERE \"id\" = ?1"), "{}", v.update);
        assert_eq!(v.holder, ["SELECT \"id\" FROM \"product_variant\" WHERE \"store_id\" = ?1 AND \"sku\" = ?2"]);
        let i = table_sql(Inventory::table()).unwrap();
        assert!(i.update.ends_with("WHERE \"variant_id\" = ?1 AND \"warehouse_id\" = ?2"), "{}", i.update);
        assert_eq!(i.delete, "DELETE FROM \"inventory\" WHERE \"variant_id\" = ?1 AND \"warehouse_id\" = ?2");
        let k = table_sql(IdempotencyRecord::table()).unwrap();
        assert!(k.update.starts_with("UPDATE \"idempotency_key\" SET \"fingerprint\" = ?3"), "{}", k.update);
        assert!(
            k.upsert.contains(
                "ON CONFLICT (\"scope\", \"key\") DO UPDATE SET \"fingerprint\" = excluded.\"fingerprint\", "
            ),
            "{}",
            k.upsert
        );
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn the_shape_cache_is_bounded() {
        let cache = ShapeCache::new(2);
        let a = cache.get(1, |k| format!("q{k}"));
        assert!(Arc::ptr_eq(&a, &cache.get(1, |_| unreachable!())));
        cache.get(2, |k| format!("q{k}"));
        cache.get(3, |k| format!("q{k}"));
        assert_eq!(cache.map.lock().len(), 1);
    }
}
