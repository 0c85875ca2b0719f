-- The web console reads history and the future tasks through these; benchmarks/console measures its pages.
-- The web console's failures page and its listings of failed, retried, cancelled and rescued attempts read them by
-- status and time without walking every done attempt of the day: an index of the attempts that did not end done,
-- which are few, so the workers' inserts into history pay for an entry only when a task did not succeed.
CREATE INDEX scheduler_task_history_unsuccessful_idx ON scheduler_task_history (status, finished_at)
    WHERE status <> 'done';

-- The queues page and `pgdaemon queue list` count each queue's future tasks through an index, as they count its ready
-- and running ones, instead of reading the whole table of future tasks.
CREATE INDEX scheduler_future_task_queue_idx ON scheduler_future_task (queue, execution_time);
