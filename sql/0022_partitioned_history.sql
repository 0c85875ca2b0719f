-- History partitioned by day (issue 17, item 3). At a few thousand tasks a second, pruning history with DELETE left
-- tens of millions of dead rows a day for autovacuum and held the rescuer's statement for minutes; a day's partition
-- is dropped in milliseconds instead. The table keeps its name, columns and indexes, so every reader (DBA queries,
-- `task show`, /metrics, the views) reads it as before, and the finished_at filters they already have prune to the
-- partitions they need.
--
-- Partitions hold one UTC day each, named scheduler_task_history_YYYYMMDD. The rescuer creates them a week ahead and
-- drops those older than history_retention (scheduler_task_history_maintain); the default partition catches rows of
-- a day nobody created in time, so finishing a task never fails for want of a partition. The rows from before this
-- migration stay where they are, as the partition scheduler_task_history_migrated for every time up to the end of the
-- day the migration ran, and are dropped with it once that day is past the retention.

ALTER TABLE scheduler_task_history RENAME TO scheduler_task_history_migrated;
ALTER INDEX scheduler_task_history_finished_idx RENAME TO scheduler_task_history_migrated_finished_idx;
ALTER INDEX scheduler_task_history_task_idx RENAME TO scheduler_task_history_migrated_task_idx;
-- A partitioned table's primary key must hold the partition key; attaching builds (id, finished_at) on the old rows.
ALTER TABLE scheduler_task_history_migrated DROP CONSTRAINT scheduler_task_history_pkey;

-- An identity column's sequence belongs to its table. A plain sequence of the same name (the one 0005 grants) goes on
-- from where the identity stopped, so ids stay unique across the old rows and the new.
DO $$
DECLARE
    next_id bigint := nextval(pg_get_serial_sequence('scheduler_task_history_migrated', 'id'));
BEGIN
    ALTER TABLE scheduler_task_history_migrated ALTER COLUMN id DROP IDENTITY;
    EXECUTE format('CREATE SEQUENCE scheduler_task_history_id_seq START WITH %s', next_id);
END
$$;

CREATE TABLE scheduler_task_history (
    LIKE scheduler_task_history_migrated INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS
) PARTITION BY RANGE (finished_at);
ALTER TABLE scheduler_task_history ALTER COLUMN id SET DEFAULT nextval('scheduler_task_history_id_seq');
ALTER SEQUENCE scheduler_task_history_id_seq OWNED BY scheduler_task_history.id;
ALTER TABLE scheduler_task_history ADD PRIMARY KEY (id, finished_at);
CREATE INDEX scheduler_task_history_finished_idx ON scheduler_task_history (finished_at);
CREATE INDEX scheduler_task_history_task_idx ON scheduler_task_history (task_id);

COMMENT ON TABLE scheduler_task_history IS
    'pgdaemon: one row per finished attempt of a task, partitioned by UTC day of finished_at, kept for history_retention.';

DO $$
DECLARE
    day_after timestamptz;
BEGIN
    SELECT date_trunc('day', greatest(now(), max(finished_at)), 'UTC') + interval '1 day' INTO day_after
    FROM scheduler_task_history_migrated;
    EXECUTE format('ALTER TABLE scheduler_task_history ATTACH PARTITION scheduler_task_history_migrated '
                   'FOR VALUES FROM (MINVALUE) TO (%L)', day_after);
END
$$;

CREATE TABLE scheduler_task_history_default PARTITION OF scheduler_task_history DEFAULT;

-- Each partition of history with the times it holds: `from_time` NULL for the migrated rows (all time before), both
-- NULL for the default partition. Read from the partition bounds, which the server prints and parses alike in one
-- session.
CREATE VIEW scheduler_task_history_partition AS
SELECT p.name, p.from_time, p.to_time, p.bound = 'DEFAULT' AS is_default,
       c.reltuples::bigint AS estimated_rows, pg_total_relation_size(c.oid) AS total_bytes
