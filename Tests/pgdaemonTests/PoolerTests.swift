import Cache
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Behind a connection pooler", .timeLimit(.minutes(2)))
struct PoolerTests {
    private let modules = "  TestDaemon: { cluster: singleton, sleep_post: 100ms }"

    @Test func aTransactionPoolerIsRefusedForSingletonsAndTheNodeLock() async throws {
        try await withTestDatabase { database in
            try await withPgBouncer(mode: "transaction") { pooler in
                let daemon = try await DaemonHarness(
                    connectionString: pooler.connectionString(database: database.name), modules: modules)
                try daemon.start()
                try await waitUntil("the singleton is refused") {
                    daemon.output.contains(
                        "error TestDaemon: Cannot run as the singleton. error=The connection of TestDaemon is not a real session"
                    )
                }
                #expect(daemon.output.contains("warning supervisor: A transaction-pooling proxy is in the way"))
                #expect(!daemon.output.contains("Took over the singleton."))
                await daemon.cleanUp()
            }
        }
    }

    @Test func aSessionPoolerRunsSingletons() async throws {
        try await withTestDatabase { database in
            try await withPgBouncer(mode: "session") { pooler in
                let daemon = try await DaemonHarness(
                    connectionString: pooler.connectionString(database: database.name), modules: modules)
                try daemon.start()
                try await daemon.waitForModule("TestDaemon", iterations: 2)
                #expect(daemon.output.contains("Took over the singleton."))
                #expect(!daemon.output.contains("transaction-pooling"))
                await daemon.cleanUp()
            }
        }
    }

    /// PgBouncer 1.18 in transaction mode moves each statement to any server session, where a statement prepared
    /// on another one is unknown, or its name taken: the cache's prepared statements must fall back, not fail.
    @Test func theCacheWorksThroughATransactionPooler() async throws {
        try await withTestDatabase { database in
            try await withPgBouncer(mode: "transaction") { pooler in
                let url = pooler.connectionString(database: database.name)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for client in 0..<6 {
                        group.addTask {
                            let connection = try await Connection.connect(ConnectionOptions(url))
                            let cache = Cache(connection: connection)
                            for round in 0..<50 {
                                try await cache.set(round, type: "Pooled", key: "client-\(client)")
                                #expect(try await cache.get(Int.self, type: "Pooled", key: "client-\(client)") == round)
                            }
                            await connection.close()
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
    }
}
