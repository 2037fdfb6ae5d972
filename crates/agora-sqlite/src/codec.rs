//! The one mapping between the catalogue's column values and SQLite's,
//! for every table: a [`Value`] binds as its SQLite form and a stored
//! value reads back as the [`Value`] its [`ColumnType`] says, so rows
//! become [`Record`]s through [`Record::decode`] with no per-table code.
//!
//! | [`ColumnType`] | SQLite |
//! |---|---|
//! | `Uuid` | `BLOB`, 16 bytes big-endian (sorts like `Uuid`) |
//! | `Timestamp` | `INTEGER` unix microseconds, UTC |
//! | `Int`, `Int32`, `Money` | `INTEGER` (money in minor units) |
//! | `Bool` | `INTEGER` 0 or 1 |
//! | `Float` | `REAL` |
//! | `Text` | `TEXT` |
//! | `Json`, `UuidArray`, `TextArray` | `TEXT` holding JSON |
//! | `Bytes` | `BLOB` |

use agora_core::schema::{ColumnType, Table, Value};
use agora_core::{Record, StoreError};
use rusqlite::Row;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use time::OffsetDateTime;
use uuid::Uuid;

/// Any driver error that is not a constraint we understand.
pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// A timestamp as unix microseconds (saturating far outside SQLite's range).
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let us = t.unix_timestamp_nanos().div_euclid(1000);
    i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX })
}

fn from_micros(us: i64) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).map_err(|e| e.to_string())
}

fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> ToSqlOutput<'static> {
    // Serialising a JSON value, a list of uuids or of strings cannot fail.
    ToSqlOutput::from(serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned()))
}

/// A [`Value`] bound as a statement parameter.
pub(crate) struct Bind<'v, 'a>(pub &'v Value<'a>);

impl ToSql for Bind<'_, '_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Uuid(u) => ToSqlOutput::Borrowed(ValueRef::Blob(u.as_bytes())),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Int(i) => ToSqlOutput::from(*i),
            Value::Bool(b) => ToSqlOutput::from(i64::from(*b)),
            Value::Float(f) => ToSqlOutput::from(*f),
            Value::Timestamp(t) => ToSqlOutput::from(micros(*t)),
            Value::Json(j) => json_text(j.as_ref()),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::UuidArray(a) => json_text(a.as_ref()),
            Value::TextArray(a) => json_text(a.as_ref()),
        })
    }
}

/// Binds `values` to parameters `first`, `first + 1`, ...; returns the next
/// free parameter index.
pub(crate) fn bind_all<'a>(
    st: &mut rusqlite::Statement<'_>,
    first: usize,
    values: impl IntoIterator<Item = &'a Value<'a>>,
) -> rusqlite::Result<usize> {
    let mut i = first;
    for v in values {
        st.raw_bind_parameter(i, Bind(v))?;
        i += 1;
    }
    Ok(i)
}

/// Parses the JSON text a column stores.
fn parse_json<T: serde::de::DeserializeOwned>(raw: ValueRef<'_>) -> Result<T, String> {
    match raw {
        ValueRef::Text(t) => serde_json::from_slice(t).map_err(|e| e.to_string()),
        other => Err(format!("expected JSON text, found {:?}", other.data_type())),
    }
}

