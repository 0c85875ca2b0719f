import DaemonKit
import Postgres

/// The rescuer's SQL: taking back the tasks of vanished workers, and keeping history's partitions, and pruning cron
/// slot records.
struct RescueStore: Sendable {
    let connection: Connection
    /// The insert of each rescued task's history row, from `t` (the task) joined with `lost`.
    private let rescuedInsert: String

    init(connection: Connection, columns: TaskColumns) {
        self.connection = connection
        rescuedInsert = columns.insert(
            into: .history, from: .ready, alias: "t",
            setting: [
                "task_id": "t.id", "node": "lost.old_node", "started_at": "lost.old_lock_time", "finished_at": "now()",
                "status":
                    "CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'cancelled' WHEN g.id IS NULL THEN 'rescued' ELSE 'failed' END",
                "error": "'The task''s worker vanished: ' || lost.reason || '.'",
            ])
    }

    /// In one transaction, returns to the queue every running task whose lock was not refreshed for `lockTimeout`,
    /// or whose node stopped or has not heartbeaten for `nodeTimeout`; one on its last attempt fails instead, and one
    /// whose cancel was requested is cancelled. Each gets a history row saying why, and the workers are woken, as the
    /// tasks' queues have room again. Returns how many were taken back.
    func rescue(lockTimeout: Duration, nodeTimeout: Duration) async throws -> Int {
        try await connection.transaction { [rescuedInsert] connection in
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
                    FROM lost WHERE t.id = lost.id AND t.attempts < t.max_attempts AND t.cancel_requested_at IS NULL
                    RETURNING t.id
                ), given_up AS (
                    DELETE FROM scheduler_task AS t USING lost
                    WHERE t.id = lost.id AND (t.attempts >= t.max_attempts OR t.cancel_requested_at IS NOT NULL)
                    RETURNING t.*
                )
                \(unsafeSQL: rescuedInsert)
                FROM lost JOIN scheduler_task AS t ON t.id = lost.id
                LEFT JOIN given_up AS g ON g.id = lost.id
                """)
            if count > 0 { try await connection.execute("SELECT pg_notify('pgdaemon_task', '')") }
            return count
        }
    }

    /// What one call of `scheduler_task_history_maintain` did to history's partitions.
    struct HistoryMaintenance: Sendable, Equatable {
        var created: Int
        var dropped: Int
        /// Partitions left for the next call because their lock was busy.
        var deferred: Int
    }

    /// Creates history's partitions for the days ahead and drops those wholly older than `retention`: a day's rows go
    /// in one DROP, where deleting them row by row left as many dead rows for autovacuum.
    func maintainHistory(retention: Duration) async throws -> HistoryMaintenance {
        let row = try await connection.query(
            "SELECT created, dropped, deferred FROM scheduler_task_history_maintain(\(retention)::interval)")[0]
        return HistoryMaintenance(
            created: try row.decode(Int.self, "created"), dropped: try row.decode(Int.self, "dropped"),
            deferred: try row.decode(Int.self, "deferred"))
    }

    /// Vacuums the task table once `deadRows` dead rows wait in it, when the daemon's role owns it (else autovacuum
    /// alone does). Every claim and finish leaves a dead entry at the front of the ready indexes, where each claim's
    /// scan starts; autovacuum comes at most once a minute (`autovacuum_naptime`), by when a busy node has left a
    /// million: 5,000 index pages that every claim walked (2.5 ms a scan). Cut off after `timeout`, so that the
    /// singleton's session is back in time to renew its lease. Returns whether it vacuumed.
    func vacuumTasks(above deadRows: Int, timeout: Duration) async throws -> Bool {
        let row = try await connection.query(
            """
            SELECT coalesce(pg_stat_get_dead_tuples(c.oid), 0) AS dead, pg_has_role(c.relowner, 'USAGE') AS owned
            FROM pg_class AS c WHERE c.oid = 'scheduler_task'::regclass
            """)[0]
        guard try row.decode(Bool.self, "owned"), try row.decode(Int.self, "dead") >= deadRows else { return false }
        try await connection.execute(
            """
            SELECT set_config('statement_timeout', (extract(epoch FROM \(timeout)::interval) * 1000)::bigint::text, false)
            """)
        do {
            // SKIP_LOCKED: when autovacuum is at it already, this one is not needed.
            try await connection.execute("VACUUM (SKIP_LOCKED, PARALLEL 0) scheduler_task")
        } catch {
            try await connection.execute("RESET statement_timeout")
            throw error
        }
        try await connection.execute("RESET statement_timeout")
        return true
    }

    /// Deletes up to `limit` cron slot records older than `retention`; the table holds one row per entry and slot.
    func pruneCronSlots(olderThan retention: Duration, limit: Int) async throws {
        try await connection.execute(
            """
            DELETE FROM scheduler_cron_slot WHERE (name, slot) IN (
                SELECT name, slot FROM scheduler_cron_slot WHERE created_at < now() - \(retention)::interval
                LIMIT \(limit))
            """)
    }
}
