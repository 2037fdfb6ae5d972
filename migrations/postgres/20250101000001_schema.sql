-- agora PostgreSQL schema, version 1: every table of the domain.
--
-- Conventions
--   * UUID (v7) primary keys, TIMESTAMPTZ times (microsecond precision).
--   * Money is NUMERIC(12,2) in major units; the adapter converts from and to
--     core's i64 minor units exactly: `($1::bigint * 0.01)::numeric(12,2)` on
--     write and `(col * 100)::bigint` on read.
--   * Status columns are TEXT with CHECK constraints listing every value.
--   * Foreign keys are DEFERRABLE INITIALLY DEFERRED: a changeset is one
--     transaction and may insert its rows in any order; they are checked at
--     COMMIT. Every foreign key has an index.
--   * Unique constraints carry explicit names: the adapter maps a unique
--     violation to the guard of the same changeset by constraint name.

CREATE TABLE store (
    id                      UUID PRIMARY KEY,
    name                    TEXT NOT NULL,
    domain                  TEXT NOT NULL CONSTRAINT store_domain_key UNIQUE,
    plan                    TEXT NOT NULL,
    status                  TEXT NOT NULL CONSTRAINT store_status_check CHECK (status IN ('active', 'suspended')),
    encryption_version      BIGINT CHECK (encryption_version BETWEEN 0 AND 4294967295),
    access_token_ciphertext BYTEA,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL,
    CONSTRAINT store_access_token_pair CHECK ((encryption_version IS NULL) = (access_token_ciphertext IS NULL))
);
CREATE INDEX store_status_idx ON store (status);

CREATE TABLE store_settings (
    store_id               UUID PRIMARY KEY REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    order_ttl_seconds      BIGINT NOT NULL,
    auto_receive_seconds   BIGINT NOT NULL,
    required_helpers       BIGINT NOT NULL,
    help_task_ttl_seconds  BIGINT NOT NULL,
    payout_cooling_seconds BIGINT NOT NULL,
    help_payout_percent    BIGINT NOT NULL,
    version                BIGINT NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);

