//! The one read every store answers: a [`Query`] over one table of the
//! catalogue — equality, range and set filters on its columns, an order,
//! a limit. Every typed read of [`crate::Reads`] is a query, so a new table
//! is readable on every store, and through every wrapper, with no adapter
//! code; adapters turn a query into SQL once per shape and cache it.
//!
//! Contract (every adapter MUST follow it, the memory store is the model):
//! - filters are ANDed; a comparison with NULL never matches (SQL rules);
//!   [`Filter::In`] with no values matches nothing;
//! - rows come out in `order` (ascending or descending per column, NULL
//!   never compared: queries that order by a nullable column filter it);
//!   without an order, in no particular order;
//! - at most `limit` rows when set.

use crate::catalogue::Catalogued;
use crate::ports::Page;
use crate::schema::{Key, Table, Value};

/// A comparison of a column with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `=`
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Cmp {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    /// Whether `ord` (row value compared with the filter value) satisfies it.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => ord == Equal,
            Cmp::Lt => ord == Less,
            Cmp::Le => ord != Greater,
            Cmp::Gt => ord == Greater,
            Cmp::Ge => ord != Less,
        }
    }
}

/// One condition on the rows of a query (columns by position in the table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `column <op> value`.
    Cmp {
        /// The column.
        column: usize,
        /// The comparison.
        op: Cmp,
        /// The value.
        value: Value<'static>,
    },
    /// `column = 'constant'`: a text constant known when the code was
    /// written (a status). SQL adapters inline it, so PostgreSQL's partial
    /// indexes (`WHERE status = 'CREATED'`) serve the query.
    Const {
        /// The column.
        column: usize,
        /// The constant.
        value: &'static str,
    },
    /// `column IN (values)`.
    In {
        /// The column.
        column: usize,
        /// The values (none matches nothing).
        values: Vec<Value<'static>>,
    },
    /// `column IS NULL` (or `IS NOT NULL` when `null` is false).
    Null {
        /// The column.
        column: usize,
        /// Whether NULL is wanted.
        null: bool,
    },
    /// `(c1, c2, ...) > (v1, v2, ...)`: keyset paging in ascending order
    /// over several columns.
    After {
        /// The columns.
        columns: Vec<usize>,
        /// The values.
        values: Vec<Value<'static>>,
    },
}

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// What the SQL of a [`Query`] depends on, without the values it binds:
/// its table, each filter's kind, column and operator, its order, whether
/// it is limited. SQL adapters generate a statement once per shape and
/// cache it by this key ([`Query::shape`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueryShape {
    /// The table's name.
    pub table: &'static str,
    /// The filters, in the query's order.
    pub filters: Vec<FilterShape>,
    /// The sort order.
    pub order: Vec<(usize, Dir)>,
    /// Whether the query has a limit.
    pub limit: bool,
}

/// A [`Filter`] without its values (columns by position in the table).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FilterShape {
    /// [`Filter::Cmp`]: the column and the comparison.
    Cmp(usize, Cmp),
    /// [`Filter::Const`]: the column and the constant (part of the SQL).
    Const(usize, &'static str),
    /// [`Filter::In`]: the column (how many values it binds is the
    /// adapter's concern).
    In(usize),
    /// [`Filter::Null`]: the column and whether NULL is wanted.
    Null(usize, bool),
    /// [`Filter::After`]: the columns.
    After(Vec<usize>),
}

/// A read of one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The table.
    pub table: &'static Table,
    /// Conditions, ANDed.
    pub filters: Vec<Filter>,
    /// Sort order: (column, direction), most significant first.
    pub order: Vec<(usize, Dir)>,
    /// At most this many rows.
    pub limit: Option<u32>,
    /// No index serves this query, on purpose (a test of the query
    /// contract, a one-off operator query): adapters that check every read
    /// is served by an index let this one scan.
    pub unindexed: bool,
}

impl Query {
    /// Every row of `table`, in no particular order.
    pub fn table(table: &'static Table) -> Self {
        Self { table, filters: Vec::new(), order: Vec::new(), limit: None, unindexed: false }
    }

    /// Every row of `T`'s table.
    pub fn of<T: Catalogued>() -> Self {
        Self::table(T::table())
    }

    /// The row of `T` with primary key `key`.
    pub fn key<T: Catalogued>(key: impl Into<Key>) -> Self {
        Self::by_key(T::table(), &key.into())
    }

