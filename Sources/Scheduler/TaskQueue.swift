public import Postgres

/// Enqueues tasks from Swift, through the same `scheduler_task_add` function that plain SQL callers use, so every
/// path obeys the same validation and unique-key rules.
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
                                      \(task.uniqueKey), \(task.executionTime)::timestamptz, \(task.maxAttempts)::int4) AS id
            """)[0].decode(Int64.self, "id")
    }
}
