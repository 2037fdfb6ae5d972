-- agora SQLite schema, version 3: store lifecycle and order flags
-- (API.md v1.1 "Stores, keys, settings" and "Order flags").
--
-- New columns are added in place with the contract's defaults, so existing
-- stores keep trading unchanged; timestamps are micros, JSON is TEXT.

ALTER TABLE store ADD COLUMN onboarding TEXT NOT NULL DEFAULT '{}';
ALTER TABLE store ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

ALTER TABLE store_settings ADD COLUMN feature_toggles TEXT NOT NULL DEFAULT '{}';
ALTER TABLE store_settings ADD COLUMN low_stock_threshold INTEGER NOT NULL DEFAULT 5;
ALTER TABLE store_settings ADD COLUMN velocity_window_days INTEGER NOT NULL DEFAULT 28;
ALTER TABLE store_settings ADD COLUMN reorder_lead_days INTEGER NOT NULL DEFAULT 14;
ALTER TABLE store_settings ADD COLUMN reorder_cover_days INTEGER NOT NULL DEFAULT 30;
ALTER TABLE store_settings ADD COLUMN flag_amount_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE store_settings ADD COLUMN retention_events_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE store_settings ADD COLUMN retention_audit_logs_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE store_settings ADD COLUMN retention_connection_events_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE store_settings ADD COLUMN retention_drafts_days INTEGER NOT NULL DEFAULT 180;
ALTER TABLE store_settings ADD COLUMN secrets_rotated_at INTEGER;
ALTER TABLE store_settings ADD COLUMN admin_keys_rotated_at INTEGER;

ALTER TABLE admin_key ADD COLUMN expires_at INTEGER;
ALTER TABLE admin_key ADD COLUMN revoked_at INTEGER;
ALTER TABLE admin_key ADD COLUMN last_used_at INTEGER;
-- A store's keys are listed newest first.
DROP INDEX admin_key_store_idx;
CREATE INDEX admin_key_store_idx ON admin_key (store_id, id);

CREATE TABLE order_flag (
    id          BLOB PRIMARY KEY NOT NULL,
    order_id    BLOB NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    store_id    BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL,
    note        TEXT,
    resolution  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER
) STRICT;
CREATE INDEX order_flag_order_idx ON order_flag (order_id);
CREATE INDEX order_flag_store_idx ON order_flag (store_id, id);
CREATE INDEX order_flag_store_status_idx ON order_flag (store_id, status, id);
