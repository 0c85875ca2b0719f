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
    }

    /// The rescuer's `lock_timeout` in a configuration; workers refresh their locks well within it.
    public static func lockTimeout(in configuration: Configuration) -> Duration {
        configuration.modules.first { $0.type == String(describing: SchedulerTaskRescuer.self) }?
            .settings.duration("lock_timeout", default: .seconds(60)) ?? .seconds(60)
    }

    public func run() async throws -> ModuleStep {
        let rescued = try await context.database.transaction { [lockTimeout, nodeTimeout] connection in
            let count = try await connection.execute(
                """
                WITH lost AS (
                    SELECT t.id, t.lock_node AS old_node, t.lock_time AS old_lock_time,
                           CASE WHEN n.status = 'stopped' THEN 'its node ' || t.lock_node || ' stopped'
                                WHEN n.last_heartbeat < now() - \(nodeTimeout)::interval
                                    THEN 'its node ' || t.lock_node || ' stopped heartbeating'
                                ELSE 'its lock was not refreshed for ' || \(DurationText.format(lockTimeout)) END AS reason
                    FROM scheduler_task AS t LEFT JOIN daemon_node AS n ON n.name = t.lock_node
                    WHERE t.lock_key IS NOT NULL
                      AND (t.lock_update_time < now() - \(lockTimeout)::interval OR n.status = 'stopped'
                           OR n.last_heartbeat < now() - \(nodeTimeout)::interval)
                    FOR UPDATE OF t SKIP LOCKED
                ), returned AS (
                    UPDATE scheduler_task AS t
                    SET lock_key = NULL, lock_node = NULL, lock_time = NULL, lock_update_time = NULL,
                        last_error = 'rescued: ' || lost.reason
                    FROM lost WHERE t.id = lost.id AND t.attempts < t.max_attempts
                    RETURNING t.id
                ), given_up AS (
                    DELETE FROM scheduler_task AS t USING lost
                    WHERE t.id = lost.id AND t.attempts >= t.max_attempts
                    RETURNING t.*
                )
                INSERT INTO scheduler_task_history (task_id, name, task_type, node, create_time, scheduled_for,
                                                    started_at, finished_at, status, attempts, error, task_data)
                SELECT t.id, t.name, t.task_type, lost.old_node, t.create_time, t.scheduled_for, lost.old_lock_time,
                       now(), CASE WHEN g.id IS NULL THEN 'rescued' ELSE 'failed' END, t.attempts,
                       'The task''s worker vanished: ' || lost.reason || '.', t.task_data
                FROM lost JOIN scheduler_task AS t ON t.id = lost.id
                LEFT JOIN given_up AS g ON g.id = lost.id
                """)
            if count > 0 { try await connection.execute("SELECT pg_notify('pgdaemon_task', '')") }
            return count
        }
        if rescued > 0 {
            context.logger.notice("Rescued tasks of vanished workers.", metadata: ["tasks": "\(rescued)"])
        }
        try await context.database.execute(
            """
            DELETE FROM scheduler_task_history WHERE id IN (
                SELECT id FROM scheduler_task_history WHERE finished_at < now() - \(retention)::interval
                LIMIT \(Self.pruneBatch))
            """)
        try await context.database.execute(
            """
            DELETE FROM scheduler_cron_slot WHERE (name, slot) IN (
                SELECT name, slot FROM scheduler_cron_slot WHERE created_at < now() - \(retention)::interval
                LIMIT \(Self.pruneBatch))
            """)
        return .proceed
    }
}
