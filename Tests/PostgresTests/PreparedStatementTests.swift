import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Prepared statements", .timeLimit(.minutes(2)))
struct PreparedStatementTests {
    private func preparedCount(_ connection: Connection) async throws -> Int {
        try await connection.query("SELECT count(*) AS n FROM pg_prepared_statements")[0].decode(Int.self, "n")
    }

    @Test func aStatementIsPreparedOnceAndRunsWithEachCallsValues() async throws {
        try await withTestConnection(migrated: false) { connection in
            for number in 1...5 {
                let rows = try await connection.query(
                    "SELECT \(number)::int * 2 AS doubled, \(Data([UInt8(number), 0, 255]))::bytea AS bytes",
                    prepared: true)
                #expect(try rows[0].decode(Int.self, "doubled") == number * 2)
                #expect(try rows[0].decode(Data.self, "bytes") == Data([UInt8(number), 0, 255]))
            }
            #expect(try await preparedCount(connection) == 1)
            let null: String? = nil
            let rows = try await connection.query("SELECT \(null)::text IS NULL AS missing", prepared: true)
            #expect(try rows[0].decode(Bool.self, "missing"))
            #expect(try await preparedCount(connection) == 2)
        }
    }

    @Test func aStatementTheServerForgotIsPreparedAgain() async throws {
        try await withTestConnection(migrated: false) { connection in
            #expect(
                try await connection.query("SELECT \(1)::int AS one", prepared: true)[0].decode(Int.self, "one") == 1)
            try await connection.execute("DEALLOCATE ALL")
            #expect(
                try await connection.query("SELECT \(1)::int AS one", prepared: true)[0].decode(Int.self, "one") == 1)
            #expect(try await preparedCount(connection) == 1)
        }
    }

    @Test func errorsOfAPreparedStatementAreTheServersErrors() async throws {
        try await withTestConnection(migrated: false) { connection in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT 1 / \(0)::int AS x", prepared: true)
            }
            #expect(error?.sqlState == "22012")
            let syntax = await #expect(throws: PostgresError.self) {
                try await connection.query("SELEC 1", prepared: true)
            }
            #expect(syntax?.sqlState == "42601")
        }
    }
}

@Suite("bytea received in binary", .timeLimit(.minutes(2)))
struct BinaryBytesTests {
    @Test func bytesRoundTripWithoutHexAndMissingRowsAreNil() async throws {
        try await withTestConnection(migrated: false) { connection in
            let bytes = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            let echo: SQL = "SELECT \(bytes)::bytea AS b"
            for prepared in [false, true] {
                let echoed = try await connection.queryBytes(echo, prepared: prepared)
                let empty = try await connection.queryBytes("SELECT ''::bytea", prepared: prepared)
                let null = try await connection.queryBytes("SELECT NULL::bytea", prepared: prepared)
                let none = try await connection.queryBytes("SELECT ''::bytea WHERE false", prepared: prepared)
                #expect(echoed == bytes)
                #expect(empty == Data())
                #expect(null == nil)
                #expect(none == nil)
            }
            let wrong = await #expect(throws: PostgresError.self) { try await connection.queryBytes("SELECT 1") }
            #expect(wrong?.message == "The statement must return one bytea column to be read as bytes.")
            let failing = await #expect(throws: PostgresError.self) {
                try await connection.queryBytes("SELECT decode('zz', 'hex')")
            }
            #expect(failing?.sqlState == "22023")
        }
    }
}
