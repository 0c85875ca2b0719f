import DaemonKit
import Foundation
import Logging
import Postgres
import Scheduler
import TestSupport
import Testing

/// Fails every attempt, as a handler whose remote service is down would.
struct AlwaysFailing: TaskHandler {
    struct Payload: Decodable, Sendable {}
    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "the service is unavailable" }
    }

    static let type = "AlwaysFailing"
    init() {}
    func run(_ payload: Payload, context: TaskContext) async throws { throw Unavailable() }
}

@Suite("Retries", .timeLimit(.minutes(2)))
struct RetryTests {
    @Test func retryDelaysDoubleWithJitterUpToTheCap() {
        let backoff = RetryBackoff(base: .seconds(1), cap: .seconds(60))
        #expect(backoff.delay(retry: 1, jitter: 0) == .seconds(1))
        #expect(backoff.delay(retry: 2, jitter: 0) == .seconds(2))
        #expect(backoff.delay(retry: 4, jitter: 0) == .seconds(8))
        #expect(backoff.delay(retry: 3, jitter: 1) == .milliseconds(4800))
        #expect(backoff.delay(retry: 3, jitter: -1) == .milliseconds(3200))
        #expect(backoff.delay(retry: 30, jitter: 1) == .seconds(60))
    }

    @Test func aFailingTaskIsRetriedWithGrowingDelaysUntilMaxAttempts() async throws {
        try await withTestDatabase { database in
            let text = """
                node: retry-node
                modules:
                  SchedulerTaskWorker: { retry_backoff: 300ms }
                  SchedulerFutureTaskManager: { cluster: every-node }
                """
            let file = FileManager.default.temporaryDirectory.appending(path: "retry-\(UUID().uuidString).yaml").path
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let configuration = try Configuration.load(
                file: file, registry: .builtIn.adding(.scheduler),
                environment: ["PGDAEMON_DATABASE_URL": database.connectionString])
            let handlers = {
                var handlers = TaskHandlerRegistry.builtIn
                handlers.register(AlwaysFailing.self)
                return handlers
            }()
            let runners = configuration.validModules.map { entry in
                ModuleRunner(
                    configuration: configuration, module: entry, registry: .builtIn.adding(.scheduler),
                    logger: Logger(label: entry.name), debug: false)
            }
            let tasks = runners.map { runner in
                Task { await TaskHandlerRegistry.$current.withValue(handlers) { await runner.run() } }
            }
            let connection = try await database.connect()
            let id = try await connection.query("SELECT scheduler_task_add('AlwaysFailing', max_attempts => 3) AS id")[
                0
            ]
            .decode(Int64.self, "id")
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
            #expect(try attempts.allSatisfy { try $0.decode(String?.self, "error") == "the service is unavailable" })
            let starts = try attempts.map { try $0.decode(Double.self, "started") }
            let first = starts[1] - starts[0]
            let second = starts[2] - starts[1]
            // Retries are never early (a busy machine can make them late): at least 300 ms, then 600 ms, less 20 % jitter.
            #expect(first >= 0.24, "the first retry waits 300 ms ± 20 %")
            #expect(second >= 0.48, "the second waits twice as long")
            #expect(try await connection.query("SELECT 1 FROM scheduler_future_task").isEmpty)
            for runner in runners { runner.stop.request() }
            for task in tasks { _ = await task.value }
            await connection.close()
        }
    }
}
