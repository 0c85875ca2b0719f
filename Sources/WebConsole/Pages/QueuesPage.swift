import Foundation
import Postgres
import Scheduler

/// The queues: what waits and runs in each, its pause and limits, and what it finished and failed per minute over
/// the last hour.
struct QueuesPage: Sendable {
    struct Queue: Sendable {
        var name: String
        var ready: String
        var running: String
        var future: String
        var paused: Bool
        var pausedSince: String
        var limits: String
        var finishedLastMinute: Int
        var finishedLastHour: Int
        /// How long the task that runs next has been due.
        var nextWaiting: String
        /// Finished (done) and failed per minute, oldest minute first, as an inline SVG.
        var chart: String
    }

    var queues: [Queue]

    /// Counts stop here: counting a million waiting tasks would take the page past 50 ms. A queue with more shows the
    /// planner's estimate of its tasks (from the statistics autovacuum's ANALYZE keeps), as "about N".
    static let countingAtMost = 10_000

    static func read(_ connection: Connection) async throws -> QueuesPage {
        let summaries = try await QueueStore(connection: connection).list(countingAtMost: countingAtMost)
        var estimates: [String: Int] = [:]
        if summaries.contains(where: { $0.ready >= countingAtMost }) {
            estimates = try await estimatedTasks(connection)
        }
        var minutes: [String: (done: [Int], failed: [Int])] = [:]
        for row in try await connection.query(
            """
            SELECT queue, 59 - floor(extract(epoch FROM now() - finished_at) / 60)::int AS minute,
                   count(*) FILTER (WHERE status = 'done') AS done,
                   count(*) FILTER (WHERE status IN ('failed', 'retried')) AS failed
            FROM scheduler_task_history WHERE finished_at > now() - interval '1 hour'
            GROUP BY 1, 2
            """)
        {
            let queue = try row.decode(String.self, "queue")
            let minute = try row.decode(Int.self, "minute")
            guard (0..<60).contains(minute) else { continue }
            var series = minutes[queue] ?? (Array(repeating: 0, count: 60), Array(repeating: 0, count: 60))
            series.done[minute] = try row.decode(Int.self, "done")
            series.failed[minute] = try row.decode(Int.self, "failed")
            minutes[queue] = series
        }
        return QueuesPage(
            queues: summaries.map { queue in
                let series = minutes[queue.name] ?? (Array(repeating: 0, count: 60), Array(repeating: 0, count: 60))
                return Queue(
                    name: queue.name, ready: count(queue.ready, estimate: estimates[queue.name]),
                    running: count(queue.running, estimate: nil),
                    future: count(queue.future, estimate: nil),
                    paused: queue.pausedAt != nil, pausedSince: Formatting.time(queue.pausedAt),
                    limits: queue.limitsText, finishedLastMinute: queue.finishedLastMinute,
                    finishedLastHour: queue.finishedLastHour,
                    nextWaiting: Formatting.age(seconds: queue.nextReadySince.map { -$0.timeIntervalSinceNow }),
                    chart: MinuteChart(done: series.done, failed: series.failed).svg)
            })
    }

    private static func count(_ value: Int, estimate: Int?) -> String {
        guard value >= countingAtMost else { return String(value) }
        guard let estimate, estimate > value else { return "\(countingAtMost)+" }
        return "about \(estimate.formatted())"
    }

    /// Each frequent queue's share of the task table times its row count, from `pg_stats` and `pg_class`: what the
    /// planner believes, read without touching a row.
    private static func estimatedTasks(_ connection: Connection) async throws -> [String: Int] {
        try await connection.query(
            """
            SELECT v.queue, (v.share * c.reltuples)::bigint AS estimate
            FROM pg_class AS c, pg_stats AS s,
                 LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(queue, share)
            WHERE c.oid = 'scheduler_task'::regclass AND s.schemaname = current_schema()
              AND s.tablename = 'scheduler_task' AND s.attname = 'queue'
            """
        ).reduce(into: [:]) { estimates, row in
            estimates[try row.decode(String.self, "queue")] = try row.decode(Int.self, "estimate")
        }
    }
}
