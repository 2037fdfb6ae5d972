-- agora SQLite schema, version 10: outgoing webhooks (API.md v1.1
-- "Outgoing webhooks"): a store's endpoints and the deliveries of its feed
-- events to them.

CREATE TABLE webhook_endpoint (
    id                 BLOB PRIMARY KEY NOT NULL,
    store_id           BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    url                TEXT NOT NULL,
    events             TEXT NOT NULL,
    description        TEXT,
    status             TEXT NOT NULL,
    encryption_version INTEGER NOT NULL,
    secret_ciphertext  BLOB NOT NULL,
    fanned_out_seq     INTEGER NOT NULL,
    failing_since      INTEGER,
    disabled_reason    TEXT,
    version            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_endpoint_store_idx ON webhook_endpoint (store_id, id);

CREATE TABLE webhook_delivery (
    id              BLOB PRIMARY KEY NOT NULL,
    endpoint_id     BLOB NOT NULL REFERENCES webhook_endpoint (id) DEFERRABLE INITIALLY DEFERRED,
    store_id        BLOB NOT NULL,
    event_id        BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    next_attempt_at INTEGER,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX webhook_delivery_endpoint_seq_key ON webhook_delivery (endpoint_id, seq);
-- An endpoint's log, newest first, optionally by status; its next pending.
CREATE INDEX webhook_delivery_endpoint_idx ON webhook_delivery (endpoint_id, id);
CREATE INDEX webhook_delivery_endpoint_status_idx ON webhook_delivery (endpoint_id, status, seq, id);
-- The dispatcher's due heads, market-wide.
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (status, next_attempt_at);
CREATE INDEX webhook_delivery_store_idx ON webhook_delivery (store_id);
-- Retention removes settled deliveries past their period.
CREATE INDEX webhook_delivery_settled_idx ON webhook_delivery (status, updated_at);
