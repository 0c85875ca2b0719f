import DaemonKit
import Synchronization

/// The hits and misses of `Cache.get` in this process, by type, since they were last taken. A module process adds
/// them to `daemon_counter` every few seconds (`ModuleRegistry.cache` registers them as a `CounterSource`), where
/// `/metrics` sums them per node: counting in memory keeps a cache read free of any write.
enum CacheCounters {
    struct Counts: Sendable, Equatable {
        var hits = 0
        var misses = 0
    }

    private static let counts = Mutex<[String: Counts]>([:])

    static func record(type: String, hit: Bool) {
        counts.withLock { counts in
            if hit { counts[type, default: Counts()].hits += 1 } else { counts[type, default: Counts()].misses += 1 }
        }
    }

    /// The counts so far as `daemon_counter` rows (`cache_hits`, `cache_misses`, by type); counting starts again.
    @Sendable static func take() -> [CounterSource.Count] {
        let taken = counts.withLock { counts in
            defer { counts = [:] }
            return counts
        }
        return taken.sorted { $0.key < $1.key }.flatMap { type, counts in
            [
                CounterSource.Count(name: "cache_hits", label: type, value: counts.hits),
                CounterSource.Count(name: "cache_misses", label: type, value: counts.misses),
            ]
        }
    }

    /// Counts taken but not stored (the database did not answer) go back, so they are stored with the next ones.
    @Sendable static func putBack(_ taken: [CounterSource.Count]) {
        counts.withLock { counts in
            for count in taken {
                if count.name == "cache_hits" { counts[count.label, default: Counts()].hits += count.value }
                if count.name == "cache_misses" { counts[count.label, default: Counts()].misses += count.value }
            }
        }
    }
}
