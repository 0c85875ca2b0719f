import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Values round-trip through PostgreSQL", .timeLimit(.minutes(2)))
struct TypeRoundTripTests {
    private struct Payload: Codable, Equatable {
        var name: String
        var count: Int
        var tags: [String]
        var nested: [String: Double]?
    }

    @Test func integers() async throws {
        try await withTestConnection(migrated: false) { connection in
            for value in [Int.min, -1, 0, 1, Int.max] {
                let row = try await connection.query("SELECT \(value)::int8 AS v")[0]
                #expect(try row.decode(Int.self, "v") == value)
                #expect(try row.decode(Int64.self, "v") == Int64(value))
            }
            for value in [Int32.min, 0, Int32.max] {
                let row = try await connection.query("SELECT \(value)::int4 AS v")
                #expect(try row[0].decode(Int32.self, "v") == value)
            }
            let small = try await connection.query("SELECT 7::int2 AS v")[0]
            #expect(try small.decode(Int.self, "v") == 7)
        }
    }

    @Test func doubles() async throws {
        try await withTestConnection(migrated: false) { connection in
            for value in [0.1, -1e300, Double.pi, Double.leastNonzeroMagnitude, Double.infinity, -Double.infinity] {
                let row = try await connection.query("SELECT \(value)::float8 AS v")[0]
                #expect(try row.decode(Double.self, "v") == value)
            }
            let nan = try await connection.query("SELECT \(Double.nan)::float8 AS v")[0]
            #expect(try nan.decode(Double.self, "v").isNaN)
        }
    }

    @Test func booleans() async throws {
        try await withTestConnection(migrated: false) { connection in
            for value in [true, false] {
                let row = try await connection.query("SELECT \(value)::bool AS v")[0]
                #expect(try row.decode(Bool.self, "v") == value)
            }
        }
    }

    @Test(arguments: [
        "", "plain", "héllo ✓ 日本語 🎉", "it's \"quoted\"; DROP TABLE x; --", "tab\tnew\nline\u{1}\u{7f}",
        String(repeating: "x", count: 1_000_000), String(repeating: "ü🎉", count: 100_000),
    ])
    func strings(value: String) async throws {
        try await withTestConnection(migrated: false) { connection in
            let row = try await connection.query("SELECT \(value)::text AS v, length(\(value)) AS n")[0]
            #expect(try row.decode(String.self, "v") == value)
            #expect(try row.decode(Int.self, "n") == value.count)
        }
    }

    @Test func stringsWithNULAreRefusedBeforeReachingTheServer() async throws {
        try await withTestConnection(migrated: false) { connection in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT \("a\u{0}b")::text")
            }
            #expect(error?.code == .misuse)
            #expect(error?.message.contains("NUL") == true)
        }
    }

    @Test func bytes() async throws {
        try await withTestConnection(migrated: false) { connection in
            let everyByte = Data((0...255).map { UInt8($0) })
            let large = Data((0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
            for value in [Data(), everyByte, large] {
                let row = try await connection.query("SELECT \(value)::bytea AS v, octet_length(\(value)) AS n")[0]
                #expect(try row.decode(Data.self, "v") == value)
                #expect(try row.decode(Int.self, "n") == value.count)
            }
        }
    }

    @Test func timestampsKeepMicrosecondsAcrossZones() async throws {
        try await withTestConnection(migrated: false) { connection in
            let now = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1_000_000).rounded() / 1_000_000)
            for zone in ["UTC", "Asia/Kathmandu", "America/St_Johns", "Europe/Berlin", "Pacific/Kiritimati"] {
                try await connection.execute("SELECT set_config('TimeZone', \(zone), false)")
                let row = try await connection.query("SELECT \(now)::timestamptz AS v")[0]
                let back = try row.decode(Date.self, "v")
                #expect(abs(back.timeIntervalSince(now)) < 0.000_001, "in \(zone)")
            }
        }
    }

    @Test func timestampsWrittenWithOffsetsMeanTheSameInstant() async throws {
        try await withTestConnection(migrated: false) { connection in
            // 2026-03-29 02:30+02 is 00:30 UTC; Amsterdam's 1900 offset was +00:19:32 (local mean time).
            try await connection.execute("SET TimeZone = 'Europe/Amsterdam'")
            let rows = try await connection.query(
                """
                SELECT '2026-03-29 02:30:00+02'::timestamptz AS spring,
                       '1900-01-01 00:00:00+00'::timestamptz AS lmt,
                       '0044-03-15 12:00:00+00 BC'::timestamptz AS ides,
                       'infinity'::timestamptz AS forever,
                       '2026-11-29 18:54:17.5'::timestamp AS plain
                """)
            let row = rows[0]
            #expect(try row.decode(Date.self, "spring") == Date(timeIntervalSince1970: 1_774_744_200))
            #expect(try row.decode(Date.self, "lmt") == Date(timeIntervalSince1970: -2_208_988_800))
            #expect(try row.decode(Date.self, "ides") == Date(timeIntervalSince1970: -63_517_780_800))
            #expect(try row.decode(Date.self, "forever") == .distantFuture)
            #expect(try row.decode(Date.self, "plain") == Date(timeIntervalSince1970: 1_795_978_457.5))
        }
    }

    @Test func jsonDecodesToCodable() async throws {
        try await withTestConnection(migrated: false) { connection in
            let payload = Payload(name: "größe \"x\" 🎉", count: 3, tags: ["a", "b"], nested: ["pi": 3.25])
            let row = try await connection.query(
                "SELECT \(try PostgresJSON(payload))::jsonb AS b, \(try PostgresJSON(payload))::json AS j")[0]
            #expect(try row.decode(PostgresJSON<Payload>.self, "b").value == payload)
            #expect(try row.decode(PostgresJSON<Payload>.self, "j").value == payload)
        }
    }

    @Test func jsonThatDoesNotFitNamesTheMissingKey() async throws {
        try await withTestConnection(migrated: false) { connection in
            let row = try await connection.query(#"SELECT '{"name": "x", "tags": []}'::jsonb AS data"#)[0]
            let error = #expect(throws: PostgresError.self) {
                try row.decode(PostgresJSON<Payload>.self, "data")
            }
            #expect(error?.code == .decoding)
            #expect(error?.message.contains("\"data\"") == true)
            #expect(error?.message.contains("\"count\" is missing") == true)
        }
    }

    @Test func nullDecodesOnlyAsOptional() async throws {
        try await withTestConnection(migrated: false) { connection in
            let nothing: Int? = nil
            let row = try await connection.query("SELECT \(nothing)::int8 AS v, NULL::text AS t")[0]
            #expect(try row.decode(Int?.self, "v") == nil)
            #expect(try row.decode(String?.self, "t") == nil)
            let error = #expect(throws: PostgresError.self) { try row.decode(Int.self, "v") }
            #expect(error?.message == "Column \"v\" is NULL, which cannot be decoded as Int.")
        }
    }

    @Test func mismatchedTypesNameTheColumnAndBothTypes() async throws {
        try await withTestConnection(migrated: false) { connection in
            let row = try await connection.query("SELECT 'abc'::text AS label, 1.5::numeric AS amount")[0]
            let error = #expect(throws: PostgresError.self) { try row.decode(Int.self, "label") }
            #expect(error?.message == "Column \"label\" of type text cannot be decoded as Int.")
            let missing = #expect(throws: PostgresError.self) { try row.decode(Int.self, "nope") }
            #expect(missing?.message.contains("no column \"nope\"") == true)
            #expect(try row.decode(Double.self, "amount") == 1.5)
        }
    }
}
