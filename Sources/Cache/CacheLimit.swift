/// A bound on one cache type: at most so many entries, at most so many bytes of values, or both. Cleanup keeps a type
/// inside its bound by removing its oldest entries (by last write).
public struct CacheLimit: Sendable, Equatable {
    public var maxEntries: Int?
    public var maxBytes: Int64?

    public init(maxEntries: Int? = nil, maxBytes: Int64? = nil) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }
}

/// What one cache type holds now, as `cache_overview` shows it.
public struct CacheStatistics: Sendable, Encodable {
    public var type: String
    public var entries: Int
    /// The values' size in bytes, before compression.
    public var bytes: Int64
    /// Entries past their TTL that cleanup has not removed yet; never served.
    public var expired: Int
}

/// What one cleanup pass removed.
public struct CacheSweep: Sendable, Equatable {
    /// Entries past their TTL.
    public var expired = 0
    /// The oldest entries of types over their `CacheLimit`.
    public var overLimit = 0

    public init(expired: Int = 0, overLimit: Int = 0) {
        self.expired = expired
        self.overLimit = overLimit
    }
}
