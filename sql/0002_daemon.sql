-- Cluster bookkeeping (DESIGN §5): nodes, their modules, and singleton holders.

CREATE TABLE daemon_node (
    name           text PRIMARY KEY,
    host           text,
    pid            integer,
    version        text,
    config_hash    text,
    started_at     timestamptz,
    last_heartbeat timestamptz,    -- from the database clock, so nodes' clocks need not agree
    status         text
);

COMMENT ON TABLE daemon_node IS 'pgdaemon: the nodes of the cluster and their heartbeats.';

CREATE TABLE daemon_module_state (
    node       text NOT NULL REFERENCES daemon_node (name) ON DELETE CASCADE,
    module     text NOT NULL,
    pid        integer,
    state      text,           -- starting, standby, running, waiting-for-db, discarding, stopped
    since      timestamptz,
    iterations bigint NOT NULL DEFAULT 0,
    discards   bigint NOT NULL DEFAULT 0,
    restarts   bigint NOT NULL DEFAULT 0,
    last_error text,
    PRIMARY KEY (node, module)
);

COMMENT ON TABLE daemon_module_state IS 'pgdaemon: each node''s modules, as its supervisor last reported them.';

CREATE TABLE daemon_singleton (
    module      text PRIMARY KEY,
    node        text,
    pid         integer,
    epoch       bigint NOT NULL DEFAULT 0,   -- one higher at each takeover; fences writes of a stale holder
    acquired_at timestamptz
);

COMMENT ON TABLE daemon_singleton IS 'pgdaemon: the current holder of each singleton module and its epoch.';
