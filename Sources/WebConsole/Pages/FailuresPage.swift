import Foundation
import Postgres
import Scheduler

/// What went wrong in the last 24 hours: failed attempts (final or retried) and rescues of tasks whose worker died,
/// newest first, with a count of each.
struct FailuresPage: Sendable {
    static let statuses = ["failed", "retried", "rescued"]

    struct Count: Sendable {
        var status: String
        var count: Int
    }

    var counts: [Count]
    var rows: [TasksPage.Row]

    /// Two range reads of history's `finished_at` index, over the last day's partitions only.
    static func read(_ connection: Connection) async throws -> FailuresPage {
        // The statuses as an array the planner sees, so that the index of unsuccessful attempts serves.
        let counts = try await connection.query(
            """
            SELECT status, count(*) AS count FROM scheduler_task_history
            WHERE finished_at > now() - interval '24 hours'
              AND status = ANY(\("{\(statuses.joined(separator: ","))}")::text[])
            GROUP BY status ORDER BY status
            """
        ).map { Count(status: try $0.decode(String.self, "status"), count: try $0.decode(Int.self, "count")) }
        let rows = try await TaskQueue(connection: connection).finished(
            matching: TaskQueue.Filter(), statuses: statuses, within: .seconds(24 * 3600), limit: TasksPage.limit)
        return FailuresPage(counts: counts, rows: rows.map(TasksPage.Row.init))
    }
}
