import Postgres
import TestSupport
import Testing

@Suite("LISTEN and NOTIFY", .timeLimit(.minutes(2)))
struct NotificationTests {
    @Test func aWaitWithNothingToHearReturnsNilAtItsTimeout() async throws {
        try await withTestConnection(migrated: false) { connection in
            try await connection.listen("quiet")
            let started = ContinuousClock.now
            #expect(try await connection.nextNotification(timeout: .milliseconds(200)) == nil)
            #expect(ContinuousClock.now - started >= .milliseconds(200))
        }
    }

    @Test func cancellingTheWaitingTaskEndsTheWaitAtOnce() async throws {
        try await withTestConnection(migrated: false) { connection in
            try await connection.listen("quiet")
            let started = ContinuousClock.now
            let waiting = Task { try await connection.nextNotification(timeout: .seconds(60)) }
            try await Task.sleep(for: .milliseconds(50))
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
            #expect(ContinuousClock.now - started < .seconds(5))
            // The connection still works, and the next wait is not ended by the old wake-up.
            #expect(try await connection.nextNotification(timeout: .milliseconds(100)) == nil)
        }
    }

    @Test func statementsRunWhileTheConnectionWaitsAndTheNotificationsTheyBringAreHeard() async throws {
        try await withTestConnection(migrated: false) { connection in
            try await connection.listen("work")
            let waiting = Task { try await connection.nextNotification(timeout: .seconds(60)) }
            let started = ContinuousClock.now
            #expect(try await connection.query("SELECT 1 AS one")[0].decode(Int.self, "one") == 1)
            #expect(ContinuousClock.now - started < .seconds(5))
            // A session hears its own notification in its statement's answer, which libpq reads: the wait gets it.
            try await connection.notify("work", payload: "own")
            #expect(try await waiting.value?.payload == "own")
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test func repeatsNotYetTakenAreHeardOnce() async throws {
        try await withTestDatabase(migrated: false) { database in
            let listener = try await database.connect()
            let sender = try await database.connect()
            try await listener.listen("work")
            // Each in a transaction of its own, so the server delivers every one, as a stream of enqueues does.
            for _ in 1...300 {
                try await sender.notify("work", payload: "a")
                try await sender.notify("work", payload: "b")
            }
            // The listener's statement reads what came meanwhile, as a busy worker's claims do.
            _ = try await listener.query("SELECT pg_sleep(0.05)")
            #expect(try await listener.nextNotification(timeout: .seconds(5))?.payload == "a")
            #expect(try await listener.nextNotification(timeout: .seconds(5))?.payload == "b")
            #expect(try await listener.nextNotification(timeout: .milliseconds(100)) == nil)
            // Taken, a payload is heard again.
            try await sender.notify("work", payload: "a")
            #expect(try await listener.nextNotification(timeout: .seconds(5))?.payload == "a")
            await listener.close()
            await sender.close()
        }
    }

    @Test func anyTextIsASafeChannelName() async throws {
        try await withTestDatabase(migrated: false) { database in
            let listener = try await database.connect()
            let sender = try await database.connect()
            let channel = "it's \"odd\"; DROP TABLE x; 🎉"
            try await listener.listen(channel)
            try await sender.notify(channel, payload: "ok")
            let notification = try await listener.nextNotification(timeout: .seconds(5))
            #expect(notification?.channel == channel)
            #expect(notification?.payload == "ok")
            await listener.close()
            await sender.close()
        }
    }
}
