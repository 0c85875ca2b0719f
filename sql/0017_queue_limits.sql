-- Queue limits and cancel (issue 16). The claim takes only what each queue's limits allow, in the statement that
-- claims: `limit` and `key_limit` count the queue's running rows after locking its scheduler_queue row, so claims of
-- one limited queue from every node take turns and each sees what the one before it took; `rate` keeps the queue's
-- recent start times on that row. Nothing is a counter that an outcome or a rescue must give back: a finished,
-- rescued or cancelled task leaves the running rows, and with them the count, in the statement that says so.

-- The claim walks one queue's ready tasks at a time, lowest priority value first, then oldest.
DROP INDEX scheduler_task_ready_idx;
CREATE INDEX scheduler_task_ready_idx ON scheduler_task (queue, priority, id) WHERE lock_key IS NULL;
-- A key-limited queue's claim reads its waiting keys, and each key's tasks in order. Tasks without a key are not in it.
CREATE INDEX scheduler_task_ready_key_idx ON scheduler_task (queue, concurrency_key, priority, id)
    WHERE lock_key IS NULL AND concurrency_key IS NOT NULL;
-- Running tasks by queue, for the limits' counts (a key-limited queue's claim groups its running tasks by key);
-- the rescue and the heartbeat read all of them. With the key in the index too, every claim's update of 110 tasks
-- with keys cost a fifth more (150 claims: 603 ms, 484 ms without it, 448 ms for tasks without keys).
DROP INDEX scheduler_task_running_idx;
CREATE INDEX scheduler_task_running_idx ON scheduler_task (queue) WHERE lock_key IS NOT NULL;

-- A rate-limited queue's starts within the last rate_period, counted in buckets a sixtieth of the period wide: each
-- bucket's start time, and how many tasks started in it. A claim counts every bucket that reaches into the period,
-- so a start is never left out, and a bucket at the period's edge holds back its starts until it has left the
-- period entirely. (The start times themselves, one each, cost a claim 0.5 ms with 1,500 of them.)
ALTER TABLE scheduler_queue
    ADD COLUMN rate_buckets timestamptz[] NOT NULL DEFAULT '{}',
    ADD COLUMN rate_counts integer[] NOT NULL DEFAULT '{}';
-- Set when scheduler_task_cancel asked the running task's worker to stop it.
ALTER TABLE scheduler_task ADD COLUMN cancel_requested_at timestamptz;

DROP FUNCTION scheduler_claim_ready_tasks(text, text, integer);

