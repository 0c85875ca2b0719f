-- The views for the command line, readable by nodes (DESIGN §7).

-- The command line runs with a node's credentials (`pgdaemon status`, `locks`, `cache stats`, `task list`), and
-- those commands read the views. A node could already read every table beneath them; the views add no data.
GRANT SELECT
    ON scheduler_task_overview, daemon_cluster_overview, daemon_singleton_overview, cache_overview
    TO pgdaemon_node;
