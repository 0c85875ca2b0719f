public import Foundation
public import Postgres

/// The task tables as a program sees them: enqueue, list, show, retry and delete, for the command line, a team's own
/// code and tests alike. Enqueuing goes through the same `scheduler_task_add` function that plain SQL callers use, so
/// every path obeys the same validation and unique-key rules.
public struct TaskQueue: Sendable {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Enqueues a task and returns its id (a pending task's id when `uniqueKey` matched one).
    @discardableResult
    public func add(_ task: NewTask) async throws -> Int64 {
        try await connection.query(
            """
            SELECT scheduler_task_add(\(task.type), \(task.dataJSON)::jsonb, \(task.name), \(task.priority)::int4,
                                      \(task.uniqueKey),
                                      coalesce(now() + \(task.delay.map { $0 / .seconds(1) })::float8 * interval '1 s',
                                               \(task.executionTime)::timestamptz),
                                      \(task.maxAttempts)::int4, \(task.queue), \(task.concurrencyKey)) AS id
            """)[0].decode(Int64.self, "id")
    }

    /// Enqueues task objects (`scheduler_task_add`'s argument names as keys, as JSON text) in one statement, through
    /// `scheduler_task_add_many`, and returns their ids in order.
    public func add(manyJSON tasks: String) async throws -> [Int64] {
        try await connection.query(
            """
            SELECT id FROM unnest(scheduler_task_add_many(\(tasks)::jsonb)) WITH ORDINALITY AS added(id, n)
            ORDER BY n
            """
        ).map { try $0.decode(Int64.self, "id") }
    }

    /// A task that has not finished, wherever it waits: ready, running or future.
    public struct WaitingTask: Sendable, Encodable {
        public enum State: String, Sendable, Encodable {
            case ready, running, future
        }

        public var id: Int64
        public var name: String?
        public var type: String
        public var queue: String
        public var state: State
        public var priority: Int
        public var attempts: Int
        public var maxAttempts: Int
        /// The node running it.
        public var node: String?
        /// When it is or was due: a future task's execution time, a ready one's scheduled time.
        public var due: Date?
        public var created: Date
        /// Its data as JSON text.
        public var data: String
        /// The error of its previous attempt.
        public var lastError: String?
    }

    /// One finished attempt of a task, from history.
    public struct Attempt: Sendable, Encodable {
        public var type: String
        public var name: String?
        public var queue: String
        /// The task's data as JSON text, as history kept it.
        public var data: String?
        public var status: String
        public var attempts: Int
        public var node: String?
        public var startedAt: Date?
        public var finishedAt: Date
        public var error: String?
        /// What the attempt printed.
        public var output: String?
    }

    /// The columns of a listed task, from `scheduler_task`.
    static let taskColumns: SQL = """
        id, name, task_type, queue, CASE WHEN lock_key IS NULL THEN 'ready' ELSE 'running' END AS state,
        priority, attempts, max_attempts, lock_node AS node, scheduled_for AS due, create_time,
        task_data::text AS data, last_error, concurrency_key, unique_key
        """

    /// The same columns from `scheduler_future_task`.
    static let futureColumns: SQL = """
        id, name, task_type, queue, 'future' AS state, priority, attempts, max_attempts, NULL::text AS node,
        execution_time AS due, create_time, task_data::text AS data, last_error, concurrency_key, unique_key
        """

    static let waiting: SQL = """
        SELECT \(taskColumns) FROM scheduler_task UNION ALL SELECT \(futureColumns) FROM scheduler_future_task
        """

    /// `NAME(queue)`: the queues that have rows in `table` matching `condition`, one probe of an index that leads
    /// with the queue each (a skip scan: PostgreSQL's planner does not skip by itself), ending with a NULL row. A
    /// `WITH RECURSIVE` clause's member; `name`, `table` and `condition` are the caller's own SQL.
    static func queues(_ name: String, in table: String, where condition: String = "TRUE") -> SQL {
        """
        \(unsafeSQL: name) AS (
            (SELECT queue FROM \(unsafeSQL: table) WHERE \(unsafeSQL: condition) ORDER BY queue LIMIT 1)
            UNION ALL
            SELECT (SELECT t.queue FROM \(unsafeSQL: table) AS t
                    WHERE \(unsafeSQL: condition) AND t.queue > r.queue ORDER BY t.queue LIMIT 1)
            FROM \(unsafeSQL: name) AS r WHERE r.queue IS NOT NULL)
        """
    }

    /// `ready_queues(queue)`: the queues that have ready tasks.
    static let readyQueues = queues("ready_queues", in: "scheduler_task", where: "lock_key IS NULL")

    static func waitingTask(_ row: PostgresRow) throws -> WaitingTask {
        WaitingTask(
            id: try row.decode(Int64.self, "id"), name: try row.decode(String?.self, "name"),
            type: try row.decode(String.self, "task_type"), queue: try row.decode(String.self, "queue"),
            state: WaitingTask.State(rawValue: try row.decode(String.self, "state")) ?? .ready,
            priority: try row.decode(Int.self, "priority"), attempts: try row.decode(Int.self, "attempts"),
            maxAttempts: try row.decode(Int.self, "max_attempts"), node: try row.decode(String?.self, "node"),
            due: try row.decode(Date?.self, "due"), created: try row.decode(Date.self, "create_time"),
            data: try row.decode(String.self, "data"), lastError: try row.decode(String?.self, "last_error"))
    }

    /// Up to `limit` unfinished tasks: running ones first, then by priority, then oldest.
    public func waiting(limit: Int) async throws -> [WaitingTask] {
        try await connection.query(
            "SELECT * FROM (\(Self.waiting)) AS tasks ORDER BY state <> 'running', priority, id LIMIT \(limit)"
        ).map(Self.waitingTask)
    }

    /// The task with this id while it has not finished.
    public func waitingTask(id: Int64) async throws -> WaitingTask? {
        try await connection.query("SELECT * FROM (\(Self.waiting)) AS tasks WHERE id = \(id)").first.map(
            Self.waitingTask)
    }

    /// The task's finished attempts, oldest first.
    public func history(of id: Int64) async throws -> [Attempt] {
        try await connection.query(
            """
            SELECT task_type, name, queue, task_data::text AS data, status, attempts, node, started_at, finished_at,
                   error, output
            FROM scheduler_task_history WHERE task_id = \(id) ORDER BY id
            """
        ).map { row in
            Attempt(
                type: try row.decode(String.self, "task_type"), name: try row.decode(String?.self, "name"),
                queue: try row.decode(String.self, "queue"), data: try row.decode(String?.self, "data"),
                status: try row.decode(String.self, "status"), attempts: try row.decode(Int.self, "attempts"),
                node: try row.decode(String?.self, "node"), startedAt: try row.decode(Date?.self, "started_at"),
                finishedAt: try row.decode(Date.self, "finished_at"), error: try row.decode(String?.self, "error"),
                output: try row.decode(String?.self, "output"))
        }
    }

    /// What `retry` did.
    public enum Retried: Sendable, Equatable {
        /// A waiting retry (a future task) is due now.
        case dueNow
        /// A failed or cancelled task was enqueued anew under this id.
        case enqueued(Int64)
        /// No failed, cancelled or future task has the id.
        case notFound
    }

    /// Runs a task again: a future one becomes due now; the last failed or cancelled attempt in history is enqueued
    /// anew, with every column history kept of it (a new id, attempts from 0).
    public func retry(_ id: Int64) async throws -> Retried {
        if try await connection.execute("UPDATE scheduler_future_task SET execution_time = now() WHERE id = \(id)") == 1
        {
            return .dueNow
        }
        let insert = try await TaskColumns.read(on: connection).insert(
            into: .ready, from: .history, alias: "h", omitting: ["create_time", "scheduled_for", "attempts"])
        let row = try await connection.query(
            """
            \(unsafeSQL: insert)
            FROM (SELECT * FROM scheduler_task_history WHERE task_id = \(id) AND status IN ('failed', 'cancelled')
                  ORDER BY id DESC LIMIT 1) AS h
            RETURNING id
            """
        ).first
        return try row.map { .enqueued(try $0.decode(Int64.self, "id")) } ?? .notFound
    }

    /// What `delete` did.
    public enum Deleted: Sendable, Equatable {
        case deleted
        /// The task runs on this node; a running task is not deleted.
        case running(node: String?)
        case notFound
    }

    /// Deletes a waiting (ready or future) task, recording it in history as cancelled: `scheduler_task_cancel` on a
    /// task whose row this transaction has locked while it waits, so a worker cannot claim it in between.
    public func delete(_ id: Int64) async throws -> Deleted {
        let deleted = try await connection.transaction { connection in
            var waiting = try await connection.query(
                "SELECT 1 FROM scheduler_task WHERE id = \(id) AND lock_key IS NULL FOR UPDATE")
            if waiting.isEmpty {
                waiting = try await connection.query("SELECT 1 FROM scheduler_future_task WHERE id = \(id) FOR UPDATE")
            }
            guard !waiting.isEmpty else { return false }
            return try await connection.query("SELECT scheduler_task_cancel(\(id)) AS done")[0].decode(
                Bool.self, "done")
        }
        if deleted { return .deleted }
        let running = try await connection.query(
            "SELECT lock_node FROM scheduler_task WHERE id = \(id) AND lock_key IS NOT NULL")
        return try running.first.map { .running(node: try $0.decode(String?.self, "lock_node")) } ?? .notFound
    }

    /// What `cancel` did.
    public enum Cancelled: Sendable, Equatable {
        /// The task was waiting; it left the queue.
        case removed
        /// The task runs on this node, whose worker stops it and records it as cancelled.
        case stopping(node: String?)
        case notFound
    }

    /// Cancels a task through `scheduler_task_cancel` (sql/0017).
    public func cancel(_ id: Int64) async throws -> Cancelled {
        let rows = try await connection.query(
            """
            WITH cancelled AS (SELECT scheduler_task_cancel(\(id)) AS done)
            SELECT c.done, (SELECT lock_node FROM scheduler_task WHERE id = \(id) AND c.done) AS node FROM cancelled AS c
            """)
        guard try rows[0].decode(Bool.self, "done") else { return .notFound }
        let node = try rows[0].decode(String?.self, "node")
        return node == nil ? .removed : .stopping(node: node)
    }
}
