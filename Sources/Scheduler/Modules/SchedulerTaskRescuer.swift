public import DaemonKit
import Foundation
import Postgres

/// Returns tasks whose worker vanished to the queue: those whose lock was not refreshed for `lock_timeout`, or whose
/// node has stopped or stopped heartbeating for as long (at least three heartbeats). Each rescue leaves a history row ('rescued'); a task rescued
/// on its last attempt fails instead, so a task that kills its worker every time cannot loop forever. Also keeps
/// history's daily partitions: creates them a week ahead and drops those older than `history_retention`, prunes
/// cron slot records as old, and vacuums the task table when autovacuum falls behind its churn. A singleton.
public final class SchedulerTaskRescuer: DaemonModule {
    public static let description = "Returns tasks of vanished workers to the queue and prunes old history."
    public static var defaultCluster: ClusterMode { .singleton }
    public static var defaultSleepPost: Duration { .seconds(5) }
    public static var settings: [ModuleSetting] {
        [
            ModuleSetting("lock_timeout", .duration, help: "How stale a running task's lock may get; default 60s."),
            ModuleSetting(
                "history_retention", .duration,
                help: "How long history rows are kept, at least; dropped a UTC day at a time; default 7d."),
        ]
    }

    /// Cron slot records deleted per statement, so pruning never holds long locks.
    static let pruneBatch = 10_000
    /// Dead rows in the task table at which the rescuer vacuums it: 50,000 dead entries make 250 pages of the ready
    /// index that a claim walks, a quarter of a millisecond; at 18,000 tasks a second they pile up between two runs.
    static let vacuumDeadRows = 50_000

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
        let history = try await store.maintainHistory(retention: retention)
        if history.created > 0 || history.dropped > 0 {
            context.logger.notice(
                "Kept history's partitions.",
                metadata: ["created": "\(history.created)", "dropped": "\(history.dropped)"])
        }
        if history.deferred > 0 {
            context.logger.info(
                "History partitions were busy; they are created or dropped at the next run.",
                metadata: ["deferred": "\(history.deferred)"])
        }
        try await store.pruneCronSlots(olderThan: retention, limit: Self.pruneBatch)
        if try await store.vacuumTasks(
            above: Self.vacuumDeadRows, timeout: context.configuration.daemon.singletonLease / 4)
        {
            context.logger.debug("Vacuumed the task table.")
        }
        return .proceed
    }
}