CREATE TABLE app_user (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL CONSTRAINT app_user_email_key UNIQUE,
    phone         TEXT,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_address (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    line1        TEXT NOT NULL,
    city         TEXT NOT NULL,
    postal_code  TEXT NOT NULL,
    country      TEXT NOT NULL,
    address_hash TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX user_address_user_idx ON user_address (user_id);
CREATE INDEX user_address_hash_idx ON user_address (address_hash);

CREATE TABLE session (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    token_hash TEXT NOT NULL CONSTRAINT session_token_hash_key UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX session_user_idx ON session (user_id);
CREATE INDEX session_expires_idx ON session (expires_at);

CREATE TABLE admin_key (
    id         UUID PRIMARY KEY,
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    key_hash   TEXT NOT NULL CONSTRAINT admin_key_hash_key UNIQUE,
    masked     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX admin_key_store_idx ON admin_key (store_id);

CREATE TABLE product (
    id         UUID PRIMARY KEY,
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    title      TEXT NOT NULL,
    status     TEXT NOT NULL CONSTRAINT product_status_check CHECK (status IN ('active', 'draft')),
    currency   TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    version    BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX product_store_idx ON product (store_id, id);
CREATE INDEX product_store_status_idx ON product (store_id, status, id);

CREATE TABLE product_variant (
    id         UUID PRIMARY KEY,
    product_id UUID NOT NULL REFERENCES product (id) DEFERRABLE INITIALLY DEFERRED,
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    sku        TEXT NOT NULL,
    name       TEXT NOT NULL,
    price      NUMERIC(12, 2) NOT NULL CHECK (price >= 0),
    status     TEXT NOT NULL CONSTRAINT product_variant_status_check CHECK (status IN ('active', 'draft')),
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT product_variant_store_sku_key UNIQUE (store_id, sku)
);
CREATE INDEX product_variant_product_idx ON product_variant (product_id, created_at, id);
CREATE INDEX product_variant_status_idx ON product_variant (status);

CREATE TABLE product_image (
    id         UUID PRIMARY KEY,
    product_id UUID NOT NULL REFERENCES product (id) DEFERRABLE INITIALLY DEFERRED,
    url        TEXT NOT NULL,
    position   INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX product_image_product_idx ON product_image (product_id, position, id);

CREATE TABLE warehouse (
    id         UUID PRIMARY KEY,
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    name       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX warehouse_store_idx ON warehouse (store_id);

CREATE TABLE inventory (
    variant_id   UUID NOT NULL REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    warehouse_id UUID NOT NULL REFERENCES warehouse (id) DEFERRABLE INITIALLY DEFERRED,
    store_id     UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    on_hand      BIGINT NOT NULL CONSTRAINT inventory_on_hand_check CHECK (on_hand >= 0),
    reserved     BIGINT NOT NULL CONSTRAINT inventory_reserved_check CHECK (reserved >= 0),
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (variant_id, warehouse_id),
    CONSTRAINT inventory_reserved_within_check CHECK (reserved <= on_hand)
);
CREATE INDEX inventory_warehouse_idx ON inventory (warehouse_id);
CREATE INDEX inventory_store_idx ON inventory (store_id, variant_id, warehouse_id);

CREATE TABLE customer_order (
    id                     UUID PRIMARY KEY,
    order_number           TEXT NOT NULL CONSTRAINT customer_order_number_key UNIQUE,
    store_id               UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    user_id                UUID NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    address_id             UUID NOT NULL REFERENCES user_address (id) DEFERRABLE INITIALLY DEFERRED,
    address_hash           TEXT NOT NULL,
    status                 TEXT NOT NULL CONSTRAINT customer_order_status_check
                               CHECK (status IN ('CREATED', 'PAID', 'SHIPPED', 'RECEIVED', 'CLOSED')),
    amount                 NUMERIC(12, 2) NOT NULL CHECK (amount >= 0),
    pay_amount             NUMERIC(12, 2) NOT NULL CHECK (pay_amount >= 0),
    currency               TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    help_task_no           TEXT,
    created_at             TIMESTAMPTZ NOT NULL,
    paid_at                TIMESTAMPTZ,
    shipped_at             TIMESTAMPTZ,
    received_at            TIMESTAMPTZ,
    closed_at              TIMESTAMPTZ,
    close_reason           TEXT CONSTRAINT customer_order_close_reason_check
                               CHECK (close_reason IN ('cancelled', 'timeout')),
    reservation_expires_at TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX customer_order_user_idx ON customer_order (user_id, id);
CREATE INDEX customer_order_store_idx ON customer_order (store_id, id);
CREATE INDEX customer_order_store_status_idx ON customer_order (store_id, status, id);
CREATE INDEX customer_order_address_idx ON customer_order (address_id);
CREATE INDEX customer_order_address_hash_idx ON customer_order (address_hash);
CREATE INDEX customer_order_unpaid_idx ON customer_order (store_id, reservation_expires_at, id) WHERE status = 'CREATED';
CREATE INDEX customer_order_shipped_idx ON customer_order (store_id, shipped_at, id) WHERE status = 'SHIPPED';

CREATE TABLE order_item (
    id         UUID PRIMARY KEY,
    order_id   UUID NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    line_no    INTEGER NOT NULL,
    variant_id UUID NOT NULL REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    sku        TEXT NOT NULL,
    qty        BIGINT NOT NULL,
    unit_price NUMERIC(12, 2) NOT NULL CHECK (unit_price >= 0),
    CONSTRAINT order_item_line_key UNIQUE (order_id, line_no)
);
CREATE INDEX order_item_variant_idx ON order_item (variant_id);

CREATE TABLE inventory_reservation (
    id           UUID PRIMARY KEY,
    order_id     UUID NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    store_id     UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    variant_id   UUID NOT NULL REFERENCES product_variant (id) DEFERRABLE INITIALLY DEFERRED,
    warehouse_id UUID NOT NULL REFERENCES warehouse (id) DEFERRABLE INITIALLY DEFERRED,
    qty          BIGINT NOT NULL,
    status       TEXT NOT NULL CONSTRAINT inventory_reservation_status_check
                     CHECK (status IN ('active', 'committed', 'released')),
    expires_at   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX inventory_reservation_order_idx ON inventory_reservation (order_id, id);
CREATE INDEX inventory_reservation_store_active_idx ON inventory_reservation (store_id, variant_id, warehouse_id)
    WHERE status = 'active';
CREATE INDEX inventory_reservation_variant_idx ON inventory_reservation (variant_id);
CREATE INDEX inventory_reservation_warehouse_idx ON inventory_reservation (warehouse_id);
CREATE INDEX inventory_reservation_status_idx ON inventory_reservation (status);

CREATE TABLE payment (
    id         UUID PRIMARY KEY,
    order_id   UUID NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    user_id    UUID NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    amount     NUMERIC(12, 2) NOT NULL CHECK (amount >= 0),
    currency   TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status     TEXT NOT NULL CONSTRAINT payment_status_check
                   CHECK (status IN ('pending', 'succeeded', 'failed', 'needs_refund')),
    provider   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX payment_order_idx ON payment (order_id, created_at, id);
CREATE INDEX payment_store_idx ON payment (store_id);
CREATE INDEX payment_user_idx ON payment (user_id);
CREATE INDEX payment_status_idx ON payment (status);

-- Provider callbacks: append-only, range-partitioned by month on received_at
-- (see agora_create_partitions). A unique constraint on a partitioned table
-- must include the partition key, so (provider, event_id) is deduplicated by
-- the small non-partitioned payment_event_key table, written in the same
-- transaction as the event.
CREATE TABLE payment_event (
    id          UUID NOT NULL,
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    payment_id  UUID REFERENCES payment (id) DEFERRABLE INITIALLY DEFERRED,
    store_id    UUID REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    kind        TEXT NOT NULL,
    amount      NUMERIC(12, 2) NOT NULL,
    outcome     TEXT NOT NULL,
    raw         JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX payment_event_id_idx ON payment_event (id);
CREATE INDEX payment_event_payment_idx ON payment_event (payment_id);
CREATE INDEX payment_event_store_idx ON payment_event (store_id);
CREATE INDEX payment_event_provider_idx ON payment_event (provider, event_id);
CREATE TABLE payment_event_default PARTITION OF payment_event DEFAULT;

CREATE TABLE payment_event_key (
    provider         TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    payment_event_id UUID NOT NULL,
    received_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT payment_event_key_pkey PRIMARY KEY (provider, event_id)
);
CREATE INDEX payment_event_key_event_idx ON payment_event_key (payment_event_id);

CREATE TABLE help_task (
    id               UUID PRIMARY KEY,
    task_no          TEXT NOT NULL CONSTRAINT help_task_no_key UNIQUE,
    store_id         UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    order_id         UUID NOT NULL CONSTRAINT help_task_order_key UNIQUE
                         REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    user_id          UUID NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    status           TEXT NOT NULL CONSTRAINT help_task_status_check
                         CHECK (status IN ('OPEN', 'QUALIFIED', 'SETTLED', 'EXPIRED')),
    required_helpers BIGINT NOT NULL,
    helps_valid      BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    qualified_at     TIMESTAMPTZ,
    payout_at        TIMESTAMPTZ,
    closed_at        TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX help_task_store_idx ON help_task (store_id);
CREATE INDEX help_task_user_idx ON help_task (user_id);
CREATE INDEX help_task_status_idx ON help_task (status);
CREATE INDEX help_task_open_idx ON help_task (store_id, expires_at, id) WHERE status = 'OPEN';
CREATE INDEX help_task_qualified_idx ON help_task (store_id, payout_at, id) WHERE status = 'QUALIFIED';

CREATE TABLE help (
    id             UUID PRIMARY KEY,
    task_id        UUID NOT NULL REFERENCES help_task (id) DEFERRABLE INITIALLY DEFERRED,
    helper_user_id UUID NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    order_id       UUID NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    status         TEXT NOT NULL CONSTRAINT help_status_check CHECK (status IN ('PENDING', 'VALID', 'INVALID')),
    created_at     TIMESTAMPTZ NOT NULL,
    received_at    TIMESTAMPTZ,
    CONSTRAINT help_task_helper_key UNIQUE (task_id, helper_user_id),
    CONSTRAINT help_order_key UNIQUE (order_id)
);
CREATE INDEX help_helper_idx ON help (helper_user_id);
CREATE INDEX help_status_idx ON help (status);

CREATE TABLE payout_ledger (
    id               UUID PRIMARY KEY,
    task_id          UUID NOT NULL CONSTRAINT payout_ledger_task_key UNIQUE
                         REFERENCES help_task (id) DEFERRABLE INITIALLY DEFERRED,
    task_no          TEXT NOT NULL,
    store_id         UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    user_id          UUID NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    order_id         UUID NOT NULL REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    helper_user_ids  UUID[] NOT NULL,
    helper_order_ids UUID[] NOT NULL,
    amount           NUMERIC(12, 2) NOT NULL CHECK (amount >= 0),
    currency         TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    qualified_at     TIMESTAMPTZ NOT NULL,
    payout_at        TIMESTAMPTZ NOT NULL,
    payout_status    TEXT NOT NULL CONSTRAINT payout_ledger_status_check
                         CHECK (payout_status IN ('PENDING', 'HELD', 'PAID', 'REJECTED')),
    risk_level       TEXT NOT NULL CONSTRAINT payout_ledger_risk_check CHECK (risk_level IN ('low', 'high')),
    risk_reasons     TEXT[] NOT NULL,
    note             TEXT,
    operator         TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX payout_ledger_store_idx ON payout_ledger (store_id, id);
CREATE INDEX payout_ledger_store_status_idx ON payout_ledger (store_id, payout_status, id);
CREATE INDEX payout_ledger_user_idx ON payout_ledger (user_id);
CREATE INDEX payout_ledger_order_idx ON payout_ledger (order_id);

CREATE TABLE audit_log (
    id           UUID PRIMARY KEY,
    store_id     UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    at           TIMESTAMPTZ NOT NULL,
    actor_masked TEXT NOT NULL,
    ip           TEXT,
    key          TEXT NOT NULL,
    from_value   TEXT,
    to_value     TEXT
);
CREATE INDEX audit_log_store_idx ON audit_log (store_id, id);

CREATE TABLE idempotency_key (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    response_status INTEGER NOT NULL CHECK (response_status BETWEEN 0 AND 65535),
    response_body   TEXT NOT NULL,
    resource_id     UUID,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT idempotency_key_pkey PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_key_expires_idx ON idempotency_key (expires_at);

-- The activity feed: append-only, range-partitioned by month on `at`.
CREATE TABLE activity_event (
    id          UUID NOT NULL,
    store_id    UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    seq         BIGINT CHECK (seq > 0),
    entity_type TEXT NOT NULL,
    entity_id   UUID NOT NULL,
    kind        TEXT NOT NULL,
    payload     JSONB NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX activity_event_id_idx ON activity_event (id);
CREATE INDEX activity_event_store_seq_idx ON activity_event (store_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX activity_event_unsequenced_idx ON activity_event (store_id, id) WHERE seq IS NULL;
CREATE TABLE activity_event_default PARTITION OF activity_event DEFAULT;

CREATE TABLE event_seq (
    store_id UUID PRIMARY KEY REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    last_seq BIGINT NOT NULL CHECK (last_seq >= 0)
);

CREATE TABLE export_job (
    id           UUID PRIMARY KEY,
    store_id     UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    kind         TEXT NOT NULL CONSTRAINT export_job_kind_check CHECK (kind IN ('orders')),
    format       TEXT NOT NULL CONSTRAINT export_job_format_check CHECK (format IN ('csv', 'jsonl')),
    status       TEXT NOT NULL CONSTRAINT export_job_status_check
                     CHECK (status IN ('queued', 'running', 'ready', 'failed', 'expired')),
    rows         BIGINT NOT NULL,
    bytes        BIGINT NOT NULL,
    blob_key     TEXT,
    error        TEXT,
    requested_by TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ
);
CREATE INDEX export_job_store_idx ON export_job (store_id);
CREATE INDEX export_job_status_idx ON export_job (status, created_at, id);
CREATE INDEX export_job_ready_idx ON export_job (expires_at, id) WHERE status = 'ready';

CREATE TABLE export_audit_record (
    id           UUID PRIMARY KEY,
    export_id    UUID NOT NULL REFERENCES export_job (id) DEFERRABLE INITIALLY DEFERRED,
    store_id     UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    action       TEXT NOT NULL CONSTRAINT export_audit_action_check
                     CHECK (action IN ('requested', 'downloaded', 'expired')),
    actor_masked TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX export_audit_export_idx ON export_audit_record (export_id, at, id);
CREATE INDEX export_audit_store_idx ON export_audit_record (store_id);
