//! # agora-cutover
//!
//! Moving a live agora deployment from one store to another without
//! stopping and without losing anything:
//!
//! - [`DualWriteStore`]: reads from the primary; every changeset is applied
//!   to the primary and then replayed on the secondary. A secondary failure
//!   is counted, logged and never fails the request; a resumed [`copy()`]
//!   repairs it.
//! - [`ShadowReadStore`]: dual writes plus every read compared with the
//!   secondary in the background, mismatches exported as metrics and logged
//!   with the differing fields.
//! - [`copy()`]: a page-wise, resumable, convergent backfill (insert what is
//!   missing, update what differs under compare-and-set guards, delete rows
//!   of deletable tables the source no longer has).
//! - [`verify()`]: per-table counts and content checksums, identical ordering
//!   of every list read, identical replay of stored idempotent responses.
//! - [`export_to`] / [`import_from`]: the canonical streaming export format
//!   (versioned JSON Lines, see [`export`]).
//!
//! Both wrappers are [`Wrapped`] [`Wrapper`]s: the one forwarding
//! mechanism, which serves every read (and `order_context` as one call)
//! from the primary. Copy, verify and export walk the catalogue's tables
//! ([`agora_core::tables`]) in keyset pages, so their memory is bounded by
//! a page whatever the data size. Every function works on `&dyn Store`, so
//! any pair of adapters (memory, SQLite, PostgreSQL) can be moved between.

pub mod copy;
pub mod dual;
pub mod export;
mod merge;
pub mod shadow;
pub mod verify;
pub mod wrap;

pub use agora_core::export_format::canonical_json;
pub use copy::{CopyOptions, CopyReport, NoProgress, Progress, TableCopy, copy};
pub use dual::{DualWrite, DualWriteStats, DualWriteStore};
pub use export::{ExportSummary, FORMAT, VERSION, export_to, import_from};
pub use shadow::{ShadowRead, ShadowReadStore, ShadowStats};
pub use verify::{TableCheck, VerifyReport, verify};
pub use wrap::{Wrapped, Wrapper};

use agora_core::StoreError;

/// Why a cutover operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CutoverError {
    /// A store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Reading or writing a file failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// An export file is malformed, of an unknown version or truncated.
    #[error("export format: {0}")]
    Format(String),
    /// An import was pointed at a store that already holds data.
    #[error("the target store is not empty ({0}); import only into an empty store")]
    NotEmpty(String),
}
