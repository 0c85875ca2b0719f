public import Postgres

/// What a daemon binary knows: its module types by name and how each is made, and what their libraries add to the
/// daemon: configuration sections, the modules a node runs when its file names none, metrics for `/metrics`, and
/// counters kept in memory.
///
/// `pgdaemon` registers the built-in set, the scheduler's and the cache's; a team's own daemon registers its modules
/// beside them and runs the same command line (see `Examples/`). A module that needs more than its context (the task
/// worker its handlers) is registered with a function that makes it, holding what it needs, so nothing travels
/// ambiently. DaemonKit itself knows none of the libraries built on it.
public struct ModuleRegistry: Sendable {
    /// Reads metrics of the node `configuration` names from the shared database, as a summary reads its tables.
    public typealias Metrics =
        @Sendable (_ configuration: Configuration, _ database: Connection) async throws -> [Metric]

    /// A registered module type and how to make it for one process lifetime.
    struct Entry: Sendable {
        var type: any DaemonModule.Type
        var make: @Sendable (ModuleContext) async throws -> any DaemonModule
    }

    private var entries: [String: Entry] = [:]
    /// The configuration sections the libraries declare, in registration order.
    public private(set) var sections: [any ConfigurationSection.Type] = []
    /// The modules a node runs when its file has no `modules:` key, in registration order.
    public private(set) var defaultModules: [String] = []
    /// The libraries' metrics, after the daemon's own.
    public private(set) var metrics: [Metrics] = []
    /// The libraries' counters kept in a module process's memory.
    public private(set) var counters: [CounterSource] = []

    /// A registry of `types`; with `runByDefault`, a node whose file has no `modules:` key runs each of them.
    public init(_ types: [any DaemonModule.Type] = [], runByDefault: Bool = false) {
        for type in types { register(type) }
        if runByDefault { defaultModules = types.map { String(describing: $0) } }
    }

    /// Registers a module type under its type name, such as `TestDaemon`, made with its `init(context:)`.
    public mutating func register(_ type: any DaemonModule.Type) {
        entries[String(describing: type)] = Entry(type: type) { try await type.init(context: $0) }
    }

    /// Registers a module type under its type name, made by `make`, which may hold the module's dependencies.
    public mutating func register<Module: DaemonModule>(
        _ type: Module.Type, making make: @escaping @Sendable (ModuleContext) async throws -> Module
    ) {
        entries[String(describing: type)] = Entry(type: type) { try await make($0) }
    }

    /// Registers a configuration section, read when the file has its key.
    public mutating func register(section: any ConfigurationSection.Type) {
        sections.removeAll { $0.key == section.key }
        sections.append(section)
    }

    /// Registers metrics for every node's `/metrics`.
    public mutating func register(metrics source: @escaping Metrics) {
        metrics.append(source)
    }

    /// Registers counters that module processes keep in memory and store in `daemon_counter`.
    public mutating func register(counters source: CounterSource) {
        counters.append(source)
    }

    /// The registered names, sorted, for listings and error messages.
    public var names: [String] { entries.keys.sorted() }

    public subscript(name: String) -> (any DaemonModule.Type)? { entries[name]?.type }

    /// Makes the module registered under `name`.
    func make(_ name: String, context: ModuleContext) async throws -> (any DaemonModule)? {
        try await entries[name]?.make(context)
    }

    /// The modules that ship with DaemonKit.
    public static let builtIn = ModuleRegistry([TestDaemon.self])

    /// This registry with everything another registers added; of two modules or sections by one name, the other's
    /// wins.
    public func adding(_ other: ModuleRegistry) -> ModuleRegistry {
        var merged = self
        merged.entries.merge(other.entries) { _, new in new }
        for section in other.sections { merged.register(section: section) }
        for name in other.defaultModules where !merged.defaultModules.contains(name) {
            merged.defaultModules.append(name)
        }
        merged.metrics += other.metrics
        merged.counters += other.counters
        return merged
    }
}
