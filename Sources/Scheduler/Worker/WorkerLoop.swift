/// The task worker's decisions, with nothing but them: events come in (a claim came back, a task finished, a timer
/// fired, a notification woke it, a stop was asked for), actions go out (claim up to N on lane L, start a task,
/// record outcomes, heartbeat, set a timer, wait for a notification, end). `SchedulerTaskWorker.run` performs the
/// actions and feeds the events back; this type knows no database, no clock but the instants it is given, and runs
/// no task, so its tests drive it through the orderings that the end-to-end tests only met under load.
///
/// What it decides:
/// - Outcomes are recorded in batches: when nothing runs any more, when a batch's worth has finished, or at the latest
///   `flushDelay` after the first of them; together with the next claim when there is room for more tasks.
/// - One statement at a time on a lane (a claim connection): a claim that is out comes back before the next.
/// - The tasks a claim brings start only when no other claim is out, lowest priority value first, then in the turns
///   the claim took them in (keys and queues take turns: `scheduler_claim_tasks`), then oldest: claims
///   sent side by side may run on the server in either order, so either may hold the other's earlier tasks, or skip
///   the ones the other is locking and hold later ones. (Starting a claim's tasks while a later claim was still out
///   ran a priority-5 task before a priority-0 one that the later claim held, once in a few loaded test runs.)
/// - While the last claim got all it asked for and the tasks since ran short, it claims up to `prefetch` beyond the
///   free slots; a prefetched task waiting longer than `prefetchWait` goes back to the queue, and prefetching stops.
/// - A claim that found no ready task waits for a notification before the next, unless one came while it was out:
///   the claim may have read the queue before what the notification announced (its own statement's, for one).
/// - A queue with `per_node` runs at most that many of its tasks here; each claim says how many more of a queue's
///   tasks the node has room for (`scheduler_claim_tasks`' rooms), and a claimed task waits among the prefetched
///   ones while its queue's slots are taken.
/// - One claim at a time may take from the queues whose rows a claim locks (`limit`, `key_limit` or `rate`); the others
///   leave them out (room 0). Two claims of one node would only wait at the queue's lock for each other's commit.
/// - On a stop, claims still out come back first, prefetched tasks go back to the queue, running ones finish.
struct WorkerLoop {
    struct Settings: Sendable {
        var maxWorkers: Int
        var prefetch: Int
        var lanes: Int
        /// How often running tasks' locks are refreshed, and the longest wait without a notification.
        var heartbeatInterval: Duration
        /// How long a finished task's outcome may wait to be recorded with others while its neighbours still run.
        var flushDelay = Duration.milliseconds(20)
        /// How long a prefetched task may wait for a slot before it goes back to the queue for another worker.
        var prefetchWait = Duration.seconds(1)
        /// A task that ran longer than this, in seconds, counts as long: after one, the worker claims no more than
        /// its free slots.
        var shortTask = 0.02
        /// The queues' per-node slots.
        var queues = QueuesSection()
    }

    enum Event: Sendable {
        case finished(TaskOutcome)
        /// A claim came back with these tasks, having recorded the outcomes sent with it.
        case claimed([ClaimedTask], lane: Int, recorded: [TaskOutcome])
        case timer(Timer)
        /// The wait ended: `notified` when a notification came, false at its timeout or a stop request.
        case woken(notified: Bool)
    }

    enum Timer: Sendable {
        /// Time to record the outcomes gathered so far.
        case flush
        /// Time to see whether prefetched tasks waited too long.
        case prefetchExpiry
    }

    enum Action: Sendable {
        /// Send a claim for up to `limit` tasks on `lane`, at most `rooms` of a queue (the key "" for queues it does
        /// not name), recording `recording` in the same statement; it comes back as `.claimed`.
        case claim(lane: Int, limit: Int, rooms: [String: Int], recording: [TaskOutcome])
        /// Record outcomes on `lane` now, before anything else.
        case record([TaskOutcome], lane: Int)
        /// Run the task; it comes back as `.finished`.
        case start(ClaimedTask)
        /// Refresh the locks of the running tasks' claim tokens on `lane` now.
        case heartbeat(tokens: Set<String>, lane: Int)
        /// The timer's event comes after the delay.
        case schedule(Timer, after: Duration)
        /// Wait for a notification, at most `heartbeatInterval`; it comes back as `.woken`.
        case wait
        /// This stretch of work is over.
        case end
    }

