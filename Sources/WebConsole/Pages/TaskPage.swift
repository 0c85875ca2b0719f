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
    var canRetry: Bool
    var canCancel: Bool
    var canDelete: Bool
    var history: [Attempt]

    /// The task, or nil when neither the task tables nor history know the id. A finished task shows what its last
    /// attempt in history kept of it.
    static func read(_ connection: Connection, id: Int64) async throws -> TaskPage? {
        let queue = TaskQueue(connection: connection)
        let task = try await queue.waitingTask(id: id)
        let history = try await queue.history(of: id)
        guard task != nil || !history.isEmpty else { return nil }
        let last = history.last
        return TaskPage(
            id: id, state: task?.state.rawValue ?? "finished (\(last?.status ?? "-"))",
            type: task?.type ?? last?.type ?? "-", name: task?.name ?? last?.name ?? "-",
            queue: task?.queue ?? last?.queue ?? "-", data: task?.data ?? last?.data ?? "-",
            priority: task.map { String($0.priority) } ?? "-",
            attempts: task.map { "\($0.attempts) of \($0.maxAttempts)" } ?? last.map { String($0.attempts) } ?? "-",
            due: Formatting.time(task?.due), node: task?.node ?? "-", lastError: task?.lastError,
            canRetry: task?.state == .future || (task == nil && ["failed", "cancelled"].contains(last?.status ?? "")),
            canCancel: task != nil, canDelete: task != nil && task?.state != .running,
            history: history.reversed().map { attempt in
                Attempt(
                    status: attempt.status, attempt: attempt.attempts, node: attempt.node ?? "-",
                    started: Formatting.time(attempt.startedAt), finished: Formatting.time(attempt.finishedAt),
                    error: attempt.error ?? "", output: attempt.output.flatMap { $0.isEmpty ? nil : $0 })
            })
    }
}
