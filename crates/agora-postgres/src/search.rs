//! [`Store::search_products`](agora_core::Store::search_products) with
//! PostgreSQL full-text search over `product_search.lexemes` (migration
//! `20250101000015_search`): core's words as lexemes, title words a second
//! time with a `_` mark, the store and status as `#` lexemes.
//!
//! One statement: the GIN index finds the store's rows (of the status)
//! where every term begins a word (`'#<store>' & '#active' & 'mu':* &
//! 'red':*`); each is classified by two more tsqueries on its stored
//! tsvector (`'_mu' & '_red'`: every term a whole title word, tier 0;
//! `'_mu':* & '_red':*`: every term begins a title word, tier 1; else tier
//! 2), and the page is ordered by (tier, product id descending) after the
//! cursor. Lexemes are quoted (`'...'`, with `'` doubled and `\` escaped),
//! though core's words are alphanumeric.

use agora_core::{MatchTier, ProductId, ProductSearchQuery, SearchHit, StoreError};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgConnection};

/// A lexeme in tsquery syntax, `:*` after it when a prefix.
fn lexeme(text: &str, prefix: bool) -> String {
    format!("'{}'{}", text.replace('\\', "\\\\").replace('\'', "''"), if prefix { ":*" } else { "" })
}

/// Every term (with `mark` before it), whole or as a prefix, ANDed.
fn all_terms(q: &ProductSearchQuery<'_>, mark: &str, prefix: bool) -> String {
    q.terms.as_slice().iter().map(|t| lexeme(&format!("{mark}{t}"), prefix)).collect::<Vec<_>>().join(" & ")
}

/// The tsqueries of a search: (the matches in scope, tier 0's test, tier 1's test).
fn tsqueries(q: &ProductSearchQuery<'_>) -> (String, String, String) {
    let mut scope = vec![lexeme(&format!("#{}", q.store_id.0), false)];
    if let Some(status) = q.status {
        scope.push(lexeme(&format!("#{}", status.as_str()), false));
    }
    scope.push(all_terms(q, "", true));
    (scope.join(" & "), all_terms(q, "_", false), all_terms(q, "_", true))
}

const HITS: &str = "SELECT product_id, tier FROM (\
     SELECT product_id, \
     CASE WHEN lexemes @@ $2::tsquery THEN 0 WHEN lexemes @@ $3::tsquery THEN 1 ELSE 2 END AS tier \
     FROM product_search WHERE lexemes @@ $1::tsquery) AS hits";

/// The statement of a page without a cursor: `$4` is the limit.
fn first_page() -> String {
    format!("{HITS} ORDER BY tier, product_id DESC LIMIT $4")
}

/// The statement of a page after a cursor: `$4` its tier, `$5` its id, `$6` the limit.
fn next_page() -> String {
    format!("{HITS} WHERE tier > $4 OR (tier = $4 AND product_id < $5) ORDER BY tier, product_id DESC LIMIT $6")
}

/// The statement and arguments of `q`.
pub(crate) fn statement(q: &ProductSearchQuery<'_>) -> Result<(String, PgArguments), StoreError> {
    let bind_err = |e: sqlx::error::BoxDynError| StoreError::Unavailable(format!("binding a search: {e}"));
    let (scoped, title_words, title_prefixes) = tsqueries(q);
    let mut args = PgArguments::default();
    args.add(scoped).map_err(bind_err)?;
    args.add(title_words).map_err(bind_err)?;
    args.add(title_prefixes).map_err(bind_err)?;
    let sql = match q.after {
        None => first_page(),
        Some(after) => {
            args.add(i32::from(after.tier.rank())).map_err(bind_err)?;
            args.add(after.product_id.0).map_err(bind_err)?;
            next_page()
        }
    };
    args.add(i64::from(q.limit)).map_err(bind_err)?;
    Ok((sql, args))
}

/// Runs `q` on `conn`: the outer error is the connection's.
pub(crate) async fn search_on(
    conn: &mut PgConnection,
    q: &ProductSearchQuery<'_>,
) -> Result<Result<Vec<SearchHit>, StoreError>, sqlx::Error> {
    let (sql, args) = match statement(q) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let rows: Vec<(uuid::Uuid, i32)> = sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args).fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(id, rank)| {
            let tier = u8::try_from(rank)
                .ok()
                .and_then(MatchTier::from_rank)
                .ok_or_else(|| StoreError::Schema(format!("search tier {rank}")))?;
            Ok(SearchHit { tier, product_id: ProductId(id) })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use agora_core::{ProductStatus, SearchTerms, StoreId};

    use super::*;

    #[test]
    fn tsqueries_scope_prefix_and_mark_title_words() {
        let terms = SearchTerms::parse("Mu RED").unwrap();
        let store_id = StoreId(uuid::Uuid::from_u128(0xab));
        let q =
            ProductSearchQuery { store_id, status: Some(ProductStatus::Active), terms: &terms, after: None, limit: 5 };
        let (scoped, whole, prefixes) = tsqueries(&q);
        assert_eq!(scoped, "'#00000000-0000-0000-0000-0000000000ab' & '#active' & 'mu':* & 'red':*");
        assert_eq!(whole, "'_mu' & '_red'");
        assert_eq!(prefixes, "'_mu':* & '_red':*");
        assert_eq!(lexeme("it's\\", true), "'it''s\\\\':*");
    }
}
