-- scheduler_claim_tasks planned its statements at every call: their parameters are the function's variables, and
-- PostgreSQL's plan cache, finding the generic plan of the claim's final query estimated dearer than the custom
-- ones of its first five calls, went on making a custom plan each time. With pg_stat_statements.track_planning on,
-- a claim that found nothing spent 0.24 ms planning that query and 0.04 ms its wake test, where running all its
-- statements took 0.015 ms; the whole call took 0.43 ms of the server (durable server, one session, pgbench).
-- Their plans do not depend on the values: each statement walks an index in its order (enable_seqscan is off in the
-- function), so one generic plan per session serves every call. The empty claim went to 0.10 ms, 0.23 ms a round
-- trip with its commit instead of 0.56.
ALTER FUNCTION scheduler_claim_tasks(text, text, integer, jsonb, bigint[], text[], text[])
    SET plan_cache_mode = force_generic_plan;
