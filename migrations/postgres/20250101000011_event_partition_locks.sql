-- agora_drop_event_partition, second version (what it decides is the same
-- as version 10's; how it locks is not).
--
-- Version 10 locked the partition (SHARE) and scanned it, then needed the
-- ACCESS EXCLUSIVE lock of activity_event to drop it: a statement that had
-- locked the parent and waited for the partition (the sequencer's UPDATE)
-- deadlocked with it, and feed reads waited for the scan of a whole month.
--
-- Now the rows are counted first without any lock beyond a plain read.
-- Then activity_event itself is locked ACCESS EXCLUSIVE (waiting at most
-- lock_timeout, 2 s) -- the parent first, as every statement on the feed
-- takes it -- and the checks run under that lock on the partition's indexes
-- (a loose index scan over its stores, max(seq) per store, the unsequenced
-- partial index), so the feed waits a few milliseconds. TimeZone and
-- DateStyle are fixed so the partition bound parses the same whatever the
-- session's settings.

CREATE OR REPLACE FUNCTION agora_drop_event_partition(part text, stores uuid[], befores timestamptz[], up_to bigint[])
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
SET timezone = 'UTC'
SET datestyle = 'ISO, MDY'
AS $fn$
DECLARE
    bound   text;
    m       text[];
    lo      timestamptz;
    hi      timestamptz;
    i       integer;
    s       uuid;
    top     bigint;
    dropped bigint;
    waiting boolean;
BEGIN
    IF part !~ '^activity_event_p[0-9]{6}$' THEN
        RAISE EXCEPTION 'agora_drop_event_partition: % is not a monthly partition name', part;
    END IF;
    IF cardinality(stores) <> cardinality(befores) OR cardinality(stores) <> cardinality(up_to) THEN
        RAISE EXCEPTION 'agora_drop_event_partition: stores, befores and up_to differ in length';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('agora_create_partitions', 0));
    SELECT pg_get_expr(c.relpartbound, c.oid) INTO bound
    FROM pg_class c JOIN pg_inherits h ON h.inhrelid = c.oid
    WHERE c.relname = part AND c.relnamespace = 'public'::regnamespace
      AND h.inhparent = 'public.activity_event'::regclass;
    IF bound IS NULL THEN
        RETURN NULL;
    END IF;
    m := regexp_match(bound, 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)');
    IF m IS NULL THEN
        RETURN -1;
    END IF;
    lo := m[1]::timestamptz;
    hi := m[2]::timestamptz;
    -- Cheap refusals before any lock: a month not past every floor.
    IF hi > (SELECT max(b) FROM unnest(befores) b) THEN
        RETURN -1;
    END IF;
    EXECUTE format('SELECT count(*) FROM public.%I', part) INTO dropped;
    PERFORM set_config('lock_timeout', '2s', true);
    LOCK TABLE ONLY public.activity_event IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM public.%I WHERE seq IS NULL)', part) INTO waiting;
    IF waiting THEN
        RETURN -1;
    END IF;
    -- Every store in the partition, one index probe each.
    EXECUTE format('SELECT store_id FROM public.%I WHERE seq IS NOT NULL ORDER BY store_id LIMIT 1', part) INTO s;
    WHILE s IS NOT NULL LOOP
        i := array_position(stores, s);
        IF i IS NULL OR hi > befores[i] THEN
            RETURN -1;
        END IF;
        EXECUTE format('SELECT max(seq) FROM public.%I WHERE store_id = $1 AND seq IS NOT NULL', part)
            INTO top USING s;
        IF top > up_to[i] THEN
            RETURN -1;
        END IF;
        IF EXISTS (SELECT 1 FROM activity_event e
                   WHERE e.store_id = s AND e.seq < top AND (e.at < lo OR e.at >= hi)) THEN
            RETURN -1;
        END IF;
        EXECUTE format('SELECT store_id FROM public.%I WHERE seq IS NOT NULL AND store_id > $1 '
                       'ORDER BY store_id LIMIT 1', part)
            INTO s USING s;
    END LOOP;
    EXECUTE format('DROP TABLE public.%I', part);
    RETURN dropped;
END
$fn$;

REVOKE EXECUTE ON FUNCTION agora_drop_event_partition(text, uuid[], timestamptz[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agora_drop_event_partition(text, uuid[], timestamptz[], bigint[]) TO agora_app, agora_admin;
