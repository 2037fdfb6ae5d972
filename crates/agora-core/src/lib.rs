//! # agora-core
//!
//! The domain of agora, a storage-pluggable commerce backend: entities,
//! value types, state machines, the ports adapters implement, and the use
//! cases of every flow of the HTTP contract. No I/O happens here.
//!
//! Writes go through one door: a use case reads through the repository
//! traits, decides, and hands the [`Store`] a [`Changeset`] of writes plus
//! the [`Guard`]s they depend on; the adapter applies it atomically or not
//! at all and names the guard that failed. Overselling, double orders and
//! double payouts are each a guard, so they are impossible on every adapter.
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

pub mod changeset;
pub mod clock;
pub mod error;
pub mod ids;
pub mod local;
pub mod model;
pub mod money;
pub mod ports;
pub mod secrets;
pub mod state;
pub mod usecases;
pub mod validate;
pub mod views;

pub use changeset::{Changeset, EntityRef, Guard, GuardFailure, Record, Write};
pub use clock::{Clock, Entropy, ManualClock, OsEntropy, SeededEntropy, SystemClock};
pub use error::{AgoraError, FieldError, StoreError};
pub use ids::*;
pub use model::*;
pub use money::{Currency, MAX_MINOR, Money};
pub use ports::*;
pub use usecases::{
    Actor, Agora, AgoraBuilder, AgoraConfig, GuardObserver, ListQuery, SweepReport, decode_cursor, encode_cursor,
};

/// Prefix of customer session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "ags_";
/// Prefix of store admin keys.
pub const ADMIN_KEY_PREFIX: &str = "agk_";
