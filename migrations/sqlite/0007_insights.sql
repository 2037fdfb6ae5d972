-- agora SQLite schema, version 7: insights and connection checks (API.md
-- v1.1 "Insights and connection checks").

CREATE TABLE insight (
    id            BLOB PRIMARY KEY NOT NULL,
    store_id      BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    kind          TEXT NOT NULL,
    severity      TEXT NOT NULL,
    status        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   BLOB NOT NULL,
    message       TEXT NOT NULL,
    live_key      TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX insight_live_key ON insight (store_id, live_key);
CREATE INDEX insight_store_idx ON insight (store_id, id);
CREATE INDEX insight_store_status_idx ON insight (store_id, status, id);

CREATE TABLE connection_check (
    id         BLOB PRIMARY KEY NOT NULL,
    store_id   BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    target     TEXT NOT NULL,
    ok         INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    detail     TEXT NOT NULL,
    at         INTEGER NOT NULL
) STRICT;
CREATE INDEX connection_check_store_idx ON connection_check (store_id, id);
