public import Postgres

/// What a module's `summary` may use: the shared database and the configuration, never a running module's memory.
public struct SummaryContext: Sendable {
    public let configuration: Configuration
    public let database: Connection
    /// The configuration entry the summary is for.
    public let module: ModuleConfiguration

    public init(configuration: Configuration, database: Connection, module: ModuleConfiguration) {
        self.configuration = configuration
        self.database = database
        self.module = module
    }
}
