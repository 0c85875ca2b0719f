public import Foundation
import Yams

/// The node's configuration: the YAML file of DESIGN §4 with its environment overrides applied.
///
/// Loading is strict: an unknown key, an unknown module or a value of the wrong kind is an error naming the file,
/// line and key, because a typo silently ignored is a setting silently not applied. A file that fails to load never
/// starts anything.
public struct Configuration: Sendable {
    /// This node's name, unique in the cluster; default: the host name.
    public var node: String
    /// The libpq connection string; `nil` leaves everything to libpq's `PG*` variables and service files.
    public var database: String?
    /// The file it was read from; `nil` when no file was found and defaults apply.
    public var file: String?
    public var daemon = DaemonSettings()
    /// The configured modules in file order, switched-off ones (`valid: false`) included.
    public var modules: [ModuleConfiguration] = []
    /// The sections the registered libraries read, by key; those the file lacks are absent and read as defaults.
    private var sections: [String: any ConfigurationSection] = [:]
    /// A short hash of what the nodes of a cluster must agree on (`modules` and the sections shared in the cluster,
    /// such as `cron`, not a node's name, database address or paths), shown by `pgdaemon nodes` so that differing
    /// nodes stand out.
    public var hash = "-"
    /// A short hash of the libraries' sections as the file has them, shared or not: a reload that changes it restarts
    /// the modules, which read their sections when they start.
    public var sectionsHash = "-"

    /// The file read when neither `--config` nor `PGDAEMON_CONFIG` names one.
    public static let defaultFile = "pgdaemon.yaml"

    /// The keys DaemonKit reads itself; the registered sections add theirs.
    static let ownKeys = ["node", "database", "daemon", "modules"]

    /// A library's section as the file has it, or its defaults.
    public func section<Section: ConfigurationSection>(_ type: Section.Type = Section.self) -> Section {
        sections[Section.key] as? Section ?? Section()
    }

    /// The modules that run: configured and `valid`.
    public var validModules: [ModuleConfiguration] { modules.filter(\.valid) }

