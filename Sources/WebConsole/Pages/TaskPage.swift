import Foundation
import Postgres
import Scheduler

/// One task: its row while it has not finished, and every attempt that history holds, with errors and output.
struct TaskPage: Sendable {
    struct Attempt: Sendable {
        var status: String
        var attempt: Int
        var node: String
        var started: String
        var finished: String
        var error: String
        /// What the attempt printed; nil when nothing, so the page leaves its row out.
        var output: String?
    }

    var id: Int64
    var title: String
    var state: String
    var type: String
    var name: String
    var queue: String
    var data: String
    var priority: String
    var attempts: String
    var due: String
    var node: String
    /// nil when the task has none, so the page leaves it out.
    var lastError: String?
    var isWaiting: Bool
    var history: [Attempt]

    /// The task, or nil when neither the task tables nor history know the id.
    static func read(_ connection: Connection, id: Int64) async throws -> TaskPage? {
        let queue = TaskQueue(connection: connection)
        let task = try await queue.waitingTask(id: id)
        let history = try await queue.history(of: id)
        guard task != nil || !history.isEmpty else { return nil }
        return TaskPage(
            id: id, title: task.map { $0.name ?? $0.type } ?? "finished", state: task?.state.rawValue ?? "finished",
            type: task?.type ?? "-", name: task?.name ?? "-", queue: task?.queue ?? "-", data: task?.data ?? "-",
            priority: task.map { String($0.priority) } ?? "-",
            attempts: task.map { "\($0.attempts) of \($0.maxAttempts)" } ?? "-",
            due: Formatting.time(task?.due), node: task?.node ?? "-", lastError: task?.lastError,
            isWaiting: task != nil,
            history: history.reversed().map { attempt in
                Attempt(
                    status: attempt.status, attempt: attempt.attempts, node: attempt.node ?? "-",
                    started: Formatting.time(attempt.startedAt), finished: Formatting.time(attempt.finishedAt),
                    error: attempt.error ?? "", output: attempt.output.flatMap { $0.isEmpty ? nil : $0 })
            })
    }
}
