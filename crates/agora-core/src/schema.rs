//! The entity catalogue's building blocks: every table is declared once, on
//! its entity struct with `#[derive(Entity)]`, and described at run time by
//! a [`Table`]: its name, typed columns, primary key, unique constraints and
//! copy rules. A row crosses the storage boundary as [`Value`]s in column
//! order. Both SQL adapters build their statements, binders and row mappers
//! from the [`Table`]; the memory store keys its maps and checks its unique
//! constraints with it; cutover copies, verifies and exports by it.
//!
//! No adapter type appears here: each adapter maps [`ColumnType`]s to its
//! own storage (SQLite: `BLOB` uuids, `INTEGER` micros and minor units;
//! PostgreSQL: `UUID`, `TIMESTAMPTZ`, `NUMERIC(12,2)`, arrays).

use std::borrow::Cow;
use std::cmp::Ordering;

use time::OffsetDateTime;
use uuid::Uuid;

pub use agora_derive::Entity;

/// How a column is stored; each adapter maps these to its own types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// A UUID.
    Uuid,
    /// UTF-8 text (also every status enum, by its `as_str` form).
    Text,
    /// A 64-bit integer.
    Int,
    /// A 32-bit integer (still carried as [`Value::Int`]).
    Int32,
    /// A boolean.
    Bool,
    /// A 64-bit float.
    Float,
    /// A UTC timestamp with microsecond precision.
    Timestamp,
    /// Money in minor units (carried as [`Value::Int`]; PostgreSQL stores
    /// `NUMERIC(12,2)` in major units, SQLite the integer).
    Money,
    /// A JSON document.
    Json,
    /// Raw bytes.
    Bytes,
    /// A list of UUIDs.
    UuidArray,
    /// A list of strings.
    TextArray,
}

/// The type and nullability of one column a [`Field`] occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnShape {
    /// Its type.
    pub ty: ColumnType,
    /// Whether it may hold NULL.
    pub nullable: bool,
}

/// One column of a [`Table`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The SQL column name.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Whether it may hold NULL.
    pub nullable: bool,
}

/// A unique constraint of a [`Table`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unique {
    /// The constraint's name, as in the PostgreSQL schema; also the `kind`
    /// of the [`crate::Guard::Free`] guard that checks it.
    pub name: &'static str,
    /// Positions of its columns in [`Table::columns`].
    pub columns: Vec<usize>,
}

/// A table as the catalogue declares it.
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    /// The SQL table name.
    pub name: &'static str,
    /// Every column, in the entity's field order.
    pub columns: Vec<Column>,
    /// Positions of the primary-key columns in `columns`.
    pub key: Vec<usize>,
    /// Unique constraints besides the primary key.
    pub unique: Vec<Unique>,
    /// Rows may be deleted (cutover removes from the target what the
    /// source no longer has).
    pub deletable: bool,
    /// Rows never change once inserted (copy only inserts what is missing).
    pub immutable: bool,
}

impl Table {
    /// The position of the column named `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The position of `name`; a bug in the caller when it does not exist.
    ///
    /// # Panics
    /// When the table has no such column: column names in core are
    /// constants checked by every conformance test.
    pub fn col(&self, name: &str) -> usize {
        match self.column(name) {
            Some(i) => i,
            None => panic!("table {} has no column {name}", self.name),
        }
    }

    /// The unique constraint named `name`.
    pub fn unique_named(&self, name: &str) -> Option<&Unique> {
        self.unique.iter().find(|u| u.name == name)
    }

    /// The unique constraint (or primary key, named `{table}_pkey`) over
    /// exactly these columns, in any order.
    pub fn unique_on(&self, columns: &[usize]) -> Option<&str> {
        let same = |a: &[usize]| a.len() == columns.len() && a.iter().all(|c| columns.contains(c));
        if same(&self.key) {
            return Some("pkey");
        }
        self.unique.iter().find(|u| same(&u.columns)).map(|u| u.name)
    }

