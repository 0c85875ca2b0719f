/// The module types a daemon binary knows, by name, and how each is made.
///
/// `pgdaemon` registers the built-in set; a team's own daemon registers its modules beside them and runs the same
/// command line (see `Examples/`). A module that needs more than its context (the task worker its handlers) is
/// registered with a function that makes it, holding what it needs, so nothing travels ambiently.
public struct ModuleRegistry: Sendable {
    /// A registered module type and how to make it for one process lifetime.
    struct Entry: Sendable {
        var type: any DaemonModule.Type
        var make: @Sendable (ModuleContext) async throws -> any DaemonModule
    }

    private var entries: [String: Entry] = [:]

    public init(_ types: [any DaemonModule.Type] = []) {
        for type in types { register(type) }
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

    /// The registered names, sorted, for listings and error messages.
    public var names: [String] { entries.keys.sorted() }

    public subscript(name: String) -> (any DaemonModule.Type)? { entries[name]?.type }

    /// Makes the module registered under `name`.
    func make(_ name: String, context: ModuleContext) async throws -> (any DaemonModule)? {
        try await entries[name]?.make(context)
    }

    /// The modules that ship with DaemonKit.
    public static let builtIn = ModuleRegistry([TestDaemon.self])

    /// This registry with another's modules added.
    public func adding(_ other: ModuleRegistry) -> ModuleRegistry {
        var merged = self
        merged.entries.merge(other.entries) { _, new in new }
        return merged
    }
}
