//! The canonical export format: versioned JSON Lines.
//!
//! ```text
//! {"format":"agora-export","version":1}
//! {"row":{...},"table":"store"}
//! {"row":{...},"table":"store_settings"}
//! ...
//! {"counts":{"store":1,...},"end":true,"format":"agora-export","rows":1234}
//! ```
//!
//! The first line is the header. Then one line per row, tables in
//! catalogue (dependency) order ([`agora_core::tables`]), rows of a table
//! in primary-key order; every row is the entity's serde form (the same
//! field names as the Rust model) with object keys sorted, so two exports
//! of equal stores are byte-identical. The last line is the trailer with
//! the row count per table: a file without it is truncated and is refused.
//!
//! Version 1 is also what the builds before the entity catalogue wrote
//! (stock rows, events and event seqs were already plain rows then), so
//! their files import unchanged. Rows are read and written page by page:
//! memory stays bounded by a page (export) or a batch (import).

use std::io::{BufRead, Write as IoWrite};

use agora_core::catalogue::{table_named, table_position};
use agora_core::query::Query;
use agora_core::{Changeset, Record, SCAN_PAGE, Store, TableScan, Write, tables};
use serde_json::Value;

use crate::CutoverError;
use crate::copy::Progress;
use agora_core::export_format::{header_line, row_line, trailer_line};

pub use agora_core::export_format::{FORMAT, VERSION};

/// What an export or import moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows per table, in catalogue order (tables without rows included).
    pub counts: Vec<(String, u64)>,
    /// All rows.
    pub rows: u64,
}

/// Writes every row of `store` to `out` in the canonical format, table by
/// table in pages.
///
/// # Errors
/// A store or I/O failure.
pub async fn export_to(
    store: &dyn Store,
    out: &mut dyn IoWrite,
    progress: &dyn Progress,
) -> Result<ExportSummary, CutoverError> {
    out.write_all(header_line().as_bytes())?;
    let mut summary = ExportSummary::default();
    for table in tables() {
        progress.table(table.name, 0);
        let mut rows = 0u64;
        let mut scan = TableScan::new(store, table, SCAN_PAGE);
        while let Some(page) = scan.next_page().await? {
            for record in &page {
                out.write_all(row_line(record).as_bytes())?;
            }
            rows += page.len() as u64;
            progress.rows(page.len() as u64);
        }
        summary.counts.push((table.name.to_owned(), rows));
        summary.rows += rows;
    }
    let counts: Vec<(&str, u64)> = summary.counts.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    out.write_all(trailer_line(&counts).as_bytes())?;
    out.flush()?;
    Ok(summary)
}

/// Fails unless every table of `store` is empty.
async fn ensure_empty(store: &dyn Store) -> Result<(), CutoverError> {
    for table in tables() {
        if !store.fetch(&Query::scan(table, None, 1)).await?.is_empty() {
            return Err(CutoverError::NotEmpty(format!("{} has rows", table.name)));
        }
    }
    Ok(())
}

fn format_error(line_no: u64, message: impl std::fmt::Display) -> CutoverError {
    CutoverError::Format(format!("line {line_no}: {message}"))
}

/// Checks the header line.
fn read_header(line: &str) -> Result<(), CutoverError> {
    let header: Value =
        serde_json::from_str(line).map_err(|e| CutoverError::Format(format!("header is not JSON: {e}")))?;
    if header.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(CutoverError::Format(format!("not an {FORMAT} file (header {header})")));
    }
    match header.get("version").and_then(Value::as_u64) {
        Some(VERSION) => Ok(()),
        other => Err(CutoverError::Format(format!("unsupported version {other:?}; this build reads {VERSION}"))),
    }
}

