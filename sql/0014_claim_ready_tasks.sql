-- The task worker claims ready tasks through this function, so that the claim walks the ready index in order whatever
-- the statistics say. A queue's statistics are stale by nature: after an ANALYZE of a momentarily empty queue the
-- planner expected a couple of dozen ready tasks, and a claim then read and sorted every ready task, 7 ms for 20,000
-- of them instead of 0.2 ms. With sorts and sequential scans priced out here, a claim reads the ready index in order
-- and each claimed row through the primary key, at any queue length. (JIT is off because those prices make every
-- plan look expensive enough to compile: 140 ms a claim.)
--
-- It claims up to `batch` ready tasks, lowest priority value first, then oldest, skipping rows that others are
-- claiming at the same moment, for the claim token `token` of node `node`, and returns them in no set order. The
-- selection and the update are one statement, so they see the same snapshot.

CREATE FUNCTION scheduler_claim_ready_tasks(token text, node text, batch integer)
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
        FROM (SELECT r.id FROM scheduler_task AS r WHERE r.lock_key IS NULL ORDER BY r.priority, r.id
              LIMIT batch FOR UPDATE SKIP LOCKED) AS ready
        WHERE t.id = ready.id
        RETURNING t.id, t.name, t.task_type, t.task_data::text, t.attempts, t.max_attempts, t.priority;
END
$$;

REVOKE ALL ON FUNCTION scheduler_claim_ready_tasks(text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scheduler_claim_ready_tasks(text, text, integer) TO pgdaemon_node;
