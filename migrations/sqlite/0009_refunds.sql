-- agora SQLite schema, version 9: refunds (API.md v1.1 "Refunds").
-- An order counts what was refunded and what is still asked of the
-- provider; a refund may put units back into stock (refund_line).

ALTER TABLE customer_order ADD COLUMN refunded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customer_order ADD COLUMN refund_pending INTEGER NOT NULL DEFAULT 0;

CREATE TABLE refund (
    id           BLOB PRIMARY KEY NOT NULL,
    order_id     BLOB NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    payment_id   BLOB NOT NULL REFERENCES payment (id) DEFERRABLE INITIALLY DEFERRED,
    store_id     BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    user_id      BLOB NOT NULL,
    kind         TEXT NOT NULL,
    amount       INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL,
    actor_masked TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    succeeded_at INTEGER,
    failed_at    INTEGER,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX refund_order_idx ON refund (order_id, id);
CREATE INDEX refund_payment_idx ON refund (payment_id);
-- The KPI job sums a day's succeeded refunds.
CREATE INDEX refund_store_succeeded_idx ON refund (store_id, succeeded_at);

CREATE TABLE refund_line (
    id           BLOB PRIMARY KEY NOT NULL,
    refund_id    BLOB NOT NULL REFERENCES refund (id) DEFERRABLE INITIALLY DEFERRED,
    order_id     BLOB NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    line_no      INTEGER NOT NULL,
    variant_id   BLOB NOT NULL,
    warehouse_id BLOB NOT NULL,
    qty          INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX refund_line_key ON refund_line (refund_id, line_no);
CREATE INDEX refund_line_order_idx ON refund_line (order_id);
CREATE INDEX refund_line_variant_idx ON refund_line (variant_id);
CREATE INDEX refund_line_warehouse_idx ON refund_line (warehouse_id);
