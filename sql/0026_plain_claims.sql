-- A claim takes a shorter path while no queue has a limit, a key limit or a rate, which is how most clusters run:
-- one statement that takes each open queue's first tasks within the node's rooms, in the same turns as the full
-- claim. The full claim's loop over the queues' rows, its update of rate buckets and its look for freed slots to
-- announce cost a claim of one task 0.38-0.43 ms of the server's time; the short path costs 0.31-0.34 (pgbench, one
-- client enqueuing a task and claiming it, synchronous_commit off so that the disk's flush is left out; the same
-- statement sent on its own takes 0.21-0.24, the rest is the function's call).
-- A claim under a limit that was just set may miss the tasks of a short-path claim that was out at that moment, until
-- it commits; they count like the tasks that already ran when the limit was set, and every later claim counts them.
-- The full claim's body repeats 0024's, as a migration that replaces a function must, and keeps 0025's setting.

CREATE OR REPLACE FUNCTION scheduler_claim_tasks(token text, node text, batch integer, rooms jsonb,
                                                 recorded_ids bigint[], recorded_tokens text[], recorded_queues text[])
    RETURNS TABLE (id bigint, name text, task_type text, data text, attempts integer, max_attempts integer,
                   priority integer, queue text, turn bigint)
    LANGUAGE plpgsql VOLATILE
    SET enable_seqscan = off
    SET jit = off
    SET enable_sort = off
    SET plan_cache_mode = force_generic_plan
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
    rated_periods interval[] := '{}';
    free integer;
    freed_queues text[] := '{}';
    freed_slots integer[] := '{}';
    wake boolean := false;
