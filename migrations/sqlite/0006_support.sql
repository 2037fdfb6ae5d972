-- agora SQLite schema, version 6: support tickets, their messages, reply
-- drafts and quick replies (API.md v1.1 "Support tickets, drafts, quick
-- replies").

CREATE TABLE ticket (
    id                  BLOB PRIMARY KEY NOT NULL,
    number              TEXT NOT NULL,
    store_id            BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    user_id             BLOB NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    order_id            BLOB REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    subject             TEXT NOT NULL,
    status              TEXT NOT NULL,
    priority            TEXT NOT NULL,
    unread_for_customer INTEGER NOT NULL,
    unread_for_store    INTEGER NOT NULL,
    last_message_at     INTEGER NOT NULL,
    version             INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX ticket_number_key ON ticket (number);
CREATE INDEX ticket_store_idx ON ticket (store_id, id);
CREATE INDEX ticket_store_status_idx ON ticket (store_id, status, id);
CREATE INDEX ticket_store_unread_idx ON ticket (store_id, unread_for_store);
CREATE INDEX ticket_user_idx ON ticket (user_id, id);
CREATE INDEX ticket_order_idx ON ticket (order_id);

CREATE TABLE reply_draft (
    id            BLOB PRIMARY KEY NOT NULL,
    ticket_id     BLOB NOT NULL REFERENCES ticket (id) DEFERRABLE INITIALLY DEFERRED,
    store_id      BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    body          TEXT NOT NULL,
    source        TEXT NOT NULL,
    model         TEXT,
    model_version TEXT,
    status        TEXT NOT NULL,
    final_body    TEXT,
    approved      INTEGER,
    reward_milli  INTEGER,
    feedback      TEXT,
    version       INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX reply_draft_ticket_idx ON reply_draft (ticket_id, id);
CREATE INDEX reply_draft_store_idx ON reply_draft (store_id, created_at);

CREATE TABLE ticket_message (
    id         BLOB PRIMARY KEY NOT NULL,
    ticket_id  BLOB NOT NULL REFERENCES ticket (id) DEFERRABLE INITIALLY DEFERRED,
    store_id   BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    draft_id   BLOB REFERENCES reply_draft (id) DEFERRABLE INITIALLY DEFERRED,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX ticket_message_ticket_idx ON ticket_message (ticket_id, id);
CREATE INDEX ticket_message_store_idx ON ticket_message (store_id);
CREATE INDEX ticket_message_draft_idx ON ticket_message (draft_id);

CREATE TABLE quick_reply (
    id         BLOB PRIMARY KEY NOT NULL,
    store_id   BLOB NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    content    TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX quick_reply_store_idx ON quick_reply (store_id, id);