    let settings: Settings
    private var running = 0
    private var runningByQueue: [String: Int] = [:]
    /// Prefetched tasks, in the order they run, with when they were claimed.
    private var prefetched: [(task: ClaimedTask, since: ContinuousClock.Instant)] = []
    /// For each lane, the tasks asked for by its claim that is out, if one is.
    private var claiming: [Int?]
    /// For each lane, whether a notification came while its claim was out.
    private var notifiedDuringClaim: [Bool]
    /// The lane whose claim that is out may take from the queues whose rows a claim locks.
    private var lockingLane: Int?
    /// Tasks of claims back while another was still out.
    private var arrived: [ClaimedTask] = []
    private var deepAndShort = false
    private var drained = false
    private var expiryScheduled = false
    private var finished: [TaskOutcome] = []
    /// The claim tokens of tasks not yet recorded, with how many of their tasks each has.
    private var tokens: [String: Int] = [:]
    private var waiting = false
    private var flushScheduled = false
    private var flushDue = false
    private var lastHeartbeat: ContinuousClock.Instant

    init(_ settings: Settings, now: ContinuousClock.Instant) {
        self.settings = settings
        claiming = Array(repeating: nil, count: settings.lanes)
        notifiedDuringClaim = Array(repeating: false, count: settings.lanes)
        lastHeartbeat = now
    }

    private var asked: Int { claiming.reduce(0) { $0 + ($1 ?? 0) } }
    private var held: Int { arrived.count }

    /// What to do before waiting for the next event.
    mutating func decide(now: ContinuousClock.Instant, stopping: Bool) -> [Action] {
        var actions: [Action] = []
        let batch = deepAndShort ? max(settings.maxWorkers, settings.prefetch) : settings.maxWorkers
        let flushNow = running == 0 || finished.count >= batch || flushDue || stopping
        if !finished.isEmpty && !flushNow && !flushScheduled {
            flushScheduled = true
            actions.append(.schedule(.flush, after: settings.flushDelay))
        }
        let limit =
            settings.maxWorkers + (deepAndShort ? settings.prefetch : 0) - running - prefetched.count - asked - held
        let lane = claiming.firstIndex { $0 == nil }
        if stopping {
            if asked == 0 {
                releasePrefetched(waitingSince: now)
                if !finished.isEmpty { actions.append(record(on: 0)) }
                if running == 0 { return actions + [.end] }
            }
        } else if let lane, limit > 0, (flushNow && !finished.isEmpty) || (!drained && (flushNow || finished.isEmpty)) {
            flushDue = false
            claiming[lane] = limit
            notifiedDuringClaim[lane] = false
            let locking = lockingLane == nil
            if locking && settings.queues.locksAnyRow { lockingLane = lane }
            actions.append(
                .claim(
                    lane: lane, limit: limit, rooms: rooms(leavingLocked: !locking),
                    recording: finished))
            finished = []
        } else if let lane, flushNow && asked == 0 {
            // Every slot is taken by tasks started from the prefetched ones: record without claiming.
            flushDue = false
            if !finished.isEmpty { actions.append(record(on: lane)) }
        }
        if !waiting && !stopping {
            waiting = true
            actions.append(.wait)
        }
        return actions
    }

