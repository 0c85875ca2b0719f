import DaemonKit
import Foundation
import Postgres

/// The cron manager's SQL: the entries in `scheduler_recurrent_task`, and each slot recorded once in
/// `scheduler_cron_slot` with its task.
struct CronStore: Sendable {
    let connection: Connection

    /// Makes `scheduler_recurrent_task` hold exactly `entries`, keeping the runs recorded for those still configured.
    func register(_ entries: [CronEntry]) async throws {
        try await connection.transaction { connection in
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

    /// The last slot recorded for the entry, run or skipped.
    func lastSlot(of entry: CronEntry) async throws -> Date? {
        try await connection.query(
            "SELECT last_execution_time FROM scheduler_recurrent_task WHERE name = \(entry.name)"
        ).first?.decode(Date?.self, "last_execution_time")
    }

    /// Shows the entry's next slot.
    func setNextSlot(_ slot: Date, of entry: CronEntry) async throws {
        try await connection.execute(
            "UPDATE scheduler_recurrent_task SET next_execution_time = \(slot) WHERE name = \(entry.name)")
    }

    /// Records the slot and enqueues its task (unless `skipped`), in one transaction, only while `fence` holds and
    /// only if no one recorded the slot before: so a slot runs once in the cluster.
    func record(_ entry: CronEntry, slot: Date, skipped: Bool, fence: Fence?, node: String) async throws {
        let condition: SQL = fence?.condition ?? "TRUE"
        let epoch = fence?.epoch
        try await connection.transaction { connection in
            let claimed = try await connection.execute(
                """
                INSERT INTO scheduler_cron_slot (name, slot, status, epoch, node)
                SELECT \(entry.name), \(slot), \(skipped ? "skipped" : "enqueued"), \(epoch), \(node) WHERE \(condition)
                ON CONFLICT (name, slot) DO NOTHING
                """)
            guard claimed == 1 else { return }
            var taskID: Int64?
            if !skipped {
                taskID = try await TaskQueue(connection: connection).add(
                    NewTask(
                        type: entry.taskType, dataJSON: entry.taskDataJSON, name: entry.name, priority: entry.priority,
                        executionTime: slot, maxAttempts: entry.maxAttempts, queue: entry.queue))
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
    func updateLastStatus() async throws {
        try await connection.execute(
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
