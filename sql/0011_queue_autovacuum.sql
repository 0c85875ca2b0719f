-- The queue tables churn: every task is inserted, updated when claimed and deleted when done, so dead rows pile up
-- at the front of the ready index, where every claim starts its scan. Vacuum them after a few thousand changes
-- rather than after a fifth of the table (the default), and without the cost-based pauses.

ALTER TABLE scheduler_task SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 5000
);

ALTER TABLE scheduler_future_task SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0
);
