import Foundation
import Yams

/// Reads typed values out of a YAML node tree, turning every mismatch into a `ConfigurationError` that names the
/// file, the line and the key path.
struct YAMLReader {
    let file: String

    func fail(_ node: Node?, _ keyPath: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: node?.mark.map { $0.line }, keyPath: keyPath, message: message)
    }

    /// The key/value pairs of a mapping, in file order, with string keys; an empty or null value is an empty mapping.
    func mapping(_ node: Node, _ keyPath: String) throws -> [(key: String, keyNode: Node, value: Node)] {
        if isNull(node) { return [] }
        guard let mapping = node.mapping else { throw fail(node, keyPath, "expected a mapping of keys to values") }
        return try mapping.map { key, value in
            guard let name = key.scalar?.string, !name.isEmpty else {
                throw fail(key, keyPath, "expected a non-empty text key")
            }
            return (name, key, value)
        }
    }

    /// Fails on the first key not in `allowed`, listing what is.
    func checkKeys(
        _ pairs: [(key: String, keyNode: Node, value: Node)], allowed: [String], _ keyPath: String
    ) throws {
        for pair in pairs where !allowed.contains(pair.key) {
            throw fail(
                pair.keyNode, join(keyPath, pair.key),
                "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
        }
    }

    func string(_ node: Node, _ keyPath: String) throws -> String {
        guard let scalar = node.scalar, !isNull(node), !scalar.string.isEmpty else {
            throw fail(node, keyPath, "expected a non-empty string")
        }
        return scalar.string
    }

    func boolean(_ node: Node, _ keyPath: String) throws -> Bool {
        guard let value = node.scalar.flatMap(Self.boolean) else {
            throw fail(node, keyPath, "expected true or false")
        }
        return value
    }

    func integer(_ node: Node, _ keyPath: String) throws -> Int {
        guard let text = node.scalar?.string, let value = Int(text) else {
            throw fail(node, keyPath, "expected a whole number")
        }
        return value
    }

    func positiveInteger(_ node: Node, _ keyPath: String) throws -> Int {
        guard let text = node.scalar?.string, let value = Int(text), value > 0 else {
            throw fail(node, keyPath, "expected a whole number above 0")
        }
        return value
    }

    /// A size in bytes: a whole number, or one with a unit as PostgreSQL writes them (`512kB`, `64MB`, `1GB`; 1024s).
    func byteSize(_ node: Node, _ keyPath: String) throws -> Int64 {
        let text = try string(node, keyPath).trimmingCharacters(in: .whitespaces)
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        let units: [String: Int64] = ["": 1, "B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40]
        let unit = text.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        guard let number = Int64(digits), let scale = units[unit], number > 0,
            case let (bytes, overflow) = number.multipliedReportingOverflow(by: scale), !overflow
        else {
            throw fail(node, keyPath, "\"\(text)\" is not a size; write it like 65536, 512kB, 64MB or 1GB")
        }
        return bytes
    }

    func duration(_ node: Node, _ keyPath: String) throws -> Duration {
        let text = try string(node, keyPath)
        guard let value = DurationText.parse(text), value > .zero else {
            throw fail(node, keyPath, "\"\(text)\" is not a duration; write it like 500ms, 2s, 10m or 1h")
        }
        return value
    }

    func stringList(_ node: Node, _ keyPath: String) throws -> [String] {
        guard let sequence = node.sequence, !sequence.isEmpty else {
            throw fail(node, keyPath, "expected a non-empty list, such as [/usr/local/bin/report, --daily]")
        }
        return try sequence.enumerated().map { index, item in try string(item, "\(keyPath)[\(index)]") }
    }

    /// A plain scalar that YAML 1.1 reads as a boolean (`true`, `yes`, `on`, `false`, `no`, `off`, each in lower,
    /// capitalised or upper case), as Yams' default resolver would have typed it.
    static func boolean(_ scalar: Node.Scalar) -> Bool? {
        guard scalar.style == .plain else { return nil }
        let spellings = { (word: String) in [word, word.prefix(1).uppercased() + word.dropFirst(), word.uppercased()] }
        if ["true", "yes", "on"].flatMap(spellings).contains(scalar.string) { return true }
        if ["false", "no", "off"].flatMap(spellings).contains(scalar.string) { return false }
        return nil
    }

    func isNull(_ node: Node) -> Bool {
        guard let scalar = node.scalar, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }
}

extension Node {
    /// The node as a JSON-compatible value (mappings, lists, and scalars resolved to numbers, booleans, null or
    /// strings), for task data written in YAML.
    func toJSONObject() throws -> Any {
        if let mapping {
            var object: [String: Any] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = try value.toJSONObject() }
            return object
        }
        if let sequence { return try sequence.map { try $0.toJSONObject() } }
        guard let scalar else { return NSNull() }
        if scalar.style == .plain {
            if let value = Int.construct(from: scalar) { return value }
            if let value = Double.construct(from: scalar) { return value }
            if let value = YAMLReader.boolean(scalar) { return value }
            if ["", "~", "null", "Null", "NULL"].contains(scalar.string) { return NSNull() }
        }
        return scalar.string
    }
}
