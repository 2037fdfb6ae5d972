-- Store lifecycle and order flags (API.md v1.1 "Stores, keys, settings"
-- and "Order flags"). New columns carry the contract's defaults, so
-- existing stores keep trading unchanged. The roles get their grants on
-- order_flag through the default privileges of the roles migration.

ALTER TABLE store
    ADD COLUMN onboarding JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

ALTER TABLE store_settings
    ADD COLUMN feature_toggles JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN low_stock_threshold BIGINT NOT NULL DEFAULT 5,
    ADD COLUMN velocity_window_days BIGINT NOT NULL DEFAULT 28,
    ADD COLUMN reorder_lead_days BIGINT NOT NULL DEFAULT 14,
    ADD COLUMN reorder_cover_days BIGINT NOT NULL DEFAULT 30,
    ADD COLUMN flag_amount_minor BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN retention_events_days BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN retention_audit_logs_days BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN retention_connection_events_days BIGINT NOT NULL DEFAULT 90,
    ADD COLUMN retention_drafts_days BIGINT NOT NULL DEFAULT 180,
    ADD COLUMN secrets_rotated_at TIMESTAMPTZ,
    ADD COLUMN admin_keys_rotated_at TIMESTAMPTZ;

ALTER TABLE admin_key
    ADD COLUMN expires_at TIMESTAMPTZ,
    ADD COLUMN revoked_at TIMESTAMPTZ,
    ADD COLUMN last_used_at TIMESTAMPTZ;
-- A store's keys are listed newest first.
DROP INDEX admin_key_store_idx;
CREATE INDEX admin_key_store_idx ON admin_key (store_id, id);

CREATE TABLE order_flag (
    id          UUID PRIMARY KEY,
    order_id    UUID NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    store_id    UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    reason      TEXT NOT NULL CONSTRAINT order_flag_reason_check
        CHECK (reason IN ('fraud_risk', 'address_issue', 'customer_request', 'other')),
    status      TEXT NOT NULL CONSTRAINT order_flag_status_check
        CHECK (status IN ('open', 'in_review', 'resolved', 'dismissed')),
    note        TEXT,
    resolution  TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);
CREATE INDEX order_flag_order_idx ON order_flag (order_id);
CREATE INDEX order_flag_store_idx ON order_flag (store_id, id);
CREATE INDEX order_flag_store_status_idx ON order_flag (store_id, status, id);
