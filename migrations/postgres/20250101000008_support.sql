-- Support tickets, their messages, reply drafts and quick replies (API.md
-- v1.1 "Support tickets, drafts, quick replies"). Tickets and their
-- messages are customer data: row-level security like orders.

CREATE TABLE ticket (
    id                  UUID PRIMARY KEY,
    number              TEXT NOT NULL CONSTRAINT ticket_number_key UNIQUE,
    store_id            UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    user_id             UUID NOT NULL REFERENCES app_user (id) DEFERRABLE INITIALLY DEFERRED,
    order_id            UUID REFERENCES customer_order (id) DEFERRABLE INITIALLY DEFERRED,
    subject             TEXT NOT NULL,
    status              TEXT NOT NULL CONSTRAINT ticket_status_check CHECK (status IN ('open', 'pending', 'solved', 'closed')),
    priority            TEXT NOT NULL CONSTRAINT ticket_priority_check CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    unread_for_customer BIGINT NOT NULL CHECK (unread_for_customer >= 0),
    unread_for_store    BIGINT NOT NULL CHECK (unread_for_store >= 0),
    last_message_at     TIMESTAMPTZ NOT NULL,
    version             BIGINT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX ticket_store_idx ON ticket (store_id, id);
CREATE INDEX ticket_store_status_idx ON ticket (store_id, status, id);
CREATE INDEX ticket_store_unread_idx ON ticket (store_id, unread_for_store) WHERE unread_for_store > 0;
CREATE INDEX ticket_user_idx ON ticket (user_id, id);
CREATE INDEX ticket_order_idx ON ticket (order_id);

CREATE TABLE reply_draft (
    id            UUID PRIMARY KEY,
    ticket_id     UUID NOT NULL REFERENCES ticket (id) DEFERRABLE INITIALLY DEFERRED,
    store_id      UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    body          TEXT NOT NULL,
    source        TEXT NOT NULL CONSTRAINT reply_draft_source_check CHECK (source IN ('template', 'model', 'human')),
    model         TEXT,
    model_version TEXT,
    status        TEXT NOT NULL CONSTRAINT reply_draft_status_check CHECK (status IN ('proposed', 'sent', 'discarded')),
    final_body    TEXT,
    approved      BOOLEAN,
    reward_milli  BIGINT CHECK (reward_milli BETWEEN -1000 AND 1000),
    feedback      TEXT,
    version       BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX reply_draft_ticket_idx ON reply_draft (ticket_id, id);
CREATE INDEX reply_draft_store_idx ON reply_draft (store_id, created_at);

CREATE TABLE ticket_message (
    id         UUID PRIMARY KEY,
    ticket_id  UUID NOT NULL REFERENCES ticket (id) DEFERRABLE INITIALLY DEFERRED,
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    author     TEXT NOT NULL CONSTRAINT ticket_message_author_check CHECK (author IN ('customer', 'store')),
    body       TEXT NOT NULL,
    draft_id   UUID REFERENCES reply_draft (id) DEFERRABLE INITIALLY DEFERRED,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ticket_message_ticket_idx ON ticket_message (ticket_id, id);
CREATE INDEX ticket_message_store_idx ON ticket_message (store_id);
CREATE INDEX ticket_message_draft_idx ON ticket_message (draft_id);

CREATE TABLE quick_reply (
    id         UUID PRIMARY KEY,
    store_id   UUID NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED,
    content    TEXT NOT NULL,
    role       TEXT NOT NULL CONSTRAINT quick_reply_role_check CHECK (role IN ('support', 'production')),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX quick_reply_store_idx ON quick_reply (store_id, id);

-- Customer data: like orders, a role without the bypass sees a customer's
-- tickets only with app.user_id set to that customer.
ALTER TABLE ticket ENABLE ROW LEVEL SECURITY;
CREATE POLICY ticket_owner ON ticket
    USING (user_id = agora_current_user_id())
    WITH CHECK (user_id = agora_current_user_id());

ALTER TABLE ticket_message ENABLE ROW LEVEL SECURITY;
CREATE POLICY ticket_message_owner ON ticket_message
    USING (EXISTS (SELECT 1 FROM ticket t
                   WHERE t.id = ticket_message.ticket_id AND t.user_id = agora_current_user_id()))
    WITH CHECK (EXISTS (SELECT 1 FROM ticket t
                        WHERE t.id = ticket_message.ticket_id AND t.user_id = agora_current_user_id()));