/// Checks the trailer against the rows read.
fn check_trailer(trailer: Option<Value>, counts: &[(String, u64)]) -> Result<u64, CutoverError> {
    let trailer = trailer.ok_or_else(|| CutoverError::Format("no trailer: the file is truncated".into()))?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    if trailer.get("rows").and_then(Value::as_u64) != Some(total) {
        return Err(CutoverError::Format(format!("trailer says {} rows, the file has {total}", trailer["rows"])));
    }
    if let Some(tc) = trailer.get("counts").and_then(Value::as_object) {
        for (t, n) in counts {
            let want = tc.get(t).and_then(Value::as_u64).unwrap_or(0);
            if want != *n {
                return Err(CutoverError::Format(format!("trailer says {want} rows of {t}, the file has {n}")));
            }
        }
    }
    Ok(total)
}

/// The rows being imported: counts, dependency order, the current batch.
struct Import<'a> {
    store: &'a dyn Store,
    progress: &'a dyn Progress,
    batch_rows: usize,
    counts: Vec<(String, u64)>,
    batch: Vec<Write>,
    last_table: usize,
}

impl Import<'_> {
    /// Adds one `{"table":..,"row":..}` line to the batch.
    async fn row(&mut self, line_no: u64, mut v: Value) -> Result<(), CutoverError> {
        let name = v.get("table").and_then(Value::as_str).map(str::to_owned);
        let (Some(name), Some(row)) = (name, v.get_mut("row").map(Value::take)) else {
            return Err(format_error(line_no, "expected {\"table\":..,\"row\":..}"));
        };
        let table = table_named(&name).ok_or_else(|| format_error(line_no, format!("unknown table {name:?}")))?;
        let idx = table_position(table).unwrap_or(0);
        if idx < self.last_table {
            let before = tables()[self.last_table].name;
            return Err(format_error(
                line_no,
                format!("table {name} after {before}: rows must be in dependency order"),
            ));
        }
        if self.counts[idx].1 == 0 {
            self.progress.table(table.name, 0);
        }
        self.last_table = idx;
        let record = Record::from_row_json(table, row).map_err(|e| format_error(line_no, format!("bad row: {e}")))?;
        self.batch.push(Write::Insert(record));
        self.counts[idx].1 += 1;
        if self.batch.len() >= self.batch_rows {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), CutoverError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let n = self.batch.len() as u64;
        self.store.apply(Changeset { guards: Vec::new(), writes: std::mem::take(&mut self.batch) }).await?;
        self.progress.rows(n);
        Ok(())
    }
}

/// Reads a canonical export into `store`, which must be empty (of any
/// kind). Rows are applied in batches of `batch_rows` rows, each batch one
/// changeset, so afterwards the store holds exactly the exported rows.
///
/// A failure part-way leaves the rows of the batches applied so far: start
/// again on a fresh, empty store.
///
/// # Errors
/// [`CutoverError::NotEmpty`] when the store holds data;
/// [`CutoverError::Format`] for a bad header, an unknown version, a row out
/// of dependency order, or a missing or disagreeing trailer; store and I/O
/// failures.
pub async fn import_from(
    input: &mut dyn BufRead,
    store: &dyn Store,
    batch_rows: usize,
    progress: &dyn Progress,
) -> Result<ExportSummary, CutoverError> {
    ensure_empty(store).await?;
    let mut lines = input.lines();
    let header = lines.next().ok_or_else(|| CutoverError::Format("empty file".into()))??;
    read_header(&header)?;
    let counts = tables().iter().map(|t| (t.name.to_owned(), 0)).collect();
    let mut import =
        Import { store, progress, batch_rows: batch_rows.max(1), counts, batch: Vec::new(), last_table: 0 };
    let mut trailer: Option<Value> = None;
    let mut line_no = 1u64;
    for line in lines {
        let line = line?;
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        if trailer.is_some() {
            return Err(format_error(line_no, "data after the trailer"));
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| format_error(line_no, format!("not JSON: {e}")))?;
        if v.get("end").is_some() {
            trailer = Some(v);
        } else {
            import.row(line_no, v).await?;
        }
    }
    import.flush().await?;
    let rows = check_trailer(trailer, &import.counts)?;
    Ok(ExportSummary { counts: import.counts, rows })
}
