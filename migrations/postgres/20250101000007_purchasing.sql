-- Sales velocity and purchase orders (API.md v1.1 "KPIs, velocity,
-- purchase orders").

CREATE TABLE product_velocity (
    variant_id           UUID PRIMARY KEY REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    store_id             UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    sku                  TEXT NOT NULL,
    units_sold           BIGINT NOT NULL,
    window_days          BIGINT NOT NULL,
    daily_velocity_milli BIGINT NOT NULL,
    available            BIGINT NOT NULL,
    on_order             BIGINT NOT NULL,
    days_of_cover        BIGINT,
    stockout_at          TIMESTAMPTZ,
    reorder_qty          BIGINT NOT NULL
);
CREATE INDEX product_velocity_store_idx ON product_velocity (store_id, variant_id);

CREATE TABLE purchase_order (
    id           UUID PRIMARY KEY,
    store_id     UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    number       TEXT NOT NULL,
    vendor       TEXT NOT NULL,
    warehouse_id UUID NOT NULL REFERENCES warehouse (id) DEFERRABLE INITIALLY DEFERRED,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL CONSTRAINT purchase_order_status_check
        CHECK (status IN ('draft', 'submitted', 'partially_received', 'received', 'cancelled')),
    total_minor  BIGINT NOT NULL,
    note         TEXT,
    version      BIGINT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    submitted_at TIMESTAMPTZ,
    received_at  TIMESTAMPTZ,
    CONSTRAINT purchase_order_number_key UNIQUE (store_id, number)
);
CREATE INDEX purchase_order_store_idx ON purchase_order (store_id, id);
CREATE INDEX purchase_order_status_idx ON purchase_order (store_id, status, id);
CREATE INDEX purchase_order_warehouse_idx ON purchase_order (warehouse_id);

CREATE TABLE purchase_order_line (
    id                UUID PRIMARY KEY,
    purchase_order_id UUID NOT NULL REFERENCES purchase_order (id) DEFERRABLE INITIALLY DEFERRED,
    store_id          UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    line_no           INTEGER NOT NULL,
    variant_id        UUID NOT NULL REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    qty               BIGINT NOT NULL CHECK (qty > 0),
    unit_cost_minor   BIGINT NOT NULL CHECK (unit_cost_minor >= 0),
    received_qty      BIGINT NOT NULL CHECK (received_qty BETWEEN 0 AND qty)
);
CREATE INDEX purchase_order_line_order_idx ON purchase_order_line (purchase_order_id, line_no);
CREATE INDEX purchase_order_line_variant_idx ON purchase_order_line (variant_id);
CREATE INDEX purchase_order_line_store_idx ON purchase_order_line (store_id);
