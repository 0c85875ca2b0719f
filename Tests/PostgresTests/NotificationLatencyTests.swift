import Postgres
import TestSupport
import Testing

/// Timing of the notification path. `scripts/test` runs this suite alone after the others, because on a small machine
/// the rest of the suite running in parallel takes the CPU the measurement needs.
@Suite("Notification latency (run alone)", .timeLimit(.minutes(2)))
struct NotificationLatencyTests {
    /// Waits for a notification and notes when it arrived, on the listener's own thread, so that the time measured is
    /// the notification's path and not the wait of a busy test machine's task pool.
    private func receive(
        on listener: isolated Connection
    ) async throws -> (PostgresNotification?, ContinuousClock.Instant) {
        let notification = try await listener.nextNotification(timeout: .seconds(10))
        return (notification, ContinuousClock.now)
    }

    /// Notes the time and sends, on the sender's own thread.
    private func send(_ payload: String, on sender: isolated Connection) async throws -> ContinuousClock.Instant {
        let sent = ContinuousClock.now
        try await sender.notify("pgdaemon_test", payload: payload)
        return sent
    }

    @Test func aNotificationReachesAWaitingListenerInUnderTenMilliseconds() async throws {
        try await withTestDatabase(migrated: false) { database in
            let listener = try await database.connect()
            let sender = try await database.connect()
            try await listener.listen("pgdaemon_test")
            var latencies: [Duration] = []
            for round in 0..<20 {
                let waiting = Task { try await receive(on: listener) }
                let sent = try await send("round \(round)", on: sender)
                let (notification, received) = try await waiting.value
                #expect(notification?.payload == "round \(round)")
                #expect(notification?.channel == "pgdaemon_test")
                #expect(notification?.senderPID == sender.backendPID)
                latencies.append(received - sent)
            }
            let median = latencies.sorted()[latencies.count / 2]
            #expect(median < .milliseconds(10), "latencies: \(latencies)")
            await listener.close()
            await sender.close()
        }
    }
}