    /// Loads the configuration: `file`, else `PGDAEMON_CONFIG`, else `pgdaemon.yaml` when it exists; then applies
    /// `PGDAEMON_DATABASE_URL` and `PGDAEMON_NODE`, and finally `node` (a `--node` option). Module entries are checked
    /// against `registry`.
    public static func load(
        file: String? = nil, node: String? = nil, registry: ModuleRegistry = .builtIn,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> Configuration {
        let named = file ?? environment["PGDAEMON_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var configuration = Configuration(node: hostName)
        if let path = named ?? (FileManager.default.fileExists(atPath: defaultFile) ? defaultFile : nil) {
            try configuration.read(path, registry: registry)
        } else {
            configuration.modules = defaultModuleEntries(registry)
        }
        if let url = environment["PGDAEMON_DATABASE_URL"], !url.isEmpty { configuration.database = url }
        if let name = node ?? environment["PGDAEMON_NODE"], !name.isEmpty {
            if let problem = Self.problem(withNodeName: name) {
                throw ConfigurationError(
                    file: node == nil ? nil : "command line", keyPath: node == nil ? "PGDAEMON_NODE" : "--node",
                    message: problem)
            }
            configuration.node = name
        }
        return configuration
    }

    /// Why `name` cannot name a node, or nil. A node's name goes into every session's `application_name`, which the
    /// server cuts at 63 bytes, and into listings an operator reads in a terminal, where control characters could
    /// rewrite the screen.
    static func problem(withNodeName name: String) -> String? {
        if name.containsControlCharacters {
            return "\(String(reflecting: name)) has a control character; a node name is printable text"
        }
        if name.utf8.count > 63 {
            return "a node name is at most 63 bytes, and this one has \(name.utf8.count)"
        }
        return nil
    }

    init(node: String) {
        self.node = node
    }

    private static func defaultModuleEntries(_ registry: ModuleRegistry) -> [ModuleConfiguration] {
        registry.defaultModules.compactMap { name in
            registry[name].map { type in
                ModuleConfiguration(
                    name: name, type: name, cluster: type.defaultCluster, sleepPost: type.defaultSleepPost,
                    maxIteration: type.defaultMaxIteration)
            }
        }
    }

    private mutating func read(_ path: String, registry: ModuleRegistry) throws {
        file = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, message: "the file does not exist or cannot be read")
        }
        let text = String(decoding: data, as: UTF8.self)
        let root: Node?
        do {
            // Scalars stay text (`.basic`): `YAMLReader` types each value itself. Yams' default resolver types them
            // with regular expressions, which load ICU into every process that reads the configuration (about a MB
            // of memory each).
            root = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            throw ConfigurationError(file: path, line: error.line, message: "not valid YAML: \(error.problem)")
        }
        let reader = YAMLReader(file: path)
        guard let root else {
            modules = Self.defaultModuleEntries(registry)
            return
        }
        let pairs = try reader.mapping(root, "")
        try reader.checkKeys(pairs, allowed: Self.ownKeys + registry.sections.map { $0.key }, "")
        let shared = ["modules"] + registry.sections.filter { $0.sharedInCluster }.map { $0.key }
        // Each section in canonical form once: the cron section of 10,000 entries is most of the file.
        let canonical = pairs.map { (key: $0.key, text: Self.canonical($0.value)) }
        hash = Self.sharedHash(canonical.filter { shared.contains($0.key) })
        sectionsHash = Self.sharedHash(canonical.filter { !Self.ownKeys.contains($0.key) })
        var sawModules = false
        for (key, _, value) in pairs {
            switch key {
            case "node":
                node = try reader.string(value, key)
                if let problem = Self.problem(withNodeName: node) { throw reader.fail(value, key, problem) }
            case "database": database = try reader.string(value, key)
            case "daemon": daemon = try Self.daemonSettings(value, reader)
            case "modules":
                sawModules = true
                modules = try Self.moduleEntries(value, reader, registry)
            default:
                let section = registry.sections.first { $0.key == key }!
                sections[key] = try section.init(ConfigurationValue(value, reader, key))
            }
        }
        if !sawModules { modules = Self.defaultModuleEntries(registry) }
    }

    private static func daemonSettings(_ node: Node, _ reader: YAMLReader) throws -> DaemonSettings {
        var settings = DaemonSettings()
        let pairs = try reader.mapping(node, "daemon")
        try reader.checkKeys(
            pairs,
            allowed: [
                "pid_file", "log_dir", "log_keep_days", "shutdown_timeout", "http", "http_max_connections",
                "singleton_lease",
            ],
            "daemon")
        for (key, _, value) in pairs {
            let path = "daemon.\(key)"
            switch key {
            case "pid_file": settings.pidFile = try reader.string(value, path)
            case "log_dir": settings.logDir = try reader.string(value, path)
            case "log_keep_days": settings.logKeepDays = try reader.positiveInteger(value, path)
            case "shutdown_timeout": settings.shutdownTimeout = try reader.duration(value, path)
            case "http_max_connections": settings.httpMaxConnections = try reader.positiveInteger(value, path)
            case "singleton_lease":
                settings.singletonLease = try reader.duration(value, path)
                let shortest = SingletonLease.renewalInterval * 2
                guard settings.singletonLease > shortest else {
                    throw reader.fail(
                        value, path,
                        "\(DurationText.format(settings.singletonLease)) is too short: a lease must last longer than "
                            + "\(DurationText.format(shortest)), twice the holder's renewal interval")
                }
            default:
                let text = try reader.string(value, path)
                guard HTTPAddress(text) != nil else {
                    throw reader.fail(
                        value, path, "\"\(text)\" is not HOST:PORT with an IPv4 host, such as 127.0.0.1:9464")
                }
                settings.http = text
            }
        }
        return settings
    }

    private static let commonModuleKeys = [
        "module", "valid", "cluster", "sleep_post", "discard_after", "max_iteration",
    ]

