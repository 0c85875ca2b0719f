import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Queue limits and cancel, with real nodes", .timeLimit(.minutes(4)))
struct QueueLimitTests {
    /// The largest number of running tasks seen at once per queue and per queue and key, sampled every 20 ms from a
    /// connection of its own, which reconnects when the server restarts.
    actor Sampler {
        private(set) var perQueue: [String: Int] = [:]
        private(set) var perKey: [String: Int] = [:]
        private(set) var samples = 0

        func record(_ rows: [(queue: String, key: String?, running: Int)]) {
            samples += 1
            var queues: [String: Int] = [:]
            for row in rows {
                queues[row.queue, default: 0] += row.running
                if let key = row.key {
                    perKey["\(row.queue)/\(key)"] = max(perKey["\(row.queue)/\(key)"] ?? 0, row.running)
                }
            }
            for (queue, running) in queues { perQueue[queue] = max(perQueue[queue] ?? 0, running) }
        }

        nonisolated func run(_ url: String) async {
            var connection: Connection?
            while !Task.isCancelled {
                do {
                    if connection == nil { connection = try await Connection.connect(ConnectionOptions(url)) }
                    let rows = try await connection!.query(
                        """
                        SELECT queue, concurrency_key, count(*) AS running FROM scheduler_task
                        WHERE lock_key IS NOT NULL GROUP BY queue, concurrency_key
                        """
                    ).map {
                        (
                            try $0.decode(String.self, "queue"), try $0.decode(String?.self, "concurrency_key"),
                            try $0.decode(Int.self, "running")
                        )
                    }
                    await record(rows)
                } catch {
                    await connection?.close()
                    connection = nil
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
            await connection?.close()
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
                #"SELECT scheduler_task_add('Sleep', '{"seconds": 0.3}', queue => 'mail') FROM generate_series(1, 60)"#)
            try await connection.execute(
                """
                SELECT scheduler_task_add('Sleep', '{"seconds": 0.3}', queue => 'reports',
                                          concurrency_key => 'r' || i % 3) FROM generate_series(1, 45) AS i
                """)
            try await connection.execute(
                "SELECT scheduler_task_add('Noop', jsonb_build_object('n', i)) FROM generate_series(1, 200) AS i")
            let sampler = Sampler()
            let sampling = Task { await sampler.run(url) }
            await connection.close()
            /// Tasks done, by a connection of its own, as the server restarts in between.
            func done(_ type: String = "Sleep") async throws -> Int {
                let connection = try await Connection.connect(ConnectionOptions(url))
                defer { Task { await connection.close() } }
                return try await connection.query(
                    """
                    SELECT count(DISTINCT task_id) AS n FROM scheduler_task_history
                    WHERE status = 'done' AND task_type = \(type)
                    """
                )[0].decode(Int.self, "n")
            }
            try await waitUntil("a fifth of the long tasks ran", timeout: .seconds(60)) { try await done() >= 20 }
            _ = nodes[0].killNode()
            _ = try await nodes[0].waitForExit()
            try await waitUntil("the others went on", timeout: .seconds(60)) { try await done() >= 45 }
            try nodes[0].start()
            try await server.stop()
            try await server.start()
            try await waitUntil("every task ran", timeout: .seconds(150)) {
                let sleeps = try await done()
                let noops = try await done("Noop")
                return sleeps == 105 && noops == 200
            }
            sampling.cancel()
            await sampling.value

            let perQueue = await sampler.perQueue
            let perKey = await sampler.perKey
            let samples = await sampler.samples
            // Every 20 ms when the machine is free; a full parallel test run on two cores once let it take fewer
            // than 100 samples in 48 s.
            #expect(samples > 50, "\(samples) samples")
            #expect(perQueue["mail"] == 3, "mail reached its limit of 3 and never went past it: \(perQueue)")
            #expect(perKey.keys.sorted() == ["reports/r0", "reports/r1", "reports/r2"])
            #expect(perKey.values.allSatisfy { $0 == 1 }, "each key ran one task at a time: \(perKey)")
            let observer = try await Connection.connect(ConnectionOptions(url))
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
