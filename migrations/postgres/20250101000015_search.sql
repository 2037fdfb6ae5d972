-- Product search (issue 16). product_search is the catalogue's table: one
-- row per product with its words as agora_core::search makes them
-- (lower-case alphanumeric runs, space-separated), written by the use
-- cases in the commit of every product change.
--
-- lexemes is the row as one tsvector, built from those words WITHOUT the
-- text-search parser (array_to_tsvector takes each word as a lexeme as it
-- is), so PostgreSQL's tokens are core's words, exactly as SQLite's FTS5
-- `ascii` tokenizer sees them; a parser and dictionaries would split and
-- fold on their own rules and locale. Weights cannot mark title words:
-- array_to_tsvector makes lexemes without positions, and a weight lives on
-- a position, so `'mug':A` would match any 'mug'. Title words are entered a
-- second time, marked with '_' (never part of a core word, which holds
-- only alphanumeric characters): `'_mu':*` finds a title word beginning
-- with "mu". The store ('#<uuid>') and the status ('#active') are lexemes
-- too, so one GIN lookup intersects store, status and terms.
--
-- Existing products get a row with no words and words_version 0; agora
-- fills them from core at start (Agora::refresh_search_index), since SQL
-- cannot run core's normalisation. pg_trgm is not used: matching is by
-- word prefix, which a tsquery prefix (`:*`) answers from the GIN index;
-- trigrams would add substring and fuzzy matches the contract does not
-- ask for and the other stores could not reproduce.

CREATE FUNCTION agora_search_lexemes(store_id UUID, status TEXT, title_words TEXT, other_words TEXT)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT array_to_tsvector(array_remove(
        ARRAY['#' || store_id::text, '#' || status]
        || string_to_array(title_words, ' ')
        || string_to_array(other_words, ' ')
        || string_to_array(regexp_replace(title_words, '(\S+)', '_\1', 'g'), ' '),
        ''))
$$;

CREATE TABLE product_search (
    product_id    UUID PRIMARY KEY REFERENCES product (id) DEFERRABLE INITIALLY DEFERRED,
    store_id      UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    status        TEXT NOT NULL,
    title_words   TEXT NOT NULL,
    other_words   TEXT NOT NULL,
    words_version INTEGER NOT NULL,
    lexemes       tsvector NOT NULL
        GENERATED ALWAYS AS (agora_search_lexemes(store_id, status, title_words, other_words)) STORED
);
CREATE INDEX product_search_store_idx ON product_search (store_id);
CREATE INDEX product_search_words_version_idx ON product_search (words_version);
CREATE INDEX product_search_lexemes_idx ON product_search USING gin (lexemes);

INSERT INTO product_search (product_id, store_id, status, title_words, other_words, words_version)
SELECT id, store_id, status, '', '', 0 FROM product;
