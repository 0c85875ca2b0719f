-- A claim's statements are planned once per session instead of at every call. pg_stat_statements (track = all,
-- track_planning on, durable server, one idle node, 300 single tasks 10 ms apart) showed the claim's final statement
-- planned anew at every call, 0.38-0.41 ms of planning against 0.04 ms of execution, because the server keeps custom
-- plans for a statement whose parameters (the function's variables) change its estimates; a wake's claim took
-- 0.77-0.86 ms of the server, and 0.33 ms with this setting. That is about half of what enqueue→start spent over the
-- insert+NOTIFY+claim floor.
-- Two earlier tries were dropped because the generic plan sorted a queue's whole backlog to take the first rows of it;
-- since sql/0024 no statement of the claim may sort where an index gives the order, and the generic plan reads the
-- index in order like the custom ones. A claim of 100 with 1,000,000 ready tasks took 1.7-1.8 ms generic against
-- 1.8-2.1 ms custom when analyzed, and 2.9-4.2 against 3.6-4.6 ms with the statistics a vacuum of a nearly empty
-- queue leaves (reltuples 1).

ALTER FUNCTION scheduler_claim_tasks(text, text, integer, jsonb, bigint[], text[], text[])
    SET plan_cache_mode = force_generic_plan;
