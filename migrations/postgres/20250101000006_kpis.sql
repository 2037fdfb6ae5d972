-- The KPI cache and the derived-data jobs' feed cursors (API.md v1.1
-- "KPIs"). The `kpis` job recounts a day from the orders created, paid and
-- closed in it: one index per time column, led by the store (partial where
-- most rows have no value yet).

CREATE TABLE kpi_day (
    store_id       UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    day            TEXT NOT NULL,
    currency       TEXT NOT NULL,
    orders_created BIGINT NOT NULL,
    orders_paid    BIGINT NOT NULL,
    orders_closed  BIGINT NOT NULL,
    revenue_minor  BIGINT NOT NULL,
    refunded_minor BIGINT NOT NULL,
    units_sold     BIGINT NOT NULL,
    computed_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (store_id, day, currency)
);

CREATE TABLE job_cursor (
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    job        TEXT NOT NULL,
    last_seq   BIGINT NOT NULL,
    run_day    TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (store_id, job)
);

CREATE INDEX customer_order_created_idx ON customer_order (store_id, created_at);
CREATE INDEX customer_order_paid_idx ON customer_order (store_id, paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX customer_order_closed_idx ON customer_order (store_id, closed_at) WHERE closed_at IS NOT NULL;
