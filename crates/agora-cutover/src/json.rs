//! A row as JSON (the entity's serde form, see
//! [`agora_core::Record::row_json`]), which the export format, the
//! checksums of `verify` and the differences it lists are made of.

use agora_core::{Record, Table};
use serde_json::Value;

use crate::CutoverError;

pub use agora_core::export_format::canonical_json;

/// The row of `record` as JSON: its entity's serde form.
pub(crate) fn row_json(record: &Record) -> Value {
    record.row_json()
}

/// The record of `table` that a JSON row (the entity's serde form) holds.
///
/// # Errors
/// [`CutoverError::Format`] when the row does not parse as a row of `table`.
pub(crate) fn record_from_json(table: &'static Table, row: Value) -> Result<Record, CutoverError> {
    Record::from_row_json(table, row).map_err(|e| CutoverError::Format(format!("bad row: {e}")))
}

#[cfg(test)]
mod tests {
    use agora_core::schema::Entity;
    use agora_core::{EventSeq, StoreId, tables};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn rows_round_trip_through_json() {
        let seq = Record::EventSeq(EventSeq { store_id: StoreId(Uuid::from_u128(3)), last_seq: 9 });
        let row = row_json(&seq);
        assert_eq!(canonical_json(&row), format!(r#"{{"last_seq":9,"store_id":"{}"}}"#, Uuid::from_u128(3)));
        assert_eq!(record_from_json(EventSeq::table(), row.clone()).expect("parse"), seq);
        let other = tables().iter().find(|t| t.name == "app_user").expect("table");
        assert!(record_from_json(other, row).is_err(), "a row of another table does not parse");
    }
}
