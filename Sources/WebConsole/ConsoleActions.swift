import Foundation
import Hummingbird
import HummingbirdAuth
import Postgres
import Scheduler

/// What an admin may do from the console: pause and resume a queue; retry, cancel and delete a task, or every task a
/// filter selects; run a cron entry now, pause and resume it. Each calls the operation the command line calls.
struct ConsoleActions: Sendable {
    let routes: ConsoleRoutes

    /// The most tasks one bulk action acts on; a larger filtered view takes several.
    static let bulkLimit = 10_000

    enum TaskAction: String, Sendable, CaseIterable {
        case retry, cancel, delete
    }

    func add(to group: RouterGroup<ConsoleContext>) {
        for (path, pause) in [("queues/pause", true), ("queues/resume", false)] {
            group.post(RouterPath(path)) { request, context in
                let form = try await routes.login.action(request, context: context, name: path)
                let queue = try Self.required(form, "queue")
                let changed = try await routes.database.use { connection in
                    let store = QueueStore(connection: connection)
                    return pause ? try await store.pause(queue) : try await store.resume(queue)
                }
                return done(
                    context, path, target: queue, "/queues",
                    changed
                        ? "Queue \(queue) \(pause ? "paused" : "resumed")."
                        : "Queue \(queue) was already \(pause ? "paused" : "running").")
            }
        }
        for action in TaskAction.allCases {
            group.post(RouterPath("tasks/:id/\(action.rawValue)")) { request, context in
                _ = try await routes.login.action(request, context: context, name: "\(action.rawValue) a task")
                let id = try context.parameters.require("id", as: Int64.self)
                let outcome = try await routes.database.use {
                    try await Self.act(action, on: id, TaskQueue(connection: $0))
                }
                return done(context, "task \(action.rawValue)", target: "\(id)", "/tasks/\(id)", outcome.message)
            }
        }
        group.post("tasks/bulk") { request, context in
            let form = try await routes.login.action(request, context: context, name: "act on tasks")
            guard let action = form["action"].flatMap(TaskAction.init) else {
                throw HTTPError(.badRequest, message: "A bulk action is retry, cancel or delete.")
            }
            let filter = try TaskFilterQuery.filter(form)
            let count = try await routes.database.use { connection in
                let queue = TaskQueue(connection: connection)
                let ids =
                    filter.isFinished
                    ? try await queue.finished(matching: filter, limit: Self.bulkLimit).map(\.taskID)
                    : try await queue.waiting(matching: filter, limit: Self.bulkLimit).map(\.id)
                var acted = 0
                for id in Set(ids).sorted() where try await Self.act(action, on: id, queue).acted {
                    acted += 1
                }
                return (selected: Set(ids).count, acted: acted)
            }
            let query = TaskFilterQuery.text(filter)
            return done(
                context, "tasks \(action.rawValue)", target: query.isEmpty ? "every task" : query,
                "/tasks" + (query.isEmpty ? "" : "?\(query)"),
                "\(action.rawValue.capitalized): \(count.acted) of the \(count.selected) tasks selected"
                    + (count.selected == Self.bulkLimit ? " (at most \(Self.bulkLimit) at a time)." : "."))
        }
        for (path, paused) in [("cron/pause", true), ("cron/resume", false)] {
            group.post(RouterPath(path)) { request, context in
                let form = try await routes.login.action(request, context: context, name: path)
                let entry = try Self.required(form, "entry")
                let changed = try await routes.database.use {
                    try await CronStore(connection: $0).setPaused(paused, entry)
                }
                return done(
                    context, path, target: entry, "/cron",
                    changed ? "Cron entry \(entry) \(paused ? "paused" : "resumed")." : "No cron entry \(entry).")
            }
        }
        group.post("cron/run") { request, context in
            let form = try await routes.login.action(request, context: context, name: "run a cron entry")
            let name = try Self.required(form, "entry")
            guard let entry = routes.cron.entries.first(where: { $0.name == name }) else {
                throw HTTPError(.notFound, message: "This node's configuration has no cron entry \(name).")
            }
            let id = try await routes.database.use { connection in
                try await CronStore(connection: connection).runNow(entry, node: routes.pages.node)
            }
            return done(context, "cron run", target: name, "/cron", "Cron entry \(name) enqueued task \(id).")
        }
    }

    /// What the action did to task `id`: whether it changed the task, and a sentence saying what happened.
    private static func act(_ action: TaskAction, on id: Int64, _ queue: TaskQueue) async throws
        -> (acted: Bool, message: String)
    {
        switch action {
        case .retry:
            switch try await queue.retry(id) {
            case .dueNow: return (true, "Task \(id) is due now.")
            case .enqueued(let newID): return (true, "Task \(id) enqueued again as task \(newID).")
            case .notFound: return (false, "No failed, cancelled or waiting task \(id).")
            }
        case .cancel:
            switch try await queue.cancel(id) {
            case .removed: return (true, "Task \(id) cancelled.")
            case .stopping(let node):
                return (true, "Task \(id) runs on node \(node ?? "?"); its worker is stopping it.")
            case .notFound: return (false, "No waiting or running task \(id).")
            }
        case .delete:
            switch try await queue.delete(id) {
            case .deleted: return (true, "Task \(id) deleted.")
            case .running(let node): return (false, "Task \(id) runs on node \(node ?? "?"); it cannot be deleted now.")
            case .notFound: return (false, "No waiting task \(id).")
            }
        }
    }

    private static func required(_ form: [String: String], _ field: String) throws -> String {
        guard let value = form[field], !value.isEmpty else {
            throw HTTPError(.badRequest, message: "The form has no \(field).")
        }
        return value
    }

    /// Logs the action with its user, leaves `message` for the next page, and redirects there.
    private func done(_ context: ConsoleContext, _ action: String, target: String, _ path: String, _ message: String)
        -> Response
    {
        let user = context.identity?.user ?? "?"
        routes.logger.notice(
            "Console action.",
            metadata: [
                "console.user": "\(user)", "console.action": "\(action)", "console.target": "\(target)",
                "console.outcome": "\(message)",
            ])
        if var session = context.sessions.session {
            session.flash = message
            _ = context.sessions.updateSession(session)
        }
        return Response(status: .seeOther, headers: [.location: routes.link(path)])
    }
}