    /// The key of a row given as values in column order.
    pub fn key_of(&self, row: &[Value<'_>]) -> Key {
        Key(self.key.iter().map(|&i| row[i].clone().into_owned()).collect())
    }
}

/// Builds a [`Table`]; used by the code `#[derive(Entity)]` generates.
#[derive(Debug)]
pub struct TableBuilder {
    table: Table,
}

impl TableBuilder {
    /// A table named `name` with no columns yet.
    pub fn new(name: &'static str) -> Self {
        Self {
            table: Table {
                name,
                columns: Vec::new(),
                key: Vec::new(),
                unique: Vec::new(),
                deletable: false,
                immutable: false,
            },
        }
    }

    /// Adds the columns of one field: one name per column of its shape;
    /// `money` turns an integer column into a money column.
    ///
    /// # Panics
    /// When the names do not match the shape (a wrong declaration).
    pub fn field(&mut self, names: &[&'static str], shape: &[ColumnShape], money: bool) {
        assert_eq!(names.len(), shape.len(), "table {}: columns {names:?} do not match the field", self.table.name);
        for (name, s) in names.iter().zip(shape) {
            let ty = if money {
                assert_eq!(s.ty, ColumnType::Int, "table {}: money column {name} must be an i64", self.table.name);
                ColumnType::Money
            } else {
                s.ty
            };
            self.table.columns.push(Column { name, ty, nullable: s.nullable });
        }
    }

    fn positions(&self, cols: &[&str]) -> Vec<usize> {
        cols.iter().map(|c| self.table.col(c)).collect()
    }

    /// Sets the primary key.
    pub fn key(&mut self, cols: &[&str]) {
        self.table.key = self.positions(cols);
    }

    /// Adds a unique constraint.
    pub fn unique(&mut self, name: &'static str, cols: &[&str]) {
        let columns = self.positions(cols);
        self.table.unique.push(Unique { name, columns });
    }

    /// Sets the copy rules.
    pub fn flags(&mut self, deletable: bool, immutable: bool) {
        self.table.deletable = deletable;
        self.table.immutable = immutable;
    }

    /// The finished table.
    pub fn build(self) -> Table {
        self.table
    }
}

/// One column's value crossing the storage boundary. Writes borrow from
/// the entity (`Value<'a>`); reads own their data (`Value<'static>`).
#[derive(Clone, Debug)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// A UUID.
    Uuid(Uuid),
    /// Text.
    Text(Cow<'a, str>),
    /// An integer (also 32-bit and money columns).
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A float.
    Float(f64),
    /// A timestamp.
    Timestamp(OffsetDateTime),
    /// A JSON document.
    Json(Cow<'a, serde_json::Value>),
    /// Bytes.
    Bytes(Cow<'a, [u8]>),
    /// A list of UUIDs.
    UuidArray(Cow<'a, [Uuid]>),
    /// A list of strings.
    TextArray(Cow<'a, [String]>),
}

impl Value<'_> {
    /// The same value owning its data.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Uuid(u) => Value::Uuid(u),
            Value::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
            Value::Int(i) => Value::Int(i),
            Value::Bool(b) => Value::Bool(b),
            Value::Float(f) => Value::Float(f),
            Value::Timestamp(t) => Value::Timestamp(t),
            Value::Json(j) => Value::Json(Cow::Owned(j.into_owned())),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::UuidArray(a) => Value::UuidArray(Cow::Owned(a.into_owned())),
            Value::TextArray(a) => Value::TextArray(Cow::Owned(a.into_owned())),
        }
    }

    /// A borrowed copy (cheap).
    pub fn borrowed(&self) -> Value<'_> {
        match self {
            Value::Null => Value::Null,
            Value::Uuid(u) => Value::Uuid(*u),
            Value::Text(t) => Value::Text(Cow::Borrowed(t)),
            Value::Int(i) => Value::Int(*i),
            Value::Bool(b) => Value::Bool(*b),
            Value::Float(f) => Value::Float(*f),
            Value::Timestamp(t) => Value::Timestamp(*t),
            Value::Json(j) => Value::Json(Cow::Borrowed(j)),
            Value::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
            Value::UuidArray(a) => Value::UuidArray(Cow::Borrowed(a)),
            Value::TextArray(a) => Value::TextArray(Cow::Borrowed(a)),
        }
    }

    /// Whether this is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Uuid(_) => 1,
            Value::Text(_) => 2,
            Value::Int(_) => 3,
            Value::Bool(_) => 4,
            Value::Float(_) => 5,
            Value::Timestamp(_) => 6,
            Value::Json(_) => 7,
            Value::Bytes(_) => 8,
            Value::UuidArray(_) => 9,
            Value::TextArray(_) => 10,
        }
    }
}

