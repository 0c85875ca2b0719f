-- One row per cron slot enqueued or skipped: its primary key makes each slot run once in the cluster, whatever runs
-- the cron manager, and the holder's epoch is recorded with it.
CREATE TABLE scheduler_cron_slot (
    name       text NOT NULL,
    slot       timestamptz NOT NULL,
    status     text NOT NULL CHECK (status IN ('enqueued', 'skipped')),
    epoch      bigint,
    node       text,
    task_id    bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, slot)
);

COMMENT ON TABLE scheduler_cron_slot IS 'pgdaemon: every cron slot enqueued or skipped, once each in the cluster.';

CREATE INDEX scheduler_cron_slot_created_idx ON scheduler_cron_slot (created_at);

ALTER TABLE scheduler_recurrent_task ADD COLUMN last_task_id bigint;
ALTER TABLE scheduler_recurrent_task ADD COLUMN catch_up text NOT NULL DEFAULT 'once';

GRANT SELECT, INSERT, UPDATE, DELETE ON scheduler_cron_slot TO pgdaemon_node;
GRANT SELECT ON scheduler_cron_slot TO pgdaemon_readonly;
