-- Named queues (issue 16): every task belongs to a queue, 'default' unless its enqueuer names one, and may carry a
-- concurrency key; scheduler_queue holds each queue's pause and the limits the configuration set. The columns are
-- added with constant defaults, so the tables are not rewritten; the task tables' statements copy them along by name
-- (TaskColumns), so a task keeps its queue and key through retries, future tasks and history.

ALTER TABLE scheduler_task
    ADD COLUMN queue text NOT NULL DEFAULT 'default' CHECK (queue <> ''),
    ADD COLUMN concurrency_key text;
ALTER TABLE scheduler_future_task
    ADD COLUMN queue text NOT NULL DEFAULT 'default' CHECK (queue <> ''),
    ADD COLUMN concurrency_key text;
ALTER TABLE scheduler_task_history
    ADD COLUMN queue text NOT NULL DEFAULT 'default',
    ADD COLUMN concurrency_key text;

-- One row per queue that was configured or paused. A queue without a row runs under the default queue's settings.
CREATE TABLE scheduler_queue (
    name        text PRIMARY KEY CHECK (name <> ''),
    paused_at   timestamptz,          -- set while paused: nothing in the queue starts; running tasks finish
    per_node    integer CHECK (per_node >= 1),       -- the worker's slots for the queue on each node
    max_running integer CHECK (max_running >= 1),    -- `limit`: at most this many running in the cluster
    key_limit   integer CHECK (key_limit >= 1),      -- at most this many running per concurrency_key
    rate_count  integer CHECK (rate_count >= 1),     -- `rate`: at most rate_count starts per rate_period
    rate_period interval CHECK (rate_period > interval '0'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE scheduler_queue IS 'pgdaemon: named queues, their pause and the limits the configuration set.';

GRANT SELECT, INSERT, UPDATE, DELETE ON scheduler_queue TO pgdaemon_node;
GRANT SELECT ON scheduler_queue TO pgdaemon_readonly;

-- scheduler_task_add with a queue and a concurrency key, named arguments after the present ones, so that every call
-- written for 0001's function means the same. The old signature goes: beside the new one, a call with seven
-- arguments would match both.
DROP FUNCTION scheduler_task_add(text, jsonb, text, integer, text, timestamptz, integer);

CREATE FUNCTION scheduler_task_add(
    task_type       text,
    task_data       jsonb DEFAULT '{}',
    name            text DEFAULT NULL,
    priority        integer DEFAULT 0,
    unique_key      text DEFAULT NULL,
    execution_time  timestamptz DEFAULT NULL,
    max_attempts    integer DEFAULT 3,
    queue           text DEFAULT 'default',
    concurrency_key text DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
#variable_conflict use_column
DECLARE
    task_id bigint;
    task_queue text := coalesce(scheduler_task_add.queue, 'default');
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
    IF btrim(task_queue) = '' THEN
        RAISE EXCEPTION 'scheduler_task_add: queue must not be empty'
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
                                           execution_time, queue, concurrency_key)
        VALUES (scheduler_task_add.name, scheduler_task_add.task_type,
                coalesce(scheduler_task_add.task_data, '{}'), coalesce(scheduler_task_add.priority, 0),
                scheduler_task_add.max_attempts, scheduler_task_add.unique_key, scheduler_task_add.execution_time,
                task_queue, scheduler_task_add.concurrency_key)
        RETURNING id INTO task_id;
    ELSE
        INSERT INTO scheduler_task (name, task_type, task_data, priority, max_attempts, unique_key, scheduled_for,
                                    queue, concurrency_key)
        VALUES (scheduler_task_add.name, scheduler_task_add.task_type,
                coalesce(scheduler_task_add.task_data, '{}'), coalesce(scheduler_task_add.priority, 0),
                scheduler_task_add.max_attempts, scheduler_task_add.unique_key, scheduler_task_add.execution_time,
                task_queue, scheduler_task_add.concurrency_key)
        RETURNING id INTO task_id;
    END IF;
    RETURN task_id;
END
$$;

-- A task object of scheduler_task_add_many, as a row: scheduler_task_add's arguments.
CREATE TYPE scheduler_task_input AS (
    task_type text, task_data jsonb, name text, priority integer, unique_key text, execution_time timestamptz,
    max_attempts integer, queue text, concurrency_key text
);

-- Enqueues an array of task objects in one statement and returns their ids in the array's order. Each object has
-- scheduler_task_add's argument names as keys (task_type required; task_data, name, priority, unique_key,
-- execution_time, max_attempts, queue, concurrency_key optional); any other key is refused, so a misspelt one is
-- not silently ignored, and so is a value scheduler_task_add would refuse, naming the task's place in the array.
-- Tasks without a unique key are inserted together, ready and future ones in a statement each, their ids drawn
-- first so that they come back in order (100,000 one by one through scheduler_task_add took 2.3 s); those with one go
-- through scheduler_task_add, which serialises their keys.
CREATE FUNCTION scheduler_task_add_many(tasks jsonb) RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    keys constant text[] := ARRAY['task_type', 'task_data', 'name', 'priority', 'unique_key', 'execution_time',
                                  'max_attempts', 'queue', 'concurrency_key'];
    problem text;
    ids bigint[];
    keyed record;
BEGIN
    IF tasks IS NULL OR jsonb_typeof(tasks) <> 'array' THEN
        RAISE EXCEPTION 'scheduler_task_add_many: tasks must be a JSON array of task objects'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT format('task %s: %s', t.n, p.problem) INTO problem
    FROM jsonb_array_elements(tasks) WITH ORDINALITY AS t(value, n)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN jsonb_typeof(t.value) <> 'object' THEN 'not a JSON object'
                    ELSE (SELECT 'unknown key ' || quote_literal(k) || '; the keys are scheduler_task_add''s arguments'
                          FROM jsonb_object_keys(t.value) AS k WHERE k <> ALL (keys) LIMIT 1) END AS problem
    ) AS p
    WHERE p.problem IS NOT NULL
    ORDER BY t.n LIMIT 1;
    IF problem IS NULL THEN
        SELECT format('task %s: %s', t.ordinality, CASE
                   WHEN btrim(coalesce(t.task_type, '')) = '' THEN 'task_type must not be empty'
                   WHEN coalesce(t.max_attempts, 3) < 1 THEN 'max_attempts must be at least 1, not ' || t.max_attempts
                   ELSE 'queue must not be empty' END)
        INTO problem
        FROM jsonb_populate_recordset(NULL::scheduler_task_input, tasks) WITH ORDINALITY AS t
        WHERE btrim(coalesce(t.task_type, '')) = '' OR coalesce(t.max_attempts, 3) < 1 OR btrim(t.queue) = ''
        ORDER BY t.ordinality LIMIT 1;
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'scheduler_task_add_many: %', problem USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH numbered AS (
        SELECT t.*, CASE WHEN t.unique_key IS NULL THEN nextval('scheduler_task_id_seq') END AS id
        FROM jsonb_populate_recordset(NULL::scheduler_task_input, tasks) WITH ORDINALITY AS t
    ), ready AS (
        INSERT INTO scheduler_task (id, name, task_type, task_data, priority, max_attempts, scheduled_for, queue,
                                    concurrency_key)
        SELECT id, name, task_type, coalesce(task_data, '{}'), coalesce(priority, 0), coalesce(max_attempts, 3),
               execution_time, coalesce(queue, 'default'), concurrency_key
        FROM numbered WHERE id IS NOT NULL AND (execution_time IS NULL OR execution_time <= now()) ORDER BY id
    ), future AS (
        INSERT INTO scheduler_future_task (id, name, task_type, task_data, priority, max_attempts, execution_time,
                                           queue, concurrency_key)
        SELECT id, name, task_type, coalesce(task_data, '{}'), coalesce(priority, 0), coalesce(max_attempts, 3),
               execution_time, coalesce(queue, 'default'), concurrency_key
        FROM numbered WHERE id IS NOT NULL AND execution_time > now() ORDER BY id
    )
    SELECT coalesce(array_agg(id ORDER BY ordinality), '{}') INTO ids FROM numbered;
    FOR keyed IN
        SELECT t.* FROM jsonb_populate_recordset(NULL::scheduler_task_input, tasks) WITH ORDINALITY AS t
        WHERE t.unique_key IS NOT NULL ORDER BY t.ordinality
    LOOP
        ids[keyed.ordinality] := scheduler_task_add(
            keyed.task_type, coalesce(keyed.task_data, '{}'), keyed.name, coalesce(keyed.priority, 0),
            keyed.unique_key, keyed.execution_time, coalesce(keyed.max_attempts, 3),
            coalesce(keyed.queue, 'default'), keyed.concurrency_key);
    END LOOP;
    RETURN ids;
