import Testing

@testable import DaemonKit

/// The supervisor's reading of a child's end, from values alone.
@Suite("What the supervisor makes of a child's exit")
struct ChildExitTests {
    func decide(
        _ status: Int32, signaled: Bool = false, uptime: Duration = .seconds(30), nodeStopping: Bool = false,
        childStopping: Bool = false, hasReplacement: Bool = false, draining: Bool = false, singleton: Bool = false,
        backoff: inout RestartBackoff
    ) -> ChildExit {
        ChildExit.decide(
            status: status, signaled: signaled, uptime: uptime, nodeStopping: nodeStopping,
            childStopping: childStopping, hasReplacement: hasReplacement, draining: draining, singleton: singleton,
            backoff: &backoff)
    }

    @Test func aDiscardRestartsAtOnceAndCountsNoCrash() {
        var backoff = RestartBackoff()
        #expect(decide(ModuleExit.discarded.rawValue, uptime: .milliseconds(5), backoff: &backoff) == .discarded)
        #expect(decide(ModuleExit.discardedAfterError.rawValue, uptime: .seconds(2), backoff: &backoff) == .discarded)
        #expect(backoff.crashes == 0)
    }

    @Test func aStepFailingAtOnceWaitsForTheCrashBackoff() {
        var backoff = RestartBackoff()
        let first = decide(ModuleExit.discardedAfterError.rawValue, uptime: .milliseconds(200), backoff: &backoff)
        let second = decide(ModuleExit.discardedAfterError.rawValue, uptime: .milliseconds(200), backoff: &backoff)
        #expect(first == .discardedTooSoon(restartAfter: .milliseconds(100)))
        #expect(second == .discardedTooSoon(restartAfter: .milliseconds(200)), "crashes in a row double the wait")
    }

    @Test func aSignalOrAnUnknownStatusIsACrashNamingIt() {
        var backoff = RestartBackoff()
        #expect(
            decide(9, signaled: true, backoff: &backoff)
                == .crashed(reason: "killed by signal 9", restartAfter: .milliseconds(100)))
        #expect(
            decide(ModuleExit.discarded.rawValue, signaled: true, backoff: &backoff)
                == .crashed(reason: "killed by signal 75", restartAfter: .milliseconds(200)),
            "a signal numbered like a discard is still a signal")
        #expect(
            decide(ModuleExit.failed.rawValue, uptime: .seconds(61), backoff: &backoff)
                == .crashed(reason: "exited with status 1", restartAfter: .milliseconds(100)),
            "a child that ran a minute starts the count again")
    }

    @Test func aChildStoppedOnPurposeIsReplacedForgottenOrKept() {
        var backoff = RestartBackoff()
        #expect(
            decide(0, childStopping: true, hasReplacement: true, backoff: &backoff)
                == .stopped(drained: false, then: .startReplacement))
        #expect(decide(0, childStopping: true, backoff: &backoff) == .stopped(drained: false, then: .forget))
        #expect(
            decide(9, signaled: true, childStopping: true, draining: true, singleton: true, backoff: &backoff)
                == .stopped(drained: true, then: .forget), "a drained singleton, even one that had to be killed")
        #expect(
            decide(0, nodeStopping: true, hasReplacement: true, backoff: &backoff)
                == .stopped(drained: false, then: .keep),
            "no replacement starts while the node stops")
        #expect(backoff.crashes == 0)
    }

    @Test func aRestartAppliesOnlyToTheSameGenerationStillDownOnANodeThatRuns() {
        #expect(
            ChildExit.restartApplies(
                sameGeneration: true, processRunning: false, nodeStopping: false, draining: false, singleton: true))
        #expect(
            !ChildExit.restartApplies(
                sameGeneration: false, processRunning: false, nodeStopping: false, draining: false, singleton: false))
        #expect(
            !ChildExit.restartApplies(
                sameGeneration: true, processRunning: true, nodeStopping: false, draining: false, singleton: false))
        #expect(
            !ChildExit.restartApplies(
                sameGeneration: true, processRunning: false, nodeStopping: true, draining: false, singleton: false))
        #expect(
            !ChildExit.restartApplies(
                sameGeneration: true, processRunning: false, nodeStopping: false, draining: true, singleton: true))
        #expect(
            ChildExit.restartApplies(
                sameGeneration: true, processRunning: false, nodeStopping: false, draining: true, singleton: false),
            "a drain keeps every-node modules")
    }
}
