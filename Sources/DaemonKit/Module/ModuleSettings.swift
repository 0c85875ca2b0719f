/// A module's own settings from its configuration entry, already checked against the kinds the module declared.
public struct ModuleSettings: Sendable, Equatable {
    /// A checked setting value.
    public enum Value: Sendable, Equatable {
        case integer(Int)
        case duration(Duration)
        case string(String)
        case boolean(Bool)
    }

    let values: [String: Value]

    public init(_ values: [String: Value] = [:]) {
        self.values = values
    }

    public func integer(_ name: String, default fallback: Int) -> Int {
        if case .integer(let value) = values[name] { return value }
        return fallback
    }

    public func duration(_ name: String, default fallback: Duration) -> Duration {
        if case .duration(let value) = values[name] { return value }
        return fallback
    }

    public func string(_ name: String, default fallback: String) -> String {
        if case .string(let value) = values[name] { return value }
        return fallback
    }

    public func boolean(_ name: String, default fallback: Bool) -> Bool {
        if case .boolean(let value) = values[name] { return value }
        return fallback
    }
}
