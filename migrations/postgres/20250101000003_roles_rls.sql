-- Least-privilege roles and row-level security.
--
-- Roles are cluster-wide, so they are created idempotently: a parallel
-- migration of another database may create them at the same moment, which
-- surfaces as duplicate_object or unique_violation and is ignored. They are
-- NOLOGIN group roles; operators grant them to login roles
-- (`GRANT agora_app TO agora_api_login;`).
--
--   agora_readonly  SELECT on every table; subject to RLS.
--   agora_app       SELECT/INSERT/UPDATE/DELETE on every table; no DDL, no
--                   TRUNCATE, NOBYPASSRLS: customer-owned rows are visible
--                   only for the user named by `app.user_id`.
--   agora_admin     DML plus TRUNCATE on every table, BYPASSRLS, and EXECUTE
--                   on agora_create_partitions. Schema changes stay with the
--                   owner that runs migrations.

DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['agora_readonly', 'agora_app', 'agora_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION %s',
                               r, CASE WHEN r = 'agora_admin' THEN 'BYPASSRLS' ELSE 'NOBYPASSRLS' END);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    NULL; -- created concurrently by another migration
                WHEN insufficient_privilege THEN
                    -- BYPASSRLS needs a superuser: create the role without it
                    -- and let the operator grant it.
                    BEGIN
                        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
                        RAISE NOTICE 'created role % without BYPASSRLS (needs a superuser)', r;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN
                        NULL;
                    END;
            END;
        END IF;
    END LOOP;
END
$roles$;

-- Nobody but the owner creates objects in this schema.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO agora_readonly, agora_app, agora_admin;

GRANT SELECT ON ALL TABLES IN SCHEMA public TO agora_readonly;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO agora_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO agora_admin;
-- The migration bookkeeping is the owner's alone.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLE _sqlx_migrations FROM agora_app, agora_admin;

-- Tables created by later migrations (and partitions) get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO agora_readonly;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO agora_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO agora_admin;

REVOKE EXECUTE ON FUNCTION agora_create_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION agora_create_partitions(integer) TO agora_admin;

-- The customer a transaction acts for: `SET LOCAL app.user_id = '<uuid>'`
-- (or set_config('app.user_id', $1, true)). NULL when unset, which matches
-- no row.
CREATE FUNCTION agora_current_user_id() RETURNS uuid
LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;

ALTER TABLE customer_order ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_order_owner ON customer_order
    USING (user_id = agora_current_user_id())
    WITH CHECK (user_id = agora_current_user_id());

ALTER TABLE order_item ENABLE ROW LEVEL SECURITY;
CREATE POLICY order_item_owner ON order_item
    USING (EXISTS (SELECT 1 FROM customer_order o
                   WHERE o.id = order_item.order_id AND o.user_id = agora_current_user_id()))
    WITH CHECK (EXISTS (SELECT 1 FROM customer_order o
                        WHERE o.id = order_item.order_id AND o.user_id = agora_current_user_id()));

ALTER TABLE payment ENABLE ROW LEVEL SECURITY;
CREATE POLICY payment_owner ON payment
    USING (user_id = agora_current_user_id())
    WITH CHECK (user_id = agora_current_user_id());

ALTER TABLE user_address ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_address_owner ON user_address
    USING (user_id = agora_current_user_id())
    WITH CHECK (user_id = agora_current_user_id());
