-- Scheduler tables (DESIGN §5): ready tasks, future tasks, cron entries and history.
-- Names and columns are fixed: DBAs, dashboards and other applications read and write them.

-- One id sequence for ready and future tasks, so a task keeps its id when it moves from one to the other.
CREATE SEQUENCE scheduler_task_id_seq AS bigint;

CREATE TABLE scheduler_task (
    id               bigint PRIMARY KEY DEFAULT nextval('scheduler_task_id_seq'),
    name             text,
    task_type        text NOT NULL CHECK (task_type <> ''),
    task_data        jsonb NOT NULL DEFAULT '{}',
    priority         integer NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    unique_key       text,
    lock_key         text,           -- the claim token of the worker running the task; NULL while ready
    lock_time        timestamptz,    -- when it was claimed
    lock_update_time timestamptz,    -- the claiming worker's last heartbeat for it
    create_time      timestamptz NOT NULL DEFAULT now(),
    lock_node        text,           -- the node that claimed it
    scheduled_for    timestamptz,    -- when it was due: its execution_time or cron slot; NULL for "now"
    last_error       text            -- the error of the previous attempt, for retries
);
ALTER SEQUENCE scheduler_task_id_seq OWNED BY scheduler_task.id;

COMMENT ON TABLE scheduler_task IS 'pgdaemon: tasks ready to run (lock_key NULL) or running (lock_key set).';

-- The claim: ready tasks by priority (lower first), then age.
CREATE INDEX scheduler_task_ready_idx ON scheduler_task (priority, id) WHERE lock_key IS NULL;
-- The rescue: running tasks by last heartbeat.
CREATE INDEX scheduler_task_running_idx ON scheduler_task (lock_update_time) WHERE lock_key IS NOT NULL;
CREATE UNIQUE INDEX scheduler_task_unique_key_idx ON scheduler_task (unique_key) WHERE unique_key IS NOT NULL;

-- The same columns as scheduler_task (LIKE keeps them in step, so a task moves between the two tables column for
-- column), plus when it is due.
CREATE TABLE scheduler_future_task (
    LIKE scheduler_task INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    execution_time timestamptz NOT NULL,
    PRIMARY KEY (id)
);

COMMENT ON TABLE scheduler_future_task IS 'pgdaemon: tasks waiting for their execution_time, including retries.';

CREATE INDEX scheduler_future_task_due_idx ON scheduler_future_task (execution_time);
CREATE UNIQUE INDEX scheduler_future_task_unique_key_idx ON scheduler_future_task (unique_key)
    WHERE unique_key IS NOT NULL;

CREATE TABLE scheduler_recurrent_task (
    name                text PRIMARY KEY,    -- the cron: entry's key
    schedule            text NOT NULL,
    timezone            text NOT NULL DEFAULT 'UTC',
    task_type           text NOT NULL,
    last_execution_time timestamptz,
    next_execution_time timestamptz,
    last_status         text,
    last_duration_ms    bigint
);

COMMENT ON TABLE scheduler_recurrent_task IS 'pgdaemon: the cron entries of the configuration and their last and next runs.';

CREATE TABLE scheduler_task_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id       bigint NOT NULL,
    name          text,
    task_type     text NOT NULL,
    node          text,
    create_time   timestamptz NOT NULL,
    scheduled_for timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL CHECK (status IN ('done', 'failed', 'retried', 'cancelled')),
    attempts      integer NOT NULL DEFAULT 0,
    error         text,
    task_data     jsonb
);

COMMENT ON TABLE scheduler_task_history IS 'pgdaemon: one row per finished attempt of a task, kept for history_retention.';

-- Retention cleanup and "recent history" listings.
CREATE INDEX scheduler_task_history_finished_idx ON scheduler_task_history (finished_at);
CREATE INDEX scheduler_task_history_task_idx ON scheduler_task_history (task_id);

