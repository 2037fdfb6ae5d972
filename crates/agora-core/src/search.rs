//! Product search: the one definition of what a word is, what a query
//! means and how hits rank, shared by every store.
//!
//! A product is indexed as two lists of *words* ([`document`]): the words of
//! its title, and the other words of its variants' names and SKUs. A query
//! is a list of *terms* ([`SearchTerms::parse`]) made the same way. Text
//! becomes words by compatibility decomposition (NFKD), dropping every
//! combining mark (accents: "Crème" becomes "creme"), lower-casing, and
//! cutting at every character that is not alphanumeric ("MUG-RED-01"
//! becomes `mug`, `red`, `01`). A word therefore holds only alphanumeric
//! characters, and the stores index exactly these words: SQLite's FTS5
//! `ascii` tokenizer and PostgreSQL's `array_to_tsvector` both keep them as
//! they are, so every store sees the same tokens.
//!
//! A product matches when every term is a prefix of one of its words
//! ("mu" finds "Mug"). Hits rank in three [`MatchTier`]s, best first, and
//! within a tier newest first (descending product id, UUID v7):
//! [`match_tier`] is the reference evaluation the memory store runs and the
//! SQL stores reproduce.

use std::cmp::Ordering;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::error::AgoraError;
use crate::ids::ProductId;
use crate::model::{Product, ProductSearch, ProductVariant};

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most distinct terms a query may have.
pub const MAX_TERMS: usize = 10;
/// Words (and terms) longer than this many characters are cut to it, so a
/// word always fits every store's token limit (PostgreSQL's lexemes stop
/// at 2047 bytes; NFKD can expand one character into several).
pub const MAX_WORD_CHARS: usize = 64;
/// The version of these rules that [`document`] implements. A
/// [`ProductSearch`] row with a lower `words_version` was not made by them
/// (the search migration writes version 0 rows for existing products) and is
/// rewritten by [`crate::Agora::refresh_search_index`]; changing the rules
/// means raising this, and every row is rewritten once.
pub const WORDS_VERSION: i32 = 1;

/// NFKD, combining marks dropped, lower case. Lower-casing can make a
/// character NFKD decomposes again, so the steps run until nothing changes
/// (twice in practice).
fn fold(text: &str) -> String {
    let pass =
        |s: &str| -> String { s.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect() };
    let mut folded = pass(text);
    for _ in 0..4 {
        let again = pass(&folded);
        if again == folded {
            break;
        }
        folded = again;
    }
    folded
}

/// The words of `text`, in order, repeats kept: folded (see the module
/// documentation), cut at every character that is not alphanumeric, each
/// at most [`MAX_WORD_CHARS`] characters.
pub fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| match w.char_indices().nth(MAX_WORD_CHARS) {
            Some((end, _)) => w[..end].to_owned(),
            None => w.to_owned(),
        })
        .collect()
}

/// Appends the words of `text` to `out` that neither `out` nor `skip` holds yet.
fn add_distinct(out: &mut Vec<String>, skip: &[String], text: &str) {
    for w in words(text) {
        if !out.contains(&w) && !skip.contains(&w) {
            out.push(w);
        }
    }
}

/// The words a product is found by: `(title_words, other_words)`, each
/// space-separated and without repeats. The other words are those of the
/// variants' names and SKUs that are not already title words.
pub fn document<'a>(title: &str, variants: impl IntoIterator<Item = (&'a str, &'a str)>) -> (String, String) {
    let mut title_words = Vec::new();
    add_distinct(&mut title_words, &[], title);
    let mut other = Vec::new();
    for (name, sku) in variants {
        add_distinct(&mut other, &title_words, name);
        add_distinct(&mut other, &title_words, sku);
    }
    (title_words.join(" "), other.join(" "))
}

impl ProductSearch {
    /// The search row of `product` with these `variants` (those of other
    /// products are ignored), made by the current rules ([`WORDS_VERSION`]).
    pub fn of(product: &Product, variants: &[ProductVariant]) -> ProductSearch {
        let mine = variants.iter().filter(|v| v.product_id == product.id);
        let (title_words, other_words) = document(&product.title, mine.map(|v| (v.name.as_str(), v.sku.as_str())));
        ProductSearch {
            product_id: product.id,
            store_id: product.store_id,
            status: product.status,
            title_words,
            other_words,
            words_version: WORDS_VERSION,
        }
    }
}

/// The terms of a query: 1 to [`MAX_TERMS`] distinct words, in the order
/// first written. Every term must match (AND).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    /// The terms of the query text `q`.
    ///
    /// # Errors
    /// `validation` on `q` when it is longer than [`MAX_QUERY_CHARS`]
    /// characters, has no letter or digit, or more than [`MAX_TERMS`]
    /// distinct words.
    pub fn parse(q: &str) -> Result<SearchTerms, AgoraError> {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(AgoraError::validation("q", &format!("must be at most {MAX_QUERY_CHARS} characters")));
        }
        let mut terms = Vec::new();
        add_distinct(&mut terms, &[], q);
        if terms.is_empty() {
            return Err(AgoraError::validation("q", "must contain a letter or a digit"));
        }
        if terms.len() > MAX_TERMS {
            return Err(AgoraError::validation(
                "q",
                &format!("must have at most {MAX_TERMS} distinct words (words are runs of letters and digits)"),
            ));
        }
        Ok(SearchTerms(terms))
    }

    /// The terms, each a non-empty run of lower-case alphanumeric characters.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// How well a product matches a query; a lower tier ranks first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchTier {
    /// Every term is a whole word of the title.
    TitleWords = 0,
    /// Every term begins a word of the title.
    TitlePrefixes = 1,
    /// Every term begins a word of the title, a variant name or a SKU.
    AnyPrefixes = 2,
}

