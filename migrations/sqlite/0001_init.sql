-- agora SQLite schema, version 1.
--
-- Conventions:
--   * ids are UUIDs stored as BLOB(16) (big-endian bytes, so they sort like
--     `Uuid`'s `Ord`, which for UUID v7 is creation order);
--   * timestamps are INTEGER unix microseconds, UTC;
--   * money is INTEGER minor units;
--   * JSON documents and Vec fields are TEXT holding JSON;
--   * status enums are TEXT holding the core `as_str()` form.
-- Every table is STRICT so a wrongly typed bind fails loudly.
-- Applied by the embedded runner in crates/agora-sqlite (PRAGMA user_version).

CREATE TABLE store (
    id                 BLOB PRIMARY KEY NOT NULL,
    name               TEXT NOT NULL,
    domain             TEXT NOT NULL,
    plan               TEXT NOT NULL,
    status             TEXT NOT NULL,
    access_token       BLOB,
    encryption_version INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX store_domain_uq ON store (domain);

CREATE TABLE store_settings (
    store_id               BLOB PRIMARY KEY NOT NULL REFERENCES store (id),
    order_ttl_seconds      INTEGER NOT NULL,
    auto_receive_seconds   INTEGER NOT NULL,
    required_helpers       INTEGER NOT NULL,
    help_task_ttl_seconds  INTEGER NOT NULL,
    payout_cooling_seconds INTEGER NOT NULL,
    help_payout_percent    INTEGER NOT NULL,
    version                INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE app_user (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    phone         TEXT,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX app_user_email_uq ON app_user (email);

CREATE TABLE user_address (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES app_user (id),
    line1        TEXT NOT NULL,
    city         TEXT NOT NULL,
    postal_code  TEXT NOT NULL,
    country      TEXT NOT NULL,
    address_hash TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX user_address_user_idx ON user_address (user_id);

CREATE TABLE session (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES app_user (id),
    token_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX session_token_idx ON session (token_hash);
CREATE INDEX session_user_idx ON session (user_id);
CREATE INDEX session_expires_idx ON session (expires_at, id);

CREATE TABLE admin_key (
    id         BLOB PRIMARY KEY NOT NULL,
    store_id   BLOB NOT NULL REFERENCES store (id),
    key_hash   TEXT NOT NULL,
    masked     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX admin_key_hash_idx ON admin_key (key_hash);
CREATE INDEX admin_key_store_idx ON admin_key (store_id);

CREATE TABLE product (
    id         BLOB PRIMARY KEY NOT NULL,
    store_id   BLOB NOT NULL REFERENCES store (id),
    title      TEXT NOT NULL,
    status     TEXT NOT NULL,
    currency   TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX product_store_idx ON product (store_id, id);
CREATE INDEX product_store_status_idx ON product (store_id, status, id);

CREATE TABLE product_variant (
    id          BLOB PRIMARY KEY NOT NULL,
    product_id  BLOB NOT NULL REFERENCES product (id),
    store_id    BLOB NOT NULL,
    sku         TEXT NOT NULL,
    name        TEXT NOT NULL,
    price_minor INTEGER NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX product_variant_sku_uq ON product_variant (store_id, sku);
CREATE INDEX product_variant_product_idx ON product_variant (product_id, created_at, id);

CREATE TABLE product_image (
    id         BLOB PRIMARY KEY NOT NULL,
    product_id BLOB NOT NULL REFERENCES product (id),
    url        TEXT NOT NULL,
    position   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX product_image_product_idx ON product_image (product_id, position, id);

CREATE TABLE warehouse (
    id         BLOB PRIMARY KEY NOT NULL,
    store_id   BLOB NOT NULL REFERENCES store (id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX warehouse_store_idx ON warehouse (store_id);

CREATE TABLE inventory (
    variant_id   BLOB NOT NULL REFERENCES product_variant (id),
    warehouse_id BLOB NOT NULL REFERENCES warehouse (id),
    store_id     BLOB NOT NULL,
    on_hand      INTEGER NOT NULL,
    reserved     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (variant_id, warehouse_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX inventory_store_idx ON inventory (store_id, variant_id, warehouse_id);
CREATE INDEX inventory_warehouse_idx ON inventory (warehouse_id);

CREATE TABLE customer_order (
    id                     BLOB PRIMARY KEY NOT NULL,
    order_number           TEXT NOT NULL,
    store_id               BLOB NOT NULL REFERENCES store (id),
    user_id                BLOB NOT NULL REFERENCES app_user (id),
    address_id             BLOB NOT NULL REFERENCES user_address (id),
    address_hash           TEXT NOT NULL,
    status                 TEXT NOT NULL,
    amount_minor           INTEGER NOT NULL,
    pay_amount_minor       INTEGER NOT NULL,
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
CREATE UNIQUE INDEX customer_order_number_uq ON customer_order (order_number);
CREATE INDEX customer_order_user_idx ON customer_order (user_id, id);
CREATE INDEX customer_order_store_idx ON customer_order (store_id, id);
CREATE INDEX customer_order_status_idx ON customer_order (store_id, status, id);
CREATE INDEX customer_order_created_idx ON customer_order (created_at);
CREATE INDEX customer_order_unpaid_idx ON customer_order (store_id, status, reservation_expires_at, id);
CREATE INDEX customer_order_shipped_idx ON customer_order (store_id, status, shipped_at, id);
CREATE INDEX customer_order_address_idx ON customer_order (address_id);

CREATE TABLE inventory_reservation (
    id           BLOB PRIMARY KEY NOT NULL,
    order_id     BLOB NOT NULL REFERENCES customer_order (id),
    store_id     BLOB NOT NULL,
    variant_id   BLOB NOT NULL,
    warehouse_id BLOB NOT NULL,
    qty          INTEGER NOT NULL,
    status       TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX inventory_reservation_order_idx ON inventory_reservation (order_id, id);
CREATE INDEX inventory_reservation_active_idx
    ON inventory_reservation (store_id, status, variant_id, warehouse_id, qty);

CREATE TABLE order_item (
    id               BLOB PRIMARY KEY NOT NULL,
    order_id         BLOB NOT NULL REFERENCES customer_order (id),
    line_no          INTEGER NOT NULL,
    variant_id       BLOB NOT NULL,
    sku              TEXT NOT NULL,
    qty              INTEGER NOT NULL,
    unit_price_minor INTEGER NOT NULL
) STRICT;
CREATE INDEX order_item_order_idx ON order_item (order_id, line_no, id);

CREATE TABLE payment (
    id           BLOB PRIMARY KEY NOT NULL,
    order_id     BLOB NOT NULL REFERENCES customer_order (id),
    store_id     BLOB NOT NULL,
    user_id      BLOB NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL,
    provider     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX payment_order_idx ON payment (order_id, created_at, id);

CREATE TABLE payment_event (
    id           BLOB PRIMARY KEY NOT NULL,
    provider     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    payment_id   BLOB,
    store_id     BLOB,
    kind         TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    raw          TEXT NOT NULL,
    received_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX payment_event_provider_uq ON payment_event (provider, event_id);

CREATE TABLE help_task (
    id               BLOB PRIMARY KEY NOT NULL,
    task_no          TEXT NOT NULL,
    store_id         BLOB NOT NULL REFERENCES store (id),
    order_id         BLOB NOT NULL REFERENCES customer_order (id),
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
CREATE UNIQUE INDEX help_task_no_uq ON help_task (task_no);
CREATE UNIQUE INDEX help_task_order_uq ON help_task (order_id);
CREATE INDEX help_task_user_status_idx ON help_task (user_id, status);
CREATE INDEX help_task_expiry_idx ON help_task (store_id, status, expires_at, id);
CREATE INDEX help_task_payout_idx ON help_task (store_id, status, payout_at, id);

CREATE TABLE help (
    id             BLOB PRIMARY KEY NOT NULL,
    task_id        BLOB NOT NULL REFERENCES help_task (id),
    helper_user_id BLOB NOT NULL,
    order_id       BLOB NOT NULL,
    status         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    received_at    INTEGER
) STRICT;
CREATE UNIQUE INDEX help_task_helper_uq ON help (task_id, helper_user_id);
CREATE INDEX help_task_idx ON help (task_id, created_at, id);
CREATE INDEX help_helper_idx ON help (helper_user_id);
CREATE INDEX help_order_idx ON help (order_id, id);

CREATE TABLE payout_ledger (
    id               BLOB PRIMARY KEY NOT NULL,
    task_id          BLOB NOT NULL REFERENCES help_task (id),
    task_no          TEXT NOT NULL,
    store_id         BLOB NOT NULL,
    user_id          BLOB NOT NULL,
    order_id         BLOB NOT NULL,
    helper_user_ids  TEXT NOT NULL,
    helper_order_ids TEXT NOT NULL,
    amount_minor     INTEGER NOT NULL,
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
CREATE UNIQUE INDEX payout_ledger_task_uq ON payout_ledger (task_id);
CREATE INDEX payout_ledger_status_idx ON payout_ledger (payout_status);
CREATE INDEX payout_ledger_store_idx ON payout_ledger (store_id, id);
CREATE INDEX payout_ledger_store_status_idx ON payout_ledger (store_id, payout_status, id);

CREATE TABLE audit_log (
    id           BLOB PRIMARY KEY NOT NULL,
    store_id     BLOB NOT NULL REFERENCES store (id),
    at           INTEGER NOT NULL,
    actor_masked TEXT NOT NULL,
    ip           TEXT,
    key          TEXT NOT NULL,
    from_value   TEXT,
    to_value     TEXT
) STRICT;
CREATE INDEX audit_log_store_idx ON audit_log (store_id, id);

CREATE TABLE idempotency_key (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    response_status INTEGER NOT NULL,
    response_body   TEXT NOT NULL,
    resource_id     BLOB,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_key_expires_idx ON idempotency_key (expires_at);

CREATE TABLE activity_event (
    id          BLOB PRIMARY KEY NOT NULL,
    store_id    BLOB NOT NULL,
    seq         INTEGER,
    entity_type TEXT NOT NULL,
    entity_id   BLOB NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    at          INTEGER NOT NULL
) STRICT;
CREATE INDEX activity_event_seq_idx ON activity_event (store_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX activity_event_unsequenced_idx ON activity_event (store_id, id) WHERE seq IS NULL;

CREATE TABLE event_seq (
    store_id BLOB PRIMARY KEY NOT NULL,
    last_seq INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE export_job (
    id           BLOB PRIMARY KEY NOT NULL,
    store_id     BLOB NOT NULL REFERENCES store (id),
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
CREATE INDEX export_job_status_idx ON export_job (status, created_at, id);
CREATE INDEX export_job_expiry_idx ON export_job (status, expires_at, id);
CREATE INDEX export_job_store_idx ON export_job (store_id, id);

CREATE TABLE export_audit_record (
    id           BLOB PRIMARY KEY NOT NULL,
    export_id    BLOB NOT NULL REFERENCES export_job (id),
    store_id     BLOB NOT NULL,
    action       TEXT NOT NULL,
    actor_masked TEXT NOT NULL,
    at           INTEGER NOT NULL
) STRICT;
CREATE INDEX export_audit_export_idx ON export_audit_record (export_id, at, id);
