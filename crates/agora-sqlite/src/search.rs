//! [`Store::search_products`](agora_core::Store::search_products) with
//! FTS5: one statement over `product_search_fts` (migration `0011_search`),
//! one `UNION ALL` branch per [`MatchTier`], each an FTS5 query of the
//! hits of exactly that tier:
//!
//! - every branch ANDs the row's own tokens, `{keys} : (s<store hex> [AND
//!   <status>])`, so only the store's rows (of the status) take part;
//! - tier 0: `{title_words} : ("t1" AND "t2")`, every term a whole title word;
//! - tier 1: `{title_words} : ("t1"* AND ...) NOT` tier 0's terms;
//! - tier 2: `{title_words other_words} : ("t1"* AND ...) NOT` tier 1's terms.
//!
//! The tiers nest (a whole title word begins a title word, which begins a
//! word), so each hit falls in exactly one branch. Branches below the
//! cursor's tier are left out, the cursor's own tier keeps the ids below
//! the cursor's, and the union is ordered by (tier, product id descending).
//! Terms are core's words (lower-case alphanumeric runs), which the `ascii`
//! tokenizer keeps as single tokens; they are quoted anyway.

use agora_core::{MatchTier, ProductSearchQuery, SearchHit, StoreError};
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use crate::codec::db_err;
use crate::plan::{assert_indexed, counters};

/// `"term"` with FTS5's quoting, `*` after it when a prefix.
fn phrase(term: &str, prefix: bool) -> String {
    format!("\"{}\"{}", term.replace('"', "\"\""), if prefix { "*" } else { "" })
}

/// Every term, whole or as a prefix, ANDed.
fn all_terms(q: &ProductSearchQuery<'_>, prefix: bool) -> String {
    q.terms.as_slice().iter().map(|t| phrase(t, prefix)).collect::<Vec<_>>().join(" AND ")
}

/// The FTS5 query of the hits of exactly `tier`.
fn tier_match(q: &ProductSearchQuery<'_>, tier: MatchTier) -> String {
    let mut scope = format!("s{}", q.store_id.0.simple());
    if let Some(status) = q.status {
        scope.push_str(" AND ");
        scope.push_str(&phrase(status.as_str(), false));
    }
    let (exact, prefixes) = (all_terms(q, false), all_terms(q, true));
    let words = match tier {
        MatchTier::TitleWords => format!("{{title_words}} : ({exact})"),
        MatchTier::TitlePrefixes => format!("{{title_words}} : ({prefixes}) NOT {{title_words}} : ({exact})"),
        MatchTier::AnyPrefixes => {
            format!("{{title_words other_words}} : ({prefixes}) NOT {{title_words}} : ({prefixes})")
        }
    };
    format!("{{keys}} : ({scope}) AND ({words})")
}

/// The statement for a page starting after `after`: `?1`.. are the tiers'
/// FTS5 queries in branch order, then the cursor's id (when there is a
/// cursor), then the limit.
fn statement(after: Option<SearchHit>) -> String {
    let first = after.map_or(0, |a| a.tier.rank());
    let mut branches = Vec::new();
    let mut n = 0;
    for tier in MatchTier::ALL.into_iter().filter(|t| t.rank() >= first) {
        n += 1;
        let mut branch = format!(
            "SELECT product_id, {} AS tier FROM product_search_fts WHERE product_search_fts MATCH ?{n}",
            tier.rank()
        );
        if after.is_some_and(|a| a.tier == tier) {
            // Parameter numbers are fixed after the branches'.
            branch.push_str(" AND product_id < ?ID");
        }
        branches.push(branch);
    }
    let id = n + 1;
    let limit = if after.is_some() { n + 2 } else { n + 1 };
    let sql = format!("{} ORDER BY tier, product_id DESC LIMIT ?{limit}", branches.join(" UNION ALL "));
    sql.replace("?ID", &format!("?{id}"))
}

