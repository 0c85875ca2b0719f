import Postgres
import TestSupport
import Testing

@Suite("Advisory locks", .timeLimit(.minutes(2)))
struct AdvisoryLockTests {
    private let key = AdvisoryLockKey(namespace: 1_885_824_999, name: "test-lock")

    @Test func aWaiterGetsTheLockTheMomentTheHolderDisconnects() async throws {
        try await withTestDatabase(migrated: false) { database in
            let holder = try await database.connect()
            let waiter = try await database.connect()
            #expect(try await holder.tryAdvisoryLock(key))
            #expect(try await waiter.tryAdvisoryLock(key) == false)

            let waiting = Task {
                try await waiter.advisoryLock(key)
                return ContinuousClock.now
            }
            try await waitUntilActive(waiter, query: "SELECT pg_advisory_lock($1::int4, $2::int4)")
            let released = ContinuousClock.now
            await holder.close()
            let acquired = try await waiting.value
            #expect(acquired - released < .seconds(1))
            // The lock is the waiter's now: it can release it once, and not twice.
            #expect(try await waiter.advisoryUnlock(key))
            #expect(try await waiter.advisoryUnlock(key) == false)
            await waiter.close()
        }
    }

    @Test func aBlockingWaitEndsWhenItsTaskIsCancelled() async throws {
        try await withTestDatabase(migrated: false) { database in
            let holder = try await database.connect()
            let waiter = try await database.connect()
            try await holder.advisoryLock(key)
            let waiting = Task { try await waiter.advisoryLock(key) }
            try await waitUntilActive(waiter, query: "SELECT pg_advisory_lock($1::int4, $2::int4)")
            waiting.cancel()
            let error = await #expect(throws: PostgresError.self) { try await waiting.value }
            #expect(error?.sqlState == PostgresError.SQLState.queryCanceled)
            #expect(try await waiter.tryAdvisoryLock(key) == false)
            await holder.close()
            await waiter.close()
        }
    }

    @Test func keysDerivedFromNamesAreStable() {
        // FNV-1a of "test-lock"; the same in every process, unlike Hasher.
        #expect(AdvisoryLockKey(namespace: 1, name: "test-lock") == AdvisoryLockKey(namespace: 1, name: "test-lock"))
        #expect(AdvisoryLockKey(namespace: 1, name: "").id == Int32(bitPattern: 2_166_136_261))
        #expect(AdvisoryLockKey(namespace: 1, name: "a").id != AdvisoryLockKey(namespace: 1, name: "b").id)
    }
}
