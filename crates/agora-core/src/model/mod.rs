//! Every entity agora stores, as plain data, each declared once with
//! `#[derive(Entity)]` (see [`crate::schema`] and [`crate::catalogue`]).
//! Adapters persist these fields one-to-one; the use cases build them;
//! nothing here does I/O.

mod catalog;
mod files;
mod operations;
mod orders;
mod purchasing;
mod records;
mod status;
mod stores;
mod support;
mod tasks;
mod webhooks;

pub use catalog::*;
pub use files::*;
pub use operations::*;
pub use orders::*;
pub use purchasing::*;
pub use records::*;
pub use status::*;
pub use stores::*;
pub use support::*;
pub use tasks::*;
pub use webhooks::*;