    private static func moduleEntries(
        _ node: Node, _ reader: YAMLReader, _ registry: ModuleRegistry
    ) throws -> [ModuleConfiguration] {
        try reader.mapping(node, "modules").map { name, keyNode, value in
            let path = "modules.\(name)"
            let pairs = try reader.mapping(value, path)
            let typeName =
                try pairs.first { $0.key == "module" }.map { try reader.string($0.value, "\(path).module") }
                ?? name
            guard let type = registry[typeName] else {
                let node = pairs.first { $0.key == "module" }?.value ?? keyNode
                throw reader.fail(
                    node, path,
                    "unknown module \(typeName); registered modules: \(registry.names.joined(separator: ", "))")
            }
            try reader.checkKeys(pairs, allowed: commonModuleKeys + type.settings.map(\.name), path)
            var entry = ModuleConfiguration(
                name: name, type: typeName, cluster: type.defaultCluster, sleepPost: type.defaultSleepPost,
                maxIteration: type.defaultMaxIteration)
            var settings: [String: ModuleSettings.Value] = [:]
            for (key, _, value) in pairs {
                let keyPath = "\(path).\(key)"
                switch key {
                case "module": break
                case "valid": entry.valid = try reader.boolean(value, keyPath)
                case "cluster":
                    let text = try reader.string(value, keyPath)
                    guard let mode = ClusterMode(rawValue: text) else {
                        throw reader.fail(value, keyPath, "expected every-node or singleton, not \"\(text)\"")
                    }
                    entry.cluster = mode
                case "sleep_post": entry.sleepPost = try reader.duration(value, keyPath)
                case "discard_after": entry.discardAfter = try reader.duration(value, keyPath)
                case "max_iteration":
                    entry.maxIteration =
                        try reader.string(value, keyPath) == "none" ? nil : reader.duration(value, keyPath)
                default:
                    let setting = type.settings.first { $0.name == key }!
                    settings[key] = try settingValue(value, setting.kind, reader, keyPath)
                }
            }
            entry.settings = ModuleSettings(settings)
            return entry
        }
    }

    private static func settingValue(
        _ node: Node, _ kind: ModuleSetting.Kind, _ reader: YAMLReader, _ keyPath: String
    ) throws -> ModuleSettings.Value {
        switch kind {
        case .integer: .integer(try reader.integer(node, keyPath))
        case .duration: .duration(try reader.duration(node, keyPath))
        case .string: .string(try reader.string(node, keyPath))
        case .boolean: .boolean(try reader.boolean(node, keyPath))
        }
    }

    /// The hash of sections in canonical form (`canonical`), so that formatting and the order of keys do not count.
    private static func sharedHash(_ sections: [(key: String, text: String)]) -> String {
        shortHash(sections.sorted { $0.key < $1.key }.map { "\($0.key): \($0.text)" }.joined(separator: "\n"))
    }

    /// A node as text in one form: scalars quoted, mappings with their pairs sorted. Written here rather than with
    /// Yams' emitter, which resolves every scalar's type through regular expressions, and so loads ICU into every
    /// process that reads the configuration.
    private static func canonical(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            return quoted(scalar.string)
        case .mapping(let mapping):
            return "{" + mapping.map { "\(canonical($0.key)): \(canonical($0.value))" }.sorted().joined(separator: ", ")
                + "}"
        case .sequence(let sequence):
            return "[" + sequence.map(canonical).joined(separator: ", ") + "]"
        case .alias(let alias):
            return "*" + alias.anchor.rawValue
        }
    }

    /// The text in double quotes, with a backslash before each quote and backslash in it. By hand rather than with
    /// Foundation's replacingOccurrences, which made hashing a configuration of 10,000 cron entries take 0.2 s.
    private static func quoted(_ text: String) -> String {
        var quoted = "\""
        for character in text.unicodeScalars {
            if character == "\"" || character == "\\" { quoted.unicodeScalars.append("\\") }
            quoted.unicodeScalars.append(character)
        }
        quoted.unicodeScalars.append("\"")
        return quoted
    }

    /// FNV-1a 64 of the text, in hex: enough to tell configurations apart, not a security measure.
    static func shortHash(_ text: String) -> String {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211
        }
        return String(hash, radix: 16)
    }

    private static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
        default: String(describing: self).split(whereSeparator: \.isNewline).joined(separator: " ")
        }
    }
}