-- Claims up to `batch` ready tasks for the claim token `token` of node `node`, and returns them in no set order.
-- `rooms` is the node's room per queue ({"mail": 2}; the key "" for every queue it does not name): the worker's
-- per_node slots; a queue it names with 0 is left alone. The outcomes recorded in the same statement are
-- `recorded_ids` with `recorded_tokens`: they still look running to the counts, which leave them out.
--
-- A queue is read once per claim, never per task: its row, or the default queue's when its own sets no figures.
-- Paused queues are skipped. For each queue with `limit`, `key_limit` or `rate`, in name order (so that two claims
-- never wait for each other's rows), the claim locks the row and then counts, so the count sees every claim committed
-- before. Within a key-limited queue the keys take turns (the first task of each key, then the second of each, …),
-- lowest priority value first; across queues too, so that a deep queue does not fill every batch.
CREATE FUNCTION scheduler_claim_tasks(token text, node text, batch integer, rooms jsonb, recorded_ids bigint[],
                                      recorded_tokens text[], wake boolean)
    RETURNS TABLE (id bigint, name text, task_type text, data text, attempts integer, max_attempts integer,
                   priority integer, queue text)
    LANGUAGE plpgsql VOLATILE
    SET enable_seqscan = off
    SET jit = off
    ROWS 10
AS $$
#variable_conflict use_column
DECLARE
    q record;
    room integer;
    started timestamptz;
    open_queues text[] := '{}';
    open_rooms integer[] := '{}';
    keyed_ids bigint[] := '{}';
    keyed_priorities integer[] := '{}';
    keyed_ranks bigint[] := '{}';
    picked_ids bigint[];
    picked_priorities integer[];
    picked_ranks bigint[];
    rated text[] := '{}';
BEGIN
    IF wake THEN
        -- The outcomes free slots of limited queues that other workers may be waiting for.
        PERFORM pg_notify('pgdaemon_task', '');
    END IF;
    FOR q IN
        WITH RECURSIVE ready(queue) AS (
            (SELECT r.queue FROM scheduler_task AS r WHERE r.lock_key IS NULL ORDER BY r.queue LIMIT 1)
            UNION ALL
            SELECT (SELECT r.queue FROM scheduler_task AS r WHERE r.lock_key IS NULL AND r.queue > ready.queue
                    ORDER BY r.queue LIMIT 1)
            FROM ready WHERE ready.queue IS NOT NULL
        )
        SELECT ready.queue AS name,
               least(batch, coalesce((rooms ->> ready.queue)::integer, (rooms ->> '')::integer, batch)) AS room,
               s.max_running, s.key_limit, s.rate_count, s.rate_period
        FROM ready
        LEFT JOIN scheduler_queue AS own ON own.name = ready.queue
        LEFT JOIN scheduler_queue AS def ON def.name = 'default'
        CROSS JOIN LATERAL (
            SELECT CASE WHEN o.configured THEN own.max_running ELSE def.max_running END AS max_running,
                   CASE WHEN o.configured THEN own.key_limit ELSE def.key_limit END AS key_limit,
                   CASE WHEN o.configured THEN own.rate_count ELSE def.rate_count END AS rate_count,
                   CASE WHEN o.configured THEN own.rate_period ELSE def.rate_period END AS rate_period
            FROM (SELECT num_nonnulls(own.per_node, own.max_running, own.key_limit, own.rate_count) > 0
                         AS configured) AS o
        ) AS s
        WHERE ready.queue IS NOT NULL AND own.paused_at IS NULL
        ORDER BY ready.queue
    LOOP
        room := q.room;
        CONTINUE WHEN room <= 0;
        IF num_nonnulls(q.max_running, q.key_limit, q.rate_count) > 0 THEN
            -- A queue running under the default queue's figures gets a row of its own to lock and keep starts in.
            INSERT INTO scheduler_queue AS s (name) VALUES (q.name) ON CONFLICT ON CONSTRAINT scheduler_queue_pkey DO NOTHING;
            PERFORM 1 FROM scheduler_queue AS s WHERE s.name = q.name FOR UPDATE;
            -- From here on each statement sees every claim of this queue committed before the lock was granted.
            started := clock_timestamp();
            IF q.max_running IS NOT NULL THEN
                room := least(room, q.max_running - (
                    SELECT count(*) FROM scheduler_task AS r
                    WHERE r.queue = q.name AND r.lock_key IS NOT NULL
                      AND NOT (r.id = ANY (recorded_ids) AND r.lock_key = ANY (recorded_tokens))));
            END IF;
            IF q.rate_count IS NOT NULL THEN
                room := least(room, q.rate_count - (
                    SELECT coalesce(sum(b.n), 0) FROM scheduler_queue AS s,
                        unnest(s.rate_buckets, s.rate_counts) AS b(since, n)
                    WHERE s.name = q.name AND b.since + q.rate_period / 60 > started - q.rate_period)::integer);
                rated := rated || q.name;
            END IF;
            CONTINUE WHEN room <= 0;
        END IF;
        IF q.key_limit IS NULL THEN
            open_queues := open_queues || q.name;
            open_rooms := open_rooms || room;
            CONTINUE;
        END IF;
        -- Each waiting key's first tasks, as many as its key_limit leaves room for, ranked within the key; tasks
        -- without a key count as one more key without a limit.
        WITH RECURSIVE waiting(concurrency_key) AS (
            (SELECT r.concurrency_key FROM scheduler_task AS r
             WHERE r.queue = q.name AND r.lock_key IS NULL AND r.concurrency_key IS NOT NULL
             ORDER BY r.concurrency_key LIMIT 1)
            UNION ALL
            SELECT (SELECT r.concurrency_key FROM scheduler_task AS r
                    WHERE r.queue = q.name AND r.lock_key IS NULL AND r.concurrency_key > waiting.concurrency_key
                    ORDER BY r.concurrency_key LIMIT 1)
            FROM waiting WHERE waiting.concurrency_key IS NOT NULL
        ), busy AS (
            SELECT r.concurrency_key, count(*) AS running FROM scheduler_task AS r
            WHERE r.queue = q.name AND r.lock_key IS NOT NULL AND r.concurrency_key IS NOT NULL
              AND NOT (r.id = ANY (recorded_ids) AND r.lock_key = ANY (recorded_tokens))
            GROUP BY r.concurrency_key
        ), candidates AS (
            SELECT c.id, c.priority, c.rank FROM waiting LEFT JOIN busy USING (concurrency_key)
            CROSS JOIN LATERAL (
                SELECT t.id, t.priority, row_number() OVER (ORDER BY t.priority, t.id) AS rank
                FROM (SELECT r.id, r.priority FROM scheduler_task AS r
                      WHERE r.queue = q.name AND r.concurrency_key = waiting.concurrency_key AND r.lock_key IS NULL
                      ORDER BY r.priority, r.id
                      LIMIT greatest(0, least(room, q.key_limit - coalesce(busy.running, 0)))
                      FOR UPDATE SKIP LOCKED) AS t
            ) AS c
            WHERE waiting.concurrency_key IS NOT NULL
            UNION ALL
            SELECT t.id, t.priority, row_number() OVER (ORDER BY t.priority, t.id) AS rank
            FROM (SELECT r.id, r.priority FROM scheduler_task AS r
                  WHERE r.queue = q.name AND r.concurrency_key IS NULL AND r.lock_key IS NULL
                  ORDER BY r.priority, r.id LIMIT room FOR UPDATE SKIP LOCKED) AS t
        ), chosen AS (
            SELECT * FROM candidates ORDER BY candidates.priority, candidates.rank, candidates.id LIMIT room
        )
        SELECT coalesce(array_agg(chosen.id), '{}'), coalesce(array_agg(chosen.priority), '{}'),
               coalesce(array_agg(chosen.rank), '{}')
        INTO picked_ids, picked_priorities, picked_ranks
        FROM chosen;
        keyed_ids := keyed_ids || picked_ids;
        keyed_priorities := keyed_priorities || picked_priorities;
        keyed_ranks := keyed_ranks || picked_ranks;
    END LOOP;

    RETURN QUERY
        WITH open AS (
            SELECT c.id, c.priority, c.rank
            FROM unnest(open_queues, open_rooms) AS o(name, room)
            CROSS JOIN LATERAL (
                SELECT t.id, t.priority, row_number() OVER (ORDER BY t.priority, t.id) AS rank
                FROM (SELECT r.id, r.priority FROM scheduler_task AS r
                      WHERE r.queue = o.name AND r.lock_key IS NULL
                      ORDER BY r.priority, r.id LIMIT o.room FOR UPDATE SKIP LOCKED) AS t
            ) AS c
        ), chosen AS (
            SELECT c.id FROM (
                SELECT * FROM open
                UNION ALL
                SELECT * FROM unnest(keyed_ids, keyed_priorities, keyed_ranks) AS k(id, priority, rank)
            ) AS c
            ORDER BY c.priority, c.rank, c.id LIMIT batch
        )
        UPDATE scheduler_task AS t
        SET lock_key = token, lock_node = node, lock_time = now(), lock_update_time = now(),
            attempts = t.attempts + 1
        FROM chosen
        WHERE t.id = chosen.id
        RETURNING t.id, t.name, t.task_type, t.task_data::text, t.attempts, t.max_attempts, t.priority, t.queue;

    -- The starts of rate-limited queues go into the bucket of the time the last room was counted (no earlier than
    -- each queue's count, later than every start another claim recorded before); buckets that left the period go.
    IF cardinality(rated) = 0 THEN
        RETURN;
    END IF;
    UPDATE scheduler_queue AS s
    SET (rate_buckets, rate_counts) = (
        SELECT coalesce(array_agg(b.since ORDER BY b.since), '{}'), coalesce(array_agg(b.n ORDER BY b.since), '{}')
        FROM (
            SELECT kept.since, sum(kept.n)::integer AS n FROM (
                SELECT old.since, old.n FROM unnest(s.rate_buckets, s.rate_counts) AS old(since, n)
                WHERE old.since + p.period / 60 > started - p.period
                UNION ALL
                SELECT to_timestamp(floor(extract(epoch FROM started) / extract(epoch FROM p.period / 60))
                                    * extract(epoch FROM p.period / 60)), count(*)
                FROM scheduler_task AS r WHERE r.queue = s.name AND r.lock_key = token
                HAVING count(*) > 0
            ) AS kept GROUP BY kept.since
        ) AS b)
    FROM (SELECT coalesce(own.rate_period, (SELECT d.rate_period FROM scheduler_queue AS d WHERE d.name = 'default'))
                 AS period, own.name
          FROM scheduler_queue AS own) AS p
    WHERE s.name = ANY (rated) AND p.name = s.name;
END
$$;

REVOKE ALL ON FUNCTION scheduler_claim_tasks(text, text, integer, jsonb, bigint[], text[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scheduler_claim_tasks(text, text, integer, jsonb, bigint[], text[], boolean)
    TO pgdaemon_node;

-- Cancels a task: a waiting one (ready or future) leaves the queue with a history row `cancelled`; a running one is
-- marked, and its worker, told at once (pgdaemon_cancel, the task's id), stops it and records `cancelled`; it is
-- neither retried nor rescued. Returns true when a waiting task was removed or a running one is being stopped.
-- The history row copies every column the tables share by name, as the worker's statements do (TaskColumns).
CREATE FUNCTION scheduler_task_cancel(id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    source text;
    columns text;
    removed integer;
BEGIN
    FOREACH source IN ARRAY ARRAY['scheduler_task', 'scheduler_future_task'] LOOP
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
        FROM pg_attribute AS a
        WHERE a.attrelid = source::regclass AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname NOT IN ('id', 'finished_at', 'status', 'error', 'scheduled_for')
          AND a.attname NOT LIKE 'lock\_%'
          AND EXISTS (SELECT 1 FROM pg_attribute AS h
                      WHERE h.attrelid = 'scheduler_task_history'::regclass AND h.attname = a.attname
                        AND NOT h.attisdropped);
        EXECUTE format(
            'WITH gone AS (DELETE FROM %I AS t WHERE t.id = $1 %s RETURNING *) '
            'INSERT INTO scheduler_task_history (task_id, finished_at, status, error, scheduled_for, %s) '
            'SELECT id, now(), ''cancelled'', ''cancelled with scheduler_task_cancel'', %s, %s FROM gone',
            source, CASE WHEN source = 'scheduler_task' THEN 'AND t.lock_key IS NULL' ELSE '' END, columns,
            CASE WHEN source = 'scheduler_task' THEN 'scheduled_for' ELSE 'coalesce(scheduled_for, execution_time)' END,
            columns)
        USING scheduler_task_cancel.id;
        GET DIAGNOSTICS removed = ROW_COUNT;
        IF removed > 0 THEN
            RETURN true;
        END IF;
    END LOOP;
    UPDATE scheduler_task AS t SET cancel_requested_at = coalesce(t.cancel_requested_at, now())
    WHERE t.id = scheduler_task_cancel.id AND t.lock_key IS NOT NULL;
    GET DIAGNOSTICS removed = ROW_COUNT;
    IF removed > 0 THEN
        PERFORM pg_notify('pgdaemon_cancel', scheduler_task_cancel.id::text);
    END IF;
    RETURN removed > 0;
END
$$;

REVOKE ALL ON FUNCTION scheduler_task_cancel(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scheduler_task_cancel(bigint) TO pgdaemon_node;
