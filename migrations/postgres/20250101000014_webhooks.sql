-- Outgoing webhooks (API.md v1.1 "Outgoing webhooks"): a store's endpoints
-- and the deliveries of its feed events to them. Only an endpoint's head
-- delivery (its lowest pending seq) has a next_attempt_at.

CREATE TABLE webhook_endpoint (
    id                 UUID PRIMARY KEY,
    store_id           UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    url                TEXT NOT NULL CHECK (url ~ '^https?://'),
    events             TEXT[] NOT NULL,
    description        TEXT,
    status             TEXT NOT NULL CONSTRAINT webhook_endpoint_status_check CHECK (status IN ('enabled', 'disabled')),
    encryption_version BIGINT NOT NULL CHECK (encryption_version BETWEEN 0 AND 4294967295),
    secret_ciphertext  BYTEA NOT NULL,
    fanned_out_seq     BIGINT NOT NULL CHECK (fanned_out_seq >= 0),
    failing_since      TIMESTAMPTZ,
    disabled_reason    TEXT,
    version            BIGINT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoint_store_idx ON webhook_endpoint (store_id, id);

CREATE TABLE webhook_delivery (
    id              UUID PRIMARY KEY,
    endpoint_id     UUID NOT NULL REFERENCES webhook_endpoint (id) DEFERRABLE INITIALLY DEFERRED,
    store_id        UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    event_id        UUID NOT NULL,
    seq             BIGINT NOT NULL CHECK (seq > 0),
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL CONSTRAINT webhook_delivery_status_check
                        CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL CHECK (attempts >= 0),
    last_status     BIGINT,
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT webhook_delivery_endpoint_seq_key UNIQUE (endpoint_id, seq)
);
CREATE INDEX webhook_delivery_endpoint_idx ON webhook_delivery (endpoint_id, id);
CREATE INDEX webhook_delivery_endpoint_status_idx ON webhook_delivery (endpoint_id, status, seq, id);
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_delivery_store_idx ON webhook_delivery (store_id);
-- Retention removes settled deliveries past their period.
CREATE INDEX webhook_delivery_settled_idx ON webhook_delivery (status, updated_at);
