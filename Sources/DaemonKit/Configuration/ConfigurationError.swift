/// A configuration mistake, located as precisely as the parser allows: file, line, key path.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The file the mistake is in; `nil` for the environment.
    public var file: String?
    /// The 1-based line, when the YAML parser knows it.
    public var line: Int?
    /// The key path, such as `modules.TestDaemon.sleep_post`; empty for the whole file.
    public var keyPath: String
    /// What is wrong, as one sentence.
    public var message: String

    public init(file: String?, line: Int? = nil, keyPath: String = "", message: String) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var location = file ?? "environment"
        if let line { location += ":\(line)" }
        return keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}