/// A total order: NULL first, then by kind, then by content (floats by
/// `total_cmp`, JSON by its text). Values of one column always have one
/// kind, so within a column this is the natural order.
impl Ord for Value<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Uuid(a), Value::Uuid(b)) => a.cmp(b),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
            (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
            (Value::Json(a), Value::Json(b)) => a.to_string().cmp(&b.to_string()),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::UuidArray(a), Value::UuidArray(b)) => a.cmp(b),
            (Value::TextArray(a), Value::TextArray(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for Value<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Json(a), Value::Json(b)) => a == b,
            _ => self.cmp(other) == Ordering::Equal,
        }
    }
}

impl Eq for Value<'_> {}

/// A primary key (or any tuple of column values), owned and ordered.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(pub Vec<Value<'static>>);

impl Key {
    /// A key from encoded values (copied when borrowed).
    pub fn from_values(values: Vec<Value<'_>>) -> Self {
        Key(values.into_iter().map(Value::into_owned).collect())
    }

    /// A key of one value.
    pub fn one(v: impl Into<Value<'static>>) -> Self {
        Key(vec![v.into()])
    }

    /// Its values.
    pub fn values(&self) -> &[Value<'static>] {
        &self.0
    }
}

/// A key of two columns, e.g. `(store_id, job)`.
impl<A: Into<Value<'static>>, B: Into<Value<'static>>> From<(A, B)> for Key {
    fn from((a, b): (A, B)) -> Self {
        Key(vec![a.into(), b.into()])
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| match v {
                Value::Uuid(u) => u.to_string(),
                Value::Text(t) => t.to_string(),
                Value::Int(i) => i.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        write!(f, "({})", parts.join(", "))
    }
}

/// Why a row could not be decoded into an entity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct DecodeError {
    /// The column (or field) that failed.
    pub column: String,
    /// What was wrong.
    pub message: String,
}

impl DecodeError {
    /// An error without a column yet.
    pub fn new(message: impl Into<String>) -> Self {
        Self { column: String::new(), message: message.into() }
    }

    /// Names the column, unless a deeper level already did.
    pub fn at(mut self, column: &str) -> Self {
        if self.column.is_empty() {
            self.column = column.to_owned();
        }
        self
    }
}

impl From<DecodeError> for crate::StoreError {
    fn from(e: DecodeError) -> Self {
        crate::StoreError::Schema(e.to_string())
    }
}

/// A row's values being decoded, in column order.
#[derive(Debug)]
pub struct Values {
    items: std::vec::IntoIter<Value<'static>>,
}

impl Values {
    /// The values of one row, in column order.
    pub fn new(row: Vec<Value<'static>>) -> Self {
        Self { items: row.into_iter() }
    }

    /// The next value.
    ///
    /// # Errors
    /// When the row has no more values.
    pub fn take(&mut self) -> Result<Value<'static>, DecodeError> {
        self.items.next().ok_or_else(|| DecodeError::new("the row has fewer values than the table has columns"))
    }

    /// Whether the next `n` values are all NULL.
    pub fn next_are_null(&self, n: usize) -> bool {
        let rest = self.items.as_slice();
        rest.len() >= n && rest[..n].iter().all(Value::is_null)
    }

    /// Skips `n` values.
    pub fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.items.next();
        }
    }
}

