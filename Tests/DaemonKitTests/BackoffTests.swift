import DaemonKit
import Testing

@Suite("Backoff: the wait of every retry, restart and wait for the database")
struct BackoffTests {
    @Test func delaysDoubleWithJitterUpToTheCap() {
        let backoff = Backoff(initial: .seconds(1), cap: .seconds(60), jitter: 0.2)
        #expect(backoff.delay(attempt: 1, random: 0) == .seconds(1))
        #expect(backoff.delay(attempt: 2, random: 0) == .seconds(2))
        #expect(backoff.delay(attempt: 4, random: 0) == .seconds(8))
        #expect(backoff.delay(attempt: 3, random: 1) == .milliseconds(4800))
        #expect(backoff.delay(attempt: 3, random: -1) == .milliseconds(3200))
        #expect(backoff.delay(attempt: 30, random: 1) == .seconds(60))
    }

    @Test func nextCountsTheWaitsAndResetStartsAgain() {
        var backoff = Backoff(initial: .milliseconds(250), cap: .seconds(5))
        let waits = (0..<7).map { _ in backoff.next() }
        #expect(
            waits == [
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5),
            ])
        #expect(backoff.attempts == 7)
        backoff.reset()
        #expect(backoff.next() == .milliseconds(250))
    }

    @Test func withoutJitterTheRandomDrawChangesNothing() {
        let backoff = Backoff(initial: .seconds(1), cap: .seconds(30))
        #expect(backoff.delay(attempt: 3, random: 1) == .seconds(4))
        #expect(backoff.delay(attempt: 3, random: -1) == .seconds(4))
    }
}
