public import Cache

/// The `cache:` section.
public struct CacheSettings: Sendable, Equatable {
    /// Whether `cache_entry` should be a logged table; `pgdaemon db migrate` makes it so. Nil leaves it as it is
    /// (unlogged, as the migrations create it).
    public var logged: Bool?
    /// Size bounds per cache type, kept by the `CacheCleanup` task.
    public var limits: [String: CacheLimit] = [:]

    public init() {}
}
