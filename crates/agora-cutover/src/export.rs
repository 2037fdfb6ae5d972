//! The canonical export format: versioned JSON Lines.
//!
//! ```text
//! {"format":"agora-export","version":1}
//! {"table":"store","row":{...}}
//! {"table":"store_settings","row":{...}}
//! ...
//! {"format":"agora-export","end":true,"rows":1234,"counts":{"store":1,...}}
//! ```
//!
//! The first line is the header. Then one line per row, tables in
//! dependency order ([`crate::TABLES`]), rows of a table in primary-key
//! order; every row is the entity's serde form (the same field names as
//! the Rust model) with object keys sorted, so two exports of equal stores
//! are byte-identical. The last line is the trailer with the row count per
//! table: a file without it is truncated and is refused.

use std::collections::BTreeMap;
use std::io::{BufRead, Write as IoWrite};

use agora_core::{Changeset, Store, Write};
use serde_json::Value;

use crate::CutoverError;
use crate::copy::Progress;
use crate::tables::{canonical_json, create_writes, first_nonempty, snapshot_rows, table_index};

/// The `format` value of the header and trailer.
pub const FORMAT: &str = "agora-export";
/// The format version this build writes and reads.
pub const VERSION: u64 = 1;

/// What an export or import moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows per table, in [`crate::TABLES`] order (tables without rows included).
    pub counts: Vec<(String, u64)>,
    /// All rows.
    pub rows: u64,
}

/// Writes every row of `store` to `out` in the canonical format.
///
/// # Errors
/// A store or I/O failure.
pub async fn export_to(
    store: &dyn Store,
    out: &mut dyn IoWrite,
    progress: &dyn Progress,
) -> Result<ExportSummary, CutoverError> {
    let snap = store.snapshot().await?;
    writeln!(out, "{}", canonical_json(&serde_json::json!({"format": FORMAT, "version": VERSION})))?;
    let mut summary = ExportSummary::default();
    for (table, rows) in snapshot_rows(&snap) {
        progress.table(table, rows.len() as u64);
        for row in &rows {
            let line = serde_json::json!({"table": table, "row": row});
            writeln!(out, "{}", canonical_json(&line))?;
            progress.rows(1);
        }
        summary.counts.push((table.to_owned(), rows.len() as u64));
        summary.rows += rows.len() as u64;
    }
    let counts: BTreeMap<&str, u64> = summary.counts.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let trailer = serde_json::json!({"format": FORMAT, "end": true, "rows": summary.rows, "counts": counts});
    writeln!(out, "{}", canonical_json(&trailer))?;
    out.flush()?;
    Ok(summary)
}

/// Reads a canonical export into `store`, which must be empty (of any
/// kind). Rows are applied in batches of `batch_rows` rows, each batch one
/// changeset, so the result's snapshot equals the exported one exactly.
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
    let batch_rows = batch_rows.max(1);
    if let Some((table, n)) = first_nonempty(&store.snapshot().await?) {
        return Err(CutoverError::NotEmpty(format!("{table} has {n} rows")));
    }
    let mut lines = input.lines();
    let header = lines.next().ok_or_else(|| CutoverError::Format("empty file".into()))??;
    let header: Value =
        serde_json::from_str(&header).map_err(|e| CutoverError::Format(format!("header is not JSON: {e}")))?;
    if header.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(CutoverError::Format(format!("not an {FORMAT} file (header {header})")));
    }
    match header.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        other => {
            return Err(CutoverError::Format(format!("unsupported version {other:?}; this build reads {VERSION}")));
        }
    }
    let mut counts: Vec<(String, u64)> = crate::TABLES.iter().map(|t| ((*t).to_owned(), 0)).collect();
    let mut batch: Vec<Write> = Vec::new();
    let mut in_batch = 0usize;
    let mut last_table = 0usize;
    let mut trailer: Option<Value> = None;
    let mut line_no = 1u64;
    for line in lines {
        let line = line?;
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        if trailer.is_some() {
            return Err(CutoverError::Format(format!("line {line_no}: data after the trailer")));
        }
        let mut v: Value =
            serde_json::from_str(&line).map_err(|e| CutoverError::Format(format!("line {line_no}: not JSON: {e}")))?;
        if v.get("end").is_some() {
            trailer = Some(v);
            continue;
        }
        let table = v.get("table").and_then(Value::as_str).map(str::to_owned);
        let (Some(table), Some(row)) = (table, v.get_mut("row").map(Value::take)) else {
            return Err(CutoverError::Format(format!("line {line_no}: expected {{\"table\":..,\"row\":..}}")));
        };
        let idx = table_index(&table)
            .ok_or_else(|| CutoverError::Format(format!("line {line_no}: unknown table {table:?}")))?;
        if idx < last_table {
            return Err(CutoverError::Format(format!(
                "line {line_no}: table {table} after {}: rows must be in dependency order",
                crate::TABLES[last_table]
            )));
        }
        last_table = idx;
        if progress_table_changed(&counts, idx) {
            progress.table(crate::TABLES[idx], 0);
        }
        batch.extend(create_writes(&table, row).map_err(|e| match e {
            CutoverError::Format(m) => CutoverError::Format(format!("line {line_no}: {m}")),
            other => other,
        })?);
        counts[idx].1 += 1;
        in_batch += 1;
        if in_batch >= batch_rows {
            flush(store, &mut batch).await?;
            progress.rows(in_batch as u64);
            in_batch = 0;
        }
    }
    flush(store, &mut batch).await?;
    progress.rows(in_batch as u64);
    let trailer = trailer.ok_or_else(|| CutoverError::Format("no trailer: the file is truncated".into()))?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    if trailer.get("rows").and_then(Value::as_u64) != Some(total) {
        return Err(CutoverError::Format(format!("trailer says {} rows, the file has {total}", trailer["rows"])));
    }
    if let Some(tc) = trailer.get("counts").and_then(Value::as_object) {
        for (t, n) in &counts {
            let want = tc.get(t).and_then(Value::as_u64).unwrap_or(0);
            if want != *n {
                return Err(CutoverError::Format(format!("trailer says {want} rows of {t}, the file has {n}")));
            }
        }
    }
    Ok(ExportSummary { counts, rows: total })
}

fn progress_table_changed(counts: &[(String, u64)], idx: usize) -> bool {
    counts[idx].1 == 0
}

async fn flush(store: &dyn Store, batch: &mut Vec<Write>) -> Result<(), CutoverError> {
    if batch.is_empty() {
        return Ok(());
    }
    let cs = Changeset { guards: Vec::new(), writes: std::mem::take(batch) };
    store.apply(cs).await?;
    Ok(())
}