END
$$;

-- A SECURITY DEFINER function must not resolve names through the caller's search_path.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION scheduler_task_add(text, jsonb, text, integer, text, timestamptz, integer, text, '
                   'text) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION scheduler_task_add_many(jsonb) SET search_path = %I, pg_temp', current_schema());
END
$$;

-- Applications enqueue through the two functions only.
REVOKE ALL ON FUNCTION scheduler_task_add(text, jsonb, text, integer, text, timestamptz, integer, text, text),
    scheduler_task_add_many(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scheduler_task_add(text, jsonb, text, integer, text, timestamptz, integer, text, text),
    scheduler_task_add_many(jsonb) TO pgdaemon_enqueue, pgdaemon_node;

-- Pausing a queue: nothing in it starts until it is resumed; its running tasks finish. The row is created when the
-- configuration never named the queue. Every worker hears of it at once (pgdaemon_queue); a resume also wakes them
-- for the queue's waiting tasks. Each returns whether the queue's state changed.
CREATE FUNCTION scheduler_queue_pause(name text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    changed boolean;
BEGIN
    IF name IS NULL OR btrim(name) = '' THEN
        RAISE EXCEPTION 'scheduler_queue_pause: name must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO scheduler_queue AS q (name, paused_at) VALUES (scheduler_queue_pause.name, now())
    ON CONFLICT ON CONSTRAINT scheduler_queue_pkey DO UPDATE SET paused_at = now(), updated_at = now()
        WHERE q.paused_at IS NULL
    RETURNING true INTO changed;
    PERFORM pg_notify('pgdaemon_queue', scheduler_queue_pause.name);
    RETURN coalesce(changed, false);
END
$$;

CREATE FUNCTION scheduler_queue_resume(name text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    changed boolean;
BEGIN
    UPDATE scheduler_queue AS q SET paused_at = NULL, updated_at = now()
    WHERE q.name = scheduler_queue_resume.name AND q.paused_at IS NOT NULL
    RETURNING true INTO changed;
    PERFORM pg_notify('pgdaemon_queue', scheduler_queue_resume.name);
    PERFORM pg_notify('pgdaemon_task', '');
    RETURN coalesce(changed, false);
END
$$;

REVOKE ALL ON FUNCTION scheduler_queue_pause(text), scheduler_queue_resume(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scheduler_queue_pause(text), scheduler_queue_resume(text) TO pgdaemon_node;

-- The claim leaves paused queues alone: their names are read once per claim (a hashed subplan), never per task.
CREATE OR REPLACE FUNCTION scheduler_claim_ready_tasks(token text, node text, batch integer)
    RETURNS TABLE (id bigint, name text, task_type text, data text, attempts integer, max_attempts integer,
                   priority integer)
    LANGUAGE plpgsql VOLATILE
    SET enable_sort = off
    SET enable_seqscan = off
    SET jit = off
    ROWS 10
AS $$
BEGIN
    RETURN QUERY
        UPDATE scheduler_task AS t
        SET lock_key = token, lock_node = node, lock_time = now(), lock_update_time = now(),
            attempts = t.attempts + 1
        FROM (SELECT r.id FROM scheduler_task AS r
              WHERE r.lock_key IS NULL
                AND r.queue NOT IN (SELECT q.name FROM scheduler_queue AS q WHERE q.paused_at IS NOT NULL)
              ORDER BY r.priority, r.id
              LIMIT batch FOR UPDATE SKIP LOCKED) AS ready
        WHERE t.id = ready.id
        RETURNING t.id, t.name, t.task_type, t.task_data::text, t.attempts, t.max_attempts, t.priority;
END
$$;
