public import Foundation
import Postgres

extension TaskQueue {
    /// Which tasks a listing shows: each field set narrows it; none set shows every unfinished task.
    public struct Filter: Sendable, Equatable {
        /// An unfinished task's state (`ready`, `running`, `future`) or a finished attempt's status in history
        /// (`done`, `failed`, `retried`, `cancelled`, `rescued`).
        public var state: String?
        public var queue: String?
        public var type: String?
        public var name: String?
        /// The task's concurrency key, or its unique key.
        public var key: String?

        public static let waitingStates = ["ready", "running", "future"]
        public static let finishedStates = ["done", "failed", "retried", "cancelled", "rescued"]
        public static let states = waitingStates + finishedStates

        public init(
            state: String? = nil, queue: String? = nil, type: String? = nil, name: String? = nil,
            key: String? = nil
        ) {
            self.state = state
            self.queue = queue
            self.type = type
            self.name = name
            self.key = key
        }

        /// Whether it lists finished attempts from history rather than the task tables.
        public var isFinished: Bool { state.map(Self.finishedStates.contains) ?? false }

        /// How deep a search by type, name or key reads: no index has those columns in a listing's order, so each
        /// part of a listing (each queue's ready tasks in the order they run, the running, the future ones, the
        /// attempts of a status in history) is searched among its first this many rows. Indexes for them would cost
        /// every enqueue and claim; this costs a page at most a few tens of milliseconds.
        public static let searchDepth = 10_000

        /// Whether it searches by type, name or key, within `searchDepth`.
        public var searches: Bool { type != nil || name != nil || key != nil }

        /// The queue, as the listings' indexes lead with it.
        fileprivate var queueCondition: SQL { queue.map { "queue = \($0)" } ?? "TRUE" }

        /// The type, name and key (`keyColumns`: those a task may carry it in), every value bound.
        fileprivate func searched(keyColumns: [String]) -> SQL {
            var sql: SQL = "TRUE"
            if let type { sql = "\(sql) AND task_type = \(type)" }
            if let name { sql = "\(sql) AND name = \(name)" }
            if let key {
                let matches = keyColumns.map { column -> SQL in "\(unsafeSQL: column) = \(key)" }
                sql = "\(sql) AND (\(matches.dropFirst().reduce(matches[0]) { "\($0) OR \($1)" }))"
            }
            return sql
        }

        /// `SELECT * FROM (scan) AS scanned WHERE …` when it searches: the scan cut at `searchDepth` rows, then
        /// searched; else the scan as it is. `scan` ends with its ORDER BY and has no LIMIT.
        fileprivate func searching(_ scan: SQL, keyColumns: [String], limit: Int) -> SQL {
            guard searches else { return "\(scan) LIMIT \(limit)" }
            return """
                SELECT * FROM (\(scan) LIMIT \(Self.searchDepth)) AS scanned
                WHERE \(searched(keyColumns: keyColumns)) LIMIT \(limit)
                """
        }
    }

    /// One finished attempt with the task it belonged to, for a listing of history.
    public struct FinishedAttempt: Sendable, Encodable {
        public var taskID: Int64
        public var name: String?
        public var type: String
        public var queue: String
        public var status: String
        public var attempts: Int
        public var node: String?
        public var finishedAt: Date
        public var error: String?
    }

