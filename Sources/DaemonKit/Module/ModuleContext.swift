public import Logging
public import Postgres

/// What a running module gets: its configuration entry, the node's configuration, a logger tagged with node and
/// module, and a database connection that `pg_stat_activity` shows as `pgdaemon/NODE/MODULE`.
public final class ModuleContext: Sendable {
    public let configuration: Configuration
    public let module: ModuleConfiguration
    public let logger: Logger
    public let database: Connection
    /// Whether `--debug` was given: modules may log more.
    public let debug: Bool
    /// For a singleton, the condition its writes include so that a stale holder's writes are refused; `nil` for a
    /// module that runs on every node.
    public let fence: Fence?
    /// Raised by SIGTERM: finish the current work and return; the process is cancelled shortly before
    /// `shutdown_timeout` runs out.
    public let stop: StopRequest
    let state: ModuleStateStore

    init(
        configuration: Configuration, module: ModuleConfiguration, logger: Logger, database: Connection, debug: Bool,
        fence: Fence?, stop: StopRequest, state: ModuleStateStore
    ) {
        self.configuration = configuration
        self.module = module
        self.logger = logger
        self.database = database
        self.debug = debug
        self.fence = fence
        self.stop = stop
        self.state = state
    }

    /// This node's name.
    public var node: String { configuration.node }
    /// The module's own settings.
    public var settings: ModuleSettings { module.settings }

    /// Returns once the database answers; while it does not, reports `waiting-for-db` and retries with a backoff from
    /// 250 ms to 5 s, reconnecting each time, so a module never spins against a database that is down.
    public func waitForDatabase() async throws {
        var backoff = Backoff.waitingForTheDatabase
        var waited = false
        while !(await database.ping()) {
            if !waited {
                logger.warning("The database does not answer; waiting for it.")
                waited = true
            }
            await state.report(.waitingForDatabase)
            if try await stop.sleep(for: backoff.next()) { throw CancellationError() }
            try? await database.reconnect()
        }
        if waited {
            logger.notice("The database answers again.")
            await state.report(.running)
        }
    }

    /// Opens another connection for the module, shown as `pgdaemon/NODE/MODULE/ROLE` in `pg_stat_activity` (a
    /// listener, a second claim connection); the module closes it.
    public func connect(_ role: String) async throws -> Connection {
        try await Connection.connect(configuration.connectionOptions(purpose: "\(module.name)/\(role)"))
    }

    /// Sleeps `sleep_post`, or less when the module is asked to stop.
    public func sleepPost() async throws {
        _ = try await stop.sleep(for: module.sleepPost)
    }
}
