import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Task worker and future tasks, run as processes", .timeLimit(.minutes(3)))
struct TaskWorkerTests {
    private let modules = """
          SchedulerTaskWorker: { max_workers: 8 }
          SchedulerFutureTaskManager: {}
        """

    @Test func threeNodesDrainTenThousandTasksEachExactlyOnce() async throws {
        try await withTestDatabase { database in
            let connection = try await database.connect()
            var nodes: [DaemonHarness] = []
            for _ in 0..<3 {
                let node = try await DaemonHarness(connectionString: database.connectionString, modules: modules)
                try node.start()
                nodes.append(node)
            }
            // The tasks come once every worker runs: a loaded run starts the nodes seconds apart, and one node alone
            // drains 10,000 tasks in under a second.
            for node in nodes { try await node.waitForModule("SchedulerTaskWorker", iterations: 0) }
            try await connection.execute(
                "SELECT scheduler_task_add('Noop', jsonb_build_object('n', i)) FROM generate_series(1, 10000) AS i")
            try await waitUntil("the queue is drained", timeout: .seconds(120)) {
                try await connection.query(
                    "SELECT (SELECT count(*) FROM scheduler_task) + (SELECT count(*) FROM scheduler_future_task) AS n"
                )[0].decode(Int.self, "n") == 0
            }
            let history = try await connection.query(
                """
                SELECT count(*) AS rows, count(DISTINCT task_id) AS tasks, count(*) FILTER (WHERE status = 'done') AS done,
                       count(DISTINCT node) AS nodes
                FROM scheduler_task_history
                """)[0]
            #expect(try history.decode(Int.self, "rows") == 10000, "no task completed twice")
            #expect(try history.decode(Int.self, "tasks") == 10000, "no task lost")
            #expect(try history.decode(Int.self, "done") == 10000)
            #expect(try history.decode(Int.self, "nodes") == 3, "every node took part")
            for node in nodes { await node.cleanUp() }
            await connection.close()
        }
    }

