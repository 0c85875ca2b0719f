import Testing

@testable import Scheduler

/// An attempt's times are the database clock's: the largest offset any claim showed, plus this process's monotonic
/// clock, never this host's wall clock.
@Suite("The worker's reading of the database clock")
struct DatabaseClockTests {
    @Test func theClosestOffsetWinsAndTimeNeverGoesBack() {
        let clock = DatabaseClock()
        let now = ContinuousClock.now
        clock.observe(serverClock: 1_000_000, at: now)
        let first = clock.now()
        #expect(first >= 1_000_000 && first < 1_000_060)
        // A claim whose reply took longer shows a smaller offset: it is not taken.
        clock.observe(serverClock: 999_999, at: now)
        #expect(clock.now() >= first)
        // One that shows a larger offset is closer to the truth.
        clock.observe(serverClock: 1_000_002, at: now)
        #expect(clock.now() >= 1_000_002)
    }
}
