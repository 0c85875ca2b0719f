-- Counters that module processes keep in memory and add here every few seconds, for a node's /metrics: the cache's
-- hits and misses by type, so far. One row per node, module, counter and label; a process adds what it counted since
-- its last flush, so the sums survive the process's replacement.

CREATE TABLE daemon_counter (
    node   text   NOT NULL,
    module text   NOT NULL,
    name   text   NOT NULL,
    label  text   NOT NULL DEFAULT '',
    value  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (node, module, name, label)
);

COMMENT ON TABLE daemon_counter IS
    'pgdaemon: counters of module processes (cache_hits, cache_misses by type), summed per node by /metrics.';

GRANT SELECT, INSERT, UPDATE, DELETE ON daemon_counter TO pgdaemon_node;
GRANT SELECT ON daemon_counter TO pgdaemon_readonly;
