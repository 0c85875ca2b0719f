/// A top-level section of the configuration file that a library declares and reads itself, such as the scheduler's
/// `cron:` or the cache's `cache:`. It is registered with the binary's `ModuleRegistry`, which the configuration
/// loader reads; a key no registered section claims is an error naming the keys there are.
///
/// ```swift
/// struct ReportSettings: ConfigurationSection {
///     static let key = "reports"
///     var folder = "/var/reports"
///     init() {}
///     init(_ value: ConfigurationValue) throws {
///         for pair in try value.pairs(allowed: ["folder"]) { folder = try pair.value.string() }
///     }
/// }
/// ```
public protocol ConfigurationSection: Sendable {
    /// Its key at the top of the file.
    static var key: String { get }
    /// Whether every node of a cluster must have the same section, so that it counts in `Configuration.hash`;
    /// default true.
    static var sharedInCluster: Bool { get }
    /// The section when the file does not have it: its defaults.
    init()
    /// Reads the section from the file, throwing `value.fail(…)` (file, line, key) for what is wrong.
    init(_ value: ConfigurationValue) throws
}

extension ConfigurationSection {
    public static var sharedInCluster: Bool { true }
}