    @Test func lowerPriorityValuesRunFirstThenOlderTasks() async throws {
        try await withTestDatabase { database in
            let connection = try await database.connect()
            for (name, priority) in [("c", 5), ("a", -1), ("d", 5), ("b", 0)] {
                try await connection.execute(
                    "SELECT scheduler_task_add('Noop', name => \(name), priority => \(priority))")
            }
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString, modules: "  SchedulerTaskWorker: { max_workers: 1 }")
            try daemon.start()
            try await waitUntil("all four ran") {
                try await connection.query("SELECT count(*) AS n FROM scheduler_task_history")[0].decode(Int.self, "n")
                    == 4
            }
            let order = try await connection.query("SELECT name FROM scheduler_task_history ORDER BY started_at, id")
                .map { try $0.decode(String.self, "name") }
            #expect(order == ["a", "b", "c", "d"])
            await connection.close()
            await daemon.cleanUp()
        }
    }

    /// A worker prefetches while its queue is deep and short; prefetched tasks stuck behind a long task go back to
    /// the queue, their attempt uncounted, and another node runs them while the long task still runs. The long task
    /// takes 10 s so that the other node's start under a loaded test run (seen at several seconds) fits before it ends.
    ///
    /// The worker prefetches only after a claim of short tasks (20 ms at most each): a loaded run that stalls the
    /// worker during one of the first Noops makes it claim without prefetching, as it should, and then the setup is
    /// tried again on a fresh database, at most three times. The assertions are the same whichever try gets there.
    @Test func prefetchedTasksStuckBehindALongTaskGoBackToTheQueue() async throws {
        for attempt in 1...3 {
            do {
                return try await prefetchedTasksGoBack()
            } catch let timedOut as TimedOut where timedOut.what.hasSuffix("(prefetched)") && attempt < 3 {
                print("prefetch setup not reached (a first task ran long); trying again: \(timedOut)")
            }
        }
    }

    private func prefetchedTasksGoBack() async throws {
        try await withTestDatabase { database in
            let connection = try await database.connect()
            for (name, type, data, priority) in [
                ("first", "Noop", "{}", 0), ("second", "Noop", "{}", 0), ("long", "Sleep", #"{"seconds": 10}"#, 1),
                ("after-1", "Noop", "{}", 2), ("after-2", "Noop", "{}", 2), ("after-3", "Noop", "{}", 2),
            ] {
                try await connection.execute(
                    "SELECT scheduler_task_add(\(type), \(data)::jsonb, name => \(name), priority => \(priority))")
            }
            let prefetching = try await DaemonHarness(
                connectionString: database.connectionString,
                modules: "  SchedulerTaskWorker: { max_workers: 1, prefetch: 5 }")
            try prefetching.start()
            // Two claims may be out side by side and commit apart: one can hold the long task while the other still
            // locks the tasks after it, so the four are awaited together rather than read once.
            try await waitUntil("the long task and the three after it are claimed (prefetched)") {
                try await connection.query(
                    """
                    SELECT count(*) AS n FROM scheduler_task
                    WHERE (name = 'long' OR name LIKE 'after-%') AND lock_key IS NOT NULL
                    """)[0].decode(Int.self, "n") == 4
            }
            let other = try await DaemonHarness(
                connectionString: database.connectionString, modules: "  SchedulerTaskWorker: { max_workers: 1 }")
            try other.start()
            try await waitUntil("all six ran", timeout: .seconds(30)) {
                try await connection.query("SELECT count(*) AS n FROM scheduler_task_history")[0].decode(Int.self, "n")
                    == 6
            }
            let rows = try await connection.query(
                """
                SELECT h.name, h.node, h.attempts, h.finished_at < l.finished_at AS before_long
                FROM scheduler_task_history AS h, scheduler_task_history AS l
                WHERE l.name = 'long' AND h.name LIKE 'after-%' ORDER BY h.name
                """)
            #expect(rows.count == 3)
            for row in rows {
                #expect(try row.decode(String.self, "node") == other.node, "run by the other node")
                #expect(try row.decode(Int.self, "attempts") == 1, "the prefetch did not count an attempt")
                #expect(try row.decode(Bool.self, "before_long"), "not held until the long task ended")
            }
            await connection.close()
            await prefetching.cleanUp()
            await other.cleanUp()
        }
    }

    /// Between enqueues an idle worker waits for a notification: it neither claims again and again nor uses CPU.
    @Test func anIdleWorkerWaitsForNotificationsWithoutSpinning() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(connectionString: database.connectionString, modules: modules)
            try daemon.start()
            let worker = try #require(try await daemon.waitForModule("SchedulerTaskWorker", iterations: 0).pid)
            let connection = try await database.connect()
            try await connection.execute("SELECT scheduler_task_add('Noop')")
            try await waitUntil("the task is done") {
                try await connection.query("SELECT 1 FROM scheduler_task_history WHERE status = 'done'").count == 1
            }
            let before = try #require(cpuTicks(of: worker))
            try await Task.sleep(for: .seconds(2))  // the idle stretch measured
            let used = try #require(cpuTicks(of: worker)) - before
            #expect(used < 20, "the idle worker used \(used) of the 200 clock ticks of 2 s")
            await connection.close()
            await daemon.cleanUp()
        }
    }

    @Test func aTimeoutInTheTaskDataCutsTheAttemptShort() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(connectionString: database.connectionString, modules: modules)
            try daemon.start()
            let connection = try await database.connect()
            try await connection.execute(
                #"SELECT scheduler_task_add('Sleep', '{"seconds": 30, "timeout": "300ms"}', max_attempts => 1)"#)
            try await connection.execute(
                #"SELECT scheduler_task_add('Sleep', '{"seconds": 1, "timeout": "soon"}', max_attempts => 1)"#)
            try await waitUntil("both have failed") {
                try await connection.query("SELECT 1 FROM scheduler_task_history WHERE status = 'failed'").count == 2
            }
            let errors = try await connection.query("SELECT error FROM scheduler_task_history ORDER BY task_id")
                .map { try $0.decode(String?.self, "error") }
            #expect(
                errors == [
                    "The Sleep task ran longer than its timeout of 300ms.",
                    "The task data's timeout is not a duration; write it like 30s, 10m or 1h.",
                ])
            await connection.close()
            await daemon.cleanUp()
        }
    }

    @Test func aFutureTaskStartsAtItsTimeAndBadTasksFailAtOnce() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(connectionString: database.connectionString, modules: modules)
            try daemon.start()
            // The lateness measured is the scheduler's, not the daemon's start: under a loaded test run the modules
            // can take seconds to come up.
            try await daemon.waitForModule("SchedulerFutureTaskManager", iterations: 0)
            try await daemon.waitForModule("SchedulerTaskWorker", iterations: 0)
            let connection = try await database.connect()
            let future = try await connection.query(
                "SELECT scheduler_task_add('Noop', execution_time => clock_timestamp() + interval '2 seconds') AS id"
            )[0].decode(Int64.self, "id")
            let unknown = try await connection.query("SELECT scheduler_task_add('NoSuchType') AS id")[0]
                .decode(Int64.self, "id")
            let misfit = try await connection.query(#"SELECT scheduler_task_add('Sleep', '{"secs": 1}') AS id"#)[0]
                .decode(Int64.self, "id")
            try await waitUntil("all three are in history") {
                try await connection.query("SELECT count(*) AS n FROM scheduler_task_history")[0].decode(Int.self, "n")
                    == 3
            }
            let rows = try await connection.query(
                """
                SELECT task_id, status, attempts, error,
                       extract(epoch FROM started_at - scheduled_for)::float8 AS late
                FROM scheduler_task_history
                """)
            let byID = Dictionary(uniqueKeysWithValues: try rows.map { (try $0.decode(Int64.self, "task_id"), $0) })
            let late = try #require(try byID[future]?.decode(Double?.self, "late"))
            #expect(late >= 0, "not before its time")
            #expect(late < 1, "within a second of its time (the benchmark measures it precisely)")
            #expect(try byID[unknown]?.decode(String.self, "status") == "failed")
            #expect(try byID[unknown]?.decode(Int.self, "attempts") == 1, "not retried")
            #expect(
                try byID[unknown]?.decode(String?.self, "error")?.hasPrefix("No handler for task type NoSuchType")
                    == true)
            #expect(
                try byID[misfit]?.decode(String?.self, "error")
                    == "The task data does not fit Sleep: key \"seconds\" is missing.")
            #expect(try byID[misfit]?.decode(Int.self, "attempts") == 1)
            await connection.close()
            await daemon.cleanUp()
        }
    }

    @Test func aGracefulStopLetsARunningTaskFinish() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(connectionString: database.connectionString, modules: modules)
            try daemon.start()
            try await daemon.waitForModule("SchedulerTaskWorker", iterations: 0)
            let connection = try await database.connect()
            // 3 s: seen by the poll below even when a loaded run stalls this process for two seconds (seen: 1.85 s
            // between the enqueue and the first poll), and done within the 4 s a module's stop allows its work.
            try await connection.execute(#"SELECT scheduler_task_add('Sleep', '{"seconds": 3}')"#)
            try await waitUntil("the task runs") {
                try await connection.query("SELECT 1 FROM scheduler_task WHERE lock_key IS NOT NULL").count == 1
            }
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
            let status = try await connection.query("SELECT status FROM scheduler_task_history")
            #expect(try status.map { try $0.decode(String.self, "status") } == ["done"])
            await connection.close()
            await daemon.cleanUp()
        }
    }
}

