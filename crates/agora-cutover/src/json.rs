//! A row as JSON: the entity's serde form (the same field names as the
//! Rust model), which the export format, the checksums of `verify` and the
//! differences it lists are made of; and its canonical text.

use std::sync::OnceLock;

use agora_core::catalogue::table_position;
use agora_core::{Record, Table};
use serde::Deserialize;
use serde::de::{self, Visitor};
use serde_json::{Map, Value};

use crate::CutoverError;

/// The row of `record` as JSON: its entity's serde form.
pub(crate) fn row_json(record: &Record) -> Value {
    // A record serialises as `{"Variant": row}`.
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) if map.len() == 1 => map.into_iter().next().map_or(Value::Null, |(_, row)| row),
        Ok(other) => other,
        Err(e) => Value::String(format!("unserialisable row: {e}")),
    }
}

/// The record of `table` that a JSON row (the entity's serde form) holds.
///
/// # Errors
/// [`CutoverError::Format`] when the row does not parse as a row of `table`.
pub(crate) fn record_from_json(table: &'static Table, row: Value) -> Result<Record, CutoverError> {
    let variant = table_position(table)
        .and_then(|i| record_variants().get(i))
        .ok_or_else(|| CutoverError::Format(format!("table {} has no record", table.name)))?;
    let tagged = Value::Object(Map::from_iter([((*variant).to_owned(), row)]));
    let record: Record =
        serde_json::from_value(tagged).map_err(|e| CutoverError::Format(format!("{}: bad row: {e}", table.name)))?;
    if record.table().name != table.name {
        return Err(CutoverError::Format(format!("{}: the row parsed as {}", table.name, record.table().name)));
    }
    Ok(record)
}

/// The serde names of [`Record`]'s variants, in declaration order, which is
/// the catalogue's order ([`agora_core::tables`]): both come from the one
/// `catalogue!` list. Read from the derived `Deserialize` itself.
fn record_variants() -> &'static [&'static str] {
    static VARIANTS: OnceLock<&'static [&'static str]> = OnceLock::new();
    VARIANTS.get_or_init(|| {
        let mut names = VariantNames(&[]);
        // It always fails: it only wants to see the variant list.
        let _ = Record::deserialize(&mut names);
        names.0
    })
}

/// A deserializer that records the variant names an enum asks for.
struct VariantNames(&'static [&'static str]);

impl<'de> de::Deserializer<'de> for &mut VariantNames {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only an enum's variant names are read"))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = variants;
        Err(de::Error::custom("variant names read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

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

#[cfg(test)]
mod tests {
    use agora_core::schema::Entity;
    use agora_core::{EventSeq, StoreId, tables};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn one_variant_per_table_in_catalogue_order() {
        assert_eq!(record_variants().len(), tables().len());
        let seq = Record::EventSeq(EventSeq { store_id: StoreId(Uuid::from_u128(3)), last_seq: 9 });
        let row = row_json(&seq);
        assert_eq!(canonical_json(&row), format!(r#"{{"last_seq":9,"store_id":"{}"}}"#, Uuid::from_u128(3)));
        assert_eq!(record_from_json(EventSeq::table(), row.clone()).expect("parse"), seq);
        let other = tables().iter().find(|t| t.name == "app_user").expect("table");
        assert!(record_from_json(other, row).is_err(), "a row of another table does not parse");
    }

    #[test]
    fn canonical_text_sorts_keys() {
        let v: Value = serde_json::from_str(r#"{"b":[{"y":1,"x":2}],"a":null}"#).expect("json");
        assert_eq!(canonical_json(&v), r#"{"a":null,"b":[{"x":2,"y":1}]}"#);
    }
}
