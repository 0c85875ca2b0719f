public import DaemonKit
import Foundation
import Logging
public import Postgres
public import Scheduler

/// A throwaway pgdaemon database for a team's own tests: their task handlers and modules run in the test's process
/// against it, the real modules and the real schema, and the test asserts on outcomes and history.
///
/// ```swift
/// @Test func greetsByName() async throws {
///     var handlers = TaskHandlerRegistry.builtIn
///     handlers.register(SendGreeting())
///     try await Testbed.with(handlers: handlers) { testbed in
///         let id = try await testbed.enqueue(NewTask(type: "SendGreeting", dataJSON: #"{"name": "Ada"}"#))
///         try await testbed.runWorkerUntilIdle()
///         #expect(try await testbed.history(of: id).map(\.status) == ["done"])
///     }
/// }
/// ```
///
/// The database is made on the server the `PG*` variables reach (or `server`, a `key=value` connection string
/// without a dbname), migrated, and dropped at the end: tests may run in parallel, each with its own. Time moves
/// with `advanceClock(by:)`, which makes future tasks and cron slots due as if that time had passed. The kit's own
/// tests are the `Examples/` package's (`Examples/Tests/ExampleTests`).
public final class Testbed: Sendable {
    /// The database's name, `pgdaemon_testbed_…`.
    public let databaseName: String
    /// A session of the test's own on the database, for its assertions and set-up.
    public let connection: Connection
    public let configuration: Configuration
    public let registry: ModuleRegistry
    private let server: String
    private let folder: URL

