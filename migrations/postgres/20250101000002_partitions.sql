-- Monthly range partitions of the append-only tables.
--
-- activity_event is partitioned on `at`, payment_event on `received_at`.
-- Each has a DEFAULT partition (created in version 1), so an insert never
-- fails for want of a partition. agora_create_partitions(months_ahead)
-- creates the partitions of the current month (UTC) and the next
-- `months_ahead` months that do not exist yet; rows already sitting in the
-- DEFAULT partition for such a month are moved into the new partition in the
-- same transaction. It returns how many partitions it created. Migrations
-- run it once; the maintenance job (or cron) calls it regularly:
--
--     SELECT agora_create_partitions(3);
--
-- It is SECURITY DEFINER (runs as the schema owner) so agora_admin can call
-- it without DDL rights of its own; concurrent calls serialise on an
-- advisory lock.

CREATE OR REPLACE FUNCTION agora_create_partitions(months_ahead integer)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    created integer := 0;
    parent  text;
    col     text;
    m       integer;
    lo      timestamptz;
    hi      timestamptz;
    part    text;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
        RAISE EXCEPTION 'agora_create_partitions: months_ahead must be between 0 and 120, got %', months_ahead;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('agora_create_partitions', 0));
    FOREACH parent IN ARRAY ARRAY['activity_event', 'payment_event'] LOOP
        col := CASE parent WHEN 'activity_event' THEN 'at' ELSE 'received_at' END;
        FOR m IN 0..months_ahead LOOP
            -- Month boundaries in UTC whatever the session's TimeZone.
            lo := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m)) AT TIME ZONE 'UTC';
            hi := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m + 1)) AT TIME ZONE 'UTC';
            part := format('%s_p%s', parent, to_char(lo AT TIME ZONE 'UTC', 'YYYYMM'));
            IF to_regclass(format('public.%I', part)) IS NULL THEN
                EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                               part, parent);
                EXECUTE format('WITH moved AS (DELETE FROM public.%I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                               'INSERT INTO public.%I SELECT * FROM moved',
                               parent || '_default', col, col, part)
                    USING lo, hi;
                EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                               parent, part, lo, hi);
                created := created + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN created;
END
$fn$;

SELECT agora_create_partitions(3);