impl MatchTier {
    /// Every tier, best first.
    pub const ALL: [MatchTier; 3] = [MatchTier::TitleWords, MatchTier::TitlePrefixes, MatchTier::AnyPrefixes];

    /// 0, 1 or 2: the tier's place in the ranking.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The tier of rank `rank`.
    pub fn from_rank(rank: u8) -> Option<MatchTier> {
        MatchTier::ALL.get(usize::from(rank)).copied()
    }
}

/// Whether `term` begins one of the space-separated `words` (the whole
/// word when `whole`). Searches the text instead of splitting it: the
/// memory store runs this for every product of a store.
fn begins_a_word(words: &str, term: &str, whole: bool) -> bool {
    let bytes = words.as_bytes();
    words.match_indices(term).any(|(at, _)| {
        let end = at + term.len();
        (at == 0 || bytes[at - 1] == b' ') && (!whole || end == bytes.len() || bytes[end] == b' ')
    })
}

/// The reference evaluation: the tier at which a product with these words
/// matches `terms`, or `None` when some term begins none of its words.
pub fn match_tier(terms: &SearchTerms, title_words: &str, other_words: &str) -> Option<MatchTier> {
    let terms = terms.as_slice();
    let in_title = |t: &String, whole| begins_a_word(title_words, t, whole);
    if !terms.iter().all(|t| in_title(t, false) || begins_a_word(other_words, t, false)) {
        return None;
    }
    Some(if terms.iter().all(|t| in_title(t, true)) {
        MatchTier::TitleWords
    } else if terms.iter().all(|t| in_title(t, false)) {
        MatchTier::TitlePrefixes
    } else {
        MatchTier::AnyPrefixes
    })
}

/// One product found, with its tier: also a position in the ranking, so a
/// page of hits ends at a hit and the next page starts after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SearchHit {
    /// How well it matched.
    pub tier: MatchTier,
    /// The product.
    pub product_id: ProductId,
}

/// Hits order as they rank: better tier first, then newer (higher id) first.
impl Ord for SearchHit {
    fn cmp(&self, other: &Self) -> Ordering {
        self.tier.cmp(&other.tier).then_with(|| other.product_id.cmp(&self.product_id))
    }
}

impl PartialOrd for SearchHit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl SearchHit {
    /// The cursor of the page after this hit: the tier's digit followed by
    /// the list cursor of the product id ([`crate::encode_cursor`]), 23
    /// characters.
    pub fn cursor(&self) -> String {
        format!("{}{}", self.tier.rank(), crate::encode_cursor(self.product_id.0))
    }

