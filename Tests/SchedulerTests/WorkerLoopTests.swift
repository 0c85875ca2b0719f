import Testing

@testable import Scheduler

/// The task worker's decisions without a database or a clock: each test feeds `WorkerLoop` the events of one ordering
/// and checks the actions, at instants it chooses.
@Suite("The task worker's loop, as a state machine")
struct WorkerLoopTests {
    static let clock = DatabaseClock()
    let start = ContinuousClock.now

    func task(_ id: Int64, priority: Int = 0, turn: Int = 1, queue: String = "default", token: String = "t")
        -> ClaimedTask
    {
        ClaimedTask(
            id: id, name: nil, type: "Noop", dataJSON: "{}", attempts: 1, maxAttempts: 3, priority: priority,
            turn: turn, queue: queue, token: token, clock: Self.clock)
    }

    func outcome(_ id: Int64, queue: String = "default", token: String = "t", took seconds: Double = 0.001)
        -> TaskOutcome
    {
        TaskOutcome(id: id, token: token, queue: queue, status: .done, startedAt: 100, finishedAt: 100 + seconds)
    }

    func loop(maxWorkers: Int = 2, prefetch: Int = 0, lanes: Int = 2, queues: QueuesSection = QueuesSection())
        -> WorkerLoop
    {
        WorkerLoop(
            WorkerLoop.Settings(
                maxWorkers: maxWorkers, prefetch: prefetch, lanes: lanes, heartbeatInterval: .seconds(10),
                queues: queues),
            now: start)
    }

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    // What the actions say, in a form `#expect` compares.
    func claims(_ actions: [WorkerLoop.Action]) -> [(lane: Int, limit: Int, recording: [Int64])] {
        actions.compactMap {
            guard case .claim(let lane, let limit, _, let recording) = $0 else { return nil }
            return (lane, limit, recording.map(\.id))
        }
    }
    func rooms(_ actions: [WorkerLoop.Action]) -> [[String: Int]] {
        actions.compactMap {
            guard case .claim(_, _, let rooms, _) = $0 else { return nil }
            return rooms
        }
    }
    func started(_ actions: [WorkerLoop.Action]) -> [Int64] {
        actions.compactMap {
            guard case .start(let task) = $0 else { return nil }
            return task.id
        }
    }
    func recorded(_ actions: [WorkerLoop.Action]) -> [[Int64]] {
        actions.compactMap {
            guard case .record(let outcomes, _) = $0 else { return nil }
            return outcomes.map(\.id)
        }
    }
    func released(_ actions: [WorkerLoop.Action]) -> [Int64] {
        (claims(actions).flatMap(\.recording)) + recorded(actions).joined()
    }
    func ends(_ actions: [WorkerLoop.Action]) -> Bool {
        actions.contains {
            if case .end = $0 { true } else { false }
        }
    }

    @Test func theFirstClaimAsksForEveryFreeSlotAndTheLoopWaitsForANotification() {
        var loop = loop(maxWorkers: 4)
        let first = loop.decide(now: at(0), stopping: false)
        #expect(claims(first).map(\.lane) == [0])
        #expect(claims(first).map(\.limit) == [4])
        #expect(first.contains { if case .wait = $0 { true } else { false } })
        let second = loop.decide(now: at(0), stopping: false)
        #expect(claims(second).isEmpty, "the first claim asked for every free slot")
    }

