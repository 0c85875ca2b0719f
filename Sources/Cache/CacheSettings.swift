public import DaemonKit

/// The `cache:` section: whether `cache_entry` is logged, and size bounds per cache type.
public struct CacheSettings: ConfigurationSection, Equatable {
    public static let key = "cache"

    /// Whether `cache_entry` should be a logged table; `pgdaemon db migrate` makes it so. Nil leaves it as it is
    /// (unlogged, as the migrations create it).
    public var logged: Bool?
    /// Size bounds per cache type, kept by the `CacheCleanup` task.
    public var limits: [String: CacheLimit] = [:]

    public init() {}

    public init(_ value: ConfigurationValue) throws {
        for pair in try value.pairs(allowed: ["logged", "limits"]) {
            guard pair.key == "limits" else {
                logged = try pair.value.boolean()
                continue
            }
            for type in try pair.value.pairs() {
                let bounds = try type.value.pairs(allowed: ["max_entries", "max_bytes"])
                guard !bounds.isEmpty else { throw type.value.fail("expected max_entries, max_bytes or both") }
                var limit = CacheLimit()
                for bound in bounds {
                    if bound.key == "max_entries" {
                        limit.maxEntries = try bound.value.positiveInteger()
                    } else {
                        limit.maxBytes = try bound.value.byteSize()
                    }
                }
                limits[type.key] = limit
            }
        }
    }
}
