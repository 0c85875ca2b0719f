-- Two statements of 0001 that do not hold, made true here (0001 itself stays as released: its checksum is recorded).
--
-- 1. scheduler_future_task_notify sent the earliest new execution time as the notification's payload, but the future
--    task manager never read it: woken, it asks the table for the earliest due time, which also covers tasks moved or
--    deleted since. The payload is dropped, and with it a min() over every inserted batch.
-- 2. 0001 says LIKE keeps scheduler_future_task's columns in step with scheduler_task. LIKE copies them once, when the
--    table is created: a column added later must be added to both tables, in the same migration.

CREATE OR REPLACE FUNCTION scheduler_future_task_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows) THEN
        PERFORM pg_notify('pgdaemon_future_task', '');
    END IF;
    RETURN NULL;
END
$$;
