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

    /// Makes `scheduler_recurrent_task` hold exactly `entries`, keeping the runs recorded for those still configured,
    /// and shows each one's next slot from now (`next`, in the entries' order; the manager's first look corrects
    /// those with missed slots). One statement for them all: a manager with 10,000 entries starts in well under a
    /// second.
    func register(_ entries: [CronEntry], next: [Date?]) async throws {
        let rows = try PostgresJSON(
            zip(entries, next).map {
                RegisteredEntry(
                    name: $0.name, schedule: $0.schedule.expression, timezone: $0.timeZoneIdentifier,
                    taskType: $0.taskType, catchUp: $0.catchUp.rawValue, overlap: $0.overlap.rawValue,
                    next: $1?.timeIntervalSince1970)
            })
        try await connection.transaction { connection in
            try await connection.execute(
                """
                INSERT INTO scheduler_recurrent_task AS r (name, schedule, timezone, task_type, catch_up, overlap,
                                                           next_execution_time)
                SELECT name, schedule, timezone, task_type, catch_up, overlap, to_timestamp(next)
                FROM jsonb_to_recordset(\(rows)::jsonb)
                    AS e(name text, schedule text, timezone text, task_type text, catch_up text, overlap text,
                         next float8)
                ON CONFLICT (name) DO UPDATE
                SET schedule = EXCLUDED.schedule, timezone = EXCLUDED.timezone, task_type = EXCLUDED.task_type,
                    catch_up = EXCLUDED.catch_up, overlap = EXCLUDED.overlap,
                    next_execution_time = EXCLUDED.next_execution_time
                """)
            try await connection.execute(
                """
                DELETE FROM scheduler_recurrent_task
                WHERE name NOT IN (SELECT name FROM jsonb_to_recordset(\(rows)::jsonb) AS e(name text))
                """)
        }
    }

    /// An entry's row in `scheduler_recurrent_task`, as `register` writes it; `next` as in `NextSlot`.
    private struct RegisteredEntry: Codable, Sendable {
        var name, schedule, timezone, taskType, catchUp, overlap: String
        var next: Double?

        enum CodingKeys: String, CodingKey {
            case name, schedule, timezone, overlap
            case taskType = "task_type"
            case catchUp = "catch_up"
        }
    }

    /// What the manager reads of an entry before it looks for due slots.
    struct EntrySlots: Sendable {
        /// The last slot recorded, run or skipped.
        var last: Date?
        /// The next slot, as shown.
        var next: Date?
        /// Slots of it wait for the previous task (overlap queue).
        var queued: Bool
    }

    /// Every registered entry's slots, by name, in one statement.
    func entrySlots() async throws -> [String: EntrySlots] {
        var slots: [String: EntrySlots] = [:]
        for row in try await connection.query(
            """
            SELECT r.name, r.last_execution_time, r.next_execution_time,
                   EXISTS (SELECT 1 FROM scheduler_cron_slot AS s WHERE s.name = r.name AND s.status = 'queued') AS queued
            FROM scheduler_recurrent_task AS r
            """)
        {
            slots[try row.decode(String.self, "name")] = EntrySlots(
                last: try row.decode(Date?.self, "last_execution_time"),
                next: try row.decode(Date?.self, "next_execution_time"), queued: try row.decode(Bool.self, "queued"))
        }
        return slots
    }

    /// Shows the entries' next slots, in one statement.
    func setNextSlots(_ slots: [String: Date]) async throws {
        guard !slots.isEmpty else { return }
        let rows = try PostgresJSON(slots.map { NextSlot(name: $0.key, next: $0.value.timeIntervalSince1970) })
        try await connection.execute(
            """
            UPDATE scheduler_recurrent_task AS r SET next_execution_time = to_timestamp(e.next)
            FROM jsonb_to_recordset(\(rows)::jsonb) AS e(name text, next float8) WHERE r.name = e.name
            """)
    }

    /// An entry's next slot, in seconds since 1970 (a whole second: to_timestamp keeps it exact).
    private struct NextSlot: Codable, Sendable {
        var name: String
        var next: Double
    }

    /// A slot of an entry whose time has come. `missed`: past the tolerance, and catch_up does not run it.
    struct DueSlot: Sendable {
        var entry: CronEntry
        var slot: Date
        var missed: Bool
    }

    /// Records the slots, in one transaction, only while `fence` holds and only where no one recorded the slot
    /// before: so a slot runs once in the cluster. The entries' rows are locked first, in name order; a slot not
    /// after its entry's last one, as read under the lock, was recorded meanwhile and is left out. A `missed` slot,
    /// and any while the entry is paused, is skipped; while the entry's previous task still waits or runs, `overlap`
    /// decides: skipped, queued (enqueued later by `enqueueQueued`), or enqueued anyway. All the slots' tasks go in
    /// with one `scheduler_task_add_many`: 10,000 entries due at once cost a few statements, not 10,000 transactions.
    ///
    /// `beforeCommit` runs when the batch is ready: for a batch prepared ahead it waits for the slots' time, so that
    /// their tasks appear when it comes, and says whether to commit. False, or a fence lost meanwhile, rolls the batch
    /// back as if it had never been prepared: a kill at any point does the same. Returns how long the batch took until
    /// it was ready, or nil when nothing was committed.
    func record(
        _ due: [DueSlot], fence: Fence?, node: String, beforeCommit: @escaping @Sendable () async throws -> Bool
    ) async throws -> Duration? {
        guard !due.isEmpty else { return nil }
        let condition: SQL = fence?.condition ?? "TRUE"
        let start = ContinuousClock.now
        do {
            return try await connection.transaction { connection in
                try await Self.prepare(due, condition: condition, fence: fence, node: node, on: connection)
                let prepared = start.duration(to: .now)
                guard try await beforeCommit(),
                    try await connection.query("SELECT \(condition) AS holds")[0].decode(Bool.self, "holds")
                else { throw Withdrawn() }
                return prepared
            }
        } catch is Withdrawn {
            return nil
        }
    }

    /// Rolls back a batch that is not to be committed.
    private struct Withdrawn: Error {}

    /// Writes `record`'s batch in its transaction.
    private static func prepare(
        _ due: [DueSlot], condition: SQL, fence: Fence?, node: String, on connection: isolated Connection
    ) async throws {
        var states = try await Self.lock(Set(due.map(\.entry.name)), on: connection)
        var rows: [SlotRow] = []
        for slot in due {
            guard var state = states[slot.entry.name], state.last.map({ slot.slot > $0 }) ?? true else { continue }
            let (status, reason) = Self.status(of: slot.entry, missed: slot.missed, state)
            // The entry's later slots in this batch see what this one did, as they would one transaction on.
            state.last = slot.slot
            state.busy = state.busy || status == "enqueued"
            state.queued = state.queued || status == "queued"
            states[slot.entry.name] = state
            rows.append(
                SlotRow(index: rows.count, entry: slot.entry, slot: slot.slot, status: status, reason: reason))
        }
        let recorded = Set(
            try await connection.query(
                """
                WITH e AS (
                    SELECT * FROM jsonb_to_recordset(\(try PostgresJSON(rows))::jsonb)
                        AS e(index integer, name text, slot timestamptz, status text, reason text)
                ), inserted AS (
                    INSERT INTO scheduler_cron_slot (name, slot, status, reason, epoch, node)
                    SELECT name, slot, status, reason, \(fence?.epoch)::bigint, \(node)::text FROM e
                    WHERE \(condition)
                    ON CONFLICT (name, slot) DO NOTHING
                    RETURNING name, slot
                )
                SELECT e.index FROM e JOIN inserted USING (name, slot)
                """
            ).map { try $0.decode(Int.self, "index") })
        rows.removeAll { !recorded.contains($0.index) }
        try await Self.enqueue(rows.filter { $0.status == "enqueued" }, on: connection)
        try await connection.execute(
            """
            UPDATE scheduler_recurrent_task AS r SET last_execution_time = e.slot, last_status = e.status
            FROM (SELECT DISTINCT ON (name) name, slot, status
                  FROM jsonb_to_recordset(\(try PostgresJSON(rows))::jsonb) AS e(name text, slot timestamptz, status text)
                  ORDER BY name, slot DESC) AS e
            WHERE r.name = e.name
            """)
    }

    /// A slot as `record` and `enqueue` write it, with its entry's task; `index` is its place in the batch.
    private struct SlotRow: Codable, Sendable {
        var index: Int
        var name: String
        /// The slot as the server writes it (`PostgresTimestamp`), so that it compares equal to the stored one.
        var slot: String
        var status: String
        var reason: String?
        var taskType: String
        var taskData: String
        var priority: Int
        var maxAttempts: Int
        var queue: String

        init(index: Int, entry: CronEntry, slot: Date, status: String, reason: String? = nil) {
            self.index = index
            name = entry.name
            self.slot = PostgresTimestamp.format(slot)
            self.status = status
            self.reason = reason
            taskType = entry.taskType
            taskData = entry.taskDataJSON
            priority = entry.priority
            maxAttempts = entry.maxAttempts
            queue = entry.queue
        }

        enum CodingKeys: String, CodingKey {
            case index, name, slot, status, reason, priority, queue
            case taskType = "task_type"
            case taskData = "task_data"
            case maxAttempts = "max_attempts"
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
            try await Self.enqueue([SlotRow(index: 0, entry: entry, slot: slot, status: "enqueued")], on: connection)
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
            return try await Self.enqueue(
                [SlotRow(index: 0, entry: entry, slot: slot, status: "manual")], on: connection)[0]
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
        /// How long the last slot's task ran, in milliseconds.
        public var lastDurationMilliseconds: Int64?
        public var nextSlot: Date?
        /// Slots waiting for the previous task (overlap queue).
        public var queuedSlots: Int

        /// Its overlap rule, with the slots queued behind the running task: `queue (2 queued)`.
        public var overlapText: String { queuedSlots > 0 ? "\(overlap) (\(queuedSlots) queued)" : overlap }
    }

    /// Every registered entry, by name.
    public func list() async throws -> [Summary] {
        try await connection.query(
            """
            SELECT r.name, r.schedule, r.timezone, r.task_type, r.overlap, r.paused_at, r.last_execution_time,
                   r.last_status, r.last_duration_ms, r.next_execution_time,
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
                lastDurationMilliseconds: try row.decode(Int64?.self, "last_duration_ms"),
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

    /// An entry's state, read under its row lock: paused, its previous task still waiting or running (busy), slots
    /// of it queued, and its last slot.
    private struct EntryState {
        var paused: Bool
        var busy: Bool
        var queued: Bool
        var last: Date?
    }

    /// Locks the entry's row and reads its state.
    private static func lock(_ name: String, on connection: Connection) async throws -> EntryState {
        guard let state = try await lock([name], on: connection)[name] else { throw CronEntryMissing(name: name) }
        return state
    }

    /// Locks the entries' rows, in name order so that two lockers never wait for each other, and reads their states.
    private static func lock(_ names: Set<String>, on connection: Connection) async throws -> [String: EntryState] {
        var states: [String: EntryState] = [:]
        for row in try await connection.query(
            """
            SELECT r.name, r.paused_at IS NOT NULL AS paused, r.last_execution_time,
                   r.last_task_id IS NOT NULL
                   AND (EXISTS (SELECT 1 FROM scheduler_task AS t WHERE t.id = r.last_task_id)
                        OR EXISTS (SELECT 1 FROM scheduler_future_task AS f WHERE f.id = r.last_task_id)) AS busy,
                   EXISTS (SELECT 1 FROM scheduler_cron_slot AS s WHERE s.name = r.name AND s.status = 'queued') AS queued
            FROM scheduler_recurrent_task AS r
            WHERE r.name IN (SELECT jsonb_array_elements_text(\(try PostgresJSON(Array(names)))::jsonb))
            ORDER BY r.name FOR UPDATE OF r
            """)
        {
            states[try row.decode(String.self, "name")] = EntryState(
                paused: try row.decode(Bool.self, "paused"), busy: try row.decode(Bool.self, "busy"),
                queued: try row.decode(Bool.self, "queued"), last: try row.decode(Date?.self, "last_execution_time"))
        }
        return states
    }

    /// Enqueues the slots' tasks with one `scheduler_task_add_many` and records each as its slot's task and its
    /// entry's last one, which the overlap rule and `updateLastStatus` look at. Returns the tasks' ids in order.
    /// The tasks go to the ready table even for a batch prepared ahead of its slots, due when it commits, with their
    /// slot as the time they were due (an execution_time would send them to the future table).
    @discardableResult
    private static func enqueue(_ slots: [SlotRow], on connection: Connection) async throws -> [Int64] {
        guard !slots.isEmpty else { return [] }
        let rows = try PostgresJSON(slots)
        let ids = try await connection.query(
            """
            SELECT unnest(scheduler_task_add_many(jsonb_agg(jsonb_build_object(
                       'task_type', task_type, 'task_data', task_data::jsonb, 'name', name, 'priority', priority,
                       'max_attempts', max_attempts, 'queue', queue) ORDER BY index))) AS id
            FROM jsonb_to_recordset(\(rows)::jsonb) AS e(index integer, name text, slot timestamptz, task_type text,
                                                         task_data text, priority integer, max_attempts integer,
                                                         queue text)
            """
        ).map { try $0.decode(Int64.self, "id") }
        let tasks = try PostgresJSON(zip(slots, ids).map { SlotTask(name: $0.name, slot: $0.slot, task: $1) })
        try await connection.execute(
            """
            WITH e AS (SELECT * FROM jsonb_to_recordset(\(tasks)::jsonb) AS e(name text, slot timestamptz, task bigint)),
            slots AS (UPDATE scheduler_cron_slot AS s SET task_id = e.task FROM e WHERE s.name = e.name AND s.slot = e.slot),
            tasks AS (UPDATE scheduler_task AS t SET scheduled_for = e.slot FROM e WHERE t.id = e.task)
            UPDATE scheduler_recurrent_task AS r SET last_task_id = e.task
            FROM (SELECT DISTINCT ON (name) name, task FROM e ORDER BY name, slot DESC) AS e
            WHERE r.name = e.name
            """)
        return ids
    }

    /// A slot's task, as `enqueue` records it.
    private struct SlotTask: Codable, Sendable {
        var name: String
        var slot: String
        var task: Int64
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
