import Postgres

/// The future task manager's SQL: when the next future task is due, and the move of due ones into the queue.
struct FutureTaskStore: Sendable {
    let connection: Connection
    /// The insert into the queue, from the `due` rows of `moveDue`.
    private let dueInsert: String

    init(connection: Connection, columns: TaskColumns) {
        self.connection = connection
        dueInsert = columns.insert(
            into: .ready, from: .future, alias: "due",
            setting: ["scheduled_for": "coalesce(scheduled_for, execution_time)"])
    }

    /// Seconds until the earliest future task is due, by the database clock (negative when one is overdue); `nil` when
    /// there is none.
    func secondsUntilNextDue() async throws -> Double? {
        try await connection.query(
            "SELECT extract(epoch FROM min(execution_time) - clock_timestamp())::float8 AS wait FROM scheduler_future_task"
        )[0].decode(Double?.self, "wait")
    }

    /// Moves up to `limit` due tasks, earliest first, into the queue in one statement and returns how many moved.
    /// Their `scheduled_for` keeps when they were first due (a retry's), or becomes their execution time.
    func moveDue(limit: Int) async throws -> Int {
        try await connection.execute(
            """
            WITH due AS (
                DELETE FROM scheduler_future_task
                WHERE id IN (SELECT id FROM scheduler_future_task WHERE execution_time <= clock_timestamp()
                             ORDER BY execution_time LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING *
            )
            \(unsafeSQL: dueInsert) FROM due
            """)
    }
}
