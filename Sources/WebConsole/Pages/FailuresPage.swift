import Foundation
import Postgres
import Scheduler

/// What went wrong in the last 24 hours: failed attempts (final or retried) and rescues of tasks whose worker died,
/// newest first, with a count of each.
struct FailuresPage: Sendable {
    static let statuses = ["failed", "retried", "rescued"]
    static let window = Duration.seconds(24 * 3600)

    struct Count: Sendable {
        var status: String
        var count: Int
    }

    var counts: [Count]
    var rows: [TasksPage.Row]

    /// Two reads of history's index of unsuccessful attempts (sql/0023), over the last day's partitions only.
    static func read(_ connection: Connection) async throws -> FailuresPage {
        let queue = TaskQueue(connection: connection)
        let counts = try await queue.finishedCounts(statuses: statuses, within: window).map {
            Count(status: $0.status, count: $0.count)
        }
        let rows = try await queue.finished(
            matching: TaskQueue.Filter(), statuses: statuses, within: window, limit: TasksPage.limit)
        return FailuresPage(counts: counts, rows: rows.map(TasksPage.Row.init))
    }
}
