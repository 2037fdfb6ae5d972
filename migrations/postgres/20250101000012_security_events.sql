-- Market-wide security events (issue 19): logins refused by a rate limit,
-- one row per subject and minute (security_event_once). Immutable in the
-- catalogue: agora inserts and (for retention) deletes, never updates.

CREATE TABLE security_event (
    id       UUID PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    kind     TEXT NOT NULL,
    subject  TEXT NOT NULL,
    ip       TEXT,
    once_key TEXT NOT NULL,
    CONSTRAINT security_event_once UNIQUE (once_key)
);
-- Erasing an account removes the events naming its email.
CREATE INDEX security_event_subject_idx ON security_event (subject);