    /// What to do about an event.
    mutating func handle(_ event: Event, now: ContinuousClock.Instant, stopping: Bool) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .finished(let outcome):
            running -= 1
            runningByQueue[outcome.queue, default: 1] -= 1
            if runningByQueue[outcome.queue] == 0 { runningByQueue[outcome.queue] = nil }
            finished.append(outcome)
            if outcome.finishedAt - outcome.startedAt > settings.shortTask { deepAndShort = false }
            if !stopping, let next = prefetched.firstIndex(where: { canStart($0.task) }) {
                actions.append(start(prefetched.remove(at: next).task))
            }
        case .claimed(let claimed, let lane, let recorded):
            forget(recorded)
            deepAndShort = claimed.count == claiming[lane]
            drained = claimed.isEmpty && !notifiedDuringClaim[lane]
            claiming[lane] = nil
            if lockingLane == lane { lockingLane = nil }
            for task in claimed { tokens[task.token, default: 0] += 1 }
            arrived += claimed
            guard claiming.allSatisfy({ $0 == nil }) else { break }
            let ready = arrived
            arrived = []
            // Claimed within the free slots, a task runs even if a stop came meanwhile: it was claimed before the
            // stop, and the claim's committed lock already shows it as running.
            for task in ready.sorted(by: Self.runsBefore) {
                if canStart(task) { actions.append(start(task)) } else { prefetched.append((task, now)) }
            }
            prefetched.sort { Self.runsBefore($0.task, $1.task) }
            actions += scheduleExpiry()
        case .timer(.flush):
            flushScheduled = false
            flushDue = true
        case .timer(.prefetchExpiry):
            expiryScheduled = false
            if prefetched.contains(where: { $0.since <= now - settings.prefetchWait }) {
                // The slots are held by long tasks after all: claim no more than they free.
                deepAndShort = false
                releasePrefetched(waitingSince: now - settings.prefetchWait)
            }
            actions += scheduleExpiry()
        case .woken(let notified):
            waiting = false
            drained = false
            if notified {
                for lane in claiming.indices where claiming[lane] != nil { notifiedDuringClaim[lane] = true }
            }
            if !notified && running == 0 && finished.isEmpty && asked == 0 { return [.end] }
        }
        if running > 0, let lane = claiming.firstIndex(where: { $0 == nil }),
            now - lastHeartbeat >= settings.heartbeatInterval
        {
            actions.append(.heartbeat(tokens: Set(tokens.keys), lane: lane))
            lastHeartbeat = now
        }
        return actions
    }

    /// The order tasks run in: lowest priority value first, then in their claims' turns (the first task each claim
    /// took, then the second, …), then oldest.
    static func runsBefore(_ first: ClaimedTask, _ second: ClaimedTask) -> Bool {
        (first.priority, first.turn, first.id) < (second.priority, second.turn, second.id)
    }

    private mutating func start(_ task: ClaimedTask) -> Action {
        running += 1
        runningByQueue[task.queue, default: 0] += 1
        return .start(task)
    }

    /// Whether a slot of the node and of the task's queue is free.
    private func canStart(_ task: ClaimedTask) -> Bool {
        guard running < settings.maxWorkers else { return false }
        guard let perNode = settings.queues.settings(for: task.queue).perNode else { return true }
        return runningByQueue[task.queue, default: 0] < perNode
    }

    /// Each queue's room for the next claim: its per_node slots, and as many again as the prefetch allows while the
    /// queue is deep and short, less its tasks here (running, prefetched, or back from a claim). Queues without
    /// per_node are named only when the default queue has one, which the key "" stands for otherwise. Claims still
    /// out are not counted: what they bring beyond the slots waits with the prefetched tasks. `leavingLocked` gives
    /// the queues whose rows a claim locks no room, and every other queue a room of its own.
    private func rooms(leavingLocked: Bool) -> [String: Int] {
        let queues = settings.queues
        let defaultPerNode = queues.settings(for: "").perNode
        guard leavingLocked || defaultPerNode != nil || queues.queues.values.contains(where: { $0.perNode != nil })
        else { return [:] }
        var held = runningByQueue
        for task in prefetched.map(\.task) + arrived { held[task.queue, default: 0] += 1 }
        func room(_ perNode: Int, _ queue: String) -> Int {
            let slots = deepAndShort ? perNode + perNode * settings.prefetch / settings.maxWorkers : perNode
            return max(0, slots - held[queue, default: 0])
        }
        var rooms: [String: Int] = [:]
        if let defaultPerNode { rooms[""] = room(defaultPerNode, "") }
        for name in Set(queues.queues.keys).union(held.keys) {
            if let perNode = queues.settings(for: name).perNode {
                rooms[name] = room(perNode, name)
            } else if defaultPerNode != nil || leavingLocked {
                rooms[name] = settings.maxWorkers + settings.prefetch
            }
        }
        if leavingLocked {
            for name in Set(rooms.keys).union([""]) where queues.locksRow(name) { rooms[name] = 0 }
        }
        return rooms
    }

    /// Records what finished, forgetting its tokens: the record is awaited before the next event.
    private mutating func record(on lane: Int) -> Action {
        defer {
            forget(finished)
            finished = []
        }
        return .record(finished, lane: lane)
    }

    /// Forgets the tokens of recorded outcomes: a token is heartbeated while any of its tasks runs.
    private mutating func forget(_ recorded: [TaskOutcome]) {
        for outcome in recorded {
            tokens[outcome.token, default: 1] -= 1
            if tokens[outcome.token] == 0 { tokens[outcome.token] = nil }
        }
    }

    /// Hands prefetched tasks back, unrun and their attempt not counted, with the next recorded outcomes. A released
    /// attempt leaves no history row, so it has no times.
    private mutating func releasePrefetched(waitingSince cutoff: ContinuousClock.Instant) {
        for waited in prefetched where waited.since <= cutoff {
            finished.append(
                TaskOutcome(
                    id: waited.task.id, token: waited.task.token, queue: waited.task.queue, status: .released,
                    startedAt: 0, finishedAt: 0))
            flushDue = true
        }
        prefetched.removeAll { $0.since <= cutoff }
    }

    private mutating func scheduleExpiry() -> [Action] {
        guard !prefetched.isEmpty && !expiryScheduled else { return [] }
        expiryScheduled = true
        return [.schedule(.prefetchExpiry, after: settings.prefetchWait)]
    }
}
