import DaemonKit
public import Foundation
public import Postgres

/// The cron manager's SQL, and the command line's: the entries in `scheduler_recurrent_task` with their pause, and
/// each slot recorded once in `scheduler_cron_slot` with its task. Every change to an entry's slots locks the entry's
/// row first, so the manager, a manual run and a pause take turns, whichever node they run on.
public struct CronStore: Sendable {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Makes `scheduler_recurrent_task` hold exactly `entries`, keeping the runs recorded for those still configured.
    func register(_ entries: [CronEntry]) async throws {
        try await connection.transaction { connection in
            for entry in entries {
                try await connection.execute(
                    """
                    INSERT INTO scheduler_recurrent_task AS r (name, schedule, timezone, task_type, catch_up, overlap)
                    VALUES (\(entry.name), \(entry.schedule.expression), \(entry.timeZoneIdentifier), \(entry.taskType),
                            \(entry.catchUp.rawValue), \(entry.overlap.rawValue))
                    ON CONFLICT (name) DO UPDATE
                    SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, task_type = EXCLUDED.task_type,
                        catch_up = EXCLUDED.catch_up, overlap = EXCLUDED.overlap
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

    /// Records the slot, in one transaction, only while `fence` holds and only if no one recorded the slot before: so
    /// a slot runs once in the cluster. A `missed` slot, and any while the entry is paused, is skipped; while the
    /// entry's previous task still waits or runs, `overlap` decides: skipped, queued (enqueued later by
    /// `enqueueQueued`), or enqueued anyway. Returns the status recorded, nil when the slot was recorded before.
    @discardableResult
    func record(_ entry: CronEntry, slot: Date, missed: Bool, fence: Fence?, node: String) async throws -> String? {
        let condition: SQL = fence?.condition ?? "TRUE"
        let epoch = fence?.epoch
        return try await connection.transaction { connection in
            let state = try await Self.lock(entry.name, on: connection)
            let (status, reason) = Self.status(of: entry, missed: missed, state)
            let claimed = try await connection.execute(
                """
                INSERT INTO scheduler_cron_slot (name, slot, status, reason, epoch, node)
                SELECT \(entry.name)::text, \(slot)::timestamptz, \(status)::text, \(reason)::text, \(epoch)::bigint,
                       \(node)::text
                WHERE \(condition)
                ON CONFLICT (name, slot) DO NOTHING
                """)
            guard claimed == 1 else { return nil }
            if status == "enqueued" { try await Self.enqueue(entry, slot: slot, on: connection) }
            try await connection.execute(
                """
                UPDATE scheduler_recurrent_task
                SET last_execution_time = \(slot), last_status = \(status) WHERE name = \(entry.name)
                """)
            return status
        }
    }

    /// Enqueues the oldest queued slot of an entry whose previous task has ended, while `fence` holds; true when one
    /// is still queued after it, for the manager to look again soon.
    func enqueueQueued(_ entry: CronEntry, fence: Fence?) async throws -> Bool {
        let condition: SQL = fence?.condition ?? "TRUE"
        return try await connection.transaction { connection in
            let state = try await Self.lock(entry.name, on: connection)
            guard state.queued else { return false }
            // Slots queued before a pause still run: the pause skips the slots that come after it.
            guard !state.busy else { return true }
            // The two oldest: the first is enqueued, the second says whether one still waits after it.
            let oldest = try await connection.query(
                """
                SELECT slot FROM scheduler_cron_slot WHERE name = \(entry.name) AND status = 'queued' AND \(condition)
                ORDER BY slot LIMIT 2
                """)
            guard let slot = try oldest.first?.decode(Date.self, "slot") else { return false }
            try await Self.enqueue(entry, slot: slot, on: connection)
            try await connection.execute(
                "UPDATE scheduler_cron_slot SET status = 'enqueued' WHERE name = \(entry.name) AND slot = \(slot)")
            return oldest.count > 1
        }
    }

    /// Adds a manual slot now and enqueues its task, whatever the pause and the overlap rule say: an operator asked
    /// for it (`pgdaemon cron run`). Once in the cluster, as every slot. Returns the task's id.
    public func runNow(_ entry: CronEntry, node: String) async throws -> Int64 {
        try await connection.transaction { connection in
            _ = try await Self.lock(entry.name, on: connection)
            let slot = try await connection.query(
                """
                INSERT INTO scheduler_cron_slot (name, slot, status, node) VALUES (\(entry.name), now(), 'manual', \(node))
                RETURNING slot
                """)[0].decode(Date.self, "slot")
            return try await Self.enqueue(entry, slot: slot, on: connection)
        }
    }

    /// Pauses or resumes an entry: while paused its slots are recorded as skipped. False when no entry has the name.
    public func setPaused(_ paused: Bool, _ name: String) async throws -> Bool {
        try await connection.execute(
            """
            UPDATE scheduler_recurrent_task
            SET paused_at = CASE WHEN \(paused) THEN coalesce(paused_at, now()) END WHERE name = \(name)
            """) == 1
    }

    /// An entry as `pgdaemon cron list` shows it.
    public struct Summary: Sendable, Encodable, Equatable {
        public var name: String
        public var schedule: String
        public var timezone: String
        public var taskType: String
        public var overlap: String
        public var pausedAt: Date?
        public var lastSlot: Date?
        public var lastStatus: String?
        public var nextSlot: Date?
        /// Slots waiting for the previous task (overlap queue).
        public var queuedSlots: Int
    }

    /// Every registered entry, by name.
    public func list() async throws -> [Summary] {
        try await connection.query(
            """
            SELECT r.name, r.schedule, r.timezone, r.task_type, r.overlap, r.paused_at, r.last_execution_time,
                   r.last_status, r.next_execution_time,
                   (SELECT count(*) FROM scheduler_cron_slot AS s WHERE s.name = r.name AND s.status = 'queued') AS queued
            FROM scheduler_recurrent_task AS r ORDER BY r.name
            """
        ).map { row in
            Summary(
                name: try row.decode(String.self, "name"), schedule: try row.decode(String.self, "schedule"),
                timezone: try row.decode(String.self, "timezone"), taskType: try row.decode(String.self, "task_type"),
                overlap: try row.decode(String.self, "overlap"), pausedAt: try row.decode(Date?.self, "paused_at"),
                lastSlot: try row.decode(Date?.self, "last_execution_time"),
                lastStatus: try row.decode(String?.self, "last_status"),
                nextSlot: try row.decode(Date?.self, "next_execution_time"),
                queuedSlots: try row.decode(Int.self, "queued"))
        }
    }

    /// What a slot becomes, with why when it is skipped.
    private static func status(of entry: CronEntry, missed: Bool, _ state: EntryState) -> (String, String?) {
        if missed { return ("skipped", "missed") }
        if state.paused { return ("skipped", "paused") }
        switch entry.overlap {
        case .skip where state.busy: return ("skipped", "overlap")
        case .queue where state.busy || state.queued: return ("queued", nil)
        default: return ("enqueued", nil)
        }
    }

    /// An entry's state, read under its row lock.
    private typealias EntryState = (paused: Bool, busy: Bool, queued: Bool)

    /// Locks the entry's row and reads its state: paused, its previous task still waiting or running (busy), and
    /// slots of it queued.
    private static func lock(_ name: String, on connection: Connection) async throws -> EntryState {
        let rows = try await connection.query(
            """
            SELECT r.paused_at IS NOT NULL AS paused,
                   r.last_task_id IS NOT NULL
                   AND (EXISTS (SELECT 1 FROM scheduler_task AS t WHERE t.id = r.last_task_id)
                        OR EXISTS (SELECT 1 FROM scheduler_future_task AS f WHERE f.id = r.last_task_id)) AS busy,
                   EXISTS (SELECT 1 FROM scheduler_cron_slot AS s WHERE s.name = r.name AND s.status = 'queued') AS queued
            FROM scheduler_recurrent_task AS r WHERE r.name = \(name) FOR UPDATE OF r
            """)
        guard let row = rows.first else { throw CronEntryMissing(name: name) }
        return (
            try row.decode(Bool.self, "paused"), try row.decode(Bool.self, "busy"), try row.decode(Bool.self, "queued")
        )
    }

    /// Enqueues the entry's task for the slot and records it as the slot's task and the entry's last one, which the
    /// overlap rule and `updateLastStatus` look at.
    @discardableResult
    private static func enqueue(_ entry: CronEntry, slot: Date, on connection: Connection) async throws -> Int64 {
        let taskID = try await TaskQueue(connection: connection).add(
            NewTask(
                type: entry.taskType, dataJSON: entry.taskDataJSON, name: entry.name, priority: entry.priority,
                executionTime: slot, maxAttempts: entry.maxAttempts, queue: entry.queue))
        try await connection.execute(
            "UPDATE scheduler_cron_slot SET task_id = \(taskID) WHERE name = \(entry.name) AND slot = \(slot)")
        try await connection.execute(
            "UPDATE scheduler_recurrent_task SET last_task_id = \(taskID) WHERE name = \(entry.name)")
        return taskID
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

/// A cron entry that `scheduler_recurrent_task` does not hold: no cron manager registered it yet.
public struct CronEntryMissing: Error, CustomStringConvertible {
    public var name: String
    public var description: String {
        "No cron entry \(name) is registered; a cron manager registers the configuration's entries when it starts."
    }
}
