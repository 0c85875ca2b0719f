import Testing

@testable import Scheduler

@Suite("Coarse timer for task and command timeouts", .timeLimit(.minutes(2)))
struct CoarseTimerTests {
    @Test func aSleeperWakesAtItsDeadlineNotBefore() async throws {
        let timer = CoarseTimer(resolution: .milliseconds(10))
        let deadline = ContinuousClock.now + .milliseconds(150)
        try await timer.sleep(until: deadline)
        #expect(ContinuousClock.now >= deadline)
        #expect(timer.pending.sleepers == 0)
    }

    @Test func cancelledSleepersEndAtOnceAndLeaveNothingBehind() async throws {
        let timer = CoarseTimer()
        let sleepers = (0..<5000).map { _ in
            Task { try await timer.sleep(until: .now + .seconds(3600)) }
        }
        for sleeper in sleepers { sleeper.cancel() }
        // Counted, not expected one by one: 5,000 expectations took a debug build seconds, a minute on a busy machine.
        var cancelled = 0
        for sleeper in sleepers {
            do { try await sleeper.value } catch is CancellationError { cancelled += 1 }
        }
        #expect(cancelled == sleepers.count)
        #expect(timer.pending.sleepers == 0)
        #expect(timer.pending.marks == 0)
    }

    @Test func aTaskCancelledBeforeItSleepsDoesNotSleep() async throws {
        let timer = CoarseTimer()
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await timer.sleep(until: .now + .seconds(3600))
        }
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(timer.pending.sleepers == 0)
        #expect(timer.pending.marks == 0)
    }
}
