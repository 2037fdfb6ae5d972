-- Files (API.md v1.1 "Files: attachments and product images"). The bytes
-- live in the blob store; these rows hold the reference and the digest.
-- deployment_setting holds what every process on this database shares
-- (where the blob store is).

CREATE TABLE attachment (
    id           UUID PRIMARY KEY,
    store_id     UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    content_type TEXT NOT NULL,
    bytes        BIGINT NOT NULL CHECK (bytes >= 0),
    sha256       TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    blob_key     TEXT NOT NULL,
    uploaded_by  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX attachment_store_idx ON attachment (store_id, id);

CREATE TABLE attachment_derived (
    id            UUID PRIMARY KEY,
    attachment_id UUID NOT NULL REFERENCES attachment (id) DEFERRABLE INITIALLY DEFERRED,
    store_id      UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    kind          TEXT NOT NULL,
    blob_key      TEXT NOT NULL,
    bytes         BIGINT NOT NULL CHECK (bytes >= 0),
    version       BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT attachment_derived_kind_key UNIQUE (attachment_id, kind)
);
CREATE INDEX attachment_derived_store_idx ON attachment_derived (store_id);

ALTER TABLE product_image
    ADD COLUMN attachment_id UUID REFERENCES attachment (id) DEFERRABLE INITIALLY DEFERRED,
    ADD COLUMN alt TEXT;
CREATE INDEX product_image_attachment_idx ON product_image (attachment_id);

-- The key compares by bytes (COLLATE "C"), as core orders text keys, so
-- keyset scans (copy, verify, export) walk its index.
CREATE TABLE deployment_setting (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
