-- The schema as the entity catalogue's generic statements use it.
--
-- 1. payment_event_key follows payment_event by trigger. The adapter
--    writes payment events with the same generated INSERT as every other
--    table; a duplicate (provider, event_id) then fails that INSERT with
--    23505 on payment_event_key_pkey, which is the catalogue's name for the
--    unique constraint (provider, event_id) of payment_event. (A unique
--    constraint on the partitioned table itself would have to include the
--    month.)
-- 2. idempotency_key's key columns compare by bytes (COLLATE "C"), as core
--    orders them, so its primary key also serves the keyset scans
--    (`(scope, key) > ($1, $2) ORDER BY scope, key` with COLLATE "C"),
--    whatever the database's default collation.
-- 3. export_job is listed by status in id order.

-- Row triggers on a partitioned table are cloned onto every partition. A
-- row moved to another partition by an UPDATE fires DELETE on the old
-- partition and INSERT on the new one, so the key row follows it.
-- agora_create_partitions moves rows out of the DEFAULT partition with a
-- DELETE and a plain INSERT into the new partition before attaching it;
-- `agora.moving_partitions` is set meanwhile, and the key rows stay.
CREATE FUNCTION agora_payment_event_key() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND coalesce(current_setting('agora.moving_partitions', true), '') <> 'on' THEN
        DELETE FROM payment_event_key
        WHERE provider = OLD.provider AND event_id = OLD.event_id AND payment_event_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO payment_event_key (provider, event_id, payment_event_id, received_at)
        VALUES (NEW.provider, NEW.event_id, NEW.id, NEW.received_at);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER payment_event_key_sync
    AFTER INSERT OR UPDATE OR DELETE ON payment_event
    FOR EACH ROW EXECUTE FUNCTION agora_payment_event_key();

-- The partitions job of version 2, with the flag the trigger above reads
-- set around it. Callers keep calling agora_create_partitions(n); only the
-- schema owner (and so this wrapper, SECURITY DEFINER) calls the original.
ALTER FUNCTION agora_create_partitions(integer) RENAME TO agora_create_partitions_v2;
REVOKE EXECUTE ON FUNCTION agora_create_partitions_v2(integer) FROM agora_admin;

CREATE FUNCTION agora_create_partitions(months_ahead integer)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    created integer;
BEGIN
    PERFORM set_config('agora.moving_partitions', 'on', true);
    created := agora_create_partitions_v2(months_ahead);
    PERFORM set_config('agora.moving_partitions', '', true);
    RETURN created;
END
$fn$;

REVOKE EXECUTE ON FUNCTION agora_create_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agora_create_partitions(integer) TO agora_admin;

ALTER TABLE idempotency_key
    ALTER COLUMN scope TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C";

DROP INDEX export_job_status_idx;
CREATE INDEX export_job_status_idx ON export_job (status, id);
