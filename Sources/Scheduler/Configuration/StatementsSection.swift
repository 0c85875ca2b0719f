public import DaemonKit

/// The `statements:` section: the only SQL an `SQL` task may run, by the name a task gives.
public struct StatementsSection: ConfigurationSection, Equatable {
    public static let key = "statements"

    public var statements: [String: String] = [:]

    public init() {}

    public init(_ value: ConfigurationValue) throws {
        for entry in try value.pairs() { statements[entry.key] = try entry.value.string() }
    }
}
