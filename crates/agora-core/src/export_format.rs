//! The canonical whole-store export: versioned JSON Lines, written by
//! `agora export` and `GET /v1/admin/backup`, read by `agora import`.
//!
//! ```text
//! {"format":"agora-export","version":1}
//! {"row":{...},"table":"store"}
//! ...
//! {"counts":{"store":1,...},"end":true,"format":"agora-export","rows":1234}
//! ```
//!
//! The first line is the header; then one line per row, tables in the
//! catalogue's dependency order, rows of a table in primary-key order, each
//! the entity's serde form with object keys sorted, so two exports of equal
//! stores are byte-identical; the last line is the trailer with the row
//! count per table (a file without it is truncated and is refused).
//! [`ExportStream`] produces it page by page, so memory stays bounded by a
//! page whatever the store's size.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::catalogue::{Record, tables};
use crate::ports::{Store, StoreResult};
use crate::schema::Key;
use crate::snapshot::{SCAN_PAGE, scan_page};

/// The `format` value of the header and trailer.
pub const FORMAT: &str = "agora-export";
/// The format version this build writes and reads.
pub const VERSION: u64 = 1;

/// Canonical JSON text: object keys sorted, no insignificant whitespace.
/// Two equal values always give the same text, whatever map order they
/// were built with (PostgreSQL `jsonb` reorders keys).
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The header line (with its newline).
pub fn header_line() -> String {
    line(serde_json::json!({"format": FORMAT, "version": VERSION}))
}

/// The line of one row (with its newline).
pub fn row_line(record: &Record) -> String {
    line(serde_json::json!({"table": record.table().name, "row": record.row_json()}))
}

/// The trailer line (with its newline): rows per table, every table of the
/// catalogue listed.
pub fn trailer_line(counts: &[(&str, u64)]) -> String {
    let rows: u64 = counts.iter().map(|(_, n)| n).sum();
    let counts: BTreeMap<&str, u64> = counts.iter().copied().collect();
    line(serde_json::json!({"format": FORMAT, "end": true, "rows": rows, "counts": counts}))
}

fn line(v: Value) -> String {
    let mut s = canonical_json(&v);
    s.push('\n');
    s
}

/// Produces a store's export chunk by chunk: the header, then one chunk
/// per page of rows, then the trailer.
pub struct ExportStream {
    store: Arc<dyn Store>,
    table: usize,
    after: Option<Key>,
    counts: Vec<(&'static str, u64)>,
    started: bool,
    done: bool,
}

impl std::fmt::Debug for ExportStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportStream").field("table", &self.table).field("done", &self.done).finish_non_exhaustive()
    }
}

impl ExportStream {
    /// An export of `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, table: 0, after: None, counts: Vec::new(), started: false, done: false }
    }

    /// Rows per table so far, in catalogue order.
    pub fn counts(&self) -> &[(&'static str, u64)] {
        &self.counts
    }

    /// The next chunk of the file, `None` once the trailer is out.
    ///
    /// # Errors
    /// As [`Store::fetch`]; the stream should then be dropped.
    pub async fn next_chunk(&mut self) -> StoreResult<Option<String>> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            return Ok(Some(header_line()));
        }
        let all = tables();
        while let Some(table) = all.get(self.table) {
            if self.counts.len() == self.table {
                self.counts.push((table.name, 0));
            }
            let (rows, next) = scan_page(&*self.store, table, self.after.as_ref(), SCAN_PAGE).await?;
            match next {
                Some(k) => self.after = Some(k),
                None => {
                    self.table += 1;
                    self.after = None;
                }
            }
            if rows.is_empty() {
                continue;
            }
            if let Some(last) = self.counts.last_mut() {
                last.1 += rows.len() as u64;
            }
            return Ok(Some(rows.iter().map(row_line).collect()));
        }
        self.done = true;
        Ok(Some(trailer_line(&self.counts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_json() {
        use crate::schema::Entity;
        use crate::{EventSeq, Record, StoreId, tables};
        let seq = Record::EventSeq(EventSeq { store_id: StoreId(uuid::Uuid::from_u128(3)), last_seq: 9 });
        let row = seq.row_json();
        assert_eq!(canonical_json(&row), format!(r#"{{"last_seq":9,"store_id":"{}"}}"#, uuid::Uuid::from_u128(3)));
        assert_eq!(Record::from_row_json(EventSeq::table(), row.clone()).expect("parse"), seq);
        let other = tables().iter().find(|t| t.name == "app_user").expect("table");
        assert!(Record::from_row_json(other, row).is_err(), "a row of another table does not parse");
    }

    #[test]
    fn canonical_text_sorts_keys() {
        let v: Value = serde_json::from_str(r#"{"b":[{"y":1,"x":2}],"a":null}"#).expect("json");
        assert_eq!(canonical_json(&v), r#"{"a":null,"b":[{"x":2,"y":1}]}"#);
    }
}
