public import DaemonKit
import Foundation
import Postgres

/// Moves future tasks, retries included, into the queue when they are due. A singleton: it sleeps until the earliest
/// execution time, and an earlier task announced on `pgdaemon_future_task` wakes it at once, so a task starts within
/// milliseconds of its time rather than on a polling loop.
public final class SchedulerFutureTaskManager: DaemonModule {
    public static let description = "Moves future tasks into the queue the moment they are due."
    public static var defaultCluster: ClusterMode { .singleton }
    public static var defaultSleepPost: Duration { .zero }
    public static var settings: [ModuleSetting] {
        [ModuleSetting("poll_interval", .duration, help: "The longest sleep without a notification; default 60s.")]
    }

    /// Tasks moved per statement, so that a backlog moves in short transactions.
    static let batch = 1000

    public let context: ModuleContext
    private let listener: Connection
    private let pollInterval: Duration

    public init(context: ModuleContext) async throws {
        self.context = context
        pollInterval = context.settings.duration("poll_interval", default: .seconds(60))
        listener = try await Connection.connect(
            ModuleRunner.connectionOptions(context.configuration, purpose: "\(context.module.name)/listen"))
        try await listener.listen("pgdaemon_future_task")
    }

    public func run() async throws -> ModuleStep {
        while try await moveDue() == Self.batch {}
        let next = try await context.database.query(
            "SELECT extract(epoch FROM min(execution_time) - clock_timestamp())::float8 AS wait FROM scheduler_future_task"
        )[0].decode(Double?.self, "wait")
        var wait = pollInterval
        if let next { wait = min(.milliseconds(Int64(max(next, 0) * 1000)), pollInterval) }
        if wait > .zero {
            _ = try await context.stop.unlessStopped { [listener, wait] in
                try await listener.nextNotification(timeout: wait)
            }
        }
        return .proceed
    }

    /// Moves the due tasks of one batch; their `scheduled_for` keeps when they were first due.
    private func moveDue() async throws -> Int {
        try await context.database.execute(
            """
            WITH due AS (
                DELETE FROM scheduler_future_task
                WHERE id IN (SELECT id FROM scheduler_future_task WHERE execution_time <= clock_timestamp()
                             ORDER BY execution_time LIMIT \(Self.batch) FOR UPDATE SKIP LOCKED)
                RETURNING *
            )
            INSERT INTO scheduler_task (id, name, task_type, task_data, priority, attempts, max_attempts, unique_key,
                                        create_time, scheduled_for, last_error)
            SELECT id, name, task_type, task_data, priority, attempts, max_attempts, unique_key, create_time,
                   coalesce(scheduled_for, execution_time), last_error
            FROM due
            """)
    }
}