    /// The row of `table` with primary key `key`.
    pub fn by_key(table: &'static Table, key: &Key) -> Self {
        let mut q = Self::table(table);
        for (c, v) in table.key.iter().zip(key.values()) {
            q.filters.push(Filter::Cmp { column: *c, op: Cmp::Eq, value: v.clone() });
        }
        q.limit = Some(1);
        q
    }

    /// Up to `limit` rows of `table` in primary-key order, strictly after
    /// `after` when set: one page of a full-table scan.
    pub fn scan(table: &'static Table, after: Option<&Key>, limit: u32) -> Self {
        let mut q = Self::table(table);
        if let Some(k) = after {
            q.filters.push(Filter::After { columns: table.key.clone(), values: k.values().to_vec() });
        }
        q.order = table.key.iter().map(|c| (*c, Dir::Asc)).collect();
        q.limit = Some(limit);
        q
    }

    fn cmp(mut self, column: &str, op: Cmp, value: impl Into<Value<'static>>) -> Self {
        let column = self.table.col(column);
        self.filters.push(Filter::Cmp { column, op, value: value.into() });
        self
    }

    /// `column = value`.
    pub fn eq(self, column: &str, value: impl Into<Value<'static>>) -> Self {
        self.cmp(column, Cmp::Eq, value)
    }

    /// `column < value`.
    pub fn lt(self, column: &str, value: impl Into<Value<'static>>) -> Self {
        self.cmp(column, Cmp::Lt, value)
    }

    /// `column <= value`.
    pub fn le(self, column: &str, value: impl Into<Value<'static>>) -> Self {
        self.cmp(column, Cmp::Le, value)
    }

    /// `column > value`.
    pub fn gt(self, column: &str, value: impl Into<Value<'static>>) -> Self {
        self.cmp(column, Cmp::Gt, value)
    }

    /// `column >= value`.
    pub fn ge(self, column: &str, value: impl Into<Value<'static>>) -> Self {
        self.cmp(column, Cmp::Ge, value)
    }

    /// `column = 'constant'` (inlined by SQL adapters; see [`Filter::Const`]).
    pub fn is(mut self, column: &str, value: &'static str) -> Self {
        let column = self.table.col(column);
        self.filters.push(Filter::Const { column, value });
        self
    }

    /// `column = 'constant'` when `value` is set.
    pub fn is_opt(self, column: &str, value: Option<&'static str>) -> Self {
        match value {
            Some(v) => self.is(column, v),
            None => self,
        }
    }

