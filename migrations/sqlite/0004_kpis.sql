-- agora SQLite schema, version 4: the KPI cache and the derived-data jobs'
-- feed cursors (API.md v1.1 "KPIs"). The `kpis` job recounts a day from
-- the orders created, paid and closed in it: one index per time column,
-- led by the store.

CREATE TABLE kpi_day (
    store_id       BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    day            TEXT NOT NULL,
    currency       TEXT NOT NULL,
    orders_created INTEGER NOT NULL,
    orders_paid    INTEGER NOT NULL,
    orders_closed  INTEGER NOT NULL,
    revenue_minor  INTEGER NOT NULL,
    refunded_minor INTEGER NOT NULL,
    units_sold     INTEGER NOT NULL,
    computed_at    INTEGER NOT NULL,
    PRIMARY KEY (store_id, day, currency)
) STRICT;

CREATE TABLE job_cursor (
    store_id   BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    job        TEXT NOT NULL,
    last_seq   INTEGER NOT NULL,
    run_day    TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (store_id, job)
) STRICT;

DROP INDEX customer_order_created_idx;
CREATE INDEX customer_order_created_idx ON customer_order (store_id, created_at);
CREATE INDEX customer_order_paid_idx ON customer_order (store_id, paid_at);
CREATE INDEX customer_order_closed_idx ON customer_order (store_id, closed_at);
