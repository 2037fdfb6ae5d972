-- agora SQLite schema, version 8: market-wide security events (issue 19):
-- logins refused by a rate limit, one row per subject and minute.

CREATE TABLE security_event (
    id       BLOB PRIMARY KEY NOT NULL,
    at       INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    subject  TEXT NOT NULL,
    ip       TEXT,
    once_key TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX security_event_once ON security_event (once_key);
-- Erasing an account removes the events naming its email.
CREATE INDEX security_event_subject_idx ON security_event (subject);