fn wrong(what: &str, got: &Value<'_>) -> DecodeError {
    DecodeError::new(format!("expected {what}, found {got:?}"))
}

/// A Rust type that one or more columns store. Implemented for the
/// scalar types, typed ids, status enums, money and time; `Option<T>`
/// makes a field's columns nullable.
pub trait Field: Sized {
    /// How many columns the field occupies.
    const WIDTH: usize = 1;
    /// The type and nullability of each of its columns.
    fn shape() -> Vec<ColumnShape>;
    /// Appends its column values.
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>);
    /// Reads its column values.
    ///
    /// # Errors
    /// When a value has the wrong kind or an unknown text.
    fn decode(values: &mut Values) -> Result<Self, DecodeError>;
}

fn one(ty: ColumnType) -> Vec<ColumnShape> {
    vec![ColumnShape { ty, nullable: false }]
}

impl Field for Uuid {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Uuid)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Uuid(*self));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        match values.take()? {
            Value::Uuid(u) => Ok(u),
            other => Err(wrong("a uuid", &other)),
        }
    }
}

impl Field for String {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Text)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Text(Cow::Borrowed(self)));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        match values.take()? {
            Value::Text(t) => Ok(t.into_owned()),
            other => Err(wrong("text", &other)),
        }
    }
}

fn int(values: &mut Values) -> Result<i64, DecodeError> {
    match values.take()? {
        Value::Int(i) => Ok(i),
        other => Err(wrong("an integer", &other)),
    }
}

impl Field for i64 {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Int)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Int(*self));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        int(values)
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn shape() -> Vec<ColumnShape> {
                one(ColumnType::Int32)
            }
            fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
                out.push(Value::Int(i64::from(*self)));
            }
            fn decode(values: &mut Values) -> Result<Self, DecodeError> {
                let i = int(values)?;
                <$t>::try_from(i).map_err(|_| DecodeError::new(format!("{i} is out of range")))
            }
        }
    )*};
}
narrow_int!(i32, u16);

impl Field for u32 {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Int)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Int(i64::from(*self)));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        let i = int(values)?;
        u32::try_from(i).map_err(|_| DecodeError::new(format!("{i} is out of range")))
    }
}

impl Field for bool {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Bool)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Bool(*self));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        match values.take()? {
            Value::Bool(b) => Ok(b),
            Value::Int(i) => Ok(i != 0),
            other => Err(wrong("a boolean", &other)),
        }
    }
}

impl Field for f64 {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Float)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Float(*self));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        match values.take()? {
            Value::Float(f) => Ok(f),
            Value::Int(i) => Ok(i as f64),
            other => Err(wrong("a float", &other)),
        }
    }
}

impl Field for OffsetDateTime {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Timestamp)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Timestamp(*self));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        match values.take()? {
            Value::Timestamp(t) => Ok(t),
            other => Err(wrong("a timestamp", &other)),
        }
    }
}

impl Field for serde_json::Value {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Json)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Json(Cow::Borrowed(self)));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        match values.take()? {
            Value::Json(j) => Ok(j.into_owned()),
            other => Err(wrong("JSON", &other)),
        }
    }
}

impl Field for Vec<u8> {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::Bytes)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::Bytes(Cow::Borrowed(self)));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        match values.take()? {
            Value::Bytes(b) => Ok(b.into_owned()),
            other => Err(wrong("bytes", &other)),
        }
    }
}

impl Field for Vec<String> {
    fn shape() -> Vec<ColumnShape> {
        one(ColumnType::TextArray)
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        out.push(Value::TextArray(Cow::Borrowed(self)));
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        match values.take()? {
            Value::TextArray(a) => Ok(a.into_owned()),
            other => Err(wrong("a list of text", &other)),
        }
    }
}

