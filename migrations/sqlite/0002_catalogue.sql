-- agora SQLite schema, version 2: the schema of the entity catalogue.
--
-- The adapter derives every statement from the catalogue's table
-- descriptions (crates/agora-core/src/model.rs), so:
--   * column names are the catalogue's (also PostgreSQL's): money columns
--     lose their `_minor` suffix (the type says the unit), the sealed access
--     token's ciphertext is `access_token_ciphertext`;
--   * every unique constraint the catalogue declares is a UNIQUE index: a
--     violation names its columns, which the adapter maps back to the
--     constraint (and to the guard that covers it);
--   * foreign keys are DEFERRABLE INITIALLY DEFERRED, as on PostgreSQL: a
--     changeset may insert a row before the row it refers to (an order's
--     stock holds before the order). The adapter checks, when a changeset's
--     writes are done, that it left no reference dangling. Switching
--     deferral on per transaction (`PRAGMA defer_foreign_keys`) instead
--     would expire every prepared statement at every commit.
-- SQLite cannot change a foreign key in place, so the tables that have one
-- are rebuilt (create, copy, drop, rename, re-index: the documented
-- procedure; the runner turns foreign keys off around it and checks them
-- before committing). Stored formats do not change. tests/schema.rs checks
-- the result against the catalogue.

ALTER TABLE store RENAME COLUMN access_token TO access_token_ciphertext;
ALTER TABLE payment_event RENAME COLUMN amount_minor TO amount;