@Suite("Rescuing the tasks of a killed worker", .timeLimit(.minutes(2)))
struct RescueTests {
    @Test func aTaskWhoseWorkerIsKilledMidwayIsRescuedAndDone() async throws {
        try await withTestDatabase { database in
            // The first attempt leaves a mark and runs for a long time, so the kill lands while it runs however
            // loaded the machine is; an attempt that finds the mark ends at once.
            let mark = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-rescue-\(UUID().uuidString)")
                .path
            defer { try? FileManager.default.removeItem(atPath: mark) }
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString,
                modules: """
                      SchedulerTaskWorker: {}
                      SchedulerFutureTaskManager: {}
                      SchedulerTaskRescuer: { lock_timeout: 3s, sleep_post: 200ms }
                    commands:
                      once-slow: { argv: [/bin/sh, -c, "test -e \(mark) && exit 0; touch \(mark); sleep 20"] }
                    """)
            try daemon.start()
            let connection = try await database.connect()
            let id = try await connection.query(
                #"SELECT scheduler_task_add('Command', '{"command": "once-slow"}') AS id"#
            )[0].decode(Int64.self, "id")
            try await waitUntil("the task runs") {
                try await connection.query("SELECT 1 FROM scheduler_task WHERE lock_key IS NOT NULL").count == 1
                    && FileManager.default.fileExists(atPath: mark)
            }
            // The claim token is NODE/PID/…: kill exactly the process that runs the task.
            let token = try await connection.query("SELECT lock_key FROM scheduler_task")[0].decode(
                String.self, "lock_key")
            let worker = try #require(Int32(token.split(separator: "/").dropLast().last ?? ""))
            #expect(processIsAlive(worker))
            kill(worker, SIGKILL)
            try await waitUntil("the task is done", timeout: .seconds(30)) {
                try await connection.query("SELECT 1 FROM scheduler_task_history WHERE status = 'done'").count == 1
            }
            let history = try await connection.query(
                "SELECT task_id, status, attempts, error FROM scheduler_task_history ORDER BY id")
            // On a loaded machine a restarted worker can be rescued once more; the task is still done exactly once.
            let statuses = try history.map { try $0.decode(String.self, "status") }
            #expect(statuses.first == "rescued")
            #expect(statuses.last == "done")
            #expect(statuses.filter { $0 == "done" }.count == 1)
            #expect(statuses.dropLast().allSatisfy { $0 == "rescued" })
            #expect(try history.allSatisfy { try $0.decode(Int64.self, "task_id") == id })
            #expect(try history[0].decode(String?.self, "error")?.hasPrefix("The task's worker vanished: ") == true)
            #expect(try history.map { try $0.decode(Int.self, "attempts") } == Array(1...history.count))
            await connection.close()
            await daemon.cleanUp()
        }
    }
}

