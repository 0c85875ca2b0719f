import Foundation
import Postgres
import Scheduler

/// The queues: what waits and runs in each, its pause and limits, and what it finished and failed per minute over
/// the last hour.
struct QueuesPage: Sendable {
    struct Queue: Sendable {
        var name: String
        var ready: Int
        var running: Int
        var future: Int
        var paused: Bool
        var pausedSince: String
        var limits: String
        var finishedLastMinute: Int
        var finishedLastHour: Int
        var oldestWaiting: String
        /// Finished (done) and failed per minute, oldest minute first, as an inline SVG.
        var chart: String
    }

    var queues: [Queue]

    static func read(_ connection: Connection) async throws -> QueuesPage {
        let summaries = try await QueueStore(connection: connection).list()
        let oldest = try await connection.query(
            """
            SELECT queue, extract(epoch FROM now() - min(coalesce(scheduled_for, create_time)))::float8 AS age
            FROM scheduler_task WHERE lock_key IS NULL GROUP BY queue
            """
        ).reduce(into: [String: Double]()) { ages, row in
            ages[try row.decode(String.self, "queue")] = try row.decode(Double?.self, "age")
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
                    name: queue.name, ready: queue.ready, running: queue.running, future: queue.future,
                    paused: queue.pausedAt != nil, pausedSince: Formatting.time(queue.pausedAt),
                    limits: queue.limitsText, finishedLastMinute: queue.finishedLastMinute,
                    finishedLastHour: queue.finishedLastHour,
                    oldestWaiting: Formatting.age(seconds: oldest[queue.name]),
                    chart: MinuteChart(done: series.done, failed: series.failed).svg)
            })
    }
}
