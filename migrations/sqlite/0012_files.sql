-- agora SQLite schema, version 12: files (API.md v1.1 "Files: attachments
-- and product images"). The bytes live in the blob store; these rows hold
-- the reference and the digest. deployment_setting holds what every
-- process on this database shares (where the blob store is).

CREATE TABLE attachment (
    id           BLOB PRIMARY KEY NOT NULL,
    store_id     BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    content_type TEXT NOT NULL,
    bytes        INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    blob_key     TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX attachment_store_idx ON attachment (store_id, id);

CREATE TABLE attachment_derived (
    id            BLOB PRIMARY KEY NOT NULL,
    attachment_id BLOB NOT NULL REFERENCES attachment (id) DEFERRABLE INITIALLY DEFERRED,
    store_id      BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    kind          TEXT NOT NULL,
    blob_key      TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX attachment_derived_kind_key ON attachment_derived (attachment_id, kind);
CREATE INDEX attachment_derived_store_idx ON attachment_derived (store_id);

ALTER TABLE product_image ADD COLUMN attachment_id BLOB REFERENCES attachment (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE product_image ADD COLUMN alt TEXT;
CREATE INDEX product_image_attachment_idx ON product_image (attachment_id);

CREATE TABLE deployment_setting (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