FROM pg_inherits AS i
JOIN pg_class AS c ON c.oid = i.inhrelid
CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) AS b
CROSS JOIN LATERAL (
    SELECT c.relname::text AS name, b.bound,
           (regexp_match(b.bound, 'FROM \(''([^'']*)''\)'))[1]::timestamptz AS from_time,
           (regexp_match(b.bound, 'TO \(''([^'']*)''\)'))[1]::timestamptz AS to_time
) AS p
WHERE i.inhparent = 'scheduler_task_history'::regclass;

COMMENT ON VIEW scheduler_task_history_partition IS
    'pgdaemon: the partitions of scheduler_task_history, the UTC days they hold, their rows (estimated) and size.';

-- Creates the partitions of today and the `days_ahead` days after it that are missing, moving into each the rows the
-- default partition caught for its day, and drops every partition whose days all lie before now() - retention (none
-- when retention is NULL), with the default partition's rows as old. A partition whose lock is not granted within
-- lock_timeout is left for the next call and counted as deferred: DROP needs an ACCESS EXCLUSIVE lock on the whole
-- table, and waiting longer would stall every worker that finishes a task behind it.
-- SECURITY DEFINER: a node role may create and drop exactly these partitions, where it owns no table.
CREATE FUNCTION scheduler_task_history_maintain(retention interval, days_ahead integer DEFAULT 7)
RETURNS TABLE (created integer, dropped integer, deferred integer)
LANGUAGE plpgsql SECURITY DEFINER SET lock_timeout = '100ms' AS $$
DECLARE
    day timestamptz;
    partition_name text;
    old record;
BEGIN
    created := 0;
    dropped := 0;
    deferred := 0;
    FOR day IN SELECT generate_series(date_trunc('day', now(), 'UTC'),
                                      date_trunc('day', now(), 'UTC') + make_interval(days => days_ahead),
                                      interval '1 day') LOOP
        CONTINUE WHEN EXISTS (SELECT FROM scheduler_task_history_partition AS p
                              WHERE NOT p.is_default AND (p.from_time IS NULL OR p.from_time <= day) AND p.to_time > day);
        partition_name := 'scheduler_task_history_' || to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD');
        BEGIN
            -- Created apart and attached, which locks the table less than CREATE TABLE … PARTITION OF.
            EXECUTE format('CREATE TABLE %I (LIKE scheduler_task_history INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           partition_name);
            EXECUTE format('WITH moved AS (DELETE FROM scheduler_task_history_default '
                           'WHERE finished_at >= $1 AND finished_at < $2 RETURNING *) '
                           'INSERT INTO %I SELECT * FROM moved', partition_name)
                USING day, day + interval '1 day';
            EXECUTE format('ALTER TABLE scheduler_task_history ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           partition_name, day, day + interval '1 day');
            created := created + 1;
        EXCEPTION WHEN lock_not_available THEN
            deferred := deferred + 1;
        END;
    END LOOP;
    IF retention IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;
    FOR old IN SELECT p.name FROM scheduler_task_history_partition AS p
               WHERE NOT p.is_default AND p.to_time <= now() - retention ORDER BY p.to_time LOOP
        BEGIN
            EXECUTE format('DROP TABLE %I', old.name);
            dropped := dropped + 1;
        EXCEPTION WHEN lock_not_available THEN
            deferred := deferred + 1;
        END;
    END LOOP;
    DELETE FROM scheduler_task_history_default WHERE finished_at < now() - retention;
    RETURN NEXT;
END
$$;

-- A SECURITY DEFINER function must not resolve names through the caller's search_path.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION scheduler_task_history_maintain(interval, integer) SET search_path = %I, pg_temp',
                   current_schema());
END
$$;

REVOKE ALL ON FUNCTION scheduler_task_history_maintain(interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scheduler_task_history_maintain(interval, integer) TO pgdaemon_node;

GRANT SELECT, INSERT, UPDATE, DELETE ON scheduler_task_history TO pgdaemon_node;
GRANT USAGE, SELECT ON SEQUENCE scheduler_task_history_id_seq TO pgdaemon_node;
GRANT SELECT ON scheduler_task_history, scheduler_task_history_partition TO pgdaemon_readonly, pgdaemon_node;

SELECT scheduler_task_history_maintain(NULL);