CREATE TABLE store_settings_new (
    store_id               BLOB PRIMARY KEY NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    order_ttl_seconds      INTEGER NOT NULL,
    auto_receive_seconds   INTEGER NOT NULL,
    required_helpers       INTEGER NOT NULL,
    help_task_ttl_seconds  INTEGER NOT NULL,
    payout_cooling_seconds INTEGER NOT NULL,
    help_payout_percent    INTEGER NOT NULL,
    version                INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;
INSERT INTO store_settings_new SELECT * FROM store_settings;
DROP TABLE store_settings;
ALTER TABLE store_settings_new RENAME TO store_settings;

CREATE TABLE user_address_new (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    line1        TEXT NOT NULL,
    city         TEXT NOT NULL,
    postal_code  TEXT NOT NULL,
    country      TEXT NOT NULL,
    address_hash TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
INSERT INTO user_address_new SELECT * FROM user_address;
DROP TABLE user_address;
ALTER TABLE user_address_new RENAME TO user_address;
CREATE INDEX user_address_user_idx ON user_address (user_id);

CREATE TABLE session_new (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
INSERT INTO session_new SELECT * FROM session;
DROP TABLE session;
ALTER TABLE session_new RENAME TO session;
CREATE INDEX session_user_idx ON session (user_id);
CREATE INDEX session_expires_idx ON session (expires_at, id);
CREATE UNIQUE INDEX session_token_hash_key ON session (token_hash);

CREATE TABLE admin_key_new (
    id         BLOB PRIMARY KEY NOT NULL,
    store_id   BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    key_hash   TEXT NOT NULL,
    masked     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO admin_key_new SELECT * FROM admin_key;
DROP TABLE admin_key;
ALTER TABLE admin_key_new RENAME TO admin_key;
CREATE INDEX admin_key_store_idx ON admin_key (store_id);
CREATE UNIQUE INDEX admin_key_hash_key ON admin_key (key_hash);

CREATE TABLE product_new (
    id         BLOB PRIMARY KEY NOT NULL,
    store_id   BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    title      TEXT NOT NULL,
    status     TEXT NOT NULL,
    currency   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
INSERT INTO product_new SELECT * FROM product;
DROP TABLE product;
ALTER TABLE product_new RENAME TO product;
CREATE INDEX product_store_idx ON product (store_id, id);
CREATE INDEX product_store_status_idx ON product (store_id, status, id);

CREATE TABLE product_variant_new (
    id         BLOB PRIMARY KEY NOT NULL,
    product_id BLOB NOT NULL REFERENCES product (id) DEFERRABLE INITIALLY DEFERRED,
    store_id   BLOB NOT NULL,
    sku        TEXT NOT NULL,
    name       TEXT NOT NULL,
    price      INTEGER NOT NULL,
    status     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO product_variant_new SELECT * FROM product_variant;
DROP TABLE product_variant;
ALTER TABLE product_variant_new RENAME TO product_variant;
CREATE UNIQUE INDEX product_variant_sku_uq ON product_variant (store_id, sku);
CREATE INDEX product_variant_product_idx ON product_variant (product_id, created_at, id);

CREATE TABLE product_image_new (
    id         BLOB PRIMARY KEY NOT NULL,
    product_id BLOB NOT NULL REFERENCES product (id) DEFERRABLE INITIALLY DEFERRED,
    url        TEXT NOT NULL,
    position   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO product_image_new SELECT * FROM product_image;
DROP TABLE product_image;
ALTER TABLE product_image_new RENAME TO product_image;
CREATE INDEX product_image_product_idx ON product_image (product_id, position, id);

CREATE TABLE warehouse_new (
    id         BLOB PRIMARY KEY NOT NULL,
    store_id   BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO warehouse_new SELECT * FROM warehouse;
DROP TABLE warehouse;
ALTER TABLE warehouse_new RENAME TO warehouse;
CREATE INDEX warehouse_store_idx ON warehouse (store_id);

CREATE TABLE inventory_new (
    variant_id   BLOB NOT NULL REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    warehouse_id BLOB NOT NULL REFERENCES warehouse (id) DEFERRABLE INITIALLY DEFERRED,
    store_id     BLOB NOT NULL,
    on_hand      INTEGER NOT NULL,
    reserved     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (variant_id, warehouse_id)
) STRICT, WITHOUT ROWID;
INSERT INTO inventory_new SELECT * FROM inventory;
DROP TABLE inventory;
ALTER TABLE inventory_new RENAME TO inventory;
CREATE INDEX inventory_store_idx ON inventory (store_id, variant_id, warehouse_id);
CREATE INDEX inventory_warehouse_idx ON inventory (warehouse_id);

CREATE TABLE customer_order_new (
    id                     BLOB PRIMARY KEY NOT NULL,
    order_number           TEXT NOT NULL,
    store_id               BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    user_id                BLOB NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    address_id             BLOB NOT NULL REFERENCES user_address (id) DEFERRABLE INITIALLY DEFERRED,
    address_hash           TEXT NOT NULL,
    status                 TEXT NOT NULL,
    amount                 INTEGER NOT NULL,
    pay_amount             INTEGER NOT NULL,
    currency               TEXT NOT NULL,
    help_task_no           TEXT,
    created_at             INTEGER NOT NULL,
    paid_at                INTEGER,
    shipped_at             INTEGER,
    received_at            INTEGER,
    closed_at              INTEGER,
    close_reason           TEXT,
    reservation_expires_at INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;
INSERT INTO customer_order_new SELECT * FROM customer_order;
DROP TABLE customer_order;
ALTER TABLE customer_order_new RENAME TO customer_order;
CREATE UNIQUE INDEX customer_order_number_uq ON customer_order (order_number);
CREATE INDEX customer_order_user_idx ON customer_order (user_id, id);
CREATE INDEX customer_order_store_idx ON customer_order (store_id, id);
CREATE INDEX customer_order_status_idx ON customer_order (store_id, status, id);
CREATE INDEX customer_order_created_idx ON customer_order (created_at);
CREATE INDEX customer_order_unpaid_idx ON customer_order (store_id, status, reservation_expires_at, id);
CREATE INDEX customer_order_shipped_idx ON customer_order (store_id, status, shipped_at, id);
CREATE INDEX customer_order_address_idx ON customer_order (address_id);

CREATE TABLE inventory_reservation_new (
    id           BLOB PRIMARY KEY NOT NULL,
    order_id     BLOB NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    store_id     BLOB NOT NULL,
    variant_id   BLOB NOT NULL,
    warehouse_id BLOB NOT NULL,
    qty          INTEGER NOT NULL,
    status       TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
INSERT INTO inventory_reservation_new SELECT * FROM inventory_reservation;
DROP TABLE inventory_reservation;
ALTER TABLE inventory_reservation_new RENAME TO inventory_reservation;
CREATE INDEX inventory_reservation_order_idx ON inventory_reservation (order_id, id);
CREATE INDEX inventory_reservation_active_idx
    ON inventory_reservation (store_id, status, variant_id, warehouse_id, qty);

CREATE TABLE order_item_new (
    id         BLOB PRIMARY KEY NOT NULL,
    order_id   BLOB NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    line_no    INTEGER NOT NULL,
    variant_id BLOB NOT NULL,
    sku        TEXT NOT NULL,
    qty        INTEGER NOT NULL,
    unit_price INTEGER NOT NULL
) STRICT;
INSERT INTO order_item_new SELECT * FROM order_item;
DROP TABLE order_item;
ALTER TABLE order_item_new RENAME TO order_item;
CREATE INDEX order_item_order_idx ON order_item (order_id, line_no, id);
CREATE UNIQUE INDEX order_item_line_key ON order_item (order_id, line_no);

CREATE TABLE payment_new (
    id         BLOB PRIMARY KEY NOT NULL,
    order_id   BLOB NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    store_id   BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    amount     INTEGER NOT NULL,
    currency   TEXT NOT NULL,
    status     TEXT NOT NULL,
    provider   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
INSERT INTO payment_new SELECT * FROM payment;
DROP TABLE payment;
ALTER TABLE payment_new RENAME TO payment;
CREATE INDEX payment_order_idx ON payment (order_id, created_at, id);

CREATE TABLE help_task_new (
    id               BLOB PRIMARY KEY NOT NULL,
    task_no          TEXT NOT NULL,
    store_id         BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    order_id         BLOB NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    user_id          BLOB NOT NULL,
    status           TEXT NOT NULL,
    required_helpers INTEGER NOT NULL,
    helps_valid      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    qualified_at     INTEGER,
    payout_at        INTEGER,
    closed_at        INTEGER,
    updated_at       INTEGER NOT NULL
) STRICT;
INSERT INTO help_task_new SELECT * FROM help_task;
DROP TABLE help_task;
ALTER TABLE help_task_new RENAME TO help_task;
CREATE UNIQUE INDEX help_task_no_uq ON help_task (task_no);
CREATE UNIQUE INDEX help_task_order_uq ON help_task (order_id);
CREATE INDEX help_task_user_status_idx ON help_task (user_id, status);
CREATE INDEX help_task_expiry_idx ON help_task (store_id, status, expires_at, id);
CREATE INDEX help_task_payout_idx ON help_task (store_id, status, payout_at, id);

CREATE TABLE help_new (
    id             BLOB PRIMARY KEY NOT NULL,
    task_id        BLOB NOT NULL REFERENCES help_task (id) DEFERRABLE INITIALLY DEFERRED,
    helper_user_id BLOB NOT NULL,
    order_id       BLOB NOT NULL,
    status         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    received_at    INTEGER
) STRICT;
INSERT INTO help_new SELECT * FROM help;
DROP TABLE help;
ALTER TABLE help_new RENAME TO help;
CREATE UNIQUE INDEX help_task_helper_uq ON help (task_id, helper_user_id);
CREATE INDEX help_helper_idx ON help (helper_user_id);
CREATE UNIQUE INDEX help_order_key ON help (order_id);
CREATE INDEX help_task_idx ON help (task_id, id);

CREATE TABLE payout_ledger_new (
    id               BLOB PRIMARY KEY NOT NULL,
    task_id          BLOB NOT NULL REFERENCES help_task (id) DEFERRABLE INITIALLY DEFERRED,
    task_no          TEXT NOT NULL,
    store_id         BLOB NOT NULL,
    user_id          BLOB NOT NULL,
    order_id         BLOB NOT NULL,
    helper_user_ids  TEXT NOT NULL,
    helper_order_ids TEXT NOT NULL,
    amount           INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    qualified_at     INTEGER NOT NULL,
    payout_at        INTEGER NOT NULL,
    payout_status    TEXT NOT NULL,
    risk_level       TEXT NOT NULL,
    risk_reasons     TEXT NOT NULL,
    note             TEXT,
    operator         TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
INSERT INTO payout_ledger_new SELECT * FROM payout_ledger;
DROP TABLE payout_ledger;
ALTER TABLE payout_ledger_new RENAME TO payout_ledger;
CREATE UNIQUE INDEX payout_ledger_task_uq ON payout_ledger (task_id);
CREATE INDEX payout_ledger_status_idx ON payout_ledger (payout_status);
CREATE INDEX payout_ledger_store_idx ON payout_ledger (store_id, id);
CREATE INDEX payout_ledger_store_status_idx ON payout_ledger (store_id, payout_status, id);

CREATE TABLE audit_log_new (
    id           BLOB PRIMARY KEY NOT NULL,
    store_id     BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    at           INTEGER NOT NULL,
    actor_masked TEXT NOT NULL,
    ip           TEXT,
    key          TEXT NOT NULL,
    from_value   TEXT,
    to_value     TEXT
) STRICT;
INSERT INTO audit_log_new SELECT * FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;
CREATE INDEX audit_log_store_idx ON audit_log (store_id, id);

CREATE TABLE export_job_new (
    id           BLOB PRIMARY KEY NOT NULL,
    store_id     BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    kind         TEXT NOT NULL,
    format       TEXT NOT NULL,
    status       TEXT NOT NULL,
    rows         INTEGER NOT NULL,
    bytes        INTEGER NOT NULL,
    blob_key     TEXT,
    error        TEXT,
    requested_by TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    expires_at   INTEGER
) STRICT;
INSERT INTO export_job_new SELECT * FROM export_job;
DROP TABLE export_job;
ALTER TABLE export_job_new RENAME TO export_job;
CREATE INDEX export_job_expiry_idx ON export_job (status, expires_at, id);
CREATE INDEX export_job_store_idx ON export_job (store_id, id);
CREATE INDEX export_job_status_idx ON export_job (status, id);

CREATE TABLE export_audit_record_new (
    id           BLOB PRIMARY KEY NOT NULL,
    export_id    BLOB NOT NULL REFERENCES export_job (id) DEFERRABLE INITIALLY DEFERRED,
    store_id     BLOB NOT NULL,
    action       TEXT NOT NULL,
    actor_masked TEXT NOT NULL,
    at           INTEGER NOT NULL
) STRICT;
INSERT INTO export_audit_record_new SELECT * FROM export_audit_record;
DROP TABLE export_audit_record;
ALTER TABLE export_audit_record_new RENAME TO export_audit_record;
CREATE INDEX export_audit_export_idx ON export_audit_record (export_id, id);

