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
            let lockConnection = try await database.connect()
            let lock = SingletonLock(configuration: configuration, module: "Reports", connection: lockConnection)
            try await lock.checkRealSession(known: nil)
            let fence = try #require(try await lock.acquire(node: "node-a", waitingAtMost: .seconds(5)))
            #expect(fence.epoch == 1)
            func fenced() async throws -> Bool {
                try await writer.query("SELECT \(fence.condition) AS ok")[0].decode(Bool.self, "ok")
            }
            #expect(try await fenced())
            #expect(await lock.stillHeld())

            // The same epoch and lock session pid from another run of a server (as a holder from before a failover has
            // them, where the promoted standby gave out its epoch again and the pid is another's) do not pass.
            let fromBefore = Fence(
                module: fence.module, epoch: fence.epoch, lock: fence.lock, lockBackendPID: fence.lockBackendPID,
                serverStartedAt: "2026-01-01 00:00:00+00")
            #expect(try await writer.query("SELECT \(fromBefore.condition) AS ok")[0].decode(Bool.self, "ok") == false)

            // A later holder's epoch makes this one stale, even while it still holds a lock.
            try await writer.execute("UPDATE daemon_singleton SET epoch = epoch + 1 WHERE module = 'Reports'")
            #expect(try await fenced() == false)
            #expect(await lock.stillHeld() == false)
            try await writer.execute("UPDATE daemon_singleton SET epoch = epoch - 1 WHERE module = 'Reports'")

            // A released lock fences too, and the next holder takes the next epoch.
            await lock.release()
            #expect(try await fenced() == false)
            let nextConnection = try await database.connect()
            let next = SingletonLock(configuration: configuration, module: "Reports", connection: nextConnection)
            #expect(try await next.acquire(node: "node-b", waitingAtMost: .seconds(5))?.epoch == 2)
            await next.release()
            await writer.close()
            await lockConnection.close()
            await nextConnection.close()
        }
    }

    @Test func aStandbysWaitEndsAfterItsSliceAndTakesTheLockOnceItIsFree() async throws {
        try await withTestDatabase { database in
            let configuration = try Configuration.load(environment: ["PGDAEMON_DATABASE_URL": database.connectionString]
            )
            let holderConnection = try await database.connect()
            let standbyConnection = try await database.connect()
            let holder = SingletonLock(configuration: configuration, module: "Reports", connection: holderConnection)
            let standby = SingletonLock(configuration: configuration, module: "Reports", connection: standbyConnection)
            _ = try #require(try await holder.acquire(node: "node-a", waitingAtMost: .seconds(5)))
            let started = ContinuousClock.now
            #expect(try await standby.acquire(node: "node-b", waitingAtMost: .milliseconds(200)) == nil)
            #expect(ContinuousClock.now - started >= .milliseconds(200))
            await holder.release()
            #expect(try await standby.acquire(node: "node-b", waitingAtMost: .seconds(5))?.epoch == 2)
            // The slice's lock_timeout does not outlive the wait: the module's own statements may wait as they like.
            #expect(
                try await standbyConnection.query("SHOW lock_timeout")[0].decode(String.self, "lock_timeout") == "0")
            await standby.release()
            await holderConnection.close()
            await standbyConnection.close()
        }
    }

}
