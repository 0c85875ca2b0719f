import Foundation
import TestSupport
import Testing

@Suite("Behind a connection pooler", .timeLimit(.minutes(2)))
struct PoolerTests {
    private let modules = "  TestDaemon: { cluster: singleton, sleep_post: 100ms }"

    @Test func aTransactionPoolerIsRefusedForSingletonsAndTheNodeLock() async throws {
        try await withTestDatabase { database in
            let pooler = try await ThrowawayPgBouncer.start(mode: "transaction")
            let daemon = try await DaemonHarness(
                connectionString: pooler.connectionString(database: database.name), modules: modules)
            try daemon.start()
            try await waitUntil("the singleton is refused") {
                daemon.output.contains(
                    "error TestDaemon: Cannot run as the singleton. error=The lock connection of TestDaemon is not a real session"
                )
            }
            #expect(daemon.output.contains("warning supervisor: A transaction-pooling proxy is in the way"))
            #expect(!daemon.output.contains("Took over the singleton."))
            await daemon.cleanUp()
            pooler.stop()
        }
    }

    @Test func aSessionPoolerRunsSingletons() async throws {
        try await withTestDatabase { database in
            let pooler = try await ThrowawayPgBouncer.start(mode: "session")
            let daemon = try await DaemonHarness(
                connectionString: pooler.connectionString(database: database.name), modules: modules)
            try daemon.start()
            try await daemon.waitForModule("TestDaemon", iterations: 2)
            #expect(daemon.output.contains("Took over the singleton."))
            #expect(!daemon.output.contains("transaction-pooling"))
            await daemon.cleanUp()
            pooler.stop()
        }
    }
}
