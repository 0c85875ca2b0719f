-- A singleton holder's liveness lease (issue 20). The holder renews lease_renewed_at from its lock session on a timer
-- of its own, and stops when an iteration runs past the module's max_iteration; a standby that finds the lease older
-- than daemon.singleton_lease ends the holder's sessions with daemon_singleton_end_stale and takes the lock. So a
-- frozen holder (SIGSTOP, a paused VM) or a hung one is replaced within the lease, where the lock alone, whose
-- session stays alive, kept it in place for as long as it was frozen.
ALTER TABLE daemon_singleton
    ADD COLUMN lease_renewed_at timestamptz,  -- the holder's last renewal; NULL for a holder that does not renew
    ADD COLUMN backend_pid integer;           -- the server process of the holder's lock session

COMMENT ON COLUMN daemon_singleton.lease_renewed_at IS
    'pgdaemon: when the holder last renewed its lease; older than daemon.singleton_lease, a standby replaces it.';
COMMENT ON COLUMN daemon_singleton.backend_pid IS 'pgdaemon: the server process of the holder''s lock session.';

-- When the module's current iteration began: the supervisor ends a child whose iteration ran past max_iteration.
ALTER TABLE daemon_module_state ADD COLUMN iteration_started_at timestamptz;

COMMENT ON COLUMN daemon_module_state.iteration_started_at IS
    'pgdaemon: when the module''s current iteration began (PreRun, Run, PostRun), while it runs.';

-- Ends the sessions of a singleton's holder whose lease is older than `lease`: its lock session, found both in
-- pg_locks and as the epoch recorded it (a holder that just took the lock has not recorded itself yet, and is
-- left alone), and the other sessions of its module process on its node, which may hold row locks of a transaction
-- the frozen process will never finish. Returns the lock session's server process, or NULL when nothing was ended.
-- SECURITY DEFINER: a node role may end exactly these sessions, where pg_signal_backend would let it end any.
CREATE FUNCTION daemon_singleton_end_stale(module_name text, lease interval) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    holder record;
BEGIN
    SELECT s.node, s.backend_pid INTO holder
    FROM daemon_singleton AS s
    JOIN pg_locks AS l
      ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = 1885824002
     AND l.objid::bigint = s.lock_objid AND l.pid = s.backend_pid
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    WHERE s.module = module_name AND s.lease_renewed_at < now() - lease;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM pg_terminate_backend(a.pid)
    FROM pg_stat_activity AS a
    WHERE a.datname = current_database()
      AND (a.pid = holder.backend_pid
           OR a.application_name = 'pgdaemon/' || holder.node || '/' || module_name
           OR starts_with(a.application_name, 'pgdaemon/' || holder.node || '/' || module_name || '/'));
    RETURN holder.backend_pid;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION daemon_singleton_end_stale(text, interval) SET search_path = %I, pg_temp',
                   current_schema());
END
$$;

REVOKE ALL ON FUNCTION daemon_singleton_end_stale(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION daemon_singleton_end_stale(text, interval) TO pgdaemon_node;

-- The overview gains each holder's lease age (NULL for a holder that does not renew one); its body repeats 0006's,
-- as a migration that replaces a view must.
CREATE OR REPLACE VIEW daemon_singleton_overview AS
SELECT s.module,
       s.node AS holder_node,
       s.pid AS holder_pid,
       holder.pid AS holder_backend_pid,
       s.epoch,
       s.acquired_at AS since,
       holder.pid IS NOT NULL AS held,
       now() - n.last_heartbeat AS holder_heartbeat_age,
       coalesce(array_agg(split_part(waiter_activity.application_name, '/', 2) ORDER BY waiter.pid)
                    FILTER (WHERE waiter.pid IS NOT NULL), '{}') AS waiting_nodes,
       coalesce(array_agg(waiter.pid ORDER BY waiter.pid) FILTER (WHERE waiter.pid IS NOT NULL), '{}')
           AS waiting_backend_pids,
       now() - s.lease_renewed_at AS lease_age
FROM daemon_singleton AS s
LEFT JOIN daemon_node AS n ON n.name = s.node
LEFT JOIN pg_locks AS holder
       ON holder.locktype = 'advisory' AND holder.granted AND holder.objsubid = 2
      AND holder.classid = 1885824002 AND holder.objid::bigint = s.lock_objid
      AND holder.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LEFT JOIN pg_locks AS waiter
       ON waiter.locktype = 'advisory' AND NOT waiter.granted AND waiter.objsubid = 2
      AND waiter.classid = 1885824002 AND waiter.objid::bigint = s.lock_objid
      AND waiter.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LEFT JOIN pg_stat_activity AS waiter_activity ON waiter_activity.pid = waiter.pid
GROUP BY s.module, s.node, s.pid, holder.pid, s.epoch, s.acquired_at, n.last_heartbeat, s.lease_renewed_at;
