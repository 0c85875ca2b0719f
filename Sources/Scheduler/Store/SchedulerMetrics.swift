import DaemonKit
import Postgres

/// The scheduler's part of `/metrics`: outcomes and start delays of the tasks a node ran, and the cluster's queue by
/// state.
enum SchedulerMetrics {
    /// Bounds of the start-delay histogram, in seconds.
    static let delayBuckets = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300]

    /// Task counts and the delay histogram come from this node's history rows, so they drop when `history_retention`
    /// prunes old rows, which Prometheus reads as a counter reset.
    @Sendable static func read(_ configuration: Configuration, _ database: Connection) async throws -> [Metric] {
        // One pass over this node's history rows gives both the outcome counts and the delay histogram. Every time
        // in it is the database clock's, so a delay is never below zero and is not clamped: a negative one would
        // show a fault instead of hiding it.
        let buckets = delayBuckets.enumerated().map { "count(*) FILTER (WHERE d <= \($1)) AS b\($0)" }
            .joined(separator: ", ")
        let history = try await database.query(
            """
            SELECT task_type, status, count(*) AS n, count(d) AS started, coalesce(sum(d), 0)::float8 AS total,
                   \(unsafeSQL: buckets)
            FROM (SELECT task_type, status,
                         extract(epoch FROM started_at - coalesce(scheduled_for, create_time))::float8 AS d
                  FROM scheduler_task_history WHERE node = \(configuration.node)) AS h
            GROUP BY 1, 2 ORDER BY 1, 2
            """)
        var (counts, count, total) = (Array(repeating: 0.0, count: delayBuckets.count), 0.0, 0.0)
        for row in history {
            for index in counts.indices { counts[index] += Double(try row.decode(Int.self, "b\(index)")) }
            count += Double(try row.decode(Int.self, "started"))
            total += try row.decode(Double.self, "total")
        }
        let queue = try await database.query(
            """
            SELECT (SELECT count(*) FROM scheduler_task WHERE lock_key IS NULL) AS ready,
                   (SELECT count(*) FROM scheduler_task WHERE lock_key IS NOT NULL) AS running,
                   (SELECT count(*) FROM scheduler_future_task) AS future
            """)[0]
        return [
            Metric(
                "pgdaemon_tasks_finished_total", "Task attempts this node finished, by type and outcome.", .counter,
                try history.map {
                    Metric.Sample(
                        [
                            ("type", try $0.decode(String.self, "task_type")),
                            ("status", try $0.decode(String.self, "status")),
                        ],
                        Double(try $0.decode(Int.self, "n")))
                }),
            Metric(
                "pgdaemon_task_start_delay_seconds",
                "From a task's due time (or its enqueueing) to its start on this node.", .histogram,
                zip(delayBuckets, counts).map { Metric.Sample([("le", Metric.number($0))], $1, suffix: "_bucket") }
                    + [
                        Metric.Sample([("le", "+Inf")], count, suffix: "_bucket"),
                        Metric.Sample([], total, suffix: "_sum"), Metric.Sample([], count, suffix: "_count"),
                    ]),
            Metric(
                "pgdaemon_queue_tasks", "Tasks in the cluster's queue, by state.", .gauge,
                try ["ready", "running", "future"].map {
                    Metric.Sample([("state", $0)], Double(try queue.decode(Int.self, $0)))
                }),
        ]
    }
}
