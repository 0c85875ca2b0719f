import Foundation
import Postgres
import TestSupport
import Testing

@Suite("A column a migration adds to the task tables", .timeLimit(.minutes(2)))
struct TaskColumnTests {
    /// Adding a column is one migration: no statement lists the task's columns, so the value travels from the future
    /// tasks to the queue, back to the future tasks as a retry, into history, and with `task retry` and `task delete`.
    @Test func survivesFutureReadyRetryHistoryRetryAndDelete() async throws {
        try await withDaemon(
            modules: """
                  SchedulerTaskWorker: { retry_backoff: 100ms }
                  SchedulerFutureTaskManager: {}
                commands:
                  fails: { argv: [/bin/false] }
                """
        ) { daemon, database in
            let connection = try await database.connect()
            for table in ["scheduler_task", "scheduler_future_task", "scheduler_task_history"] {
                try await connection.execute("ALTER TABLE \(identifier: table) ADD COLUMN tenant text")
            }
            let id = try await connection.query(
                """
                INSERT INTO scheduler_future_task (task_type, task_data, max_attempts, execution_time, tenant)
                VALUES ('Command', '{"command": "fails"}', 2, now() + interval '300 milliseconds', 'acme')
                RETURNING id
                """)[0].decode(Int64.self, "id")
            try daemon.start()

            func history(of task: Int64) async throws -> [(status: String, tenant: String?)] {
                try await connection.query(
                    "SELECT status, tenant FROM scheduler_task_history WHERE task_id = \(task) ORDER BY id"
                ).map { (try $0.decode(String.self, "status"), try $0.decode(String?.self, "tenant")) }
            }
            try await waitUntil("the task has failed for good") {
                try await history(of: id).map(\.status) == ["retried", "failed"]
            }
            #expect(try await history(of: id).map(\.tenant) == ["acme", "acme"], "kept by both attempts")

            let retried = try await daemon.command(["task", "retry", String(id)])
            #expect(retried.status == 0, "\(retried.stderr)")
            let again = try #require(Int64(retried.stdout.split(separator: " ").last?.dropLast(2) ?? ""))
            // History keeps no max_attempts, so the task enqueued again has the default three.
            try await waitUntil("the task enqueued again has failed for good") {
                try await history(of: again).map(\.status) == ["retried", "retried", "failed"]
            }
            #expect(
                try await history(of: again).map(\.tenant) == ["acme", "acme", "acme"],
                "kept by the task enqueued again")

            let waiting = try await connection.query(
                """
                INSERT INTO scheduler_future_task (task_type, execution_time, tenant)
                VALUES ('Noop', now() + interval '1 hour', 'globex') RETURNING id
                """)[0].decode(Int64.self, "id")
            #expect(try await daemon.command(["task", "delete", String(waiting)]).status == 0)
            #expect(try await history(of: waiting).map(\.status) == ["cancelled"])
            #expect(try await history(of: waiting).map(\.tenant) == ["globex"], "kept by a deleted task")
            await connection.close()
        }
    }
}