    /// Up to `limit` unfinished tasks that `filter` selects: running ones first, then the ready ones in the order the
    /// workers take them (priority, then age), then the future ones by due time.
    ///
    /// Each part reads its own index in that order and stops at `limit`: the ready part queue by queue (the index
    /// leads with the queue) and merges them, so a listing of a million waiting tasks reads a few hundred rows. A
    /// filter by name, type or key reads on until it has found `limit` of them.
    public func waiting(matching filter: Filter, limit: Int) async throws -> [WaitingTask] {
        let queue = filter.queueCondition
        let keys = ["concurrency_key", "unique_key"]
        var parts: [SQL] = []
        if filter.state == nil || filter.state == "running" {
            let scan: SQL = """
                SELECT \(Self.taskColumns), 0 AS part FROM scheduler_task
                WHERE lock_key IS NOT NULL AND \(queue) ORDER BY priority, id
                """
            parts.append("(\(filter.searching(scan, keyColumns: keys, limit: limit)))")
        }
        if filter.state == nil || filter.state == "ready" {
            let scan: SQL = """
                SELECT \(Self.taskColumns), 1 AS part FROM scheduler_task
                WHERE queue = q.queue AND lock_key IS NULL AND \(queue) ORDER BY queue, priority, id
                """
            parts.append(
                """
                (SELECT tasks.* FROM ready_queues AS q
                 CROSS JOIN LATERAL (\(filter.searching(scan, keyColumns: keys, limit: limit))) AS tasks
                 WHERE q.queue IS NOT NULL)
                """)
        }
        if filter.state == nil || filter.state == "future" {
            let scan: SQL = """
                SELECT \(Self.futureColumns), 2 AS part FROM scheduler_future_task WHERE \(queue)
                ORDER BY execution_time
                """
            parts.append("(\(filter.searching(scan, keyColumns: keys, limit: limit)))")
        }
        guard let first = parts.first else { return [] }
        let union = parts.dropFirst().reduce(first) { "\($0) UNION ALL \($1)" }
        return try await connection.query(
            """
            WITH RECURSIVE \(Self.readyQueues)
            SELECT * FROM (\(union)) AS tasks
            ORDER BY part, CASE WHEN part < 2 THEN priority END, CASE WHEN part = 2 THEN due END, id LIMIT \(limit)
            """
        ).map(Self.waitingTask)
    }

    /// Up to `limit` finished attempts that `filter` selects, the latest first; `statuses`, when given, in place of
    /// the filter's state, and only those of the last `window` when given.
    public func finished(
        matching filter: Filter, statuses: [String]? = nil, within window: Duration? = nil, limit: Int
    ) async throws -> [FinishedAttempt] {
        var conditions = filter.queueCondition
        if let statuses {
            conditions = "\(conditions) AND \(try Self.status(in: statuses))"
        } else if let state = filter.state {
            conditions = "\(conditions) AND status = \(state)"
        }
        if let window { conditions = "\(conditions) AND \(Self.finished(within: window))" }
        let scan: SQL = """
            SELECT task_id, name, task_type, queue, status, attempts, node, finished_at, error, concurrency_key
            FROM scheduler_task_history WHERE \(conditions) ORDER BY finished_at DESC
            """
        return try await connection.query(
            filter.searching(scan, keyColumns: ["concurrency_key"], limit: limit)
        ).map { row in
            FinishedAttempt(
                taskID: try row.decode(Int64.self, "task_id"), name: try row.decode(String?.self, "name"),
                type: try row.decode(String.self, "task_type"), queue: try row.decode(String.self, "queue"),
                status: try row.decode(String.self, "status"), attempts: try row.decode(Int.self, "attempts"),
                node: try row.decode(String?.self, "node"), finishedAt: try row.decode(Date.self, "finished_at"),
                error: try row.decode(String?.self, "error"))
        }
    }

    /// How many attempts of the last `window` ended with each of `statuses` (those that occurred).
    public func finishedCounts(statuses: [String], within window: Duration) async throws -> [(
        status: String, count: Int
    )] {
        try await connection.query(
            """
            SELECT status, count(*) AS count FROM scheduler_task_history
            WHERE \(Self.finished(within: window)) AND \(try Self.status(in: statuses))
            GROUP BY status ORDER BY status
            """
        ).map { (try $0.decode(String.self, "status"), try $0.decode(Int.self, "count")) }
    }

    /// `status = ANY(…)` with the statuses as an array the planner sees (bound as text, cast), so that the index of
    /// unsuccessful attempts (sql/0023) serves; each must be a status of `Filter.finishedStates`.
    private static func status(in statuses: [String]) throws -> SQL {
        guard statuses.allSatisfy(Filter.finishedStates.contains) else {
            throw PostgresError(.misuse, message: "\(statuses) are not all statuses of finished attempts.")
        }
        return "status = ANY(\("{\(statuses.joined(separator: ","))}")::text[])"
    }

    private static func finished(within window: Duration) -> SQL {
        "finished_at > now() - \(Double(window.components.seconds)) * interval '1 second'"
    }
}
