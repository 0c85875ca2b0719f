public import DaemonKit
import Foundation
import Postgres

/// Returns tasks whose worker vanished to the queue: those whose lock was not refreshed for `lock_timeout`, or whose
/// node has stopped or stopped heartbeating for as long (at least three heartbeats). Each rescue leaves a history row ('rescued'); a task rescued
/// on its last attempt fails instead, so a task that kills its worker every time cannot loop forever. Also prunes
/// history and cron slot records older than `history_retention`. A singleton.
public final class SchedulerTaskRescuer: DaemonModule {
    public static let description = "Returns tasks of vanished workers to the queue and prunes old history."
    public static var defaultCluster: ClusterMode { .singleton }
    public static var defaultSleepPost: Duration { .seconds(5) }
    public static var settings: [ModuleSetting] {
        [
            ModuleSetting("lock_timeout", .duration, help: "How stale a running task's lock may get; default 60s."),
            ModuleSetting("history_retention", .duration, help: "How long history rows are kept; default 7d."),
        ]
    }

    /// History rows deleted per statement, so pruning never holds long locks.
    static let pruneBatch = 10_000

    public let context: ModuleContext
    private let store: RescueStore
    private let lockTimeout: Duration
    /// How stale a node's heartbeat may get before its tasks are taken back: `lock_timeout`, but never less than
    /// three of the supervisor's heartbeats.
    private let nodeTimeout: Duration
    private let retention: Duration

    public init(context: ModuleContext) async throws {
        self.context = context
        lockTimeout = Self.lockTimeout(in: context.configuration)
        nodeTimeout = max(lockTimeout, Supervisor.heartbeatInterval * 3)
        retention = context.settings.duration("history_retention", default: .seconds(7 * 86400))
        store = RescueStore(connection: context.database, columns: try await TaskColumns.read(on: context.database))
    }

    /// The rescuer's `lock_timeout` in a configuration; workers refresh their locks well within it.
    public static func lockTimeout(in configuration: Configuration) -> Duration {
        configuration.modules.first { $0.type == String(describing: SchedulerTaskRescuer.self) }?
            .settings.duration("lock_timeout", default: .seconds(60)) ?? .seconds(60)
    }

    public func run() async throws -> ModuleStep {
        let rescued = try await store.rescue(lockTimeout: lockTimeout, nodeTimeout: nodeTimeout)
        if rescued > 0 {
            context.logger.notice("Rescued tasks of vanished workers.", metadata: ["tasks": "\(rescued)"])
        }
        try await store.prune(olderThan: retention, limit: Self.pruneBatch)
        return .proceed
    }
}
