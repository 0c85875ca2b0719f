import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Named queues: enqueue, pause and resume, run as processes", .timeLimit(.minutes(2)))
struct QueueCommandTests {
    @Test func tasksGoToTheirQueueAndAFileIsEnqueuedWholeOrNotAtAll() async throws {
        try await withTestDatabase { database in
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            func pgdaemon(_ arguments: String...) async throws -> PGDaemonProcess.Outcome {
                try await PGDaemonProcess.run(arguments, environment: environment)
            }
            #expect(try await pgdaemon("task", "add", "--type", "Noop", "--queue", "mail", "--key", "t-42").status == 0)
            let folder = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-jsonl-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let good = folder.appending(path: "good.jsonl").path
            try """
            {"task_type": "Noop", "queue": "reports", "concurrency_key": "t-1"}

            {"task_type": "Sleep", "task_data": {"seconds": 1}, "execution_time": "2099-01-01T00:00:00Z"}
            """.write(toFile: good, atomically: true, encoding: .utf8)
            let added = try await pgdaemon("task", "add", "--from-file", good)
            #expect(added.stdout == "Enqueued 2 tasks from \(good), ids 2 to 3.\n", "\(added.stderr)")

            let connection = try await database.connect()
            let rows = try await connection.query(
                """
                SELECT id, queue, concurrency_key FROM scheduler_task UNION ALL
                SELECT id, queue, concurrency_key FROM scheduler_future_task ORDER BY id
                """
            ).map {
                "\(try $0.decode(Int64.self, "id")) \(try $0.decode(String.self, "queue")) \(try $0.decode(String?.self, "concurrency_key") ?? "-")"
            }
            #expect(rows == ["1 mail t-42", "2 reports t-1", "3 default -"])

            let notJSON = folder.appending(path: "bad.jsonl").path
            try "{\"task_type\": \"Noop\"}\n[1]\n".write(toFile: notJSON, atomically: true, encoding: .utf8)
            let refused = try await pgdaemon("task", "add", "--from-file", notJSON)
            #expect(refused.status == 2)
            #expect(refused.stderr == "pgdaemon: Line 2 of \(notJSON) is not a JSON object.\n")
            let unknownKey = folder.appending(path: "key.jsonl").path
            try "{\"task_type\": \"Noop\"}\n{\"type\": \"Noop\"}\n".write(
                toFile: unknownKey, atomically: true, encoding: .utf8)
            let rejected = try await pgdaemon("task", "add", "--from-file", unknownKey)
            #expect(rejected.status == 1)
            #expect(rejected.stderr.contains("task 2: unknown key 'type'"), "\(rejected.stderr)")
            #expect(try await connection.query("SELECT 1 FROM scheduler_task").count == 2, "nothing of either file")
            await connection.close()
        }
    }

    @Test func aPausedQueueStartsNothingUntilResumedWhileOtherQueuesRun() async throws {
        try await withDaemon(modules: "  SchedulerTaskWorker: {}") { daemon, database in
            try daemon.start()
            try await daemon.waitForModule("SchedulerTaskWorker", iterations: 0)
            let paused = try await daemon.command(["queue", "pause", "mail"])
            #expect(paused.stdout == "Queue mail paused.\n", "\(paused.stderr)")
            #expect(try await daemon.command(["queue", "pause", "mail"]).stdout == "Queue mail was paused already.\n")
            let connection = try await database.connect()
            try await connection.execute(
                "SELECT scheduler_task_add('Noop', queue => 'mail') FROM generate_series(1, 3)")
            try await connection.execute("SELECT scheduler_task_add('Noop')")
            try await connection.execute("SELECT scheduler_task_add('Noop', queue => 'reports')")
            func done(_ queue: String) async throws -> Int {
                try await connection.query(
                    "SELECT count(*) AS n FROM scheduler_task_history WHERE queue = \(queue) AND status = 'done'"
                )[0].decode(Int.self, "n")
            }
            try await waitUntil("the default queue's task ran") { try await done("default") == 1 }
            let list = try await daemon.command(["queue", "list", "--json"])
            let queues = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
            let mail = queues?.first { $0["name"] as? String == "mail" }
            #expect(mail?["ready"] as? Int == 3)
            #expect(mail?["pausedAt"] != nil)
            #expect(try await done("mail") == 0, "nothing of the paused queue started")
            #expect(try await daemon.command(["queue", "resume", "mail"]).stdout == "Queue mail resumed.\n")
            try await waitUntil("the resumed queue's tasks ran", timeout: .seconds(10)) { try await done("mail") == 3 }
            let later = try await connection.query(
                "SELECT scheduler_task_add('Noop', execution_time => now() + interval '1 day', queue => 'later') AS id"
            )[0].decode(Int64.self, "id")
            #expect(try await daemon.command(["task", "cancel", String(later)]).status == 0)
            let drained = try await daemon.command(["queue", "list", "--json"])
            let listed = try JSONSerialization.jsonObject(with: Data(drained.stdout.utf8)) as? [[String: Any]]
            let finished = listed?.first { $0["name"] as? String == "reports" }
            #expect(finished?["finishedLastHour"] as? Int == 1, "a queue with nothing left shows what it finished")
            let cancelled = listed?.first { $0["name"] as? String == "later" }
            #expect(cancelled?["finishedLastHour"] as? Int == 1, "a cancelled task ended too")
            await connection.close()
        }
    }

    @Test func theConfiguredLimitsAreStoredAtStartAndClearedWhenAReloadDropsThem() async throws {
        let modules = """
              SchedulerTaskWorker: {}
            queues:
              mail: { per_node: 2, limit: 4, rate: 100/1m }
              reports: { per_node: 1, key_limit: 1 }
            """
        try await withDaemon(modules: modules) { daemon, _ in
            try daemon.start()
            try await daemon.waitForModule("SchedulerTaskWorker", iterations: 0)
            func queues() async throws -> [String: [String: Any]] {
                let list = try await daemon.command(["queue", "list", "--json"])
                let rows = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]] ?? []
                return Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as? String ?? "", $0) })
            }
            let stored = try await queues()
            #expect(stored["mail"]?["perNode"] as? Int == 2)
            #expect(stored["mail"]?["limit"] as? Int == 4)
            #expect(stored["mail"]?["rateCount"] as? Int == 100)
            #expect(stored["mail"]?["ratePeriodSeconds"] as? Double == 60)
            #expect(stored["reports"]?["keyLimit"] as? Int == 1)
            let table = try await daemon.command(["queue", "list"])
            #expect(table.stdout.contains("per_node 2, limit 4, rate 100/1m"), "\(table.stdout)")

            #expect(try await daemon.command(["queue", "pause", "reports"]).status == 0)
            try daemon.writeConfiguration(modules: "  SchedulerTaskWorker: {}\nqueues:\n  mail: { per_node: 3 }")
            daemon.signal(SIGHUP)
            try await waitUntil("the reload's figures are stored") {
                try await queues()["mail"]?["perNode"] as? Int == 3
            }
            let reloaded = try await queues()
            #expect(reloaded["mail"]?["limit"] == nil, "a figure the file no longer sets is cleared")
            #expect(reloaded["reports"]?["keyLimit"] == nil, "so is a queue it no longer names")
            #expect(reloaded["reports"]?["pausedAt"] != nil, "whose pause stays")
        }
    }
}