/// Reads the stored value `raw` of a column of type `ty`.
///
/// # Errors
/// A message when the stored value does not fit the type.
pub(crate) fn read_value(raw: ValueRef<'_>, ty: ColumnType) -> Result<Value<'static>, String> {
    use std::borrow::Cow::Owned;
    Ok(match (ty, raw) {
        (_, ValueRef::Null) => Value::Null,
        (ColumnType::Uuid, ValueRef::Blob(b)) => Value::Uuid(Uuid::from_slice(b).map_err(|e| e.to_string())?),
        (ColumnType::Text, ValueRef::Text(t)) => {
            Value::Text(Owned(String::from_utf8(t.to_vec()).map_err(|e| e.to_string())?))
        }
        (ColumnType::Int | ColumnType::Int32 | ColumnType::Money, ValueRef::Integer(i)) => Value::Int(i),
        (ColumnType::Bool, ValueRef::Integer(i)) => Value::Bool(i != 0),
        (ColumnType::Float, ValueRef::Real(f)) => Value::Float(f),
        (ColumnType::Float, ValueRef::Integer(i)) => Value::Float(i as f64),
        (ColumnType::Timestamp, ValueRef::Integer(us)) => Value::Timestamp(from_micros(us)?),
        (ColumnType::Json, raw) => Value::Json(Owned(parse_json(raw)?)),
        (ColumnType::Bytes, ValueRef::Blob(b)) => Value::Bytes(Owned(b.to_vec())),
        (ColumnType::UuidArray, raw) => Value::UuidArray(Owned(parse_json(raw)?)),
        (ColumnType::TextArray, raw) => Value::TextArray(Owned(parse_json(raw)?)),
        (ty, raw) => return Err(format!("a {ty:?} column holds {:?}", raw.data_type())),
    })
}

fn schema_err(table: &Table, column: usize, msg: &str) -> StoreError {
    let name = table.columns.get(column).map_or("?", |c| c.name);
    StoreError::Schema(format!("{}.{name}: {msg}", table.name))
}

/// Reads the values of `columns` (positions in `table`) from the first
/// columns of `row`.
pub(crate) fn read_columns(row: &Row<'_>, table: &Table, columns: &[usize]) -> Result<Vec<Value<'static>>, StoreError> {
    let mut out = Vec::with_capacity(columns.len());
    for (i, &c) in columns.iter().enumerate() {
        let raw = row.get_ref(i).map_err(db_err)?;
        out.push(read_value(raw, table.columns[c].ty).map_err(|m| schema_err(table, c, &m))?);
    }
    Ok(out)
}

/// Reads a whole row of `table` (every column, in column order) as a [`Record`].
pub(crate) fn read_record(row: &Row<'_>, table: &Table) -> Result<Record, StoreError> {
    let mut values = Vec::with_capacity(table.columns.len());
    for (i, col) in table.columns.iter().enumerate() {
        let raw = row.get_ref(i).map_err(db_err)?;
        values.push(read_value(raw, col.ty).map_err(|m| schema_err(table, i, &m))?);
    }
    Ok(Record::decode(table, values)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: Value<'static>, ty: ColumnType) -> Value<'static> {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let mut st = c.prepare("SELECT ?1").unwrap();
        st.raw_bind_parameter(1, Bind(&v)).unwrap();
        let mut rows = st.raw_query();
        let row = rows.next().unwrap().unwrap();
        read_value(row.get_ref(0).unwrap(), ty).unwrap()
    }

    #[test]
    fn every_column_type_round_trips() {
        let t = time::macros::datetime!(2024-02-29 23:59:59.999_999 UTC);
        let cases: Vec<(Value<'static>, ColumnType)> = vec![
            (Value::Null, ColumnType::Timestamp),
            (Value::Uuid(Uuid::now_v7()), ColumnType::Uuid),
            (Value::Text("é ' \" x".into()), ColumnType::Text),
            (Value::Int(-7), ColumnType::Money),
            (Value::Int(i64::MAX), ColumnType::Int),
            (Value::Bool(true), ColumnType::Bool),
            (Value::Bool(false), ColumnType::Bool),
            (Value::Float(1.25), ColumnType::Float),
            (Value::Timestamp(t), ColumnType::Timestamp),
            (Value::Json(std::borrow::Cow::Owned(serde_json::json!({"a": [1, "b", null]}))), ColumnType::Json),
            (Value::Bytes(vec![0, 1, 255].into()), ColumnType::Bytes),
            (Value::UuidArray(vec![Uuid::nil(), Uuid::max()].into()), ColumnType::UuidArray),
            (Value::TextArray(vec!["a".to_owned(), "".to_owned()].into()), ColumnType::TextArray),
        ];
        for (v, ty) in cases {
            assert_eq!(round_trip(v.clone(), ty), v, "{ty:?}");
        }
    }

    #[test]
    fn timestamps_are_micros_and_keep_their_range() {
        for t in [
            OffsetDateTime::UNIX_EPOCH,
            time::macros::datetime!(1969-12-31 23:59:59.000_001 UTC),
            time::macros::datetime!(9999-12-31 23:59:59.999_999 UTC),
        ] {
            assert_eq!(from_micros(micros(t)).unwrap(), t);
        }
        assert_eq!(micros(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1)), 1_000_000);
    }

    #[test]
    fn uuid_bytes_sort_like_uuid() {
        let a = Uuid::from_u128(0xff);
        let b = Uuid::from_u128(0x0100_0000_0000_0000_0000_0000_0000_0000);
        assert!(a < b && a.as_bytes() < b.as_bytes());
    }

    #[test]
    fn a_stored_value_of_the_wrong_kind_is_an_error() {
        assert!(read_value(ValueRef::Integer(1), ColumnType::Uuid).is_err());
        assert!(read_value(ValueRef::Blob(&[1, 2]), ColumnType::Uuid).is_err());
        assert!(read_value(ValueRef::Text(b"{"), ColumnType::Json).is_err());
    }
}