    /// `column IN (values)`.
    pub fn any<V: Into<Value<'static>>>(mut self, column: &str, values: impl IntoIterator<Item = V>) -> Self {
        let column = self.table.col(column);
        self.filters.push(Filter::In { column, values: values.into_iter().map(Into::into).collect() });
        self
    }

    /// `column IS NULL`.
    pub fn null(mut self, column: &str) -> Self {
        let column = self.table.col(column);
        self.filters.push(Filter::Null { column, null: true });
        self
    }

    /// `column IS NOT NULL`.
    pub fn not_null(mut self, column: &str) -> Self {
        let column = self.table.col(column);
        self.filters.push(Filter::Null { column, null: false });
        self
    }

    /// Then by `column`, ascending.
    pub fn asc(mut self, column: &str) -> Self {
        let column = self.table.col(column);
        self.order.push((column, Dir::Asc));
        self
    }

    /// Then by `column`, descending.
    pub fn desc(mut self, column: &str) -> Self {
        let column = self.table.col(column);
        self.order.push((column, Dir::Desc));
        self
    }

    /// Marks the query as served by no index on purpose (see
    /// [`Query::unindexed`]).
    pub fn unindexed(mut self) -> Self {
        self.unindexed = true;
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }

    /// A newest-first page by `id`: `id < before` when set, `ORDER BY id
    /// DESC`, `limit` rows (see [`Page`]).
    pub fn page(self, page: Page) -> Self {
        self.page_by("id", page)
    }

    /// A page of rows in descending `column` (a UUID column) order:
    /// [`Query::page`] for a table whose key is not `id`.
    pub fn page_by(self, column: &str, page: Page) -> Self {
        let q = match page.before {
            Some(b) => self.lt(column, b),
            None => self,
        };
        q.desc(column).limit(page.limit)
    }

    /// Whether the query can match no row whatever the data: a comparison
    /// with NULL, or an `In` list without a value that is not NULL (NULL
    /// equals nothing). Adapters answer it without a round trip.
    pub fn matches_nothing(&self) -> bool {
        self.filters.iter().any(|f| match f {
            Filter::Cmp { value, .. } => value.is_null(),
            Filter::In { values, .. } => values.iter().all(Value::is_null),
            _ => false,
        })
    }

    /// The shape of this query: what its SQL depends on (see [`QueryShape`]).
    pub fn shape(&self) -> QueryShape {
        let filters = self
            .filters
            .iter()
            .map(|f| match f {
                Filter::Cmp { column, op, .. } => FilterShape::Cmp(*column, *op),
                Filter::Const { column, value } => FilterShape::Const(*column, value),
                Filter::In { column, .. } => FilterShape::In(*column),
                Filter::Null { column, null } => FilterShape::Null(*column, *null),
                Filter::After { columns, .. } => FilterShape::After(columns.clone()),
            })
            .collect();
        QueryShape { table: self.table.name, filters, order: self.order.clone(), limit: self.limit.is_some() }
    }

    /// Whether `row` (values in column order) passes every filter.
    pub fn matches(&self, row: &[Value<'_>]) -> bool {
        self.filters.iter().all(|f| filter_matches(f, row))
    }

    /// Sorts rows (values in column order) by the query's order.
    pub fn compare(&self, a: &[Value<'_>], b: &[Value<'_>]) -> std::cmp::Ordering {
        for (c, dir) in &self.order {
            let o = a[*c].cmp(&b[*c]);
            let o = if *dir == Dir::Desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    }

    /// The filters on the primary key when the query names exactly one row
    /// by equality on every key column.
    pub fn exact_key(&self) -> Option<Key> {
        let mut vals = Vec::with_capacity(self.table.key.len());
        for k in &self.table.key {
            let v = self.filters.iter().find_map(|f| match f {
                Filter::Cmp { column, op: Cmp::Eq, value } if column == k => Some(value.clone()),
                _ => None,
            })?;
            vals.push(v);
        }
        Some(Key(vals))
    }
}

fn filter_matches(f: &Filter, row: &[Value<'_>]) -> bool {
    match f {
        Filter::Cmp { column, op, value } => {
            let v = &row[*column];
            !v.is_null() && !value.is_null() && op.holds(v.cmp(&value.borrowed()))
        }
        Filter::Const { column, value } => matches!(&row[*column], Value::Text(t) if t == value),
        Filter::In { column, values } => {
            let v = &row[*column];
            !v.is_null() && values.iter().any(|x| x.borrowed() == *v)
        }
        Filter::Null { column, null } => row[*column].is_null() == *null,
        Filter::After { columns, values } => {
            for (c, v) in columns.iter().zip(values) {
                match row[*c].cmp(&v.borrowed()) {
                    std::cmp::Ordering::Greater => return true,
                    std::cmp::Ordering::Less => return false,
                    std::cmp::Ordering::Equal => {}
                }
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CustomerOrder;

    #[test]
    fn queries_differing_only_in_values_share_a_shape() {
        let q = |id: uuid::Uuid, ids: Vec<uuid::Uuid>, status: &'static str| {
            Query::of::<CustomerOrder>().eq("store_id", id).any("id", ids).is("status", status).limit(5)
        };
        let a = q(uuid::Uuid::nil(), vec![uuid::Uuid::nil()], "CREATED");
        let b = q(uuid::Uuid::max(), vec![uuid::Uuid::max(), uuid::Uuid::nil()], "CREATED");
        assert_eq!(a.shape(), b.shape());
        let col = |name| a.table.col(name);
        let filters = [
            FilterShape::Cmp(col("store_id"), Cmp::Eq),
            FilterShape::In(col("id")),
            FilterShape::Const(col("status"), "CREATED"),
        ];
        assert_eq!(a.shape().filters, filters);
        assert_ne!(a.shape(), q(uuid::Uuid::nil(), vec![], "PAID").shape(), "a constant is part of the shape");
        assert_ne!(a.shape(), a.clone().desc("id").shape(), "so is the order");
        assert_ne!(a.shape(), Query { limit: None, ..a.clone() }.shape(), "and having a limit");
    }
}
