import Cache
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Cache values, TTL and keys", .timeLimit(.minutes(2)))
struct CacheTests {
    struct Report: Codable, Equatable {
        var title: String
        var counts: [Int]
        var note: String?
    }

    @Test func codableUnicodeAndBinaryValuesRoundTrip() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            let report = Report(
                title: "Grüße 🌍 'quoted' \"double\" ; DROP TABLE cache_entry; --", counts: [1, 2], note: nil)
            try await cache.set(report, type: "Reports", key: "daily")
            #expect(try await cache.get(Report.self, type: "Reports", key: "daily") == report)

            let bytes = Data((0...255).map(UInt8.init) + [0, 0, 255])
            try await cache.set(bytes, type: "Blobs", key: "all-bytes")
            #expect(try await cache.get(Data.self, type: "Blobs", key: "all-bytes") == bytes)
            let stored = try await connection.query(
                "SELECT octet_length(value) AS length FROM cache_entry WHERE key = 'all-bytes'")
            #expect(try stored[0].decode(Int.self, "length") == bytes.count, "bytes are stored as they are")

            let key = "ключ/🔑\t\"'\\"
            try await cache.set("значение ✓", type: "Текст", key: key)
            #expect(try await cache.get(String.self, type: "Текст", key: key) == "значение ✓")
            #expect(try await cache.get(String.self, type: "Текст", key: "other") == nil)
            #expect(try await cache.get(String.self, type: "Other", key: key) == nil)
        }
    }

    @Test func aOneMegabyteValueRoundTrips() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            let bytes = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
            try await cache.set(bytes, type: "Blobs", key: "big")
            #expect(try await cache.get(Data.self, type: "Blobs", key: "big") == bytes)
            let text = String(repeating: "ä€𝄞x", count: 1 << 18)
            try await cache.set(text, type: "Texts", key: "big")
            #expect(try await cache.get(String.self, type: "Texts", key: "big") == text)
        }
    }

    @Test func anEntryIsServedUntilItsExpiryByTheDatabaseClockAndNeverAfter() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            // 5 s, so that the read just after the write finds the entry even when the start of a full test run,
            // every suite at once on two cores, stalls this process for two seconds (seen).
            try await cache.set("soon gone", type: "T", key: "k", ttl: .seconds(5))
            let entry = try #require(try await cache.entry(type: "T", key: "k"))
            let ttl = try #require(entry.expiresAt).timeIntervalSince(entry.createdAt)
            #expect(abs(ttl - 5) < 0.001, "expires_at is the write time plus the TTL")
            let served = try await cache.get(String.self, type: "T", key: "k")
            let stillFresh = try await connection.query(
                "SELECT clock_timestamp() < expires_at AS fresh FROM cache_entry WHERE key = 'k'"
            )[0].decode(Bool.self, "fresh")
            // Read before the expiry, as the database clock still says after the read, it must have been served. (On
            // a machine so loaded that five seconds passed, the read proves nothing either way.)
            if stillFresh { #expect(served == "soon gone") }

            try await waitUntil("the database clock passes the expiry", timeout: .seconds(15)) {
                try await connection.query(
                    "SELECT clock_timestamp() >= expires_at AS past FROM cache_entry WHERE key = 'k'"
                )[0].decode(Bool.self, "past")
            }
            #expect(try await cache.get(String.self, type: "T", key: "k") == nil)
            let rows = try await connection.query("SELECT count(*) AS n FROM cache_entry")
            #expect(try rows[0].decode(Int.self, "n") == 1, "the row is still there: expiry alone hides it")
        }
    }

    @Test func theBoundaryIsTheExpiryInstant() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            try await connection.execute(
                """
                INSERT INTO cache_entry (type, key, value, expires_at) VALUES
                    ('T', 'just-past', convert_to('"x"', 'UTF8'), clock_timestamp() - interval '1 millisecond'),
                    ('T', 'just-ahead', convert_to('"y"', 'UTF8'), clock_timestamp() + interval '10 seconds'),
                    ('T', 'forever', convert_to('"z"', 'UTF8'), NULL)
                """)
            #expect(try await cache.get(String.self, type: "T", key: "just-past") == nil)
            #expect(try await cache.get(String.self, type: "T", key: "just-ahead") == "y")
            #expect(try await cache.get(String.self, type: "T", key: "forever") == "z")
        }
    }

    @Test func aWriteReplacesTheValueAndTheTTL() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            try await cache.set(1, type: "T", key: "k", ttl: .seconds(60))
            try await cache.set(2, type: "T", key: "k")
            let entry = try #require(try await cache.entry(type: "T", key: "k"))
            #expect(entry.expiresAt == nil)
            #expect(try await cache.get(Int.self, type: "T", key: "k") == 2)
            #expect(try await cache.delete(type: "T", key: "k"))
            #expect(try await cache.delete(type: "T", key: "k") == false)
            #expect(try await cache.get(Int.self, type: "T", key: "k") == nil)
        }
    }

    @Test func concurrentWritersOfOneKeyNeverFailAndOneOfTheLastWritesWins() async throws {
        try await withTestDatabase { database in
            let writers = 8
            let rounds = 50
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        let connection = try await database.connect()
                        let cache = Cache(connection: connection)
                        for round in 0..<rounds {
                            try await cache.set("\(writer)/\(round)", type: "Shared", key: "one", ttl: .seconds(60))
                        }
                        await connection.close()
                    }
                }
                try await group.waitForAll()
            }
            let connection = try await database.connect()
            let value = try await Cache(connection: connection).get(String.self, type: "Shared", key: "one")
            let lastWrites = Set((0..<writers).map { "\($0)/\(rounds - 1)" })
            #expect(value.map(lastWrites.contains) == true, "\(value ?? "nil") is one writer's last value")
            await connection.close()
        }
    }

    @Test func badTypesKeysAndTTLsAreRefusedWithTheReasonAndWriteNothing() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            func refusal(_ type: String, _ key: String, ttl: Duration? = nil) async -> String? {
                let error = await #expect(throws: CacheError.self) {
                    try await cache.set("v", type: type, key: key, ttl: ttl)
                }
                return error?.description
            }
            #expect(await refusal("", "k") == "A cache type must not be empty.")
            #expect(await refusal("T", "") == "A cache key must not be empty.")
            #expect(
                await refusal(String(repeating: "t", count: 201), "k")
                    == "A cache type may be at most 200 bytes long, not 201.")
            #expect(
                await refusal("T", String(repeating: "é", count: 1001))
                    == "A cache key may be at most 2000 bytes long, not 2002.")
            #expect(await refusal("T", "k", ttl: .zero) == "A cache TTL must be positive, not 0.0 seconds.")
            #expect(await refusal("T", "k", ttl: .seconds(-5)) == "A cache TTL must be positive, not -5.0 seconds.")
            let rows = try await connection.query("SELECT count(*) AS n FROM cache_entry")
            #expect(try rows[0].decode(Int.self, "n") == 0)

            try await cache.set("text", type: "T", key: "k")
            let mismatch = await #expect(throws: CacheError.self) { try await cache.get(Int.self, type: "T", key: "k") }
            #expect(mismatch?.description.hasPrefix("The cached value T/k does not decode as Int") == true)
        }
    }

    @Test func theTableIsUnloggedUntilMadeLogged() async throws {
        try await withTestConnection { connection in
            let cache = Cache(connection: connection)
            #expect(try await cache.isLogged() == false)
            try await cache.set("kept", type: "T", key: "k")
            #expect(try await cache.setLogged(true))
            #expect(try await cache.isLogged())
            #expect(try await cache.setLogged(true) == false, "already logged")
            #expect(try await cache.get(String.self, type: "T", key: "k") == "kept")
            #expect(try await cache.setLogged(false))
            #expect(try await cache.isLogged() == false)
        }
    }
}
