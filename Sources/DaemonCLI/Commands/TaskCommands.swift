import ArgumentParser
import DaemonKit
import Foundation
import Postgres
import Scheduler

/// `pgdaemon task`: enqueue and inspect tasks (DESIGN §7).
struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Enqueue, list, show, retry or delete tasks.",
        subcommands: [Add.self, List.self, Show.self, Retry.self, Cancel.self, Delete.self])

    struct Add: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enqueue a task and print its id, or every task of a file (--from-file).")

        @OptionGroup var global: GlobalOptions
        @Option(help: "The task type, such as Command, SQL, Noop or Sleep.") var type: String?
        @Option(help: "A name shown in listings and history.") var name: String?
        @Option(help: "The task's data as a JSON object; default {}.") var data: String = "{}"
        @Option(help: "When to run it, as ISO 8601 (2026-11-30T02:00:00Z or with an offset).") var at: String?
        @Option(name: .customLong("in"), help: "When to run it, from now: 30s, 10m, 2h.") var delay: String?
        @Option(help: "Lower runs first; default 0.") var priority: Int = 0
        @Option(help: "While a task with this key is pending, its id is returned instead of a new task.") var unique:
            String?
        @Option(help: "Attempts before the task stays failed; default 3.") var maxAttempts: Int = 3
        @Option(help: "The queue it runs in; default default.") var queue: String = "default"
        @Option(help: "Its concurrency key: tasks with one key count together against the queue's key_limit.")
        var key: String?
        @Option(
            help: ArgumentHelp(
                "Enqueue the tasks of a file instead: one JSON object a line, keyed by scheduler_task_add's arguments.",
                valueName: "file.jsonl"))
        var fromFile: String?

        /// Lines of `--from-file` sent in one statement.
        static let fileBatch = 1000

        func validate() throws {
            if fromFile != nil {
                guard type == nil else { throw ValidationError("Give --type or --from-file, not both.") }
                return
            }
            guard let type else { throw ValidationError("Give --type, or --from-file with the tasks of a file.") }
            guard !type.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ValidationError("--type must not be empty.")
            }
            guard !queue.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ValidationError("--queue must not be empty.")
            }
            guard (try? JSONSerialization.jsonObject(with: Data(data.utf8))) is [String: Any] else {
                throw ValidationError("--data must be a JSON object, such as '{\"seconds\": 1}'.")
            }
            guard at == nil || delay == nil else { throw ValidationError("Give --at or --in, not both.") }
            if let at, Self.parseTime(at) == nil {
                throw ValidationError("--at \(at) is not an ISO 8601 time such as 2026-11-30T02:00:00Z.")
            }
            if let delay, DurationText.parse(delay) == nil {
                throw ValidationError("--in \(delay) is not a duration; write it like 30s, 10m or 2h.")
            }
            // Both are `integer` columns: a value they cannot hold is refused here, not by the server.
            guard Int32(exactly: priority) != nil else {
                throw ValidationError("--priority must be between \(Int32.min) and \(Int32.max).")
            }
            guard maxAttempts >= 1, Int32(exactly: maxAttempts) != nil else {
                throw ValidationError("--max-attempts must be between 1 and \(Int32.max).")
            }
        }

        static func parseTime(_ text: String) -> Date? {
            (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
                ?? (try? Date.ISO8601FormatStyle().parse(text))
        }

        func run(_ registry: ModuleRegistry) async throws {
            if let fromFile { return try await enqueue(file: fromFile, registry) }
            let type = type ?? ""
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let executionTime = at.flatMap(Self.parseTime)
            let delay = delay.flatMap(DurationText.parse)
            let id = try await TaskQueue(connection: connection).add(
                NewTask(
                    type: type, dataJSON: data, name: name, priority: priority, uniqueKey: unique,
                    executionTime: executionTime, delay: delay, maxAttempts: maxAttempts, queue: queue,
                    concurrencyKey: key))
            await connection.close()
            let due =
                executionTime.map { ", due \($0.formatted(.iso8601))" }
                ?? delay.map { ", due in \(DurationText.format($0)) by the database's clock" } ?? ""
            print("Enqueued task \(id) (\(type))\(due).")
        }

        /// Every line of the file enqueued in one transaction, a statement per `fileBatch` lines, while another task
        /// checks that each line is a JSON object: a bad line, or a line the server refuses, leaves nothing enqueued.
        /// (Checking every line before the first statement added the check's time to the wait.)
        private func enqueue(file: String, _ registry: ModuleRegistry) async throws {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw CommandFailure.usage("--from-file \(file) does not exist or cannot be read.")
            }
            let lines = String(decoding: contents, as: UTF8.self).split(
                separator: "\n", omittingEmptySubsequences: false
            )
            .enumerated().filter { !$0.element.allSatisfy(\.isWhitespace) }
            let check = Task.detached {
                for (index, line) in lines
                where !((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any]) {
                    throw CommandFailure.usage("Line \(index + 1) of \(file) is not a JSON object.")
                }
            }
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            defer { Task { await connection.close() } }
            let ids: [Int64]
            do {
                ids = try await connection.transaction { connection in
                    var ids: [Int64] = []
                    for start in stride(from: 0, to: lines.count, by: Self.fileBatch) {
                        let batch = lines[start..<min(start + Self.fileBatch, lines.count)].map(\.element)
                        ids += try await TaskQueue(connection: connection).add(
                            manyJSON: "[" + batch.joined(separator: ",") + "]")
                    }
                    try await check.value
                    return ids
                }
            } catch {
                // The server refuses what is not JSON too, naming no line: the check says which.
                try await check.value
                throw error
            }
            print(
                "Enqueued \(ids.count) tasks from \(file)" + (ids.first.map { ", ids \($0) to \(ids.last!)" } ?? "")
                    + ".")
        }
    }

    struct List: DaemonCommand {
        static let configuration = CommandConfiguration(abstract: "List ready, running and future tasks.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "At most this many, by priority then age; default 100.") var limit: Int = 100

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let tasks = try await TaskQueue(connection: connection).waiting(limit: limit)
            await connection.close()
            if output.json { return try printJSON(tasks) }
            guard !tasks.isEmpty else { return print("No tasks are waiting or running.") }
            var table = TextTable("ID", "TYPE", "NAME", "QUEUE", "STATE", "PRIORITY", "ATTEMPTS", "NODE", "DUE")
            for task in tasks {
                table.append([
                    String(task.id), task.type, task.name ?? "-", task.queue, task.state.rawValue,
                    String(task.priority),
                    "\(task.attempts)/\(task.maxAttempts)", task.node ?? "-",
                    task.due.map { $0.formatted(.iso8601) } ?? "-",
                ])
            }
            print(table.rendered)
        }
    }

    struct Show: DaemonCommand {
        static let configuration = CommandConfiguration(abstract: "Show one task: its row and its history.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The task's id.") var id: Int64

        struct Report: Encodable {
            var task: TaskQueue.WaitingTask?
            var history: [TaskQueue.Attempt]
        }

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let queue = TaskQueue(connection: connection)
            let task = try await queue.waitingTask(id: id)
            let history = try await queue.history(of: id)
            await connection.close()
            guard task != nil || !history.isEmpty else { throw CommandFailure.failure("No task \(id).") }
            if output.json { return try printJSON(Report(task: task, history: history)) }
            if let task {
                print(
                    "Task \(task.id): \(task.type.escapingControlCharacters)"
                        + (task.name.map { " \"\($0.escapingControlCharacters)\"" } ?? "") + ", \(task.state.rawValue)")
                print("  data: \(task.data)")
                print("  priority \(task.priority), attempt \(task.attempts) of \(task.maxAttempts)")
                if let due = task.due { print("  due: \(due.formatted(.iso8601))") }
                if let node = task.node { print("  running on: \(node.escapingControlCharacters)") }
                if let error = task.lastError { print("  last error: \(error.escapingControlCharacters)") }
            } else {
                print("Task \(id): finished")
            }
            for attempt in history {
                print(
                    "  \(attempt.finishedAt.formatted(.iso8601))  \(attempt.status)  attempt \(attempt.attempts)"
                        + (attempt.node.map { "  on \($0.escapingControlCharacters)" } ?? "")
                        + (attempt.error.map { "  \($0.escapingControlCharacters)" } ?? ""))
                // The output's own last line break ends its last line; it does not start an empty one.
                if let output = attempt.output.map({ $0.hasSuffix("\n") ? String($0.dropLast()) : $0 }), !output.isEmpty
                {
                    print(
                        output.split(separator: "\n", omittingEmptySubsequences: false)
                            .map { "    | \(String($0).escapingControlCharacters)" }.joined(separator: "\n"))
                }
            }
        }
    }

    struct Retry: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a task again: a failed one is enqueued anew, a waiting retry becomes due now.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task's id.") var id: Int64

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let retried = try await TaskQueue(connection: connection).retry(id)
            await connection.close()
            switch retried {
            case .dueNow: print("Task \(id) is due now.")
            case .enqueued(let newID): print("Task \(id) enqueued again as task \(newID).")
            case .notFound: throw CommandFailure.failure("No failed, cancelled or waiting task \(id).")
            }
        }
    }

    struct Cancel: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a task: a waiting one leaves the queue, a running one is stopped by its worker at once.",
            discussion: "Either way its history records it as cancelled, and it is not retried.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task's id.") var id: Int64

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let cancelled = try await TaskQueue(connection: connection).cancel(id)
            await connection.close()
            switch cancelled {
            case .removed: print("Task \(id) cancelled.")
            case .stopping(let node): print("Task \(id) is running on node \(node ?? "?"); its worker is stopping it.")
            case .notFound: throw CommandFailure.failure("No waiting or running task \(id).")
            }
        }
    }

    struct Delete: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a waiting task (ready or future); its history records it as cancelled.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The task's id.") var id: Int64

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let deleted = try await TaskQueue(connection: connection).delete(id)
            await connection.close()
            switch deleted {
            case .deleted: print("Task \(id) deleted.")
            case .running(let node):
                throw CommandFailure.failure(
                    "Task \(id) is running on node \(node ?? "?"); it cannot be deleted now.")
            case .notFound: throw CommandFailure.failure("No waiting task \(id).")
            }
        }
    }
}
