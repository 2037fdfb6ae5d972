-- Retention of feed events by whole monthly partitions.
--
-- agora_drop_event_partition(part, stores, befores, up_to) drops the
-- partition `part` of activity_event when every event in it may go under
-- its store's retention floor (stores[i] with befores[i] and up_to[i], the
-- EventFloor the core computed): sequenced, before the floor's time (the
-- partition's upper bound is at or before it), at most the floor's seq, and
-- no event of the same store with a lower seq lives outside the partition
-- (so every feed stays gap-free above its floor). It returns the number of
-- events dropped, -1 when the partition must stay, NULL when `part` is not
-- (or no longer) a partition of activity_event.
--
-- The partition is locked in SHARE mode while it is checked (no write can
-- slip in; feed reads go on), then dropped (a short ACCESS EXCLUSIVE lock
-- on activity_event, bounded by lock_timeout). Partition DDL serialises on
-- the advisory lock agora_create_partitions takes. SECURITY DEFINER: the
-- app role has no DDL rights of its own.

CREATE FUNCTION agora_drop_event_partition(part text, stores uuid[], befores timestamptz[], up_to bigint[])
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $fn$
DECLARE
    bound   text;
    m       text[];
    lo      timestamptz;
    hi      timestamptz;
    i       integer;
    r       record;
    dropped bigint := 0;
BEGIN
    IF part !~ '^activity_event_p[0-9]{6}$' THEN
        RAISE EXCEPTION 'agora_drop_event_partition: % is not a monthly partition name', part;
    END IF;
    IF cardinality(stores) <> cardinality(befores) OR cardinality(stores) <> cardinality(up_to) THEN
        RAISE EXCEPTION 'agora_drop_event_partition: stores, befores and up_to differ in length';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('agora_create_partitions', 0));
    PERFORM set_config('lock_timeout', '2s', true);
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
    EXECUTE format('LOCK TABLE public.%I IN SHARE MODE', part);
    FOR r IN EXECUTE format(
        'SELECT store_id, max(seq) AS top, bool_or(seq IS NULL) AS unsequenced, count(*) AS n '
        'FROM public.%I GROUP BY store_id', part)
    LOOP
        i := array_position(stores, r.store_id);
        IF i IS NULL OR r.unsequenced OR hi > befores[i] OR r.top > up_to[i] THEN
            RETURN -1;
        END IF;
        IF EXISTS (SELECT 1 FROM activity_event e
                   WHERE e.store_id = r.store_id AND e.seq < r.top AND (e.at < lo OR e.at >= hi)) THEN
            RETURN -1;
        END IF;
        dropped := dropped + r.n;
    END LOOP;
    EXECUTE format('DROP TABLE public.%I', part);
    RETURN dropped;
END
$fn$;

REVOKE EXECUTE ON FUNCTION agora_drop_event_partition(text, uuid[], timestamptz[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agora_drop_event_partition(text, uuid[], timestamptz[], bigint[]) TO agora_app, agora_admin;
