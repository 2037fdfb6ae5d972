//! # agora-core
//!
//! The domain of agora, a storage-pluggable commerce backend: entities,
//! value types, state machines, the ports adapters implement, and the use
//! cases of every flow of the HTTP contract. No I/O happens here.
//!
//! Every table is declared once, on its entity (`#[derive(Entity)]`) and in
//! the [`catalogue`]; adapters derive their statements from that. Reads are
//! [`Query`]s through [`Store::fetch`] (typed in [`Reads`]); writes go
//! through one door: a use case decides and hands the [`Store`] a
//! [`Changeset`] of writes plus the [`Guard`]s they depend on; the adapter
//! applies it atomically or not at all and names the condition that
//! failed. Overselling, double orders and double payouts are each such a
//! condition, so they are impossible on every adapter.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn agora_core::Store>) -> Result<(), agora_core::AgoraError> {
//! use agora_core::{Agora, Actor, views::NewUser};
//! let agora = Agora::builder(store).build();
//! let user = agora
//!     .register_user(NewUser { name: "Ann".into(), email: "ann@example.com".into(), password: "correct horse".into(), phone: None })
//!     .await?;
//! # let _ = user; Ok(()) }
//! ```

#![deny(missing_docs)]

// So `#[derive(Entity)]`'s `::agora_core::...` paths resolve inside this crate too.
extern crate self as agora_core;

pub mod backend;
pub mod catalogue;
pub mod changeset;
pub mod clock;
pub mod error;
pub mod export_format;
pub mod guards;
pub mod ids;
pub mod local;
pub mod model;
pub mod money;
pub mod outgoing;
pub mod ports;
pub mod query;
pub mod reads;
pub mod schema;
pub mod search;
pub mod secrets;
pub mod snapshot;
pub mod state;
pub mod usecases;
pub mod validate;
pub mod views;

pub use backend::{MaintenanceJob, MigrationStatus, OpenMode, StoreHandle, StoreKind, StoreRegistry, WriteStats};
pub use catalogue::{Catalogued, Record, table_named, tables};
pub use changeset::{Changeset, Condition, Guard, GuardFailure, StockChange, Write};
pub use clock::{Clock, Entropy, ManualClock, OsEntropy, SeededEntropy, SystemClock};
pub use error::{AgoraError, FieldError, StoreError};
pub use ids::*;
pub use model::*;
pub use money::{Currency, MAX_MINOR, Money};
pub use ports::*;
pub use query::{Cmp, Dir, Filter, Query};
pub use reads::Reads;
pub use schema::{Entity, Key, Table, Value};
pub use search::{MatchTier, SearchHit, SearchTerms};
pub use snapshot::{SCAN_PAGE, Snapshot, TableScan, scan_page};
pub use usecases::{
    Actor, Agora, AgoraBuilder, AgoraConfig, FileDownload, GuardObserver, ListQuery, SUPER_ADMIN_LABEL, Sweep,
    SweepReport, decode_cursor, encode_cursor,
};

/// Prefix of customer session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "ags_";
/// Prefix of store admin keys.
pub const ADMIN_KEY_PREFIX: &str = "agk_";
