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

        /// The conditions on the columns both listings have, every value bound.
        fileprivate var conditions: SQL {
            var sql: SQL = "TRUE"
            if let queue { sql = "\(sql) AND queue = \(queue)" }
            if let type { sql = "\(sql) AND task_type = \(type)" }
            if let name { sql = "\(sql) AND name = \(name)" }
            return sql
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

    /// Up to `limit` unfinished tasks that `filter` selects: running ones first, then by priority, then oldest.
    public func waiting(matching filter: Filter, limit: Int) async throws -> [WaitingTask] {
        var conditions = filter.conditions
        if let state = filter.state { conditions = "\(conditions) AND state = \(state)" }
        if let key = filter.key { conditions = "\(conditions) AND (concurrency_key = \(key) OR unique_key = \(key))" }
        return try await connection.query(
            """
            SELECT * FROM (\(Self.waiting)) AS tasks WHERE \(conditions)
            ORDER BY state <> 'running', priority, id LIMIT \(limit)
            """
        ).map(Self.waitingTask)
    }

    /// Up to `limit` finished attempts that `filter` selects, the latest first; `statuses`, when given, in place of
    /// the filter's state, and only those of the last `window` when given.
    public func finished(
        matching filter: Filter, statuses: [String]? = nil, within window: Duration? = nil, limit: Int
    ) async throws -> [FinishedAttempt] {
        var conditions = filter.conditions
        if let statuses {
            conditions =
                "\(conditions) AND status IN (SELECT jsonb_array_elements_text(\(try PostgresJSON(statuses))::jsonb))"
        } else if let state = filter.state {
            conditions = "\(conditions) AND status = \(state)"
        }
        if let key = filter.key { conditions = "\(conditions) AND concurrency_key = \(key)" }
        if let window {
            conditions =
                "\(conditions) AND finished_at > now() - \(Double(window.components.seconds)) * interval '1 second'"
        }
        return try await connection.query(
            """
            SELECT task_id, name, task_type, queue, status, attempts, node, finished_at, error
            FROM scheduler_task_history WHERE \(conditions) ORDER BY finished_at DESC LIMIT \(limit)
            """
        ).map { row in
            FinishedAttempt(
                taskID: try row.decode(Int64.self, "task_id"), name: try row.decode(String?.self, "name"),
                type: try row.decode(String.self, "task_type"), queue: try row.decode(String.self, "queue"),
                status: try row.decode(String.self, "status"), attempts: try row.decode(Int.self, "attempts"),
                node: try row.decode(String?.self, "node"), finishedAt: try row.decode(Date.self, "finished_at"),
                error: try row.decode(String?.self, "error"))
        }
    }
}