    /// Makes the database and a node's configuration: `node: testbed`, the database, and `sections` (YAML, such as a
    /// `cron:` or `commands:` section and a `modules:` list with settings), read with `handlers`' scheduler and
    /// `modules`.
    public static func start(
        handlers: TaskHandlerRegistry = .builtIn, modules: ModuleRegistry = ModuleRegistry(), sections: String = "",
        server: String = ""
    ) async throws -> Testbed {
        let name =
            "pgdaemon_testbed_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        let admin = try await Connection.connect(ConnectionOptions(server, applicationName: "pgdaemon-testbed"))
        try await admin.execute("CREATE DATABASE \(identifier: name)")
        await admin.close()
        let database = "\(server) dbname=\(name)"
        let connection = try await Connection.connect(ConnectionOptions(database, applicationName: "pgdaemon-testbed"))
        _ = try await Migrator(connection: connection).migrate()
        // Module processes report their state under their node's row.
        try await connection.execute("INSERT INTO daemon_node (name, status) VALUES ('testbed', 'running')")
        let registry = ModuleRegistry.builtIn.adding(.scheduler(handlers: handlers)).adding(modules)
        let folder = FileManager.default.temporaryDirectory.appending(path: name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appending(path: "pgdaemon.yaml")
        try "node: testbed\n\(sections)\n".write(to: file, atomically: true, encoding: .utf8)
        let configuration = try Configuration.load(
            file: file.path, registry: registry, environment: ["PGDAEMON_DATABASE_URL": database])
        return Testbed(
            databaseName: name, connection: connection, configuration: configuration, registry: registry,
            server: server, folder: folder)
    }

    /// Runs `body` with a fresh testbed, removed afterwards whether `body` throws or not.
    public static func with<Value>(
        handlers: TaskHandlerRegistry = .builtIn, modules: ModuleRegistry = ModuleRegistry(), sections: String = "",
        server: String = "", _ body: (Testbed) async throws -> Value
    ) async throws -> Value {
        let testbed = try await start(handlers: handlers, modules: modules, sections: sections, server: server)
        do {
            let value = try await body(testbed)
            await testbed.remove()
            return value
        } catch {
            await testbed.remove()
            throw error
        }
    }

    private init(
        databaseName: String, connection: Connection, configuration: Configuration, registry: ModuleRegistry,
        server: String, folder: URL
    ) {
        self.databaseName = databaseName
        self.connection = connection
        self.configuration = configuration
        self.registry = registry
        self.server = server
        self.folder = folder
    }

    /// Enqueues a task as an application would (`scheduler_task_add`); its id.
    @discardableResult
    public func enqueue(_ task: NewTask) async throws -> Int64 {
        try await TaskQueue(connection: connection).add(task)
    }

    /// Runs the task worker (`SchedulerTaskWorker`, with the configuration's settings for it) in this process until no
    /// task is ready or running; retries wait in the future tasks until their time (`advanceClock(by:)`).
    public func runWorkerUntilIdle(timeout: Duration = .seconds(30)) async throws {
        try await run(
            "SchedulerTaskWorker",
            until: {
                try await connection.query("SELECT count(*) AS n FROM scheduler_task")[0].decode(Int.self, "n") == 0
            }, timeout: timeout)
    }

    /// Runs one iteration of the module the configuration names `module` (or of the registered type of that name,
    /// with its defaults), as its process would: PreRun, Run, PostRun without the pause; how it ended. For a module
    /// whose Run returns when its work is done, such as a team's own; the scheduler's managers wait in Run for their
    /// next slot (up to a minute): run those with `run(_:until:)`.
    @discardableResult
    public func runIteration(of module: String) async -> ModuleExit {
        await runner(for: module, discardAfter: .nanoseconds(1)).run()
    }

    /// Runs `module` in this process, as its process would, until `condition` holds; then asks it to stop, which
    /// ends its waits at once.
    public func run(
        _ module: String, until condition: () async throws -> Bool, timeout: Duration = .seconds(30)
    ) async throws {
        let runner = runner(for: module, discardAfter: .seconds(3600))
        let running = Task { await runner.run() }
        defer { runner.stop.request() }
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                runner.stop.request()
                _ = await running.value
                throw TestbedTimedOut(what: "\(module) to bring about the condition", after: timeout)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        runner.stop.request()
        _ = await running.value
    }

    /// Runs the future manager until every future task that is due has moved to the ready queue.
    public func moveDueFutureTasks(timeout: Duration = .seconds(30)) async throws {
        try await run(
            "SchedulerFutureTaskManager",
            until: {
                try await connection.query(
                    "SELECT count(*) AS n FROM scheduler_future_task WHERE execution_time <= now()"
                )[0].decode(Int.self, "n") == 0
            }, timeout: timeout)
    }

    /// Makes time pass by `duration` for the tasks and cron entries, on the database's clock as every node reads it:
    /// future tasks come due that much sooner, and each cron entry's last slot and next slot lie that much further
    /// back, so the cron manager finds the slots of that time come and gone, and runs them as after a downtime
    /// (`catch_up`: the latest once, or none). `moveDueFutureTasks()` and `run(_:until:)` of the cron manager then
    /// enqueue what became due.
    public func advanceClock(by duration: Duration) async throws {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        try await connection.execute(
            "UPDATE scheduler_future_task SET execution_time = execution_time - \(seconds) * interval '1 second'")
        try await connection.execute(
            """
            UPDATE scheduler_recurrent_task
            SET last_execution_time = coalesce(last_execution_time, now()) - \(seconds) * interval '1 second',
                next_execution_time = next_execution_time - \(seconds) * interval '1 second'
            """)
    }

    /// Every finished attempt of task `id`, oldest first.
    public func history(of id: Int64) async throws -> [TaskQueue.Attempt] {
        try await TaskQueue(connection: connection).history(of: id)
    }

    /// The task while it has not finished: ready, running or future.
    public func waitingTask(id: Int64) async throws -> TaskQueue.WaitingTask? {
        try await TaskQueue(connection: connection).waitingTask(id: id)
    }

    /// Drops the database and the configuration's folder.
    public func remove() async {
        await connection.close()
        if let admin = try? await Connection.connect(ConnectionOptions(server, applicationName: "pgdaemon-testbed")) {
            _ = try? await admin.execute("DROP DATABASE IF EXISTS \(identifier: databaseName) WITH (FORCE)")
            await admin.close()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    private func runner(for module: String, discardAfter: Duration) -> ModuleRunner {
        var entry =
            configuration.modules.first { $0.name == module }
            ?? ModuleConfiguration(
                name: module, type: module, cluster: registry[module]?.defaultCluster ?? .everyNode,
                maxIteration: registry[module]?.defaultMaxIteration)
        entry.discardAfter = discardAfter
        if discardAfter < .milliseconds(1) { entry.sleepPost = .zero }
        return ModuleRunner(
            configuration: configuration, module: entry, registry: registry,
            logger: Logger(label: "pgdaemon.testbed.\(module)"), debug: false)
    }
}

/// A testbed's wait that did not end in time.
public struct TestbedTimedOut: Error, CustomStringConvertible {
    public var what: String
    public var after: Duration
    public var description: String { "timed out after \(after) waiting for \(what)" }
}
