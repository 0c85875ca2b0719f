public import Foundation
import Yams

/// The node's configuration: the YAML file of DESIGN §4 with its environment overrides applied.
///
/// Loading is strict: an unknown key or a value of the wrong type is an error naming the file, line and key, because a
/// typo silently ignored is a setting silently not applied.
public struct Configuration: Sendable {
    /// This node's name, unique in the cluster; default: the host name.
    public var node: String
    /// The libpq connection string; `nil` leaves everything to libpq's `PG*` variables and service files.
    public var database: String?
    /// The file it was read from; `nil` when no file was found and defaults apply.
    public var file: String?

    /// The file read when neither `--config` nor `PGDAEMON_CONFIG` names one.
    public static let defaultFile = "pgdaemon.yaml"

    /// Top-level keys of DESIGN §4.
    static let topLevelKeys: Set<String> = ["node", "database", "daemon", "modules", "cron", "commands", "statements"]

    /// Loads the configuration: `file`, else `PGDAEMON_CONFIG`, else `pgdaemon.yaml` when it exists; then applies
    /// `PGDAEMON_DATABASE_URL` and `PGDAEMON_NODE`, and finally `node` (a `--node` option).
    public static func load(
        file: String? = nil, node: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Configuration {
        let named = file ?? environment["PGDAEMON_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var configuration = Configuration(node: Self.hostName, database: nil, file: nil)
        if let path = named ?? (FileManager.default.fileExists(atPath: defaultFile) ? defaultFile : nil) {
            try configuration.read(path)
        }
        if let url = environment["PGDAEMON_DATABASE_URL"], !url.isEmpty { configuration.database = url }
        if let name = node ?? environment["PGDAEMON_NODE"], !name.isEmpty { configuration.node = name }
        return configuration
    }

    private mutating func read(_ path: String) throws {
        file = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, message: "the file does not exist or cannot be read")
        }
        let text = String(decoding: data, as: UTF8.self)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: path, line: error.line, message: "not valid YAML: \(error.problem)")
        }
        guard let root else { return }
        guard let mapping = root.mapping else {
            throw ConfigurationError(file: path, line: root.line, message: "expected a mapping of settings at the top")
        }
        for (key, value) in mapping {
            guard let name = key.string, Self.topLevelKeys.contains(name) else {
                throw ConfigurationError(
                    file: path, line: key.line, keyPath: key.string ?? "",
                    message: "unknown key; expected one of \(Self.topLevelKeys.sorted().joined(separator: ", "))")
            }
            switch name {
            case "node": node = try value.requiredString(file: path, keyPath: name)
            case "database": database = try value.requiredString(file: path, keyPath: name)
            default: break
            }
        }
    }

    private static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Node {
    /// The 1-based line the node starts on.
    var line: Int? { mark.map { $0.line } }

    /// The scalar's text; a mapping, a list, or an empty or null value is an error naming the key.
    func requiredString(file: String, keyPath: String) throws -> String {
        guard let scalar, !(scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)) else {
            throw ConfigurationError(file: file, line: line, keyPath: keyPath, message: "expected a non-empty string")
        }
        return scalar.string
    }
}

extension YamlError {
    /// The line Yams reports for a syntax error.
    var line: Int? {
        switch self {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    /// The parser's own words for what is wrong.
    var problem: String {
        switch self {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): problem
        default: String(describing: self).oneLine
        }
    }
}

extension String {
    var oneLine: String { split(whereSeparator: \.isNewline).joined(separator: " ") }
}
