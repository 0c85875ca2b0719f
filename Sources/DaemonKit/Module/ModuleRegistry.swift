/// The module types a daemon binary knows, by name.
///
/// `pgdaemon` registers the built-in set; a team's own daemon registers its modules beside them and runs the same
/// command line (see `Examples/`).
public struct ModuleRegistry: Sendable {
    private var types: [String: any DaemonModule.Type] = [:]

    public init(_ types: [any DaemonModule.Type] = []) {
        for type in types { register(type) }
    }

    /// Registers a module type under its type name, such as `TestDaemon`.
    public mutating func register(_ type: any DaemonModule.Type) {
        types[String(describing: type)] = type
    }

    /// The registered names, sorted, for listings and error messages.
    public var names: [String] { types.keys.sorted() }

    public subscript(name: String) -> (any DaemonModule.Type)? { types[name] }

    /// The modules that ship with DaemonKit.
    public static let builtIn = ModuleRegistry([TestDaemon.self])

    /// This registry with another's modules added.
    public func adding(_ other: ModuleRegistry) -> ModuleRegistry {
        var merged = self
        for name in other.names { merged.types[name] = other.types[name] }
        return merged
    }
}
