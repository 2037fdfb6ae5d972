-- Insights and connection checks (API.md v1.1 "Insights and connection
-- checks"). insight_live_key holds one live insight per (store, kind,
-- resource): resolved insights have no live_key, and NULLs never collide.

CREATE TABLE insight (
    id            UUID PRIMARY KEY,
    store_id      UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    kind          TEXT NOT NULL,
    severity      TEXT NOT NULL CONSTRAINT insight_severity_check CHECK (severity IN ('info', 'warning', 'critical')),
    status        TEXT NOT NULL CONSTRAINT insight_status_check
        CHECK (status IN ('open', 'acknowledged', 'resolved', 'dismissed')),
    resource_type TEXT NOT NULL,
    resource_id   UUID NOT NULL,
    message       TEXT NOT NULL,
    live_key      TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT insight_live_key UNIQUE (store_id, live_key)
);
CREATE INDEX insight_store_idx ON insight (store_id, id);
CREATE INDEX insight_store_status_idx ON insight (store_id, status, id);

CREATE TABLE connection_check (
    id         UUID PRIMARY KEY,
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    target     TEXT NOT NULL CONSTRAINT connection_check_target_check
        CHECK (target IN ('database', 'redis', 'object_storage', 'webhook_endpoint')),
    ok         BOOLEAN NOT NULL,
    latency_ms BIGINT NOT NULL,
    detail     TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX connection_check_store_idx ON connection_check (store_id, id);
