"""Waits until scheduler_task_history holds at least N rows, for benchmarks/peers: wait_drained.py N DSN.

One session polls every 50 ms, each count its own transaction. Polling with a process per query (psql is a Perl
wrapper here) took a fair part of a core from the drain it timed, and a single server-side loop (a DO block) kept one
snapshot for the whole drain, so the server could not prune the queue's dead rows and every claim walked past them.
"""

import sys
import time

import psycopg


def main():
    n, dsn = int(sys.argv[1]), sys.argv[2]
    with psycopg.connect(dsn, autocommit=True) as connection:
        while connection.execute("SELECT count(*) FROM scheduler_task_history").fetchone()[0] < n:
            time.sleep(0.05)


main()