-- Wake the task workers the moment a ready task arrives. One notification per statement (not per row), and
-- PostgreSQL folds identical notifications of one transaction into one.
CREATE FUNCTION scheduler_task_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pgdaemon_task', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER scheduler_task_notify
    AFTER INSERT ON scheduler_task
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_task_notify();

-- Wake the future task manager with the earliest new execution time (seconds since the epoch), so it can sleep
-- until exactly then.
CREATE FUNCTION scheduler_future_task_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    earliest timestamptz;
BEGIN
    SELECT min(execution_time) INTO earliest FROM new_rows;
    IF earliest IS NOT NULL THEN
        PERFORM pg_notify('pgdaemon_future_task', extract(epoch FROM earliest)::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER scheduler_future_task_notify
    AFTER INSERT ON scheduler_future_task
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_future_task_notify();

-- Enqueue a task: ready now, or a future task when execution_time is later than now. With a unique_key, a task
-- whose key is still pending (ready, running or future) is not enqueued again: its id is returned instead.
-- SECURITY DEFINER so that a role allowed only to call this function (pgdaemon_enqueue) can enqueue.
CREATE FUNCTION scheduler_task_add(
    task_type      text,
    task_data      jsonb DEFAULT '{}',
    name           text DEFAULT NULL,
    priority       integer DEFAULT 0,
    unique_key     text DEFAULT NULL,
    execution_time timestamptz DEFAULT NULL,
    max_attempts   integer DEFAULT 3
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
#variable_conflict use_column
DECLARE
    task_id bigint;
BEGIN
    IF scheduler_task_add.task_type IS NULL OR btrim(scheduler_task_add.task_type) = '' THEN
        RAISE EXCEPTION 'scheduler_task_add: task_type must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF scheduler_task_add.max_attempts IS NULL OR scheduler_task_add.max_attempts < 1 THEN
        RAISE EXCEPTION 'scheduler_task_add: max_attempts must be at least 1, not %',
            coalesce(scheduler_task_add.max_attempts::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF scheduler_task_add.unique_key IS NOT NULL THEN
        -- Serialises enqueues of one key (namespace 1885824003: pgdaemon's task unique keys), so that two
        -- concurrent calls cannot both find the key free.
        PERFORM pg_advisory_xact_lock(1885824003, hashtext(scheduler_task_add.unique_key));
        SELECT id INTO task_id FROM (
            SELECT id FROM scheduler_task WHERE unique_key = scheduler_task_add.unique_key
            UNION ALL
            SELECT id FROM scheduler_future_task WHERE unique_key = scheduler_task_add.unique_key
        ) AS pending LIMIT 1;
        IF task_id IS NOT NULL THEN
            RETURN task_id;
        END IF;
    END IF;
    IF scheduler_task_add.execution_time IS NOT NULL AND scheduler_task_add.execution_time > now() THEN
        INSERT INTO scheduler_future_task (name, task_type, task_data, priority, max_attempts, unique_key,
                                           execution_time)
        VALUES (scheduler_task_add.name, scheduler_task_add.task_type,
                coalesce(scheduler_task_add.task_data, '{}'), coalesce(scheduler_task_add.priority, 0),
                scheduler_task_add.max_attempts, scheduler_task_add.unique_key, scheduler_task_add.execution_time)
        RETURNING id INTO task_id;
    ELSE
        INSERT INTO scheduler_task (name, task_type, task_data, priority, max_attempts, unique_key, scheduled_for)
        VALUES (scheduler_task_add.name, scheduler_task_add.task_type,
                coalesce(scheduler_task_add.task_data, '{}'), coalesce(scheduler_task_add.priority, 0),
                scheduler_task_add.max_attempts, scheduler_task_add.unique_key, scheduler_task_add.execution_time)
        RETURNING id INTO task_id;
    END IF;
    RETURN task_id;
END
$$;

-- A SECURITY DEFINER function must not resolve names through the caller's search_path.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION scheduler_task_add(text, jsonb, text, integer, text, timestamptz, integer) '
                   'SET search_path = %I, pg_temp', current_schema());
END
$$;
