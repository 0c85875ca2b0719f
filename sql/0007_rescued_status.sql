-- A task whose worker vanished (its lock went stale, or its node stopped heartbeating) is returned to the queue by
-- the rescuer; each rescue leaves a history row with status 'rescued'.
ALTER TABLE scheduler_task_history DROP CONSTRAINT scheduler_task_history_status_check;
ALTER TABLE scheduler_task_history ADD CONSTRAINT scheduler_task_history_status_check
    CHECK (status IN ('done', 'failed', 'retried', 'cancelled', 'rescued'));
