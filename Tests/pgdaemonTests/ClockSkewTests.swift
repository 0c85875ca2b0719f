import Foundation
import Postgres
import TestSupport
import Testing

/// The cluster keeps one clock, the database's (issue 18, item 4): a node whose wall clock is ten minutes ahead or
/// behind still delays tasks by what was asked, runs cron slots at their time, rescues a killed worker's task and
/// expires cache entries as the database's clock says. The node and the command line run with `Tests/ClockOffset`
/// preloaded, which moves their wall clock and leaves their monotonic clock, sleeps and timers alone, as a host whose
/// clock was set wrong would have it.
@Suite("A node whose clock is off", .timeLimit(.minutes(3)))
struct ClockSkewTests {
    @Test(arguments: [600, -600])
    func everyTimeComesFromTheDatabaseClock(offset: Int) async throws {
        let skewed = ["LD_PRELOAD": try await Self.clockOffsetLibrary(), "PGDAEMON_TEST_CLOCK_OFFSET": "\(offset)"]
        let mark = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-skew-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: mark) }
        try await withDaemon(
            modules: """
                  SchedulerTaskWorker: {}
                  SchedulerFutureTaskManager: {}
                  SchedulerCronTaskManager: {}
                  SchedulerTaskRescuer: { lock_timeout: 3s, sleep_post: 200ms }
                cron:
                  tick: { schedule: "* * * * * *", overlap: allow, task: { type: Noop } }
                commands:
                  once-slow: { argv: [/bin/sh, -c, "test -e \(mark) && exit 0; touch \(mark); sleep 20"] }
                """
        ) { daemon, database in
            try daemon.start(environment: skewed)
            func pgdaemon(_ arguments: String...) async throws -> PGDaemonProcess.Outcome {
                try await PGDaemonProcess.run(
                    arguments, environment: skewed.merging(["PGDAEMON_DATABASE_URL": database.connectionString]) { $1 })
            }
            let worker = try #require(try await daemon.waitForModule("SchedulerTaskWorker").pid)
            let connection = try await database.connect()
            defer { Task { await connection.close() } }

            // The clock is off where it should be: in the node's log lines (local time by design) and in its modules.
            let logged = try #require(daemon.output.split(separator: " ").first.flatMap { Self.time(String($0)) })
            let databaseNow = try await connection.query("SELECT clock_timestamp() AS now")[0].decode(Date.self, "now")
            #expect(abs(logged.timeIntervalSince(databaseNow) - Double(offset)) < 60, "the node's clock is off")
            let environ = try String(contentsOfFile: "/proc/\(worker)/environ", encoding: .utf8)
            #expect(environ.contains("PGDAEMON_TEST_CLOCK_OFFSET="), "the worker process runs with the offset too")

            // A delay is the database's: two seconds after the enqueue, not ten minutes off.
            let delayed = try await pgdaemon("task", "add", "--type", "Noop", "--name", "delayed", "--in", "2s")
            #expect(delayed.stdout.hasSuffix(", due in 2s by the database's clock.\n"), "\(delayed.stdout)")
            // Cron: every slot is enqueued on time, none missed or skipped.
            try await waitUntil("three cron slots ran") {
                try await connection.query("SELECT count(*) AS n FROM scheduler_task_history WHERE name = 'tick'")[0]
                    .decode(Int.self, "n") >= 3
            }
            let cron = try await connection.query(
                """
                SELECT count(*) FILTER (WHERE s.status <> 'enqueued') AS not_enqueued,
                       coalesce(max(abs(extract(epoch FROM h.started_at - s.slot))), 0)::float8 AS off
                FROM scheduler_cron_slot AS s LEFT JOIN scheduler_task_history AS h ON h.task_id = s.task_id
                WHERE s.name = 'tick' AND (h.task_id IS NOT NULL OR s.status <> 'enqueued')
                """)[0]
            #expect(try cron.decode(Int.self, "not_enqueued") == 0, "no slot missed or skipped")
            #expect(try cron.decode(Double.self, "off") < 2, "each slot's task started within 2 s of the slot")

            // The rescue: the worker is killed while it runs a task; the rescuer gives the task back after lock_timeout
            // of the database's clock, and it runs to its end.
            let id = try await connection.query(
                #"SELECT scheduler_task_add('Command', '{"command": "once-slow"}', name => 'rescued') AS id"#
            )[0].decode(Int64.self, "id")
            try await waitUntil("the task runs") {
                try await connection.query("SELECT 1 FROM scheduler_task WHERE id = \(id) AND lock_key IS NOT NULL")
                    .count == 1 && FileManager.default.fileExists(atPath: mark)
            }
            // The claim token is NODE/PID/…: kill exactly the process that runs the task.
            let token = try await connection.query("SELECT lock_key FROM scheduler_task WHERE id = \(id)")[0].decode(
                String.self, "lock_key")
            kill(try #require(Int32(token.split(separator: "/").dropLast().last ?? "")), SIGKILL)
            try await waitUntil("the rescued task is done", timeout: .seconds(30)) {
                try await connection.query(
                    "SELECT 1 FROM scheduler_task_history WHERE task_id = \(id) AND status = 'done'"
                ).count == 1
            }
            let rescue = try await connection.query(
                """
                SELECT extract(epoch FROM finished_at - started_at)::float8 AS held FROM scheduler_task_history
                WHERE task_id = \(id) AND status = 'rescued' ORDER BY id LIMIT 1
                """)
            let held = try #require(try rescue.first?.decode(Double.self, "held"), "the first attempt was rescued")
            #expect(held >= 3 && held < 30, "rescued after lock_timeout (3 s) of the database's clock, not \(held) s")

            try await waitUntil("the delayed task is done") {
                try await connection.query("SELECT 1 FROM scheduler_task_history WHERE name = 'delayed'").count == 1
            }
            let waited = try await connection.query(
                """
                SELECT extract(epoch FROM started_at - create_time)::float8 AS waited
                FROM scheduler_task_history WHERE name = 'delayed'
                """)[0].decode(Double.self, "waited")
            #expect(waited >= 2 && waited < 10, "the delayed task started 2 s after its enqueue, not \(waited) s")
            // Every attempt's times lie between its enqueue and now, on the database's clock.
            let disordered = try await connection.query(
                """
                SELECT count(*) AS n FROM scheduler_task_history
                WHERE NOT (create_time <= started_at AND started_at <= finished_at AND finished_at <= clock_timestamp())
                """)[0].decode(Int.self, "n")
            #expect(disordered == 0, "every attempt's times are the database's")

            // The cache: an entry lives for its ttl on the database's clock.
            #expect(try await pgdaemon("cache", "set", "T", "k", "v", "--ttl", "3s").status == 0)
            let left = try await connection.query(
                "SELECT extract(epoch FROM expires_at - clock_timestamp())::float8 AS left FROM cache_entry"
            )[0].decode(Double.self, "left")
            #expect(left > 0 && left <= 3, "the entry expires 3 s from now, not \(left) s")
            #expect(try await pgdaemon("cache", "get", "T", "k").stdout == "v\n")
            try await waitUntil("the entry expired by the database clock") {
                try await connection.query("SELECT clock_timestamp() >= expires_at AS past FROM cache_entry")[0].decode(
                    Bool.self, "past")
            }
            #expect(try await pgdaemon("cache", "get", "T", "k").status == 1)
        }
    }

    /// `Tests/ClockOffset/clock_offset.c`, compiled by the toolchain's C compiler into the build folder, where each run
    /// replaces the file of the run before: named by process in the temporary folder, one stayed behind per test run.
    static func clockOffsetLibrary() async throws -> String {
        let library = ThrowawayPostgres.repositoryRoot.appending(path: ".build/pgdaemon-clock-offset.so").path
        let source = ThrowawayPostgres.repositoryRoot.appending(path: "Tests/ClockOffset/clock_offset.c").path
        let compiler = try #require(
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").flatMap { folder in
                ["clang", "cc"].map { "\(folder)/\($0)" }
            }.first { FileManager.default.isExecutableFile(atPath: $0) }, "no C compiler (clang or cc) on PATH")
        // Both offsets run at once: each compiles into a file of its own and renames it into place, so that neither
        // preloads the other's half-written file.
        let own = "\(library).\(UUID().uuidString)"
        let compiled = try await runToCompletion([compiler, "-shared", "-fPIC", "-O2", "-o", own, source, "-ldl"])
        try #require(compiled == 0, "\(compiler) could not compile \(source)")
        try #require(rename(own, library) == 0, "cannot move \(own) into place")
        return library
    }

    /// A log line's leading timestamp.
    static func time(_ text: String) -> Date? {
        try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }
}
