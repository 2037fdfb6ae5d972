-- agora SQLite schema: product search (issue 16).
--
-- product_search is the catalogue's table: one row per product with its
-- words as agora_core::search makes them (lower-case alphanumeric runs,
-- space-separated). product_search_fts indexes those words with FTS5 and is
-- kept in step by the triggers below, inside the transaction that writes
-- the row, so a search sees exactly the committed catalog.
--
-- * tokenize = 'ascii': ASCII letters and digits are token characters, the
--   other ASCII characters separate tokens, every non-ASCII character is a
--   token character. Core's words hold only alphanumeric characters and
--   are separated by one space, so every token is exactly one core word,
--   as PostgreSQL's array_to_tsvector sees it (unicode61 would fold and
--   split on its own Unicode tables, which are not Rust's).
-- * keys holds a row's own tokens: 'p<product id hex>' (how the triggers
--   find its FTS row: the FTS rowid has no tie to product_search, whose
--   implicit rowids VACUUM may renumber), 's<store id hex>' and the status,
--   which every search ANDs with its terms.
-- * prefix = '1 2 3': short prefix queries ("m"*, "mu"*) read one
--   precomputed doclist instead of merging every term that begins so.
--
-- Existing products get a row with no words and words_version 0; agora
-- fills them from core at start (Agora::refresh_search_index), since SQL
-- cannot run core's normalisation.

CREATE TABLE product_search (
    product_id    BLOB PRIMARY KEY NOT NULL REFERENCES product (id) DEFERRABLE INITIALLY DEFERRED,
    store_id      BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    status        TEXT NOT NULL,
    title_words   TEXT NOT NULL,
    other_words   TEXT NOT NULL,
    words_version INTEGER NOT NULL
) STRICT;
CREATE INDEX product_search_store_idx ON product_search (store_id);
CREATE INDEX product_search_words_version_idx ON product_search (words_version);

CREATE VIRTUAL TABLE product_search_fts USING fts5(
    keys, title_words, other_words, product_id UNINDEXED,
    tokenize = 'ascii', prefix = '1 2 3'
);

CREATE TRIGGER product_search_fts_insert AFTER INSERT ON product_search BEGIN
    INSERT INTO product_search_fts (keys, title_words, other_words, product_id)
    VALUES ('p' || lower(hex(new.product_id)) || ' s' || lower(hex(new.store_id)) || ' ' || new.status,
            new.title_words, new.other_words, new.product_id);
END;

CREATE TRIGGER product_search_fts_delete AFTER DELETE ON product_search BEGIN
    DELETE FROM product_search_fts WHERE product_search_fts MATCH '{keys} : p' || lower(hex(old.product_id));
END;

CREATE TRIGGER product_search_fts_update AFTER UPDATE ON product_search BEGIN
    DELETE FROM product_search_fts WHERE product_search_fts MATCH '{keys} : p' || lower(hex(old.product_id));
    INSERT INTO product_search_fts (keys, title_words, other_words, product_id)
    VALUES ('p' || lower(hex(new.product_id)) || ' s' || lower(hex(new.store_id)) || ' ' || new.status,
            new.title_words, new.other_words, new.product_id);
END;

INSERT INTO product_search (product_id, store_id, status, title_words, other_words, words_version)
SELECT id, store_id, status, '', '', 0 FROM product ORDER BY id;
