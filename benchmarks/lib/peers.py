"""Drives a peer job queue for benchmarks/peers: drain N no-op jobs, or the start latency of single jobs.

Usage: python peers.py PEER drain N DSN | python peers.py PEER latency N DSN
PEER is procrastinate or pgqueuer. Prints one JSON line. Each peer runs one worker process with ten jobs at once,
the same as pgdaemon's default max_workers, woken by LISTEN/NOTIFY as each peer does by default.
"""

import asyncio
import json
import statistics
import sys
import time
from datetime import datetime, timezone

CONCURRENCY = 10


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def procrastinate_run(mode, n, dsn):
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))
    started = {}

    @app.task(name="noop")
    async def noop(sent=None):
        if sent is not None:
            started[sent] = time.time()

    async with app.open_async():
        try:
            await app.schema_manager.apply_schema_async()
        except Exception:
            pass  # applied by an earlier run
        if mode == "drain":
            await noop.batch_defer_async(*[{} for _ in range(n)])
            begin = time.time()
            await app.run_worker_async(concurrency=CONCURRENCY, wait=False, install_signal_handlers=False)
            return {"jobs": n, "seconds": time.time() - begin}
        worker = asyncio.create_task(
            app.run_worker_async(concurrency=CONCURRENCY, wait=True, install_signal_handlers=False))
        await asyncio.sleep(1)
        sent_at = {}
        for i in range(n):
            sent_at[i] = time.time()
            await noop.defer_async(sent=i)
            await asyncio.sleep(0.01)
        while len(started) < n:
            await asyncio.sleep(0.05)
        worker.cancel()
        return {"latencies_ms": [(started[i] - sent_at[i]) * 1000 for i in range(n)]}


async def pgqueuer_run(mode, n, dsn):
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.types import QueueExecutionMode

    # asyncpg is the driver pgqueuer's documentation leads with.
    driver = AsyncpgDriver(await asyncpg.connect(dsn))
    queries = Queries(driver)
    try:
        await queries.install()
    except Exception:
        pass  # installed by an earlier run
    manager = QueueManager(queries)
    started = {}

    @manager.entrypoint("noop")
    async def noop(job):
        if job.payload:
            started[int(job.payload)] = time.time()

    if mode == "drain":
        await queries.enqueue(["noop"] * n, [None] * n, [0] * n)
        begin = time.time()
        await manager.run(batch_size=CONCURRENCY, mode=QueueExecutionMode.drain)
        return {"jobs": n, "seconds": time.time() - begin}
    send = Queries(AsyncpgDriver(await asyncpg.connect(dsn)))
    worker = asyncio.create_task(manager.run(batch_size=CONCURRENCY))
    await asyncio.sleep(1)
    sent_at = {}
    for i in range(n):
        sent_at[i] = time.time()
        await send.enqueue("noop", str(i).encode())
        await asyncio.sleep(0.01)
    while len(started) < n:
        await asyncio.sleep(0.05)
    manager.shutdown.set()
    await asyncio.wait_for(worker, 10)
    return {"latencies_ms": [(started[i] - sent_at[i]) * 1000 for i in range(n)]}


def main():
    peer, mode, n, dsn = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    run = {"procrastinate": procrastinate_run, "pgqueuer": pgqueuer_run}[peer]
    result = asyncio.run(run(mode, n, dsn))
    if mode == "drain":
        print(json.dumps({"peer": peer, "benchmark": "drain_jobs_per_s", "jobs": n,
                          "value": n / result["seconds"]}))
    else:
        latencies = result["latencies_ms"]
        print(json.dumps({"peer": peer, "benchmark": "enqueue_to_start_ms", "n": len(latencies),
                          "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                          "p99": percentile(latencies, 99), "median": statistics.median(latencies)}))


if __name__ == "__main__":
    main()
