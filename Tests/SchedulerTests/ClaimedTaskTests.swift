import Testing

@testable import Scheduler

/// An attempt's times are the database clock's: the claim's server time plus what this process's monotonic clock
/// measured since, never this host's wall clock.
@Suite("A claimed task's times")
struct ClaimedTaskTests {
    @Test func timesAfterTheClaimFollowTheDatabaseClock() {
        let claimedHere = ContinuousClock.now
        let task = ClaimedTask(
            id: 1, name: nil, type: "Noop", dataJSON: "{}", attempts: 1, maxAttempts: 3, priority: 0, token: "t",
            claimedOnServer: 1_000_000, claimedHere: claimedHere)
        #expect(task.serverTime(at: claimedHere) == 1_000_000)
        #expect(task.serverTime(at: claimedHere + .milliseconds(1500)) == 1_000_001.5)
        #expect(abs(task.serverTime() - 1_000_000) < 60, "now is moments after the claim, whatever the wall clock says")
    }
}
