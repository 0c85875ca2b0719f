public import Foundation
public import Postgres

/// The named queues as a program sees them: their depth and limits, and pause and resume, which every worker hears
/// of at once.
public struct QueueStore: Sendable {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// A queue: what waits and runs in it, whether it is paused, what the configuration set, and what it finished.
    public struct Summary: Sendable, Encodable, Equatable {
        public var name: String
        public var ready: Int
        public var running: Int
        public var future: Int
        public var pausedAt: Date?
        public var perNode: Int?
        public var limit: Int?
        public var keyLimit: Int?
        /// Starts allowed per `ratePeriodSeconds`.
        public var rateCount: Int?
        public var ratePeriodSeconds: Double?
        /// Attempts that ended done or failed in the last minute and hour.
        public var finishedLastMinute: Int
        public var finishedLastHour: Int
    }

    /// Every queue that is configured, paused or has tasks, and `default`, by name.
    public func list() async throws -> [Summary] {
        try await connection.query(
            """
            WITH tasks AS (
                SELECT queue, count(*) FILTER (WHERE lock_key IS NULL) AS ready,
                       count(*) FILTER (WHERE lock_key IS NOT NULL) AS running
                FROM scheduler_task GROUP BY queue
            ), future AS (
                SELECT queue, count(*) AS future FROM scheduler_future_task GROUP BY queue
            ), finished AS (
                SELECT queue, count(*) FILTER (WHERE finished_at > now() - interval '1 minute') AS minute,
                       count(*) AS hour
                FROM scheduler_task_history
                WHERE finished_at > now() - interval '1 hour' AND status IN ('done', 'failed')
                GROUP BY queue
            ), names AS (
                SELECT name FROM scheduler_queue UNION SELECT queue FROM tasks UNION SELECT queue FROM future
                UNION SELECT 'default'
            )
            SELECT n.name, coalesce(t.ready, 0) AS ready, coalesce(t.running, 0) AS running,
                   coalesce(f.future, 0) AS future, q.paused_at, q.per_node, q.max_running, q.key_limit,
                   q.rate_count, extract(epoch FROM q.rate_period)::float8 AS rate_period,
                   coalesce(h.minute, 0) AS minute, coalesce(h.hour, 0) AS hour
            FROM names AS n LEFT JOIN scheduler_queue AS q ON q.name = n.name LEFT JOIN tasks AS t ON t.queue = n.name
            LEFT JOIN future AS f ON f.queue = n.name LEFT JOIN finished AS h ON h.queue = n.name
            ORDER BY n.name
            """
        ).map { row in
            Summary(
                name: try row.decode(String.self, "name"), ready: try row.decode(Int.self, "ready"),
                running: try row.decode(Int.self, "running"), future: try row.decode(Int.self, "future"),
                pausedAt: try row.decode(Date?.self, "paused_at"), perNode: try row.decode(Int?.self, "per_node"),
                limit: try row.decode(Int?.self, "max_running"), keyLimit: try row.decode(Int?.self, "key_limit"),
                rateCount: try row.decode(Int?.self, "rate_count"),
                ratePeriodSeconds: try row.decode(Double?.self, "rate_period"),
                finishedLastMinute: try row.decode(Int.self, "minute"),
                finishedLastHour: try row.decode(Int.self, "hour"))
        }
    }

    /// Pauses the queue (`scheduler_queue_pause`); false when it was paused already.
    public func pause(_ name: String) async throws -> Bool {
        try await connection.query("SELECT scheduler_queue_pause(\(name)) AS changed")[0].decode(Bool.self, "changed")
    }

    /// Resumes the queue (`scheduler_queue_resume`); false when it was not paused.
    public func resume(_ name: String) async throws -> Bool {
        try await connection.query("SELECT scheduler_queue_resume(\(name)) AS changed")[0].decode(Bool.self, "changed")
    }
}
