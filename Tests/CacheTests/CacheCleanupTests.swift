import Cache
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Cache cleanup and size bounds", .timeLimit(.minutes(2)))
struct CacheCleanupTests {
    /// Writes `count` entries of `type`, keyed `prefix` + i, the i-th `i` seconds old, with `bytes` bytes each, expired
    /// when asked.
    private func fill(
        _ connection: Connection, type: String, count: Int, prefix: String = "key-", bytes: Int = 10,
        expired: Bool = false
    ) async throws {
        try await connection.execute(
            """
            INSERT INTO cache_entry (type, key, value, created_at, expires_at)
            SELECT \(type), \(prefix)::text || i, convert_to(repeat('x', \(bytes)), 'UTF8'), now() - i * interval '1 second',
                   CASE WHEN \(expired) THEN now() - interval '1 second' ELSE now() + interval '1 hour' END
            FROM generate_series(1, \(count)) AS i
            """)
    }

    private func keys(_ connection: Connection, type: String) async throws -> [String] {
        try await connection.query("SELECT key FROM cache_entry WHERE type = \(type) ORDER BY created_at DESC")
            .map { try $0.decode(String.self, "key") }
    }

    @Test func expiredCleanupLeavesFreshEntriesAndOtherTypesAlone() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            try await fill(connection, type: "A", count: 2500, prefix: "old-key-", expired: true)
            try await fill(connection, type: "A", count: 3)
            try await fill(connection, type: "B", count: 4, expired: true)
            #expect(try await cache.cleanUpExpired(type: "A") == 2500, "in batches of \(Cache.cleanupBatchSize)")
            #expect(try await keys(connection, type: "A") == ["key-1", "key-2", "key-3"])
            #expect(try await keys(connection, type: "B").count == 4, "another type is left alone")
            #expect(try await cache.cleanUpExpired() == 4)
            #expect(try await keys(connection, type: "A").count == 3)
        }
    }

    @Test func cleaningUpATypeRemovesAllOfItAndNothingElse() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            try await fill(connection, type: "A", count: 1200)
            try await fill(connection, type: "B", count: 5)
            #expect(try await cache.cleanUp(type: "A") == 1200)
            #expect(try await keys(connection, type: "B").count == 5)
            #expect(try await cache.cleanUp() == 5)
        }
    }

    @Test func anEntryLimitKeepsTheNewest() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            try await fill(connection, type: "A", count: 2050)
            try await fill(connection, type: "B", count: 30)
            #expect(try await cache.enforce(CacheLimit(maxEntries: 20), type: "A") == 2030)
            #expect(try await keys(connection, type: "A") == (1...20).map { "key-\($0)" })
            #expect(try await keys(connection, type: "B").count == 30)
            #expect(try await cache.enforce(CacheLimit(maxEntries: 20), type: "A") == 0, "already within")
        }
    }

    @Test func aByteLimitKeepsTheNewestThatFit() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            try await fill(connection, type: "A", count: 10, bytes: 1000)
            #expect(try await cache.enforce(CacheLimit(maxBytes: 3500), type: "A") == 7)
            #expect(try await keys(connection, type: "A") == ["key-1", "key-2", "key-3"])
            let statistics = try await cache.statistics()
            #expect(statistics.map(\.bytes) == [3000])
        }
    }

    @Test func aSweepRemovesExpiredEntriesFirstThenWhatIsOverTheLimit() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            try await fill(connection, type: "A", count: 5, prefix: "old-key-", expired: true)
            try await fill(connection, type: "A", count: 8)
            try await fill(connection, type: "B", count: 8)
            let limits = ["A": CacheLimit(maxEntries: 6), "B": CacheLimit(maxEntries: 100)]
            #expect(try await cache.sweep(limits: limits) == CacheSweep(expired: 5, overLimit: 2))
            #expect(try await keys(connection, type: "A") == (1...6).map { "key-\($0)" })
        }
    }

    @Test func statisticsCountEntriesBytesAndExpiredPerType() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            try await fill(connection, type: "A", count: 3, bytes: 100)
            try await fill(connection, type: "B", count: 2, bytes: 7, expired: true)
            let statistics = try await cache.statistics()
            #expect(statistics.map(\.type) == ["A", "B"])
            #expect(statistics.map(\.entries) == [3, 2])
            #expect(statistics.map(\.bytes) == [300, 14])
            #expect(statistics.map(\.expired) == [0, 2])
        }
    }
}
