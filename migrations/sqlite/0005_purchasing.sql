-- agora SQLite schema, version 5: sales velocity and purchase orders
-- (API.md v1.1 "KPIs, velocity, purchase orders").

CREATE TABLE product_velocity (
    variant_id           BLOB PRIMARY KEY NOT NULL REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    store_id             BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    sku                  TEXT NOT NULL,
    units_sold           INTEGER NOT NULL,
    window_days          INTEGER NOT NULL,
    daily_velocity_milli INTEGER NOT NULL,
    available            INTEGER NOT NULL,
    on_order             INTEGER NOT NULL,
    days_of_cover        INTEGER,
    stockout_at          INTEGER,
    reorder_qty          INTEGER NOT NULL
) STRICT;
CREATE INDEX product_velocity_store_idx ON product_velocity (store_id, variant_id);

CREATE TABLE purchase_order (
    id           BLOB PRIMARY KEY NOT NULL,
    store_id     BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    number       TEXT NOT NULL,
    vendor       TEXT NOT NULL,
    warehouse_id BLOB NOT NULL REFERENCES warehouse (id) DEFERRABLE INITIALLY DEFERRED,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL,
    total_minor  INTEGER NOT NULL,
    note         TEXT,
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    submitted_at INTEGER,
    received_at  INTEGER
) STRICT;
CREATE UNIQUE INDEX purchase_order_number_key ON purchase_order (store_id, number);
CREATE INDEX purchase_order_store_idx ON purchase_order (store_id, id);
CREATE INDEX purchase_order_status_idx ON purchase_order (store_id, status, id);
CREATE INDEX purchase_order_warehouse_idx ON purchase_order (warehouse_id);

CREATE TABLE purchase_order_line (
    id                BLOB PRIMARY KEY NOT NULL,
    purchase_order_id BLOB NOT NULL REFERENCES purchase_order (id) DEFERRABLE INITIALLY DEFERRED,
    store_id          BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    line_no           INTEGER NOT NULL,
    variant_id        BLOB NOT NULL REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    qty               INTEGER NOT NULL,
    unit_cost_minor   INTEGER NOT NULL,
    received_qty      INTEGER NOT NULL
) STRICT;
CREATE INDEX purchase_order_line_order_idx ON purchase_order_line (purchase_order_id, line_no);
CREATE INDEX purchase_order_line_variant_idx ON purchase_order_line (variant_id);
CREATE INDEX purchase_order_line_store_idx ON purchase_order_line (store_id);
