import Foundation
import TestSupport
import Testing

@Suite("pgdaemon task, run as a process", .timeLimit(.minutes(2)))
struct TaskCommandTests {
    @Test func addListShowDeleteAndRetry() async throws {
        try await withTestDatabase { database in
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            func pgdaemon(_ arguments: String...) async throws -> PGDaemonProcess.Outcome {
                try await PGDaemonProcess.run(arguments, environment: environment)
            }
            let added = try await pgdaemon("task", "add", "--type", "Noop", "--name", "it's \"quoted\" 🎉")
            #expect(added.status == 0)
            #expect(added.stdout == "Enqueued task 1 (Noop).\n")
            let future = try await pgdaemon(
                "task", "add", "--type", "Sleep", "--data", #"{"seconds": 1}"#, "--in", "10m")
            #expect(future.stdout.hasPrefix("Enqueued task 2 (Sleep), due "))
            let again = try await pgdaemon("task", "add", "--type", "Noop", "--unique", "k")
            let deduplicated = try await pgdaemon("task", "add", "--type", "Noop", "--unique", "k")
            #expect(again.stdout == deduplicated.stdout, "a pending unique key returns the pending task")

            let list = try await pgdaemon("task", "list")
            #expect(list.stdout.contains("it's \"quoted\" 🎉"), "names are shown literally")
            #expect(list.stdout.contains("future"))
            let json = try await pgdaemon("task", "list", "--json")
            let tasks = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
            #expect(tasks?.count == 3)

            let summary = try await pgdaemon("summary")
            #expect(summary.status == 0, "\(summary.stderr)")
            #expect(summary.stdout.contains("Tasks waiting:"))
            #expect(summary.stdout.contains("Planned future tasks:"))
            #expect(summary.stdout.contains("Sleep"))

            let show = try await pgdaemon("task", "show", "2")
            #expect(show.stdout.hasPrefix("Task 2: Sleep, future"))
            #expect(try await pgdaemon("task", "delete", "2").stdout == "Task 2 deleted.\n")
            let shown = try await pgdaemon("task", "show", "2")
            #expect(shown.stdout.contains("cancelled"))
            #expect(try await pgdaemon("task", "retry", "2").stdout == "Task 2 enqueued again as task 4.\n")
            let missing = try await pgdaemon("task", "show", "999")
            #expect(missing.status == 1)
            #expect(missing.stderr == "pgdaemon: No task 999.\n")
        }
    }

    @Test(arguments: [
        (["--type", "Noop", "--data", "[1, 2]"], "--data must be a JSON object"),
        (["--type", "Noop", "--data", "{not json"], "--data must be a JSON object"),
        (["--type", "Noop", "--at", "tomorrow"], "--at tomorrow is not an ISO 8601 time"),
        (["--type", "Noop", "--in", "soon"], "--in soon is not a duration"),
        (["--type", "Noop", "--priority", "high"], "The value 'high' is invalid for '--priority <priority>'"),
        (["--type", "Noop", "--max-attempts", "0"], "--max-attempts must be between 1 and 2147483647"),
        (["--type", ""], "--type must not be empty"),
        (["--name", "x"], "Give --type, or --from-file with the tasks of a file"),
        (["--type", "Noop", "--from-file", "t.jsonl"], "Give --type or --from-file, not both"),
        (["--type", "Noop", "--queue", " "], "--queue must not be empty"),
    ])
    func badInputIsRefusedWithExitTwoAndWritesNothing(arguments: [String], message: String) async throws {
        try await withTestDatabase { database in
            let outcome = try await PGDaemonProcess.run(
                ["task", "add"] + arguments, environment: ["PGDAEMON_DATABASE_URL": database.connectionString])
            #expect(outcome.status == 2)
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
            let connection = try await database.connect()
            #expect(try await connection.query("SELECT 1 FROM scheduler_task").isEmpty)
            await connection.close()
        }
    }
}
