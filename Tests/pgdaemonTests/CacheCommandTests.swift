import Foundation
import Postgres
import TestSupport
import Testing

@Suite("pgdaemon cache, run as a process", .timeLimit(.minutes(2)))
struct CacheCommandTests {
    @Test func setGetStatsDeleteAndClear() async throws {
        try await withTestDatabase { database in
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            func pgdaemon(_ arguments: String...) async throws -> PGDaemonProcess.Outcome {
                try await PGDaemonProcess.run(arguments, environment: environment)
            }
            let hostile = "it's \"quoted\"; DROP TABLE cache_entry; -- 🎉"
            #expect(try await pgdaemon("cache", "set", "Pages", hostile, "Grüße\nzweite Zeile").status == 0)
            #expect(try await pgdaemon("cache", "get", "Pages", hostile).stdout == "Grüße\nzweite Zeile\n")
            let stored = try await pgdaemon(
                "cache", "set", "Reports", "daily", #"{"rows": [1, 2]}"#, "--json-value", "--ttl", "10m")
            #expect(stored.stdout == "Stored daily of type Reports for 10m.\n")
            #expect(try await pgdaemon("cache", "get", "Reports", "daily").stdout == #"{"rows":[1,2]}"# + "\n")
            let json = try await pgdaemon("cache", "get", "Reports", "daily", "--json")
            let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect((document?["value"] as? [String: Any])?["rows"] as? [Int] == [1, 2])
            #expect(document?["expiresAt"] is String)

            let stats = try await pgdaemon("cache", "stats")
            #expect(stats.stdout.contains("Pages"))
            #expect(
                stats.stdout.hasSuffix(
                    "cache_entry is unlogged: it is emptied by a database crash and not replicated.\n"))
            let statsJSON = try await pgdaemon("cache", "stats", "--json")
            let report = try JSONSerialization.jsonObject(with: Data(statsJSON.stdout.utf8)) as? [String: Any]
            #expect(
                (report?["types"] as? [[String: Any]])?.compactMap { $0["type"] as? String } == ["Pages", "Reports"])

            #expect(
                try await pgdaemon("cache", "delete", "Pages", hostile).stdout == "Deleted \(hostile) of type Pages.\n")
            let missing = try await pgdaemon("cache", "get", "Pages", hostile)
            #expect(missing.status == 1)
            #expect(missing.stderr == "pgdaemon: No entry \(hostile) of type Pages: it is missing or expired.\n")
            #expect(try await pgdaemon("cache", "delete", "Pages", hostile).status == 1)
            #expect(
                try await pgdaemon("cache", "clear", "--type", "Reports").stdout == "Removed 1 entry of type Reports.\n"
            )
            #expect(try await pgdaemon("cache", "stats").stdout.hasPrefix("The cache is empty."))
        }
    }

    @Test func cacheLoggedMakesDbMigrateSwitchTheTable() async throws {
        try await withTestDatabase { database in
            let folder = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let file = folder.appending(path: "pgdaemon.yaml").path
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            func migrate(logged: Bool) async throws -> PGDaemonProcess.Outcome {
                try "cache: { logged: \(logged) }\n".write(toFile: file, atomically: true, encoding: .utf8)
                return try await PGDaemonProcess.run(["db", "migrate", "--config", file], environment: environment)
            }
            let connection = try await database.connect()
            func persistence() async throws -> String {
                try await connection.query(
                    "SELECT relpersistence::text AS p FROM pg_class WHERE oid = 'cache_entry'::regclass"
                )[0].decode(String.self, "p")
            }
            #expect(try await persistence() == "u", "unlogged by default")
            try await connection.execute(
                "INSERT INTO cache_entry (type, key, value) VALUES ('T', 'k', convert_to('\"kept\"', 'UTF8'))")
            let logged = try await migrate(logged: true)
            #expect(logged.stdout.hasSuffix("cache_entry is now logged, as cache.logged says.\n"), "\(logged.stderr)")
            #expect(try await persistence() == "p")
            #expect(
                try await migrate(logged: true).stdout.hasPrefix("The database is up to date ("), "nothing to switch")
            #expect(
                try await migrate(logged: false).stdout.hasSuffix(
                    "cache_entry is now unlogged, as cache.logged says.\n"))
            #expect(try await persistence() == "u")
            let value = try await connection.query("SELECT count(*) AS n FROM cache_entry")[0].decode(Int.self, "n")
            #expect(value == 1, "switching keeps the entries")
            await connection.close()
        }
    }

    @Test func anExpiredEntryIsMissing() async throws {
        try await withTestDatabase { database in
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            #expect(
                try await PGDaemonProcess.run(["cache", "set", "T", "k", "v", "--ttl", "1s"], environment: environment)
                    .status == 0)
            let connection = try await database.connect()
            try await waitUntil("the entry expired by the database clock") {
                try await connection.query("SELECT clock_timestamp() >= expires_at AS past FROM cache_entry")[0].decode(
                    Bool.self, "past")
            }
            await connection.close()
            let expired = try await PGDaemonProcess.run(["cache", "get", "T", "k"], environment: environment)
            #expect(expired.status == 1)
            #expect(expired.stderr == "pgdaemon: No entry k of type T: it is missing or expired.\n")
        }
    }

    @Test(arguments: [
        (["set", "", "k", "v"], "A cache type must not be empty."),
        (["set", "T", "", "v"], "A cache key must not be empty."),
        (
            ["set", "T", String(repeating: "k", count: 2001), "v"],
            "A cache key may be at most 2000 bytes long, not 2001."
        ),
        (["set", "T", "k", "v", "--ttl", "soon"], "--ttl soon is not a positive duration"),
        (["set", "T", "k", "v", "--ttl", "0s"], "--ttl 0s is not a positive duration"),
        (["set", "T", "k", "{not json", "--json-value"], "VALUE is not valid JSON"),
        (["get", "T"], "Missing expected argument '<key>'"),
        (["clear", "--type", ""], "A cache type must not be empty."),
    ])
    func badInputIsRefusedWithExitTwoAndWritesNothing(arguments: [String], message: String) async throws {
        try await withTestDatabase { database in
            let outcome = try await PGDaemonProcess.run(
                ["cache"] + arguments, environment: ["PGDAEMON_DATABASE_URL": database.connectionString])
            #expect(outcome.status == 2)
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
            let connection = try await database.connect()
            #expect(try await connection.query("SELECT 1 FROM cache_entry").isEmpty)
            await connection.close()
        }
    }

    @Test func concurrentWriterProcessesOfOneKeyAllSucceedAndOneOfThemWins() async throws {
        try await withTestDatabase { database in
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            let values = (1...8).map { "writer \($0)" }
            let outcomes = try await withThrowingTaskGroup(of: PGDaemonProcess.Outcome.self) { group in
                for value in values {
                    group.addTask {
                        try await PGDaemonProcess.run(
                            ["cache", "set", "Shared", "one", value], environment: environment)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.map(\.status) == Array(repeating: 0, count: values.count), "\(outcomes.map(\.stderr))")
            let winner = try await PGDaemonProcess.run(["cache", "get", "Shared", "one"], environment: environment)
            #expect(values.map { $0 + "\n" }.contains(winner.stdout))
            let last = try await PGDaemonProcess.run(
                ["cache", "set", "Shared", "one", "last"], environment: environment)
            #expect(last.status == 0)
            #expect(
                try await PGDaemonProcess.run(["cache", "get", "Shared", "one"], environment: environment).stdout
                    == "last\n")
        }
    }

    @Test func theCacheCleanupTaskRemovesExpiredEntriesAndKeepsTheLimits() async throws {
        try await withTestDatabase { database in
            let connection = try await database.connect()
            try await connection.execute(
                """
                INSERT INTO cache_entry (type, key, value, created_at, expires_at)
                SELECT 'Pages', 'page-' || i, convert_to('"x"', 'UTF8'), now() - i * interval '1 second',
                       CASE WHEN i <= 20 THEN now() + interval '1 hour' ELSE now() - interval '1 second' END
                FROM generate_series(1, 50) AS i
                """)
            let node = try await DaemonHarness(
                connectionString: database.connectionString,
                modules: """
                      SchedulerTaskWorker: {}
                      SchedulerCronTaskManager: {}
                    cron:
                      cache-cleanup: { schedule: "* * * * * *", task: { type: CacheCleanup } }
                    cache:
                      limits:
                        Pages: { max_entries: 5 }
                    """)
            try node.start()
            try await waitUntil("cleanup kept the five newest pages") {
                try await connection.query("SELECT count(*) AS n FROM cache_entry")[0].decode(Int.self, "n") == 5
            }
            let keys = try await connection.query("SELECT key FROM cache_entry ORDER BY created_at DESC").map {
                try $0.decode(String.self, "key")
            }
            #expect(keys == (1...5).map { "page-\($0)" })
            // The worker records a run after the handler's own commit, so its history row may come a moment later.
            var recorded: PostgresRow?
            try await waitUntil("the first cleanup is in history") {
                recorded = try await connection.query(
                    """
                    SELECT task_id, output FROM scheduler_task_history
                    WHERE task_type = 'CacheCleanup' AND status = 'done' ORDER BY id LIMIT 1
                    """
                ).first
                return recorded != nil
            }
            let first = try #require(recorded)
            #expect(try first.decode(String.self, "output") == "Removed 30 expired and 15 over-limit cache entries.\n")
            let shown = try await node.command(["task", "show", String(try first.decode(Int64.self, "task_id"))])
            #expect(
                shown.stdout.hasSuffix("  | Removed 30 expired and 15 over-limit cache entries.\n"), "\(shown.stdout)")
            await node.cleanUp()
            await connection.close()
        }
    }
}
