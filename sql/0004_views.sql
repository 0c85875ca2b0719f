-- Views for DBAs and dashboards: plain SQL over the tables, readable by pgdaemon_readonly.

-- Tasks per type and state, with the age of the oldest waiting one.
CREATE VIEW scheduler_task_overview AS
SELECT task_type,
       count(*) FILTER (WHERE state = 'ready')   AS ready,
       count(*) FILTER (WHERE state = 'running') AS running,
       count(*) FILTER (WHERE state = 'future')  AS future,
       now() - min(create_time) FILTER (WHERE state = 'ready') AS oldest_ready_age
FROM (
    SELECT task_type, CASE WHEN lock_key IS NULL THEN 'ready' ELSE 'running' END AS state, create_time
    FROM scheduler_task
    UNION ALL
    SELECT task_type, 'future', create_time FROM scheduler_future_task
) AS tasks
GROUP BY task_type;

COMMENT ON VIEW scheduler_task_overview IS 'pgdaemon: tasks per type: ready, running, future, oldest waiting.';

-- The nodes with their heartbeat age by the database clock, and their modules by state.
CREATE VIEW daemon_cluster_overview AS
SELECT n.name AS node,
       n.status,
       n.host,
       n.pid,
       n.version,
       n.config_hash,
       n.started_at,
       now() - n.last_heartbeat AS heartbeat_age,
       count(m.module) AS modules,
       count(m.module) FILTER (WHERE m.state = 'running') AS modules_running
FROM daemon_node AS n
LEFT JOIN daemon_module_state AS m ON m.node = n.name
GROUP BY n.name;

COMMENT ON VIEW daemon_cluster_overview IS 'pgdaemon: nodes, heartbeat age and modules running.';