BEGIN
    -- No queue has a limit, key limit or rate (the usual case): the claim takes each open queue's first tasks in one
    -- statement, with no queue row to lock, no start to count and no slot to announce.
    IF NOT EXISTS (SELECT FROM scheduler_queue AS s WHERE num_nonnulls(s.max_running, s.key_limit, s.rate_count) > 0)
    THEN
        RETURN QUERY
            WITH RECURSIVE ready(queue) AS (
                (SELECT r.queue FROM scheduler_task AS r WHERE r.lock_key IS NULL ORDER BY r.queue LIMIT 1)
                UNION ALL
                SELECT (SELECT r.queue FROM scheduler_task AS r WHERE r.lock_key IS NULL AND r.queue > ready.queue
                        ORDER BY r.queue LIMIT 1)
                FROM ready WHERE ready.queue IS NOT NULL
            ), open AS (
                SELECT c.id, c.priority, c.rank
                FROM ready
                LEFT JOIN scheduler_queue AS own ON own.name = ready.queue
                CROSS JOIN LATERAL (
                    SELECT t.id, t.priority, row_number() OVER (ORDER BY t.priority, t.id) AS rank
                    FROM (SELECT r.id, r.priority FROM scheduler_task AS r
                          WHERE r.queue = ready.queue AND r.lock_key IS NULL
                          ORDER BY r.priority, r.id
                          LIMIT greatest(0, least(batch, coalesce((rooms ->> ready.queue)::integer,
                                                           (rooms ->> '')::integer, batch)))
                          FOR UPDATE SKIP LOCKED) AS t
                ) AS c
                WHERE ready.queue IS NOT NULL AND own.paused_at IS NULL
            ), chosen AS (
                SELECT o.id, row_number() OVER (ORDER BY o.priority, o.rank, o.id) AS turn FROM open AS o
                ORDER BY o.priority, o.rank, o.id LIMIT batch
            )
            UPDATE scheduler_task AS t
            SET lock_key = token, lock_node = node, lock_time = now(), lock_update_time = now(),
                attempts = t.attempts + 1
            FROM chosen
            WHERE t.id = ANY (ARRAY(SELECT chosen.id FROM chosen)) AND t.id = chosen.id AND num_nulls(t.lock_key) = 1
            RETURNING t.id, t.name, t.task_type, t.task_data::text AS data, t.attempts, t.max_attempts, t.priority,
                      t.queue, chosen.turn;
        RETURN;
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
               s.max_running, s.key_limit, s.rate_count, s.rate_period, own.name IS NOT NULL AS has_row
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
        IF room <= 0 THEN
            -- This node has no room for the queue, others may: the slots the outcomes freed are theirs.
            wake := wake OR (q.name = ANY (recorded_queues) AND num_nonnulls(q.max_running, q.key_limit) > 0);
            CONTINUE;
        END IF;
        IF num_nonnulls(q.max_running, q.key_limit, q.rate_count) > 0 THEN
            -- A queue that is full by what has committed is passed by without its lock: its count falls only by
            -- outcomes committed later, and the statement that records one wakes the workers when it leaves the
            -- slot free. Claims of a limited queue wait for each other's commit at its lock; one that could take
            -- nothing from it should not.
            IF q.max_running IS NOT NULL
                   AND q.max_running <= (SELECT count(*) FROM scheduler_task AS r
                                         WHERE r.queue = q.name AND r.lock_key IS NOT NULL
                                           AND NOT (r.id = ANY (recorded_ids) AND r.lock_key = ANY (recorded_tokens)))
               OR q.rate_count IS NOT NULL
                   AND q.rate_count <= (SELECT coalesce(sum(b.n), 0) FROM scheduler_queue AS s,
                                            unnest(s.rate_buckets, s.rate_counts) AS b(since, n)
                                        WHERE s.name = q.name
                                          AND b.since + q.rate_period / 60 > clock_timestamp() - q.rate_period) THEN
                CONTINUE;
            END IF;
            -- A queue running under the default queue's figures gets a row of its own to lock and keep starts in.
            IF NOT q.has_row THEN
                INSERT INTO scheduler_queue AS s (name) VALUES (q.name)
                ON CONFLICT ON CONSTRAINT scheduler_queue_pkey DO NOTHING;
            END IF;
            PERFORM 1 FROM scheduler_queue AS s WHERE s.name = q.name FOR UPDATE;
            -- From here on each statement sees every claim of this queue committed before the lock was granted.
            started := clock_timestamp();
            IF q.max_running IS NOT NULL THEN
                free := q.max_running - (
                    SELECT count(*) FROM scheduler_task AS r
                    WHERE r.queue = q.name AND r.lock_key IS NOT NULL
                      AND NOT (r.id = ANY (recorded_ids) AND r.lock_key = ANY (recorded_tokens)));
                room := least(room, free);
                IF q.name = ANY (recorded_queues) AND q.key_limit IS NULL THEN
                    freed_queues := freed_queues || q.name;
                    freed_slots := freed_slots || free;
                END IF;
            END IF;
            -- Which key's slot an outcome freed is not counted: a recorded key-limited queue always wakes.
            wake := wake OR (q.key_limit IS NOT NULL AND q.name = ANY (recorded_queues));
            IF q.rate_count IS NOT NULL THEN
                room := least(room, q.rate_count - (
                    SELECT coalesce(sum(b.n), 0) FROM scheduler_queue AS s,
                        unnest(s.rate_buckets, s.rate_counts) AS b(since, n)
                    WHERE s.name = q.name AND b.since + q.rate_period / 60 > started - q.rate_period)::integer);
                rated := rated || q.name;
                rated_periods := rated_periods || q.rate_period;
            END IF;
            CONTINUE WHEN room <= 0;
        END IF;
        IF q.key_limit IS NULL THEN
            open_queues := open_queues || q.name;
            open_rooms := open_rooms || room;
            CONTINUE;
        END IF;
        -- Each waiting key's first tasks, as many as its key_limit leaves room for, ranked within the key; tasks
        -- without a key count as one more key without a limit. The keys are read by row comparisons on
        -- (queue, concurrency_key), which only the key index answers: with an equality on the queue, the planner took
        -- the ready index and filtered the whole queue for every key whenever the table's statistics were older
        -- than its rows (a queue that filled since the last analyze: 5 ms instead of 0.2 for 7 keys).
        WITH RECURSIVE waiting(concurrency_key) AS (
            (SELECT CASE WHEN r.queue = q.name THEN r.concurrency_key END FROM scheduler_task AS r
             WHERE (r.queue, r.concurrency_key) >= (q.name, '') AND r.lock_key IS NULL
             ORDER BY r.queue, r.concurrency_key LIMIT 1)
            UNION ALL
            SELECT (SELECT CASE WHEN r.queue = q.name THEN r.concurrency_key END FROM scheduler_task AS r
                    WHERE (r.queue, r.concurrency_key) > (q.name, waiting.concurrency_key) AND r.lock_key IS NULL
                    ORDER BY r.queue, r.concurrency_key LIMIT 1)
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
                FROM (SELECT r.id, r.priority, r.queue, r.concurrency_key FROM scheduler_task AS r
                      WHERE (r.queue, r.concurrency_key) >= (q.name, waiting.concurrency_key) AND r.lock_key IS NULL
                      ORDER BY r.queue, r.concurrency_key, r.priority, r.id
                      LIMIT greatest(0, least(room, q.key_limit - coalesce(busy.running, 0)))) AS t
                -- The key's tasks come first; what the limit let in after them belongs to later keys.
                WHERE t.queue = q.name AND t.concurrency_key = waiting.concurrency_key
            ) AS c
            WHERE waiting.concurrency_key IS NOT NULL
            UNION ALL
            SELECT t.id, t.priority, row_number() OVER (ORDER BY t.priority, t.id) AS rank
            FROM (SELECT r.id, r.priority FROM scheduler_task AS r
                  WHERE r.queue = q.name AND r.concurrency_key IS NULL AND r.lock_key IS NULL
                  ORDER BY r.concurrency_key, r.priority, r.id LIMIT room) AS t
        ), chosen AS (
            -- Ranked again within the queue, so that across queues it takes turns like any other queue.
            SELECT candidates.id, candidates.priority,
                   row_number() OVER (ORDER BY candidates.priority, candidates.rank, candidates.id) AS rank
            FROM candidates ORDER BY candidates.priority, candidates.rank, candidates.id LIMIT room
        )
        SELECT coalesce(array_agg(chosen.id), '{}'), coalesce(array_agg(chosen.priority), '{}'),
               coalesce(array_agg(chosen.rank), '{}')
        INTO picked_ids, picked_priorities, picked_ranks
        FROM chosen;
        keyed_ids := keyed_ids || picked_ids;
        keyed_priorities := keyed_priorities || picked_priorities;
        keyed_ranks := keyed_ranks || picked_ranks;
    END LOOP;

    -- The starts of rate-limited queues go into the bucket of the time the last room was counted (no earlier than
    -- each queue's count, later than every start another claim recorded before); buckets that left the period go.
    -- They are counted from the claim's own update, and a queue the claim took nothing from is not written.
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
            SELECT c.id, row_number() OVER (ORDER BY c.priority, c.rank, c.id) AS turn FROM (
                SELECT * FROM open
                UNION ALL
                SELECT * FROM unnest(keyed_ids, keyed_priorities, keyed_ranks) AS k(id, priority, rank)
            ) AS c
            ORDER BY c.priority, c.rank, c.id LIMIT batch
        ), claimed AS (
            -- The chosen rows are looked up by id = ANY(array), which only the primary key answers, and checked to be
            -- still ready with num_nulls, which no index answers: with `lock_key IS NULL`, the predicate of the ready
            -- indexes, the planner read one of them whole under the same statistics and filtered it by id.
            UPDATE scheduler_task AS t
            SET lock_key = token, lock_node = node, lock_time = now(), lock_update_time = now(),
                attempts = t.attempts + 1
            FROM chosen
            WHERE t.id = ANY (ARRAY(SELECT chosen.id FROM chosen)) AND t.id = chosen.id AND num_nulls(t.lock_key) = 1
            RETURNING t.id, t.name, t.task_type, t.task_data::text AS data, t.attempts, t.max_attempts, t.priority,
                      t.queue, chosen.turn
        ), starts AS (
            SELECT r.name, r.period, count(*)::integer AS n
            FROM claimed JOIN unnest(rated, rated_periods) AS r(name, period) ON r.name = claimed.queue
            GROUP BY r.name, r.period
        ), counted AS (
            UPDATE scheduler_queue AS s
            SET (rate_buckets, rate_counts) = (
                SELECT array_agg(b.since ORDER BY b.since), array_agg(b.n ORDER BY b.since)
                FROM (
                    SELECT kept.since, sum(kept.n)::integer AS n FROM (
                        SELECT old.since, old.n FROM unnest(s.rate_buckets, s.rate_counts) AS old(since, n)
                        WHERE old.since + starts.period / 60 > started - starts.period
                        UNION ALL
                        SELECT to_timestamp(floor(extract(epoch FROM started) / extract(epoch FROM starts.period / 60))
                                            * extract(epoch FROM starts.period / 60)), starts.n
                    ) AS kept GROUP BY kept.since
                ) AS b)
            FROM starts
            WHERE s.name = starts.name
        )
        SELECT * FROM claimed;

    -- Slots that the recorded outcomes freed and this claim left free may be what other workers wait for.
    IF wake OR EXISTS (SELECT 1 FROM unnest(freed_queues, freed_slots) AS f(name, slots)
                       WHERE f.slots > (SELECT count(*) FROM scheduler_task AS r
                                        WHERE r.queue = f.name AND r.lock_key = token)) THEN
        PERFORM pg_notify('pgdaemon_task', '');
    END IF;
END
$$;