impl<T: Field> Field for Option<T> {
    const WIDTH: usize = T::WIDTH;
    fn shape() -> Vec<ColumnShape> {
        let mut s = T::shape();
        for c in &mut s {
            c.nullable = true;
        }
        s
    }
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>) {
        match self {
            Some(v) => v.encode(out),
            None => out.extend(std::iter::repeat_n(Value::Null, T::WIDTH)),
        }
    }
    fn decode(values: &mut Values) -> Result<Self, DecodeError> {
        if values.next_are_null(T::WIDTH) {
            values.skip(T::WIDTH);
            return Ok(None);
        }
        T::decode(values).map(Some)
    }
}

/// Implements [`Field`] for a type stored as text through `as_str` and a
/// parser returning `Option`.
#[macro_export]
#[doc(hidden)]
macro_rules! text_field {
    ($t:ty, $parse:expr) => {
        impl $crate::schema::Field for $t {
            fn shape() -> Vec<$crate::schema::ColumnShape> {
                vec![$crate::schema::ColumnShape { ty: $crate::schema::ColumnType::Text, nullable: false }]
            }
            fn encode<'a>(&'a self, out: &mut Vec<$crate::schema::Value<'a>>) {
                out.push($crate::schema::Value::Text(::std::borrow::Cow::Borrowed(self.as_str())));
            }
            fn decode(values: &mut $crate::schema::Values) -> Result<Self, $crate::schema::DecodeError> {
                match values.take()? {
                    $crate::schema::Value::Text(t) => ($parse)(t.as_ref())
                        .ok_or_else(|| $crate::schema::DecodeError::new(format!("unknown value {t:?}"))),
                    other => Err($crate::schema::DecodeError::new(format!("expected text, found {other:?}"))),
                }
            }
        }
    };
}

/// An entity stored in one table; derive it with `#[derive(Entity)]`.
pub trait Entity: Sized + Clone + Send + Sync + 'static {
    /// The table's description.
    fn table() -> &'static Table;
    /// Appends the row's values in column order.
    fn encode<'a>(&'a self, out: &mut Vec<Value<'a>>);
    /// Reads a row from values in column order.
    ///
    /// # Errors
    /// When a value does not fit its field.
    fn decode(values: &mut Values) -> Result<Self, DecodeError>;
    /// The primary key.
    fn key(&self) -> Key;

    /// The row's values in column order.
    fn values(&self) -> Vec<Value<'_>> {
        let mut out = Vec::with_capacity(Self::table().columns.len());
        self.encode(&mut out);
        out
    }

    /// The value of one column.
    fn value_of(&self, column: usize) -> Value<'static> {
        self.values().swap_remove(column).into_owned()
    }
}

/// Conversions into a [`Value`] for query filters and guards.
macro_rules! into_value {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl From<$t> for Value<'static> {
            fn from($v: $t) -> Self { $e }
        }
    )*};
}

into_value! {
    Uuid => |v| Value::Uuid(v),
    String => |v| Value::Text(Cow::Owned(v)),
    &str => |v| Value::Text(Cow::Owned(v.to_owned())),
    i64 => |v| Value::Int(v),
    i32 => |v| Value::Int(i64::from(v)),
    bool => |v| Value::Bool(v),
    OffsetDateTime => |v| Value::Timestamp(v),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_order_within_a_kind_and_null_first() {
        assert!(Value::Null < Value::Int(-5));
        assert!(Value::Int(1) < Value::Int(2));
        assert!(Value::Text("a".into()) < Value::Text("b".into()));
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert!(Key(vec![Value::Uuid(a), Value::Uuid(b)]) < Key(vec![Value::Uuid(b), Value::Uuid(a)]));
        assert_eq!(Value::Text(Cow::Borrowed("x")), Value::Text(Cow::Owned("x".into())));
    }

    #[test]
    fn options_are_null_columns() {
        let mut out = Vec::new();
        let none: Option<i64> = None;
        none.encode(&mut out);
        Some(7i64).encode(&mut out);
        let mut v = Values::new(out.into_iter().map(Value::into_owned).collect());
        assert_eq!(Option::<i64>::decode(&mut v).unwrap(), None);
        assert_eq!(Option::<i64>::decode(&mut v).unwrap(), Some(7));
        assert!(Option::<i64>::shape()[0].nullable);
    }
}
