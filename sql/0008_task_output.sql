-- What a task printed (a Command's captured stdout and stderr, an SQL statement's row count), kept with its attempt.
ALTER TABLE scheduler_task_history ADD COLUMN output text;
