public import DaemonKit
import Foundation
import Postgres

/// Enqueues each `cron:` entry's task at every slot of its schedule. A singleton; each slot is recorded in
/// `scheduler_cron_slot` in the same transaction as its task, under the holder's fence, so a slot runs once in the
/// cluster even if two managers ever ran. It sleeps until the next slot, so tasks start on time, not on a polling loop.
/// After downtime, `catch_up: once` runs the latest missed slot and records the others as skipped; `skip` records
/// them all as skipped.
public final class SchedulerCronTaskManager: DaemonModule {
    public static let description = "Enqueues the cron: entries' tasks at their slots, each slot once in the cluster."
    public static var defaultCluster: ClusterMode { .singleton }
    public static var defaultSleepPost: Duration { .zero }

    /// A slot this close to now is on time; older ones were missed.
    static let tolerance: TimeInterval = 2
    /// The longest sleep, so that schedule changes and summaries stay current.
    static let longestSleep = Duration.seconds(60)

    public let context: ModuleContext

    public init(context: ModuleContext) async throws {
        self.context = context
        let entries = context.configuration.cron
        try await context.database.transaction { connection in
            for entry in entries {
                try await connection.execute(
                    """
                    INSERT INTO scheduler_recurrent_task AS r (name, schedule, timezone, task_type, catch_up)
                    VALUES (\(entry.name), \(entry.schedule.expression), \(entry.timeZoneIdentifier), \(entry.taskType),
                            \(entry.catchUp.rawValue))
                    ON CONFLICT (name) DO UPDATE
                    SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, task_type = EXCLUDED.task_type,
                        catch_up = EXCLUDED.catch_up
                    """)
            }
            try await connection.execute(
                """
                DELETE FROM scheduler_recurrent_task
                WHERE name NOT IN (SELECT jsonb_array_elements_text(\(try PostgresJSON(entries.map(\.name)))::jsonb))
                """)
        }
    }

    public func run() async throws -> ModuleStep {
        let now = Date()
        var earliest = now.addingTimeInterval(60)
        for entry in context.configuration.cron {
            let last = try await context.database.query(
                "SELECT last_execution_time FROM scheduler_recurrent_task WHERE name = \(entry.name)"
            ).first?.decode(Date?.self, "last_execution_time")
            var due: [Date] = []
            var slot = entry.schedule.next(after: last ?? now.addingTimeInterval(-1), in: entry.timeZone)
            while let current = slot, current <= now, due.count < 10_000 {
                due.append(current)
                slot = entry.schedule.next(after: current, in: entry.timeZone)
            }
            // Slots within the tolerance are on time (a takeover may straddle one) and all run; older ones were
            // missed, and catch_up decides about them.
            let missed = due.filter { now.timeIntervalSince($0) > Self.tolerance }
            let caughtUp = entry.catchUp == .once ? missed.last : nil
            for slot in due {
                let runs = !missed.contains(slot) || slot == caughtUp
                try await record(entry, slot: slot, skipped: !runs)
            }
            if let slot {
                earliest = min(earliest, slot)
                try await context.database.execute(
                    "UPDATE scheduler_recurrent_task SET next_execution_time = \(slot) WHERE name = \(entry.name)")
            }
        }
        try await updateLastStatus()
        let wait = min(Duration.milliseconds(Int64(max(earliest.timeIntervalSinceNow, 0) * 1000)), Self.longestSleep)
        _ = try await context.stop.sleep(for: wait)
        return .proceed
    }

    /// Enqueues the slot's task, or records it as skipped, once in the cluster.
    private func record(_ entry: CronEntry, slot: Date, skipped: Bool) async throws {
        let fence: SQL = context.fence?.condition ?? "TRUE"
        let node = context.node
        let epoch = context.fence?.epoch
        try await context.database.transaction { connection in
            let claimed = try await connection.execute(
                """
                INSERT INTO scheduler_cron_slot (name, slot, status, epoch, node)
                SELECT \(entry.name), \(slot), \(skipped ? "skipped" : "enqueued"), \(epoch), \(node) WHERE \(fence)
                ON CONFLICT (name, slot) DO NOTHING
                """)
            guard claimed == 1 else { return }
            var taskID: Int64?
            if !skipped {
                taskID = try await connection.query(
                    """
                    SELECT scheduler_task_add(\(entry.taskType), \(entry.taskDataJSON)::jsonb, \(entry.name),
                                              \(entry.priority)::int4, NULL, \(slot)::timestamptz,
                                              \(entry.maxAttempts)::int4) AS id
                    """)[0].decode(Int64.self, "id")
                try await connection.execute(
                    "UPDATE scheduler_cron_slot SET task_id = \(taskID) WHERE name = \(entry.name) AND slot = \(slot)")
            }
            try await connection.execute(
                """
                UPDATE scheduler_recurrent_task
                SET last_execution_time = \(slot), last_task_id = coalesce(\(taskID), last_task_id),
                    last_status = CASE WHEN \(skipped) THEN 'skipped' ELSE 'enqueued' END
                WHERE name = \(entry.name)
                """)
        }
    }

    /// Copies the outcome of each entry's last task from history.
    private func updateLastStatus() async throws {
        try await context.database.execute(
            """
            UPDATE scheduler_recurrent_task AS r
            SET last_status = h.status,
                last_duration_ms = (extract(epoch FROM h.finished_at - h.started_at) * 1000)::bigint
            FROM (SELECT DISTINCT ON (task_id) task_id, status, started_at, finished_at FROM scheduler_task_history
                  WHERE task_id IN (SELECT last_task_id FROM scheduler_recurrent_task) ORDER BY task_id, id DESC) AS h
            WHERE h.task_id = r.last_task_id AND r.last_status IS DISTINCT FROM 'skipped'
            """)
    }
}
