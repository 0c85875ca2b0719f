import Scheduler
import Testing

@Suite("Retry backoff")
struct RetryBackoffTests {
    @Test func retryDelaysDoubleWithJitterUpToTheCap() {
        let backoff = RetryBackoff(base: .seconds(1), cap: .seconds(60))
        #expect(backoff.delay(retry: 1, jitter: 0) == .seconds(1))
        #expect(backoff.delay(retry: 2, jitter: 0) == .seconds(2))
        #expect(backoff.delay(retry: 4, jitter: 0) == .seconds(8))
        #expect(backoff.delay(retry: 3, jitter: 1) == .milliseconds(4800))
        #expect(backoff.delay(retry: 3, jitter: -1) == .milliseconds(3200))
        #expect(backoff.delay(retry: 30, jitter: 1) == .seconds(60))
    }
}
