-- Refunds (API.md v1.1 "Refunds"). An order counts what was refunded and
-- what is still asked of the provider; the CHECK keeps both within the
-- paid amount whatever a writer does. A refund may put units back into
-- stock (refund_line).

ALTER TABLE customer_order
    ADD COLUMN refunded NUMERIC(12, 2) NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    ADD COLUMN refund_pending NUMERIC(12, 2) NOT NULL DEFAULT 0 CHECK (refund_pending >= 0),
    ADD CONSTRAINT customer_order_refunds_within_check CHECK (refunded + refund_pending <= pay_amount);
ALTER TABLE customer_order DROP CONSTRAINT customer_order_status_check;
ALTER TABLE customer_order ADD CONSTRAINT customer_order_status_check
    CHECK (status IN ('CREATED', 'PAID', 'SHIPPED', 'RECEIVED', 'CLOSED', 'REFUNDED'));

ALTER TABLE payment DROP CONSTRAINT payment_status_check;
ALTER TABLE payment ADD CONSTRAINT payment_status_check
    CHECK (status IN ('pending', 'succeeded', 'failed', 'needs_refund', 'refunding', 'refunded'));

CREATE TABLE refund (
    id           UUID PRIMARY KEY,
    order_id     UUID NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    payment_id   UUID NOT NULL REFERENCES payment (id) DEFERRABLE INITIALLY DEFERRED,
    store_id     UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    user_id      UUID NOT NULL,
    kind         TEXT NOT NULL CONSTRAINT refund_kind_check CHECK (kind IN ('order', 'payment')),
    amount       NUMERIC(12, 2) NOT NULL CHECK (amount > 0),
    currency     TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason       TEXT NOT NULL,
    status       TEXT NOT NULL CONSTRAINT refund_status_check CHECK (status IN ('pending', 'succeeded', 'failed')),
    actor_masked TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    succeeded_at TIMESTAMPTZ,
    failed_at    TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX refund_order_idx ON refund (order_id, id);
CREATE INDEX refund_payment_idx ON refund (payment_id);
-- The KPI job sums a day's succeeded refunds.
CREATE INDEX refund_store_succeeded_idx ON refund (store_id, succeeded_at);

CREATE TABLE refund_line (
    id           UUID PRIMARY KEY,
    refund_id    UUID NOT NULL REFERENCES refund (id) DEFERRABLE INITIALLY DEFERRED,
    order_id     UUID NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    line_no      INTEGER NOT NULL,
    variant_id   UUID NOT NULL REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    warehouse_id UUID NOT NULL REFERENCES warehouse (id) DEFERRABLE INITIALLY DEFERRED,
    qty          BIGINT NOT NULL CHECK (qty > 0),
    CONSTRAINT refund_line_key UNIQUE (refund_id, line_no)
);
CREATE INDEX refund_line_order_idx ON refund_line (order_id);
CREATE INDEX refund_line_variant_idx ON refund_line (variant_id);
CREATE INDEX refund_line_warehouse_idx ON refund_line (warehouse_id);

-- Customer data, like payments: a role without the bypass sees a
-- customer's refunds only with app.user_id set to that customer.
ALTER TABLE refund ENABLE ROW LEVEL SECURITY;
CREATE POLICY refund_owner ON refund
    USING (user_id = agora_current_user_id())
    WITH CHECK (user_id = agora_current_user_id());
