-- Which node holds which singleton since when, on which server process, and who waits: one SELECT for DBAs
-- (DESIGN §2, §7 `pgdaemon locks`).

-- The lock's second key, as pg_locks shows it (objid), so the view can join the holder's row to the live lock.
ALTER TABLE daemon_singleton ADD COLUMN lock_objid bigint;

COMMENT ON COLUMN daemon_singleton.lock_objid IS
    'pg_locks.objid of the singleton''s advisory lock (classid 1885824002, objsubid 2).';

CREATE VIEW daemon_singleton_overview AS
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
           AS waiting_backend_pids
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
GROUP BY s.module, s.node, s.pid, holder.pid, s.epoch, s.acquired_at, n.last_heartbeat;

COMMENT ON VIEW daemon_singleton_overview IS
    'pgdaemon: each singleton''s holder (node, process, server process, epoch, since) and the nodes waiting for it.';

GRANT SELECT ON daemon_singleton_overview TO pgdaemon_readonly;

-- Other sessions' application_name in pg_stat_activity, which names the waiting nodes, is visible only to
-- members of pg_read_all_stats.
-- Role memberships belong to the whole server, so another database's migration may grant it at the same moment.
DO $$
BEGIN
    IF NOT pg_has_role('pgdaemon_readonly', 'pg_read_all_stats', 'MEMBER') THEN
        GRANT pg_read_all_stats TO pgdaemon_readonly;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'pgdaemon_readonly was not granted pg_read_all_stats: waiting nodes show only to superusers';
    WHEN unique_violation THEN
        NULL;  -- granted by a concurrent migration of another database
END
$$;
