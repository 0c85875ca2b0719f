import DaemonKit
import Postgres
import TestSupport
import Testing

@Suite("Singleton lock and fencing", .timeLimit(.minutes(2)))
struct FenceTests {
    @Test func theFenceHoldsOnlyWhileTheLockIsHeldAndTheEpochIsCurrent() async throws {
        try await withTestDatabase { database in
            let configuration = try Configuration.load(environment: ["PGDAEMON_DATABASE_URL": database.connectionString]
            )
            let writer = try await database.connect()
            let lock = try await SingletonLock(configuration: configuration, module: "Reports")
            try await lock.checkRealSession()
            let fence = try await lock.acquire(node: "node-a")
            #expect(fence.epoch == 1)
            func fenced() async throws -> Bool {
                try await writer.query("SELECT \(fence.condition) AS ok")[0].decode(Bool.self, "ok")
            }
            #expect(try await fenced())
            #expect(await lock.stillHeld())

            // A later holder's epoch makes this one stale, even while it still holds a lock.
            try await writer.execute("UPDATE daemon_singleton SET epoch = epoch + 1 WHERE module = 'Reports'")
            #expect(try await fenced() == false)
            #expect(await lock.stillHeld() == false)
            try await writer.execute("UPDATE daemon_singleton SET epoch = epoch - 1 WHERE module = 'Reports'")

            // A released lock fences too, and the next holder takes the next epoch.
            await lock.release()
            #expect(try await fenced() == false)
            let next = try await SingletonLock(configuration: configuration, module: "Reports")
            #expect(try await next.acquire(node: "node-b").epoch == 2)
            await next.release()
            await writer.close()
        }
    }
}