    @Test func tasksOfClaimsSentSideBySideStartInPriorityOrderOnceEveryEarlierClaimIsBack() {
        var loop = loop(maxWorkers: 4, lanes: 2)
        _ = loop.decide(now: at(0), stopping: false)
        _ = loop.handle(
            .claimed([task(1), task(2), task(3), task(4)], lane: 0, recorded: []), now: at(1), stopping: false
        )
        _ = loop.handle(.finished(outcome(1)), now: at(2), stopping: false)
        _ = loop.handle(.finished(outcome(2)), now: at(2), stopping: false)
        #expect(claims(loop.decide(now: at(2), stopping: false)).isEmpty, "two still run: the outcomes wait")
        _ = loop.handle(.timer(.flush), now: at(22), stopping: false)
        #expect(
            claims(loop.decide(now: at(22), stopping: false)).map { [$0.lane, $0.limit] } == [[0, 2]])
        _ = loop.handle(.finished(outcome(3)), now: at(23), stopping: false)
        _ = loop.handle(.finished(outcome(4)), now: at(23), stopping: false)
        #expect(
            claims(loop.decide(now: at(23), stopping: false)).map { [$0.lane, $0.limit] } == [[1, 2]],
            "the second lane claims while the first one's claim is out")
        var actions = loop.handle(
            .claimed([task(17, priority: 0), task(13, priority: 1)], lane: 1, recorded: []), now: at(24),
            stopping: false)
        #expect(started(actions).isEmpty, "claim 1 is still out: its tasks may come first")
        actions = loop.handle(
            .claimed([task(15, priority: 1), task(12, priority: 0)], lane: 0, recorded: []), now: at(25),
            stopping: false)
        #expect(started(actions) == [12, 17, 13, 15], "lowest priority value first, then oldest, across both claims")
    }

    /// A claim of one task of a shallow key and many of a deep one took the shallow key's second: it runs second.
    @Test func aClaimsTasksOfOnePriorityStartInTheTurnsTheClaimTookThemIn() {
        var loop = loop(maxWorkers: 1, prefetch: 10, lanes: 1)
        _ = loop.decide(now: at(0), stopping: false)
        _ = loop.handle(
            .claimed(
                [task(1, turn: 1), task(2, turn: 3), task(101, turn: 2), task(3, priority: -1, turn: 4)], lane: 0,
                recorded: []), now: at(1), stopping: false)
        var order: [Int64] = []
        for id: Int64 in [3, 1, 101, 2] {
            order += started(loop.handle(.finished(outcome(id)), now: at(2), stopping: false))
        }
        #expect(order == [1, 101, 2], "the first started at once: priority -1")
    }

    /// The later claim ran first on the server and took the earlier task: the first claim's tasks wait for it.
    @Test func tasksOfAClaimBackWhileALaterOneIsOutWaitForIt() {
        var loop = loop(maxWorkers: 1, prefetch: 10, lanes: 2)
        _ = loop.decide(now: at(0), stopping: false)
        _ = loop.handle(.claimed([task(2, priority: -1)], lane: 0, recorded: []), now: at(1), stopping: false)
        #expect(claims(loop.decide(now: at(1), stopping: false)).map { [$0.lane, $0.limit] } == [[0, 10]])
        _ = loop.handle(.finished(outcome(2)), now: at(2), stopping: false)
        #expect(
            claims(loop.decide(now: at(2), stopping: false)).map { [$0.lane, $0.limit] } == [[1, 1]],
            "nothing runs: the outcome goes with a claim on the free lane")
        let first = loop.handle(
            .claimed([task(1, priority: 5), task(3, priority: 5)], lane: 0, recorded: []), now: at(3),
            stopping: false)
        #expect(started(first).isEmpty, "claim 2 is still out and may hold an earlier task")
        let second = loop.handle(
            .claimed([task(4, priority: 0)], lane: 1, recorded: []), now: at(4), stopping: false)
        #expect(started(second) == [4])
    }

    @Test func afterAFullClaimOfShortTasksItPrefetchesAndHandsBackWhatWaitsTooLong() {
        var loop = loop(maxWorkers: 2, prefetch: 4, lanes: 1)
        #expect(claims(loop.decide(now: at(0), stopping: false)).map(\.limit) == [2])
        _ = loop.handle(.claimed([task(1), task(2)], lane: 0, recorded: []), now: at(1), stopping: false)
        _ = loop.handle(.finished(outcome(1)), now: at(2), stopping: false)
        _ = loop.handle(.finished(outcome(2)), now: at(2), stopping: false)
        let next = loop.decide(now: at(2), stopping: false)
        #expect(claims(next).map(\.limit) == [6], "the free slots and the prefetch")
        #expect(claims(next).map(\.recording) == [[1, 2]], "recorded with the claim")
        let arrival = loop.handle(
            .claimed((3...8).map { task($0) }, lane: 0, recorded: []), now: at(3), stopping: false)
        #expect(started(arrival) == [3, 4])
        #expect(
            arrival.contains { if case .schedule(.prefetchExpiry, _) = $0 { true } else { false } },
            "the prefetched tasks' expiry is timed")
        // Task 3 finishes short: a prefetched task takes its slot. Task 4 runs long, holding the other.
        #expect(started(loop.handle(.finished(outcome(3)), now: at(10), stopping: false)) == [5])
        _ = loop.handle(.timer(.prefetchExpiry), now: at(1003), stopping: false)
        let handedBack = loop.decide(now: at(1003), stopping: false)
        #expect(released(handedBack).sorted() == [3, 6, 7, 8], "task 3's outcome and the three that waited a second")
        #expect(claims(handedBack).allSatisfy { $0.limit <= 2 }, "no prefetch after a prefetched task waited")
    }

    @Test func outcomesWaitForABatchOrTheFlushDelayWhileOthersRun() {
        var loop = loop(maxWorkers: 3, lanes: 1)
        _ = loop.decide(now: at(0), stopping: false)
        _ = loop.handle(
            .claimed([task(1), task(2), task(3)], lane: 0, recorded: []), now: at(1), stopping: false)
        _ = loop.handle(.finished(outcome(1)), now: at(2), stopping: false)
        var actions = loop.decide(now: at(2), stopping: false)
        #expect(claims(actions).isEmpty && recorded(actions).isEmpty, "two others still run")
        #expect(actions.contains { if case .schedule(.flush, .milliseconds(20)) = $0 { true } else { false } })
        #expect(
            !loop.decide(now: at(3), stopping: false).contains { if case .schedule = $0 { true } else { false } },
            "one flush timer at a time")
        _ = loop.handle(.timer(.flush), now: at(22), stopping: false)
        actions = loop.decide(now: at(22), stopping: false)
        #expect(claims(actions).map(\.recording) == [[1]], "recorded with a claim for the free slot")
        #expect(claims(actions).map(\.limit) == [1])
    }

    @Test func aClaimThatFoundNothingWaitsForANotificationAndAnIdleWorkerEnds() {
        var loop = loop(maxWorkers: 2, lanes: 1)
        _ = loop.decide(now: at(0), stopping: false)
        _ = loop.handle(.claimed([], lane: 0, recorded: []), now: at(1), stopping: false)
        #expect(claims(loop.decide(now: at(1), stopping: false)).isEmpty, "drained: no claim until woken")
        _ = loop.handle(.woken(notified: true), now: at(5), stopping: false)
        #expect(claims(loop.decide(now: at(5), stopping: false)).count == 1, "a notification: claim again")
        _ = loop.handle(.claimed([], lane: 0, recorded: []), now: at(6), stopping: false)
        #expect(
            ends(loop.handle(.woken(notified: false), now: at(5006), stopping: false)), "nothing came: the stretch ends"
        )
    }

    @Test func aStopWaitsForClaimsOutThenHandsBackPrefetchedTasksAndEndsWhenTheRunningOnesFinished() {
        var loop = loop(maxWorkers: 1, prefetch: 2, lanes: 1)
        _ = loop.decide(now: at(0), stopping: false)
        _ = loop.handle(.claimed([task(1)], lane: 0, recorded: []), now: at(1), stopping: false)
        _ = loop.handle(.finished(outcome(1)), now: at(2), stopping: false)
        #expect(claims(loop.decide(now: at(2), stopping: false)).map(\.limit) == [3])
        var actions = loop.decide(now: at(3), stopping: true)
        #expect(actions.isEmpty, "the claim that is out comes back first")
        actions = loop.handle(
            .claimed([task(2), task(3), task(4)], lane: 0, recorded: []), now: at(4), stopping: true)
        #expect(started(actions) == [2], "claimed within the free slots before the stop: it runs")
        actions = loop.decide(now: at(4), stopping: true)
        #expect(recorded(actions) == [[3, 4]], "the prefetched ones go back to the queue")
        #expect(!ends(actions), "task 2 still runs")
        #expect(started(loop.handle(.finished(outcome(2)), now: at(50), stopping: true)).isEmpty)
        actions = loop.decide(now: at(50), stopping: true)
        #expect(recorded(actions) == [[2]])
        #expect(ends(actions))
    }

    @Test func runningTasksAreHeartbeatenOnAFreeLaneEveryInterval() {
        var loop = loop(maxWorkers: 1, lanes: 1)
        _ = loop.decide(now: at(0), stopping: false)
        _ = loop.handle(.claimed([task(1, token: "a")], lane: 0, recorded: []), now: at(1), stopping: false)
        #expect(
            !loop.handle(.woken(notified: false), now: at(9000), stopping: false).contains {
                if case .heartbeat = $0 { true } else { false }
            })
        let actions = loop.handle(.woken(notified: false), now: at(10_001), stopping: false)
        #expect(
            actions.contains { if case .heartbeat(let tokens, 0) = $0 { tokens == ["a"] } else { false } },
            "\(actions)")
    }

    @Test func aQueueRunsNoMoreThanItsPerNodeSlotsAndClaimsAskForNoMoreThanItsRoom() {
        var queues = QueuesSection()
        queues.queues["mail"] = QueuesSection.Queue(perNode: 2)
        queues.queues["bulk"] = QueuesSection.Queue(limit: 5)
        var loop = loop(maxWorkers: 4, queues: queues)
        #expect(rooms(loop.decide(now: at(0), stopping: false)) == [["mail": 2]], "no per_node for default or bulk")
        let claimed = loop.handle(
            .claimed(
                [task(1, queue: "mail"), task(2, queue: "mail"), task(3, queue: "mail"), task(4)], lane: 0,
                recorded: []), now: at(1), stopping: false)
        #expect(started(claimed) == [1, 2, 4], "the third mail task waits for one of mail's two slots")
        let next = loop.handle(.finished(outcome(1, queue: "mail")), now: at(2), stopping: false)
        #expect(started(next) == [3], "a mail slot freed")
        _ = loop.handle(.finished(outcome(4)), now: at(3), stopping: false)
        _ = loop.handle(.timer(.flush), now: at(23), stopping: false)
        let refill = loop.decide(now: at(23), stopping: false)
        #expect(rooms(refill) == [["mail": 0]], "both of mail's slots run")
        #expect(claims(refill).map(\.limit) == [2])
    }

    @Test func theDefaultQueuesPerNodeSlotsGoToEveryQueueTheConfigurationDoesNotName() {
        var queues = QueuesSection()
        queues.queues["default"] = QueuesSection.Queue(perNode: 1)
        queues.queues["bulk"] = QueuesSection.Queue(limit: 5)
        var loop = loop(maxWorkers: 4, queues: queues)
        #expect(rooms(loop.decide(now: at(0), stopping: false)) == [["": 1, "default": 1, "bulk": 4]])
        let claimed = loop.handle(
            .claimed(
                [task(1, queue: "x"), task(2, queue: "x"), task(3, queue: "y"), task(4, queue: "bulk")],
                lane: 0, recorded: []), now: at(1), stopping: false)
        #expect(started(claimed) == [1, 3, 4], "x and y each have one slot of their own")
    }

    @Test func oneClaimAtATimeMayTakeFromTheQueuesWhoseRowsAClaimLocks() {
        var queues = QueuesSection()
        queues.queues["mail"] = QueuesSection.Queue(limit: 5)
        var loop = loop(maxWorkers: 4, lanes: 2, queues: queues)
        #expect(rooms(loop.decide(now: at(0), stopping: false)) == [[:]])
        _ = loop.handle(
            .claimed([task(1), task(2), task(3), task(4)], lane: 0, recorded: []), now: at(1), stopping: false
        )
        _ = loop.handle(.finished(outcome(1)), now: at(2), stopping: false)
        _ = loop.handle(.finished(outcome(2)), now: at(2), stopping: false)
        _ = loop.handle(.timer(.flush), now: at(22), stopping: false)
        #expect(rooms(loop.decide(now: at(22), stopping: false)) == [[:]], "no other claim is out")
        _ = loop.handle(.finished(outcome(3)), now: at(23), stopping: false)
        _ = loop.handle(.finished(outcome(4)), now: at(23), stopping: false)
        #expect(
            rooms(loop.decide(now: at(23), stopping: false)) == [["mail": 0]],
            "the claim out may take from mail: this one would wait at mail's lock for it")
        _ = loop.handle(.claimed([task(5)], lane: 0, recorded: []), now: at(24), stopping: false)
        _ = loop.handle(.claimed([task(6)], lane: 1, recorded: []), now: at(24), stopping: false)
        _ = loop.handle(.finished(outcome(5)), now: at(25), stopping: false)
        _ = loop.handle(.finished(outcome(6)), now: at(25), stopping: false)
        #expect(rooms(loop.decide(now: at(25), stopping: false)) == [[:]], "both claims are back")
    }

    /// The claim's snapshot may be older than what a notification announced while it was out, such as the slot that
    /// another lane's statement freed and notified about: waiting for the next one could wait for nothing.
    @Test func aClaimThatFoundNothingClaimsAgainWhenANotificationCameWhileItWasOut() {
        var loop = loop(maxWorkers: 2, lanes: 1)
        _ = loop.decide(now: at(0), stopping: false)
        _ = loop.handle(.woken(notified: true), now: at(1), stopping: false)
        _ = loop.handle(.claimed([], lane: 0, recorded: []), now: at(2), stopping: false)
        #expect(claims(loop.decide(now: at(2), stopping: false)).map(\.limit) == [2])
        _ = loop.handle(.woken(notified: false), now: at(3), stopping: false)
        _ = loop.handle(.claimed([], lane: 0, recorded: []), now: at(4), stopping: false)
        #expect(
            claims(loop.decide(now: at(4), stopping: false)).isEmpty,
            "without a notification since it was sent, the empty claim waits for one")
    }
}
