import Synchronization

/// The hits and misses of `Cache.get` in this process, by type, since they were last taken. A module process adds
/// them to `daemon_counter` every few seconds (`CounterFlusher` in DaemonKit), where `/metrics` sums them per node:
/// counting in memory keeps a cache read free of any write.
public enum CacheCounters {
    public struct Counts: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
    }

    private static let counts = Mutex<[String: Counts]>([:])

    static func record(type: String, hit: Bool) {
        counts.withLock { counts in
            if hit { counts[type, default: Counts()].hits += 1 } else { counts[type, default: Counts()].misses += 1 }
        }
    }

    /// The counts so far, by type; counting starts again from zero.
    public static func take() -> [String: Counts] {
        counts.withLock { counts in
            defer { counts = [:] }
            return counts
        }
    }

    /// Counts taken but not stored (the database did not answer) go back, so they are stored with the next ones.
    public static func putBack(_ taken: [String: Counts]) {
        counts.withLock { counts in
            for (type, more) in taken {
                counts[type, default: Counts()].hits += more.hits
                counts[type, default: Counts()].misses += more.misses
            }
        }
    }
}