/// The page of hits `q` asks for, on a read connection.
pub(crate) fn search_on(c: &Connection, q: &ProductSearchQuery<'_>) -> Result<Vec<SearchHit>, StoreError> {
    let sql = statement(q.after);
    let mut params: Vec<SqlValue> = MatchTier::ALL
        .into_iter()
        .filter(|t| t.rank() >= q.after.map_or(0, |a| a.tier.rank()))
        .map(|t| SqlValue::Text(tier_match(q, t)))
        .collect();
    if let Some(after) = q.after {
        params.push(SqlValue::Blob(after.product_id.0.as_bytes().to_vec()));
    }
    params.push(SqlValue::Integer(i64::from(q.limit)));
    let mut st = c.prepare_cached(&sql).map_err(db_err)?;
    let before = counters(&st);
    let mut hits = Vec::new();
    {
        let mut rows = st.query(rusqlite::params_from_iter(params.iter())).map_err(db_err)?;
        while let Some(row) = rows.next().map_err(db_err)? {
            let id: Vec<u8> = row.get(0).map_err(db_err)?;
            let rank: i64 = row.get(1).map_err(db_err)?;
            let product_id = uuid::Uuid::from_slice(&id)
                .map_err(|e| StoreError::Schema(format!("product_search_fts.product_id: {e}")))?;
            let tier = u8::try_from(rank)
                .ok()
                .and_then(MatchTier::from_rank)
                .ok_or_else(|| StoreError::Schema(format!("search tier {rank}")))?;
            hits.push(SearchHit { tier, product_id: agora_core::ProductId(product_id) });
        }
    }
    assert_indexed(c, &st, before, &sql);
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use agora_core::{ProductId, ProductStatus, SearchTerms, StoreId};

    use super::*;

    #[test]
    fn tiers_are_fts5_queries_scoped_to_the_store() {
        let terms = SearchTerms::parse("Mu RED").unwrap();
        let store_id = StoreId(uuid::Uuid::from_u128(0xab));
        let q =
            ProductSearchQuery { store_id, status: Some(ProductStatus::Active), terms: &terms, after: None, limit: 5 };
        let scope = "{keys} : (s000000000000000000000000000000ab AND \"active\")";
        assert_eq!(
            tier_match(&q, MatchTier::TitleWords),
            format!("{scope} AND ({{title_words}} : (\"mu\" AND \"red\"))")
        );
        assert_eq!(
            tier_match(&q, MatchTier::AnyPrefixes),
            format!(
                "{scope} AND ({{title_words other_words}} : (\"mu\"* AND \"red\"*) NOT {{title_words}} : (\"mu\"* AND \"red\"*))"
            )
        );
        assert_eq!(phrase("a\"b", true), "\"a\"\"b\"*");
    }

    #[test]
    fn a_cursor_drops_the_tiers_before_it() {
        assert_eq!(
            statement(None),
            "SELECT product_id, 0 AS tier FROM product_search_fts WHERE product_search_fts MATCH ?1 UNION ALL \
             SELECT product_id, 1 AS tier FROM product_search_fts WHERE product_search_fts MATCH ?2 UNION ALL \
             SELECT product_id, 2 AS tier FROM product_search_fts WHERE product_search_fts MATCH ?3 \
             ORDER BY tier, product_id DESC LIMIT ?4"
        );
        let after = SearchHit { tier: MatchTier::TitlePrefixes, product_id: ProductId(uuid::Uuid::nil()) };
        assert_eq!(
            statement(Some(after)),
            "SELECT product_id, 1 AS tier FROM product_search_fts WHERE product_search_fts MATCH ?1 \
             AND product_id < ?3 UNION ALL \
             SELECT product_id, 2 AS tier FROM product_search_fts WHERE product_search_fts MATCH ?2 \
             ORDER BY tier, product_id DESC LIMIT ?4"
        );
    }
}
