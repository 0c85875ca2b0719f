import Foundation
import Hummingbird
import Postgres
import Scheduler

/// Tasks that a filter selects: unfinished ones from the task tables, or finished attempts from history.
struct TasksPage: Sendable {
    /// How many rows a listing shows, and a bulk action acts on at most.
    static let limit = 100

    struct Row: Sendable {
        var id: Int64
        var name: String
        var type: String
        var queue: String
        var state: String
        var attempts: String
        var node: String
        var time: String
        var error: String
    }

    struct Choice: Sendable {
        var value: String
        var selected: Bool
    }

    var filter: TaskQueue.Filter
    var states: [Choice]
    var rows: [Row]
    var isFinished: Bool
    var isFull: Bool
    /// Said when the filter searches by type, name or key, which reads a bounded part of each listing.
    var searchDepth: Int?
    /// The filter as a query string, for links back to this listing.
    var query: String

    static func read(_ connection: Connection, filter: TaskQueue.Filter) async throws -> TasksPage {
        let queue = TaskQueue(connection: connection)
        let rows: [Row]
        if filter.isFinished {
            rows = try await queue.finished(matching: filter, limit: limit).map(Row.init)
        } else {
            rows = try await queue.waiting(matching: filter, limit: limit).map { task in
                Row(
                    id: task.id, name: task.name ?? "", type: task.type, queue: task.queue, state: task.state.rawValue,
                    attempts: "\(task.attempts)/\(task.maxAttempts)", node: task.node ?? "-",
                    time: Formatting.time(task.due ?? task.created), error: task.lastError ?? "")
            }
        }
        return TasksPage(
            filter: filter,
            states: TaskQueue.Filter.states.map {
                Choice(value: $0, selected: $0 == filter.state)
            },
            rows: rows, isFinished: filter.isFinished, isFull: rows.count == limit,
            searchDepth: filter.searches ? TaskQueue.Filter.searchDepth : nil, query: TaskFilterQuery.text(filter))
    }
}

/// A task filter as the listing's query string carries it (`?state=failed&queue=mail`).
enum TaskFilterQuery {
    /// The filter of `values` (a query string's or a form's), empty values left out; 400 with the sentence that says
    /// what is wrong when the state is not one a task has.
    static func filter(_ values: [String: String]) throws -> TaskQueue.Filter {
        func value(_ field: String) -> String? { values[field].flatMap { $0.isEmpty ? nil : $0 } }
        let filter = TaskQueue.Filter(
            state: value("state"), queue: value("queue"), type: value("type"), name: value("name"), key: value("key"))
        if let state = filter.state, !TaskQueue.Filter.states.contains(state) {
            throw HTTPError(.badRequest, message: "\(String(reflecting: state)) is not a task state")
        }
        return filter
    }

    static func text(_ filter: TaskQueue.Filter) -> String {
        let pairs: [(String, String?)] = [
            ("state", filter.state), ("queue", filter.queue), ("type", filter.type), ("name", filter.name),
            ("key", filter.key),
        ]
        return pairs.compactMap { field, value in
            value.map { "\(field)=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryValueAllowed) ?? "")" }
        }.joined(separator: "&")
    }
}

extension CharacterSet {
    /// What a query string's value may hold as it is: unreserved characters only.
    static let urlQueryValueAllowed = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
}

extension TasksPage.Row {
    /// A finished attempt as a listing shows it: its status, attempt and finish time.
    init(_ attempt: TaskQueue.FinishedAttempt) {
        self.init(
            id: attempt.taskID, name: attempt.name ?? "", type: attempt.type, queue: attempt.queue,
            state: attempt.status, attempts: String(attempt.attempts), node: attempt.node ?? "-",
            time: Formatting.time(attempt.finishedAt), error: attempt.error ?? "")
    }
}
