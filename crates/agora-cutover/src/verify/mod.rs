//! `verify`: do two stores hold the same data, and answer every read alike?
//!
//! Every table is walked on both stores together in primary-key pages
//! (merged by key), so memory stays bounded by a page: per table the row
//! counts and an order-independent checksum, the rows that differ, and
//! the list reads keyed by that table's rows (a store's orders, products
//! and payouts, a user's orders, an order's lines, reservations and
//! payments, a product's variants, stock and images, ...) and the replay
//! of every stored idempotent response.

mod lists;

use agora_core::{Record, SCAN_PAGE, Store, tables};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::CutoverError;
use crate::copy::Progress;
use crate::merge::{MergedScan, Pair};
use crate::shadow::differing_fields;
use agora_core::export_format::canonical_json;

/// One table of both stores.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    /// The table.
    pub table: &'static str,
    /// Rows in `a`.
    pub rows_a: u64,
    /// Rows in `b`.
    pub rows_b: u64,
    /// Order-independent checksum of `a`'s rows: the sum (mod 2^256) of
    /// the SHA-256 of each row's canonical JSON, in hex.
    pub checksum_a: String,
    /// The same for `b`.
    pub checksum_b: String,
}

impl TableCheck {
    /// Counts and checksums agree.
    pub fn matches(&self) -> bool {
        self.rows_a == self.rows_b && self.checksum_a == self.checksum_b
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Every table, in catalogue (dependency) order.
    pub tables: Vec<TableCheck>,
    /// List reads compared (each page counts once).
    pub list_reads: u64,
    /// Stored idempotent responses whose replay was compared.
    pub idempotency_replays: u64,
    /// Every difference, one line each (rows only in one store, rows that
    /// differ with the differing fields, list reads in another order).
    pub differences: Vec<String>,
}

impl VerifyReport {
    /// No differences at all.
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    /// One line for the operator.
    pub fn summary(&self) -> String {
        let rows: u64 = self.tables.iter().map(|t| t.rows_a).sum();
        let bad = self.tables.iter().filter(|t| !t.matches()).count();
        format!(
            "{} tables ({} rows) checked, {} differ; {} list reads and {} idempotent replays compared; {} differences",
            self.tables.len(),
            rows,
            bad,
            self.list_reads,
            self.idempotency_replays,
            self.differences.len()
        )
    }
}

/// An order-independent sum of row digests.
#[derive(Default)]
struct Checksum([u8; 32]);

impl Checksum {
    fn add(&mut self, record: &Record) {
        let digest = Sha256::digest(canonical_json(&record.row_json()).as_bytes());
        let mut carry = 0u16;
        for (sum, d) in self.0.iter_mut().rev().zip(digest.iter().rev()) {
            let s = u16::from(*sum) + u16::from(*d) + carry;
            *sum = s.to_le_bytes()[0];
            carry = s >> 8;
        }
    }

    fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Rows listed per table at most.
const LISTED: usize = 20;

/// One table of both stores: counts, checksums and differing rows.
struct TableWalk {
    table: &'static str,
    rows: (u64, u64),
    sums: (Checksum, Checksum),
    listed: usize,
}

impl TableWalk {
    fn see(&mut self, pair: &Pair, differences: &mut Vec<String>) {
        if let Some(r) = &pair.first {
            self.rows.0 += 1;
            self.sums.0.add(r);
        }
        if let Some(r) = &pair.second {
            self.rows.1 += 1;
            self.sums.1.add(r);
        }
        let line = match (&pair.first, &pair.second) {
            (Some(x), Some(y)) if x == y => return,
            (Some(x), Some(y)) => {
                format!("differs in {}", differing_fields(&x.row_json(), &y.row_json()).join(", "))
            }
            (Some(_), None) => "only in a".to_owned(),
            _ => "only in b".to_owned(),
        };
        if self.listed < LISTED {
            self.listed += 1;
            differences.push(format!("{} {}: {line}", self.table, pair.key));
        }
    }

    fn finish(self, differences: &mut Vec<String>) -> TableCheck {
        let check = TableCheck {
            table: self.table,
            rows_a: self.rows.0,
            rows_b: self.rows.1,
            checksum_a: self.sums.0.hex(),
            checksum_b: self.sums.1.hex(),
        };
        if !check.matches() && self.listed == 0 {
            differences.push(format!("{}: same rows, different checksums", self.table));
        }
        check
    }
}

/// Compares `a` and `b`: per-table counts and checksums, row by row where
/// rows differ (at most 20 listed per table), every list read keyed by the
/// rows of each table, the global lists, and `get_idempotency` for every
/// stored response.
///
/// # Errors
/// A store failure.
pub async fn verify(a: &dyn Store, b: &dyn Store, progress: &dyn Progress) -> Result<VerifyReport, CutoverError> {
    let mut report = VerifyReport::default();
    let mut lists = lists::Lists::new(a, b);
    for table in tables() {
        progress.table(table.name, 0);
        let mut walk = TableWalk { table: table.name, rows: (0, 0), sums: Default::default(), listed: 0 };
        let mut scan = MergedScan::new(a, b, table, SCAN_PAGE);
        while let Some(chunk) = scan.next_chunk().await? {
            for pair in &chunk {
                walk.see(pair, &mut report.differences);
            }
            lists.keyed_by(table, &chunk).await?;
            progress.rows(chunk.len() as u64);
        }
        report.tables.push(walk.finish(&mut report.differences));
    }
    progress.table("list reads", 0);
    lists.global().await?;
    lists.finish(&mut report);
    Ok(report)
}
