public import DaemonKit
import Postgres

extension ModuleRegistry {
    /// What the cache adds to a daemon: its `cache:` section, its gauges and its processes' hits and misses in
    /// `/metrics`, and those counts kept in each module process's memory (`CacheCounters`) until they are stored.
    public static let cache: ModuleRegistry = {
        var registry = ModuleRegistry()
        registry.register(section: CacheSettings.self)
        registry.register(counters: CounterSource(take: CacheCounters.take, putBack: CacheCounters.putBack))
        registry.register(metrics: Cache.metrics)
        return registry
    }()
}

extension Cache {
    /// The shared cache's entries and bytes by type, and the hits and misses of this node's module processes.
    @Sendable static func metrics(_ configuration: Configuration, _ database: Connection) async throws -> [Metric] {
        let cache = try await database.query("SELECT type, entries, bytes FROM cache_overview ORDER BY 1")
        let counters = try await database.query(
            """
            SELECT name, label, sum(value)::bigint AS value FROM daemon_counter
            WHERE node = \(configuration.node) AND name IN ('cache_hits', 'cache_misses') GROUP BY 1, 2 ORDER BY 1, 2
            """)
        func byType(_ rows: PostgresRows, _ column: String) throws -> [Metric.Sample] {
            try rows.map {
                Metric.Sample([("type", try $0.decode(String.self, "type"))], Double(try $0.decode(Int.self, column)))
            }
        }
        func counted(_ name: String) throws -> [Metric.Sample] {
            try counters.filter { try $0.decode(String.self, "name") == name }.map {
                Metric.Sample([("type", try $0.decode(String.self, "label"))], Double(try $0.decode(Int.self, "value")))
            }
        }
        return [
            Metric(
                "pgdaemon_cache_entries", "Entries in the shared cache, by type.", .gauge, try byType(cache, "entries")),
            Metric(
                "pgdaemon_cache_bytes", "Bytes of values in the shared cache, by type.", .gauge,
                try byType(cache, "bytes")),
            Metric(
                "pgdaemon_cache_hits_total",
                "Cache reads that found a live entry, by type, in this node's module processes.", .counter,
                try counted("cache_hits")),
            Metric(
                "pgdaemon_cache_misses_total",
                "Cache reads that found no live entry, by type, in this node's module processes.", .counter,
                try counted("cache_misses")),
        ]
    }
}
