import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Queue limits and cancel, with real nodes", .timeLimit(.minutes(4)))
struct QueueLimitTests {
    /// Samples the running tasks every 20 ms, per queue and key, into `limit_sample`, on the server itself: a
    /// sampler in the test process fell behind, 20 samples in 46 s, while the other suites ran beside it on two
    /// cores. Runs until the server stops or the session is ended; each sample is committed at once.
    static func startSampling(_ url: String) -> Task<Void, Never> {
        Task {
            guard
                let connection = try? await Connection.connect(ConnectionOptions(url, applicationName: "limit-sampler"))
            else { return }
            _ = try? await connection.execute(
                """
                DO $$
                DECLARE
                    n bigint := 0;
                BEGIN
                    LOOP
                        n := n + 1;
                        INSERT INTO limit_sample (session, sample, queue, concurrency_key, running)
                        SELECT pg_backend_pid(), n, queue, concurrency_key, count(*) FROM scheduler_task
                        WHERE lock_key IS NOT NULL GROUP BY queue, concurrency_key
                        UNION ALL SELECT pg_backend_pid(), n, '', NULL, 0;
                        COMMIT;
                        PERFORM pg_sleep(0.02);
                    END LOOP;
                END
                $$
                """)
            await connection.close()
        }
    }

    /// Three nodes drain a limited queue and a key-limited one while one node is killed and started again and the
    /// server restarts: the sampled running tasks never exceed a limit, and every task is done once.
    @Test func threeNodesKeepEveryLimitWhileANodeIsKilledAndTheServerRestarts() async throws {
        let server = ThrowawayPostgres()
        try await server.start()
        var nodes: [DaemonHarness] = []
        do {
            let url = try server.connectionString
            let connection = try await Connection.connect(ConnectionOptions(url))
            try await Migrator(connection: connection).migrate()
            for _ in 0..<3 {
                let node = try await DaemonHarness(
                    connectionString: url,
                    modules: """
                          SchedulerTaskWorker: { max_workers: 4 }
                          SchedulerTaskRescuer: { lock_timeout: 3s }
                        queues:
                          mail: { per_node: 2, limit: 3 }
                          reports: { key_limit: 1 }
                        """)
                try node.start()
                nodes.append(node)
            }
            for node in nodes { try await node.waitForModule("SchedulerTaskWorker", iterations: 0) }
            try await connection.execute(
                "CREATE TABLE limit_sample (session integer, sample bigint, queue text, concurrency_key text, running integer)"
            )
            /// The count `query` selects as `n`, by a connection of its own, as the server restarts in between.
            func count(_ query: SQL) async throws -> Int {
                let observer = try await Connection.connect(ConnectionOptions(url))
                defer { Task { await observer.close() } }
                return try await observer.query(query)[0].decode(Int.self, "n")
            }
            /// The samples taken so far.
            func samples() async throws -> Int {
                try await count("SELECT count(*) AS n FROM limit_sample WHERE queue = ''")
            }
            var sampling = Self.startSampling(url)
            try await waitUntil("the sampler took its first sample") { try await samples() > 0 }
            try await connection.execute(
                #"SELECT scheduler_task_add('Sleep', '{"seconds": 0.3}', queue => 'mail') FROM generate_series(1, 60)"#)
            try await connection.execute(
                """
                SELECT scheduler_task_add('Sleep', '{"seconds": 0.3}', queue => 'reports',
                                          concurrency_key => 'r' || i % 3) FROM generate_series(1, 45) AS i
                """)
            try await connection.execute(
                "SELECT scheduler_task_add('Noop', jsonb_build_object('n', i)) FROM generate_series(1, 200) AS i")
            await connection.close()
            /// Tasks of `type` done.
            func done(_ type: String = "Sleep") async throws -> Int {
                try await count(
                    """
                    SELECT count(DISTINCT task_id) AS n FROM scheduler_task_history
                    WHERE status = 'done' AND task_type = \(type)
                    """)
            }
            try await waitUntil("a fifth of the long tasks ran", timeout: .seconds(60)) { try await done() >= 20 }
            _ = nodes[0].killNode()
            _ = try await nodes[0].waitForExit()
            try await waitUntil("the others went on", timeout: .seconds(60)) { try await done() >= 45 }
            try nodes[0].start()
            try await server.stop()
            await sampling.value
            try await server.start()
            let before = try await samples()
            sampling = Self.startSampling(url)
            try await waitUntil("the sampler took a sample after the restart") { try await samples() > before }
            try await waitUntil("every task ran", timeout: .seconds(150)) {
                let sleeps = try await done()
                let noops = try await done("Noop")
                return sleeps == 105 && noops == 200
            }
            let observer = try await Connection.connect(ConnectionOptions(url))
            try await observer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'limit-sampler'")
            await sampling.value
            let taken = try await samples()
            var perQueue: [String: Int] = [:]
            for row in try await observer.query(
                """
                SELECT queue, max(n) AS most FROM (SELECT session, sample, queue, sum(running) AS n FROM limit_sample
                                                   WHERE queue <> '' GROUP BY session, sample, queue) AS s
                GROUP BY queue
                """)
            {
                perQueue[try row.decode(String.self, "queue")] = try row.decode(Int.self, "most")
            }
            var perKey: [String: Int] = [:]
            for row in try await observer.query(
                """
                SELECT queue || '/' || concurrency_key AS key, max(running) AS most FROM limit_sample
                WHERE queue = 'reports' GROUP BY 1
                """)
            {
                perKey[try row.decode(String.self, "key")] = try row.decode(Int.self, "most")
            }
            #expect(taken > 100, "\(taken) samples")
            #expect(perQueue["mail"] == 3, "mail reached its limit of 3 and never went past it: \(perQueue)")
            #expect(perKey.keys.sorted() == ["reports/r0", "reports/r1", "reports/r2"])
            #expect(perKey.values.allSatisfy { $0 == 1 }, "each key ran one task at a time: \(perKey)")
            let history = try await observer.query(
                """
                SELECT count(*) FILTER (WHERE status = 'done') AS done, count(DISTINCT task_id) AS tasks,
                       (SELECT count(*) FROM scheduler_task) + (SELECT count(*) FROM scheduler_future_task) AS left
                FROM scheduler_task_history
                """)[0]
            #expect(try history.decode(Int.self, "done") == 305, "no task done twice")
            #expect(try history.decode(Int.self, "tasks") == 305)
            #expect(try history.decode(Int.self, "left") == 0)
            await observer.close()
        } catch {
            for node in nodes { print("node output:\n\(node.output)") }
            for node in nodes { await node.cleanUp() }
            await server.remove()
            throw error
        }
        for node in nodes { await node.cleanUp() }
        await server.remove()
    }

    /// In a queue whose key limit is never reached, a key with one task takes its turn beside a key with a hundred
    /// waiting before it: the worker starts its claim's tasks in the turns the claim gave them, not in order of ids.
    /// (One node, so that the tasks' start times compare: among several, a rescue or another node's earlier claims
    /// can put any number of the deep key's tasks before the shallow one's on its node.)
    @Test func aShallowKeyStartsBesideTheFirstTasksOfADeepKey() async throws {
        try await withDaemon(
            modules: """
                  SchedulerTaskWorker: { max_workers: 2 }
                queues:
                  fair: { key_limit: 100 }
                """
        ) { daemon, database in
            let connection = try await database.connect()
            try await connection.execute(
                """
                SELECT scheduler_task_add('Sleep', '{"seconds": 0.05}', queue => 'fair',
                                          concurrency_key => CASE WHEN i = 101 THEN 'shallow' ELSE 'deep' END)
                FROM generate_series(1, 101) AS i
                """)
            try daemon.start()
            try await waitUntil("the shallow key's task ran", timeout: .seconds(60)) {
                try await connection.query(
                    "SELECT count(*) AS n FROM scheduler_task_history WHERE concurrency_key = 'shallow'"
                )[0].decode(Int.self, "n") == 1
            }
            let deepFirst = try await connection.query(
                """
                SELECT count(*) AS n FROM scheduler_task_history AS deep, scheduler_task_history AS shallow
                WHERE deep.concurrency_key = 'deep' AND shallow.concurrency_key = 'shallow'
                  AND deep.started_at < shallow.started_at
                """)[0].decode(Int.self, "n")
            #expect(deepFirst < 3, "\(deepFirst) of the deep key's tasks started before the shallow key's one")
            await connection.close()
        }
    }

    /// A running Sleep and a running Command stop within a second of `pgdaemon task cancel`; history says
    /// cancelled, and neither is retried. A waiting task leaves the queue.
    @Test func cancelStopsARunningSleepAndARunningCommandAtOnce() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-cancel-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        try await withDaemon(
            modules: """
                  SchedulerTaskWorker: { max_workers: 2 }
                commands:
                  sleeper: { argv: [/bin/sh, -c, "echo $$ > \(pidFile); exec sleep 60"] }
                """
        ) { daemon, database in
            try daemon.start()
            let connection = try await database.connect()
            let sleep = try await connection.query(
                #"SELECT scheduler_task_add('Sleep', '{"seconds": 60}', max_attempts => 3) AS id"#
            )[0].decode(Int64.self, "id")
            let command = try await connection.query(
                #"SELECT scheduler_task_add('Command', '{"command": "sleeper"}') AS id"#
            )[0].decode(Int64.self, "id")
            let waiting = try await connection.query(
                "SELECT scheduler_task_add('Noop', execution_time => now() + interval '1 hour') AS id"
            )[0].decode(Int64.self, "id")
            try await waitUntil("both run") {
                try await connection.query("SELECT count(*) AS n FROM scheduler_task WHERE lock_key IS NOT NULL")[0]
                    .decode(Int.self, "n") == 2 && FileManager.default.fileExists(atPath: pidFile)
            }
            try await waitUntil("the command's shell wrote its pid") {
                (try? String(contentsOfFile: pidFile, encoding: .utf8))?.hasSuffix("\n") == true
            }
            let pid = Int32(
                try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))!
            #expect(processIsAlive(pid))

            let before = try await connection.query("SELECT clock_timestamp() AS t")[0].decode(Date.self, "t")
            for id in [sleep, command] {
                let cancelled = try await daemon.command(["task", "cancel", "\(id)"])
                #expect(
                    cancelled.stdout == "Task \(id) is running on node \(daemon.node); its worker is stopping it.\n",
                    "\(cancelled.stderr)")
            }
            try await waitUntil("both were stopped", timeout: .seconds(20)) {
                try await connection.query(
                    "SELECT count(*) AS n FROM scheduler_task_history WHERE status = 'cancelled'"
                )[0].decode(Int.self, "n") == 2
            }
            // By the database's clock, from before the first cancel command to the second attempt's end: both
            // commands' processes included, so not a latency figure, but far below the attempts' 60 s.
            let took = try await connection.query(
                "SELECT extract(epoch FROM max(finished_at) - \(before))::float8 AS s FROM scheduler_task_history"
            )[0].decode(Double.self, "s")
            print("Two cancel commands to both attempts stopped: \(took) s")
            #expect(took < 20, "the attempts were stopped, not run out")
            #expect(!processIsAlive(pid), "the command's process is gone")
            let history = try await connection.query(
                "SELECT task_id, error FROM scheduler_task_history ORDER BY task_id"
            ).map { "\(try $0.decode(Int64.self, "task_id")) \(try $0.decode(String?.self, "error") ?? "-")" }
            #expect(
                history == [
                    "\(sleep) Cancelled with scheduler_task_cancel.",
                    "\(command) Cancelled with scheduler_task_cancel.",
                ])
            let left = try await connection.query(
                "SELECT (SELECT count(*) FROM scheduler_task) + (SELECT count(*) FROM scheduler_future_task) AS n")
            #expect(try left[0].decode(Int.self, "n") == 1, "neither is retried; the waiting task is still there")

            #expect(
                try await daemon.command(["task", "cancel", "\(waiting)"]).stdout == "Task \(waiting) cancelled.\n")
            let missing = try await daemon.command(["task", "cancel", "\(waiting)"])
            #expect(missing.status == 1)
            #expect(missing.stderr == "pgdaemon: No waiting or running task \(waiting).\n")
            await connection.close()
        }
    }
}
