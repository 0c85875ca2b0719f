import DaemonKit
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
        /// Since when the task that runs next has been due (its due time, or its enqueueing): how long the queue keeps
        /// its head waiting.
        public var nextReadySince: Date?

        /// Its limits as the configuration writes them: `per_node 2, limit 4, key_limit 1, rate 100/1m`, or `-`.
        public var limitsText: String {
            var parts: [String] = []
            if let perNode { parts.append("per_node \(perNode)") }
            if let limit { parts.append("limit \(limit)") }
            if let keyLimit { parts.append("key_limit \(keyLimit)") }
            if let rateCount, let ratePeriodSeconds {
                parts.append("rate \(rateCount)/\(DurationText.format(.milliseconds(Int64(ratePeriodSeconds * 1000))))")
            }
            return parts.isEmpty ? "-" : parts.joined(separator: ", ")
        }
    }

    /// Every queue that is configured, paused, has tasks or finished some in the last hour, and `default`, by name.
    ///
    /// Each queue's tasks are counted through the task tables' indexes, queue by queue (its names found by skipping
    /// through the ready, running and future indexes, one probe per queue), so a listing reads what it counts and never the
    /// whole table. With `countingAtMost`, no count goes past it: a count of `countingAtMost` means at least that many,
    /// and a page stays quick with millions waiting.
    public func list(countingAtMost cap: Int? = nil) async throws -> [Summary] {
        try await connection.query(
            """
            WITH RECURSIVE \(TaskQueue.readyQueues),
            \(TaskQueue.queues("running_queues", in: "scheduler_task", where: "lock_key IS NOT NULL")),
            \(TaskQueue.queues("future_queues", in: "scheduler_future_task")), finished AS (
                SELECT queue, count(*) FILTER (WHERE finished_at > now() - interval '1 minute') AS minute,
                       count(*) AS hour
                FROM scheduler_task_history
                WHERE finished_at > now() - interval '1 hour' AND status IN ('done', 'failed', 'cancelled')
                GROUP BY queue
            ), names AS (
                SELECT name FROM scheduler_queue UNION SELECT queue FROM ready_queues WHERE queue IS NOT NULL
                UNION SELECT queue FROM running_queues WHERE queue IS NOT NULL
                UNION SELECT queue FROM future_queues WHERE queue IS NOT NULL
                UNION SELECT queue FROM finished UNION SELECT 'default'
            )
            SELECT n.name,
                   (SELECT count(*) FROM (SELECT FROM scheduler_task AS t WHERE t.queue = n.name AND t.lock_key IS NULL
                                          LIMIT \(cap)) AS c) AS ready,
                   (SELECT count(*) FROM (SELECT FROM scheduler_task AS t
                                          WHERE t.queue = n.name AND t.lock_key IS NOT NULL LIMIT \(cap)) AS c) AS running,
                   (SELECT count(*) FROM (SELECT FROM scheduler_future_task AS f WHERE f.queue = n.name
                                          LIMIT \(cap)) AS c) AS future,
                   q.paused_at, q.per_node, q.max_running, q.key_limit,
                   q.rate_count, extract(epoch FROM q.rate_period)::float8 AS rate_period,
                   coalesce(h.minute, 0) AS minute, coalesce(h.hour, 0) AS hour,
                   (SELECT coalesce(t.scheduled_for, t.create_time) FROM scheduler_task AS t
                    WHERE t.queue = n.name AND t.lock_key IS NULL ORDER BY t.queue, t.priority, t.id LIMIT 1)
                       AS next_ready_since
            FROM names AS n LEFT JOIN scheduler_queue AS q ON q.name = n.name
            LEFT JOIN finished AS h ON h.queue = n.name
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
                finishedLastHour: try row.decode(Int.self, "hour"),
                nextReadySince: try row.decode(Date?.self, "next_ready_since"))
        }
    }

    /// Stores what the configuration sets for each queue, and clears it for queues it no longer names (their pause
    /// stays), in one statement; rows whose figures are unchanged are left alone.
    public func configure(_ section: QueuesSection) async throws {
        struct Row: Codable {
            var name: String
            var perNode: Int?
            var limit: Int?
            var keyLimit: Int?
            var rateCount: Int?
            var rateSeconds: Double?
        }
        let rows = section.queues.sorted { $0.key < $1.key }.map { name, queue in
            Row(
                name: name, perNode: queue.perNode, limit: queue.limit, keyLimit: queue.keyLimit,
                rateCount: queue.rate?.count, rateSeconds: queue.rate.map { $0.period / .seconds(1) })
        }
        try await connection.execute(
            """
            WITH configured AS (
                SELECT * FROM jsonb_to_recordset(\(try PostgresJSON(rows))::jsonb)
                    AS c("name" text, "perNode" integer, "limit" integer, "keyLimit" integer, "rateCount" integer,
                         "rateSeconds" float8)
            ), stored AS (
                INSERT INTO scheduler_queue AS q (name, per_node, max_running, key_limit, rate_count, rate_period)
                SELECT c.name, c."perNode", c."limit", c."keyLimit", c."rateCount", make_interval(secs => c."rateSeconds")
                FROM configured AS c
                ON CONFLICT (name) DO UPDATE
                SET per_node = EXCLUDED.per_node, max_running = EXCLUDED.max_running, key_limit = EXCLUDED.key_limit,
                    rate_count = EXCLUDED.rate_count, rate_period = EXCLUDED.rate_period, updated_at = now()
                WHERE (q.per_node, q.max_running, q.key_limit, q.rate_count, q.rate_period)
                      IS DISTINCT FROM (EXCLUDED.per_node, EXCLUDED.max_running, EXCLUDED.key_limit,
                                        EXCLUDED.rate_count, EXCLUDED.rate_period)
            )
            UPDATE scheduler_queue AS q
            SET per_node = NULL, max_running = NULL, key_limit = NULL, rate_count = NULL, rate_period = NULL,
                updated_at = now()
            WHERE q.name NOT IN (SELECT name FROM configured)
              AND num_nonnulls(q.per_node, q.max_running, q.key_limit, q.rate_count, q.rate_period) > 0
            """)
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
