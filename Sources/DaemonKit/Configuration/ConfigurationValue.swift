import Foundation
import Yams

/// One value of the configuration file, where a section reads it: each reading names what it expected, and fails with
/// a `ConfigurationError` naming the file, the line and the key path (such as `cron.nightly.schedule`).
public struct ConfigurationValue {
    let node: Node
    let reader: YAMLReader
    /// Where the value sits in the file.
    public let keyPath: String

    init(_ node: Node, _ reader: YAMLReader, _ keyPath: String) {
        self.node = node
        self.reader = reader
        self.keyPath = keyPath
    }

    /// One key of a mapping and its value.
    public struct Pair {
        public let key: String
        let keyNode: Node
        public let value: ConfigurationValue

        /// An error about the pair as a whole (a key it lacks), at the key's line.
        public func fail(_ message: String) -> ConfigurationError {
            value.reader.fail(keyNode, value.keyPath, message)
        }
    }

    /// An error about this value, such as a value out of range.
    public func fail(_ message: String) -> ConfigurationError {
        reader.fail(node, keyPath, message)
    }

    /// The pairs of a mapping, in file order (an empty value is an empty mapping); with `allowed`, a key not in it is
    /// an error listing those that are.
    public func pairs(allowed: [String]? = nil) throws -> [Pair] {
        let pairs = try reader.mapping(node, keyPath)
        if let allowed { try reader.checkKeys(pairs, allowed: allowed, keyPath) }
        return pairs.map { Pair(key: $0.key, keyNode: $0.keyNode, value: Self($0.value, reader, join($0.key))) }
    }

    /// Whether the value is a mapping (a section's body), rather than a scalar or a list.
    public var isMapping: Bool { node.mapping != nil }

    /// Whether the value is YAML's false (`NAME: false` switches a default entry off).
    public var isFalse: Bool { node.scalar.flatMap(YAMLReader.boolean) == false }

    public func string() throws -> String { try reader.string(node, keyPath) }
    public func boolean() throws -> Bool { try reader.boolean(node, keyPath) }
    public func integer() throws -> Int { try reader.integer(node, keyPath) }
    public func positiveInteger() throws -> Int { try reader.positiveInteger(node, keyPath) }
    /// A size in bytes: a whole number, or one with a unit as PostgreSQL writes them (`512kB`, `64MB`, `1GB`).
    public func byteSize() throws -> Int64 { try reader.byteSize(node, keyPath) }
    /// A duration above zero, written like `500ms`, `2s`, `10m` or `1h`.
    public func duration() throws -> Duration { try reader.duration(node, keyPath) }
    /// A non-empty list of strings.
    public func stringList() throws -> [String] { try reader.stringList(node, keyPath) }

    /// A mapping as JSON text with sorted keys, its scalars typed as YAML types them (numbers, booleans, null), for
    /// task data written in the file.
    public func jsonObjectText() throws -> String {
        guard isMapping else { throw fail("expected a mapping") }
        let object = try node.toJSONObject()
        return String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    private func join(_ key: String) -> String { reader.join(keyPath, key) }
}
