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
    private let store: FutureTaskStore
    private let pollInterval: Duration

    public init(context: ModuleContext) async throws {
        self.context = context
        pollInterval = context.settings.duration("poll_interval", default: .seconds(60))
        store = FutureTaskStore(connection: context.database, columns: try await TaskColumns.read(on: context.database))
        // Its own connection listens: a wait holds nothing, so the lease goes on being renewed on it meanwhile.
        try await context.database.listen("pgdaemon_future_task")
    }

    public func run() async throws -> ModuleStep {
        while try await store.moveDue(limit: Self.batch) == Self.batch {}
        let next = try await store.secondsUntilNextDue()
        var wait = pollInterval
        if let next { wait = min(.milliseconds(Int64(max(next, 0) * 1000)), pollInterval) }
        if wait > .zero {
            _ = try await context.stop.unlessStopped { [database = context.database, wait] in
                try await database.nextNotification(timeout: wait)
            }
        }
        return .proceed
    }
}
