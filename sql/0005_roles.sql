-- Roles with least privilege (DESIGN §5). They are group roles (NOLOGIN): grant them to login roles, e.g.
--   CREATE ROLE node_a LOGIN PASSWORD '…' IN ROLE pgdaemon_node;
-- Roles belong to the whole server, so they are created only where missing; creating them needs CREATEROLE.

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['pgdaemon_node', 'pgdaemon_enqueue', 'pgdaemon_readonly'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it a moment ago
            END;
        END IF;
    END LOOP;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO pgdaemon_node, pgdaemon_enqueue, pgdaemon_readonly',
                   current_schema());
END
$$;

-- What a node needs: its tables, nothing else.
GRANT SELECT, INSERT, UPDATE, DELETE
    ON scheduler_task, scheduler_future_task, scheduler_recurrent_task, scheduler_task_history,
       daemon_node, daemon_module_state, daemon_singleton, cache_entry
    TO pgdaemon_node;
GRANT USAGE, SELECT ON SEQUENCE scheduler_task_id_seq, scheduler_task_history_id_seq TO pgdaemon_node;

-- Applications enqueue through the function only.
REVOKE ALL ON FUNCTION scheduler_task_add(text, jsonb, text, integer, text, timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scheduler_task_add(text, jsonb, text, integer, text, timestamptz, integer)
    TO pgdaemon_enqueue, pgdaemon_node;

-- DBAs and dashboards read everything but the cache's values.
GRANT SELECT
    ON scheduler_task, scheduler_future_task, scheduler_recurrent_task, scheduler_task_history,
       daemon_node, daemon_module_state, daemon_singleton,
       scheduler_task_overview, daemon_cluster_overview
    TO pgdaemon_readonly;