@Suite("Retries", .timeLimit(.minutes(2)))
struct RetryTests {
    @Test func aFailingTaskIsRetriedWithGrowingDelaysUntilMaxAttempts() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString,
                modules: """
                      SchedulerTaskWorker: { retry_backoff: 300ms }
                      SchedulerFutureTaskManager: {}
                    commands:
                      fails: { argv: [/bin/false] }
                    """)
            try daemon.start()
            let connection = try await database.connect()
            let id = try await connection.query(
                #"SELECT scheduler_task_add('Command', '{"command": "fails"}', max_attempts => 3) AS id"#
            )[0].decode(Int64.self, "id")
            try await waitUntil("the task has failed for good") {
                try await connection.query("SELECT 1 FROM scheduler_task_history WHERE status = 'failed'").count == 1
            }
            let attempts = try await connection.query(
                """
                SELECT task_id, status, attempts, error, extract(epoch FROM started_at)::float8 AS started
                FROM scheduler_task_history ORDER BY id
                """)
            #expect(try attempts.map { try $0.decode(String.self, "status") } == ["retried", "retried", "failed"])
            #expect(try attempts.map { try $0.decode(Int.self, "attempts") } == [1, 2, 3])
            #expect(try attempts.allSatisfy { try $0.decode(Int64.self, "task_id") == id }, "one task id throughout")
            #expect(try attempts.allSatisfy { try $0.decode(String?.self, "error") == "fails exited with status 1." })
            let starts = try attempts.map { try $0.decode(Double.self, "started") }
            // Retries are never early (a busy machine can make them late): 300 ms, then 600 ms, less 20 % jitter.
            #expect(starts[1] - starts[0] >= 0.24, "the first retry waits 300 ms ± 20 %")
            #expect(starts[2] - starts[1] >= 0.48, "the second waits twice as long")
            #expect(try await connection.query("SELECT 1 FROM scheduler_future_task").isEmpty)
            await connection.close()
            await daemon.cleanUp()
        }
    }
}

@Suite("Command and SQL tasks", .timeLimit(.minutes(2)))
struct CommandTaskTests {
    @Test func onlyAllowListedCommandsRunAndTheirOutputIsKept() async throws {
        try await withTestDatabase { database in
            let marker = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-marker-\(UUID().uuidString)")
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString,
                modules: """
                      SchedulerTaskWorker: {}
                      SchedulerFutureTaskManager: {}
                    commands:
                      hello: { argv: [/bin/sh, -c, "echo hello $0; echo oops >&2", world] }
                      touch: { argv: [/usr/bin/touch, \(marker.path)] }
                      fails: { argv: [/bin/false] }
                      slow: { argv: [/bin/sleep, "30"], timeout: 300ms }
                    statements:
                      count-nodes: "UPDATE daemon_node SET status = status"
                    """)
            try daemon.start()
            let connection = try await database.connect()
            for data in [
                #"{"command": "hello"}"#, #"{"command": "rm -rf /; touch"}"#, #"{"command": "fails"}"#,
                #"{"command": "slow"}"#,
            ] {
                try await connection.execute("SELECT scheduler_task_add('Command', \(data)::jsonb, max_attempts => 1)")
            }
            try await connection.execute(
                #"SELECT scheduler_task_add('SQL', '{"statement": "count-nodes"}'), scheduler_task_add('SQL', '{"statement": "DROP TABLE daemon_node"}')"#
            )
            try await waitUntil("all six have finished") {
                try await connection.query("SELECT count(*) AS n FROM scheduler_task_history")[0].decode(Int.self, "n")
                    == 6
            }
            let rows = try await connection.query(
                "SELECT task_data::text AS data, status, error, output FROM scheduler_task_history ORDER BY task_id")
            let results = try rows.map {
                (
                    try $0.decode(String.self, "status"), try $0.decode(String?.self, "error") ?? "",
                    try $0.decode(String?.self, "output") ?? ""
                )
            }
            #expect(results[0].0 == "done")
            #expect(results[0].2 == "hello world\noops\n")
            #expect(results[1].0 == "failed")
            #expect(
                results[1].1
                    == "rm -rf /; touch is not in the commands: allow-list; allowed: fails, hello, slow, touch.")
            #expect(!FileManager.default.fileExists(atPath: marker.path), "nothing ran")
            #expect(results[2].1 == "fails exited with status 1.")
            #expect(results[3].1 == "slow did not finish within 300ms and was killed.")
            #expect(results[4].0 == "done")
            #expect(results[4].2 == "1 rows\n")
            #expect(results[5].1.hasPrefix("DROP TABLE daemon_node is not in the statements: allow-list"))
            await connection.close()
            await daemon.cleanUp()
        }
    }
}