    /// The position a cursor names. A search cursor ([`SearchHit::cursor`])
    /// names its hit; a plain list cursor (22 characters) names its id in
    /// the first tier, so a list cursor given to a search is a valid, if
    /// odd, place to start.
    pub fn from_cursor(cursor: &str) -> Option<SearchHit> {
        let (tier, id) = match cursor.len() {
            23 => {
                let digit = cursor.as_bytes()[0].checked_sub(b'0')?;
                (MatchTier::from_rank(digit)?, &cursor[1..])
            }
            _ => (MatchTier::TitleWords, cursor),
        };
        Some(SearchHit { tier, product_id: ProductId(crate::decode_cursor(id)?) })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn terms(q: &str) -> SearchTerms {
        SearchTerms::parse(q).expect("terms")
    }

    #[test]
    fn words_fold_accents_case_and_punctuation() {
        assert_eq!(words("Crème brûlée"), ["creme", "brulee"]);
        assert_eq!(words("MUG-RED-01"), ["mug", "red", "01"]);
        assert_eq!(words("  ÉCOLE, l'été!  "), ["ecole", "l", "ete"]);
        assert_eq!(words("ﬁne Ⅻ ①"), ["fine", "xii", "1"]);
        assert_eq!(words("Straße İstanbul"), ["straße", "istanbul"]);
        assert_eq!(words("北京 烤鸭"), ["北京", "烤鸭"]);
        assert_eq!(words("--- !!! ..."), Vec::<String>::new());
        let long = "x".repeat(100);
        assert_eq!(words(&long), ["x".repeat(MAX_WORD_CHARS)]);
    }

    #[test]
    fn documents_split_title_from_other_words() {
        let (title, other) = document("Red Mug", [("Red mug, large", "MUG-RED-01"), ("Blue", "MUG-BLU-02")]);
        assert_eq!(title, "red mug");
        assert_eq!(other, "large 01 blue blu 02");
    }

    #[test]
    fn queries_are_checked() {
        assert_eq!(terms("BRÛL mug mug").as_slice(), ["brul", "mug"]);
        let code = |q: &str| SearchTerms::parse(q).map(|_| ()).map_err(|e| e.to_string());
        assert!(code("!!!").is_err());
        assert!(code("").is_err());
        assert!(code(&"a ".repeat(100)).is_ok(), "one distinct term");
        assert!(code(&"a".repeat(201)).is_err());
        assert!(code("a b c d e f g h i j").is_ok());
        assert!(code("a b c d e f g h i j k").is_err());
    }

    #[test]
    fn tiers_rank_title_words_then_title_prefixes_then_any_prefix() {
        let (title, other) = document("Mug", [("Red", "MUG-RED-01")]);
        assert_eq!(match_tier(&terms("mug"), &title, &other), Some(MatchTier::TitleWords));
        assert_eq!(match_tier(&terms("mu"), &title, &other), Some(MatchTier::TitlePrefixes));
        assert_eq!(match_tier(&terms("mu re"), &title, &other), Some(MatchTier::AnyPrefixes));
        assert_eq!(match_tier(&terms("01"), &title, &other), Some(MatchTier::AnyPrefixes));
        assert_eq!(match_tier(&terms("mug blue"), &title, &other), None);
        assert_eq!(match_tier(&terms("mugs"), &title, &other), None);
        assert_eq!(match_tier(&terms("x"), "", ""), None);
    }

    #[test]
    fn hits_order_by_tier_then_newest_and_round_trip_as_cursors() {
        let id = |n: u128| ProductId(uuid::Uuid::from_u128(n));
        let mut hits = vec![
            SearchHit { tier: MatchTier::AnyPrefixes, product_id: id(9) },
            SearchHit { tier: MatchTier::TitleWords, product_id: id(1) },
            SearchHit { tier: MatchTier::TitleWords, product_id: id(2) },
        ];
        hits.sort();
        assert_eq!(hits.iter().map(|h| h.product_id).collect::<Vec<_>>(), [id(2), id(1), id(9)]);
        for h in hits {
            let c = h.cursor();
            assert_eq!(c.len(), 23);
            assert_eq!(SearchHit::from_cursor(&c), Some(h));
        }
        let plain = crate::encode_cursor(id(5).0);
        assert_eq!(SearchHit::from_cursor(&plain), Some(SearchHit { tier: MatchTier::TitleWords, product_id: id(5) }));
        assert_eq!(SearchHit::from_cursor(&format!("3{plain}")), None);
        assert_eq!(SearchHit::from_cursor("x"), None);
    }

    /// The tier as the definition says it, word by word.
    fn tier_by_definition(terms: &SearchTerms, title: &str, other: &str) -> Option<MatchTier> {
        let title = || title.split(' ').filter(|w| !w.is_empty());
        let all = || title().chain(other.split(' ').filter(|w| !w.is_empty()));
        let terms = terms.as_slice();
        if !terms.iter().all(|t| all().any(|w| w.starts_with(t.as_str()))) {
            return None;
        }
        Some(if terms.iter().all(|t| title().any(|w| w == t)) {
            MatchTier::TitleWords
        } else if terms.iter().all(|t| title().any(|w| w.starts_with(t.as_str()))) {
            MatchTier::TitlePrefixes
        } else {
            MatchTier::AnyPrefixes
        })
    }

    proptest! {
        #[test]
        fn the_text_search_is_the_word_by_word_definition(
            title in "[abc ]{0,12}", other in "[abc ]{0,12}", q in "[abc]{1,3}( [abc]{1,3}){0,2}"
        ) {
            let terms = terms(&q);
            prop_assert_eq!(match_tier(&terms, &title, &other), tier_by_definition(&terms, &title, &other));
        }

        #[test]
        fn words_are_a_fixed_point(text in "\\PC{0,40}") {
            let once = words(&text);
            prop_assert_eq!(words(&once.join(" ")), once.clone());
            for w in &once {
                prop_assert!(!w.is_empty() && w.chars().all(char::is_alphanumeric), "{:?}", w);
            }
        }

        #[test]
        fn every_word_of_a_document_finds_it(title in "\\PC{1,30}", name in "\\PC{0,20}", sku in "[!-~]{1,12}") {
            let (t, o) = document(&title, [(name.as_str(), sku.as_str())]);
            for w in t.split(' ').chain(o.split(' ')).filter(|w| !w.is_empty()) {
                let q = terms(w);
                prop_assert!(match_tier(&q, &t, &o).is_some(), "{:?} in {:?} / {:?}", w, t, o);
                let prefix: String = w.chars().take(1).collect();
                prop_assert!(match_tier(&terms(&prefix), &t, &o).is_some());
            }
            for w in t.split(' ').filter(|w| !w.is_empty()) {
                prop_assert_eq!(match_tier(&terms(w), &t, &o), Some(MatchTier::TitleWords));
            }
        }
    }
}
