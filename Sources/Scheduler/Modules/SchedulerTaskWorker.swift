public import DaemonKit
import Foundation
import Logging
import Postgres

/// Runs ready tasks on every node: claims them in batches with `FOR UPDATE SKIP LOCKED`, runs up to `max_workers` at
/// once, keeps their locks fresh, and records each outcome. Enqueuing wakes it at once through `LISTEN pgdaemon_task`;
/// `poll_interval` is only a fallback.
///
/// While the queue is deep and its tasks are short, it claims up to `prefetch` tasks beyond its free slots, so that
/// the next batch's round trip to the server overlaps the current batch's run instead of following it. A prefetched
/// task starts the moment a slot frees; one still waiting after `prefetchWait` goes back to the queue. Its attempt
/// is counted at the claim, as a running task's is, so a task that crashes the worker still runs out of attempts.
/// The default, 10 × max_workers, lets each claim bring a larger batch, so that each task pays a smaller share of the
/// claim's statement: alternating one-node drains of 20,000 Noop tasks went from 27,500–29,200 tasks/s with
/// 2 × max_workers to 30,900–38,300 with 10× (worker and server CPU per drain down by a third). Prefetched tasks are
/// short by definition, so the last of a full prefetch starts within 10 × 20 ms.
///
/// Claims go out on `claim_connections` connections side by side, so that one backend works on a batch while the
/// other's answer is on its way and the worker runs the tasks of a third: on two cores, with a prefetch of
/// 2 × max_workers, a drain of Noop tasks went from about 20,000 tasks/s with one to 29,000 with two (three did no
/// better). With the larger default prefetch the second one no longer shows in a drain (one: 34,700–35,800; two:
/// 33,100–35,400), and costs nothing there either.
///
/// On SIGTERM it claims nothing more, puts prefetched tasks back and lets running tasks finish; tasks still running
/// when the process is cancelled go back to the queue.
public final class SchedulerTaskWorker: DaemonModule {
    public static let description = "Runs ready tasks, up to max_workers at once, woken at once by enqueues."
    /// Its waits happen inside `run()`, on notifications.
    public static var defaultSleepPost: Duration { .zero }
    public static var settings: [ModuleSetting] {
        [
            ModuleSetting("max_workers", .integer, help: "Tasks run at once; default 10."),
            ModuleSetting(
                "prefetch", .integer,
                help: "Short tasks claimed beyond the free slots while the queue is deep; default 10 × max_workers."),
            ModuleSetting(
                "claim_connections", .integer, help: "Connections that claim and record tasks side by side; default 2."),
            ModuleSetting(
                "poll_interval", .duration, help: "How often to look for tasks without a notification; default 5s."),
            ModuleSetting("retry_backoff", .duration, help: "The wait before a failed task's first retry; default 1s."),
            ModuleSetting("retry_backoff_max", .duration, help: "The longest wait before a retry; default 1h."),
        ]
    }

    public let context: ModuleContext
    private let listener: Connection
    /// One per claiming connection; the first is the module's own.
    private let stores: [TaskStore]
    private let runner: TaskRunner
    private let maxWorkers: Int
    private let prefetch: Int
    private let pollInterval: Duration
    /// How often running tasks' `lock_update_time` is refreshed: a quarter of the rescuer's `lock_timeout`, at most
    /// every 10 s, so the rescuer never takes a task from a live worker.
    private let heartbeatInterval: Duration

    /// A worker that runs the built-in task types.
    public convenience init(context: ModuleContext) async throws {
        try await self.init(context: context, handlers: .builtIn)
    }

    /// A worker that runs the task types of `handlers`; `ModuleRegistry.scheduler(handlers:)` registers it so.
    public init(context: ModuleContext, handlers: TaskHandlerRegistry) async throws {
        self.context = context
        maxWorkers = max(1, context.settings.integer("max_workers", default: 10))
        prefetch = max(0, context.settings.integer("prefetch", default: 10 * maxWorkers))
        pollInterval = context.settings.duration("poll_interval", default: .seconds(5))
        heartbeatInterval = min(.seconds(10), SchedulerTaskRescuer.lockTimeout(in: context.configuration) / 4)
        runner = TaskRunner(
            handlers: handlers,
            // The n-th retry waits retry_backoff × 2^(n−1), ±20 % so that tasks failing together do not come back
            // together, at most retry_backoff_max.
            backoff: Backoff(
                initial: context.settings.duration("retry_backoff", default: .seconds(1)),
                cap: context.settings.duration("retry_backoff_max", default: .seconds(3600)), jitter: 0.2),
            context: context)
        let clock = DatabaseClock()
        let columns = try await TaskColumns.read(on: context.database)
        var stores = [TaskStore(connection: context.database, node: context.node, clock: clock, columns: columns)]
        for lane in 1..<max(1, context.settings.integer("claim_connections", default: 2)) {
            stores.append(
                TaskStore(
                    connection: try await context.connect("claim-\(lane + 1)"), node: context.node, clock: clock,
                    columns: columns))
        }
        self.stores = stores
        listener = try await context.connect("listen")
        try await listener.listen("pgdaemon_task")
    }

    /// How long a finished task's outcome may wait to be recorded with others while its neighbours still run.
    static let flushDelay = Duration.milliseconds(20)
    /// A task that ran longer than this counts as long: after one, the worker claims no more than its free slots.
    static let shortTask = 0.02
    /// How long a prefetched task may wait for a slot before it goes back to the queue for another worker.
    static let prefetchWait = Duration.seconds(1)

    private enum Event: Sendable {
        case finished(TaskOutcome)
        /// A claim came back with these tasks, having recorded the outcomes sent with it.
        case claimed([ClaimedTask], lane: Int, order: Int, recorded: [TaskOutcome])
        /// Time to record the outcomes gathered so far.
        case flush
        /// Time to see whether prefetched tasks waited too long.
        case prefetchExpiry
        /// The wait ended: `notified` when a notification came, false at the poll interval or a stop request.
        case woken(notified: Bool)
    }

    /// One stretch of work: claims and runs tasks until the queue is empty and nothing ran for a poll interval, or
    /// until a stop request has let the running tasks finish.
    ///
    /// A claim is a task of the group, like the handlers, so the loop goes on while it is out: tasks claimed before
    /// run and finish while the server works on the next batch. Handlers and the loop run on the cooperative pool;
    /// the connection's own thread blocks in libpq for the claim.
    public func run() async throws -> ModuleStep {
        try await withThrowingTaskGroup(of: Event.self) { group in
            defer { group.cancelAll() }
            var running = 0
            /// Prefetched tasks, lowest priority value first, then oldest, with when they were claimed.
            var prefetched: [(task: ClaimedTask, since: ContinuousClock.Instant)] = []
            /// For each connection, the tasks asked for by its claim that is out, if one is.
            var claiming: [Int?] = Array(repeating: nil, count: stores.count)
            var asked: Int { claiming.reduce(0) { $0 + ($1 ?? 0) } }
            /// Claims are numbered as they go out, and their tasks start only when every earlier claim is back, in
            /// priority order: claims sent side by side may run on the server in either order, so a later one may
            /// hold earlier tasks, or skip the ones an earlier claim is locking and hold later ones.
            var claimsSent = 0
            var claimsStarted = 0
            var arrived: [Int: [ClaimedTask]] = [:]
            var held: Int { arrived.values.reduce(0) { $0 + $1.count } }
            /// Whether the last claim got all it asked for and the tasks since ran short: only then to prefetch.
            var deepAndShort = false
            /// Whether a claim found no ready task: then the next waits for a notification. (One that found fewer than
            /// it asked for may have met the other connection's claim; the next one tells.)
            var drained = false
            var expiryScheduled = false
            var finished: [TaskOutcome] = []
            var tokens: [String: Int] = [:]
            var waiting = false
            var flushScheduled = false
            var flushDue = false
            var lastHeartbeat = ContinuousClock.now
            /// Forgets the tokens of recorded outcomes: a token is heartbeated while any of its tasks runs.
            func forget(_ recorded: [TaskOutcome]) {
                for outcome in recorded {
                    tokens[outcome.token, default: 1] -= 1
                    if tokens[outcome.token] == 0 { tokens[outcome.token] = nil }
                }
            }
            func flush(on store: TaskStore) async throws {
                guard !finished.isEmpty else { return }
                try await record(finished, on: store)
                forget(finished)
                finished = []
            }
            func start(_ task: ClaimedTask) {
                running += 1
                group.addTask { [runner] in .finished(await runner.execute(task)) }
            }
            /// Hands prefetched tasks back, unrun and their attempt not counted, with the next recorded outcomes.
            func releasePrefetched(waitingSince cutoff: ContinuousClock.Instant) {
                for waited in prefetched where waited.since <= cutoff {
                    let now = waited.task.serverTime()
                    finished.append(
                        TaskOutcome(
                            id: waited.task.id, token: waited.task.token, status: .released, startedAt: now,
                            finishedAt: now))
                    flushDue = true
                }
                prefetched.removeAll { $0.since <= cutoff }
            }
            /// A timer: the event comes after the delay.
            func schedule(_ event: Event, after delay: Duration) {
                group.addTask {
                    try? await Task.sleep(for: delay)
                    return event
                }
            }
            func scheduleExpiry() {
                guard !prefetched.isEmpty && !expiryScheduled else { return }
                expiryScheduled = true
                schedule(.prefetchExpiry, after: Self.prefetchWait)
            }
            while true {
                // Outcomes are recorded in batches: when nothing runs any more, when a batch's worth has finished,
                // or at the latest `flushDelay` after the first of them; together with the next claim, when there
                // is room for more tasks.
                let stopping = context.stop.isRequested || Task.isCancelled
                let batch = deepAndShort ? max(maxWorkers, prefetch) : maxWorkers
                let flushNow = running == 0 || finished.count >= batch || flushDue || stopping
                if !finished.isEmpty && !flushNow && !flushScheduled {
                    flushScheduled = true
                    schedule(.flush, after: Self.flushDelay)
                }
                let limit = maxWorkers + (deepAndShort ? prefetch : 0) - running - prefetched.count - asked - held
                // One statement at a time on a connection: a claim that is out comes back before the next.
                let lane = claiming.firstIndex { $0 == nil }
                if stopping {
                    // Claims still out come back first, with tasks that go straight back to the queue.
                    if asked == 0 {
                        releasePrefetched(waitingSince: .now)
                        try await flush(on: stores[0])
                        if running == 0 { return .proceed }
                    }
                } else if let lane, limit > 0,
                    (flushNow && !finished.isEmpty) || (!drained && (flushNow || finished.isEmpty))
                {
                    flushDue = false
                    let token = "\(context.node)/\(getpid())/\(UUID().uuidString.prefix(8))"
                    let recording = finished
                    finished = []
                    claiming[lane] = limit
                    let order = claimsSent
                    claimsSent += 1
                    group.addTask { [store = stores[lane]] in
                        let claimed = try await store.claim(limit: limit, token: token, recording: recording)
                        return .claimed(claimed, lane: lane, order: order, recorded: recording)
                    }
                } else if let lane, flushNow && asked == 0 {
                    // Every slot is taken by tasks started from the prefetched ones: record without claiming.
                    flushDue = false
                    try await flush(on: stores[lane])
                }
                if !waiting && !stopping {
                    waiting = true
                    // Woken at least every heartbeat interval, so running tasks' locks stay fresh.
                    group.addTask { [listener, wait = min(pollInterval, heartbeatInterval), stop = context.stop] in
                        let notification = try? await stop.unlessStopped {
                            try await listener.nextNotification(timeout: wait)
                        }
                        return .woken(notified: notification != nil && notification! != nil)
                    }
                }
                guard let event = try await group.next() else { return .proceed }
                switch event {
                case .finished(let outcome):
                    running -= 1
                    finished.append(outcome)
                    if outcome.finishedAt - outcome.startedAt > Self.shortTask { deepAndShort = false }
                    if !prefetched.isEmpty && !context.stop.isRequested { start(prefetched.removeFirst().task) }
                case .claimed(let claimed, let lane, let order, let recorded):
                    forget(recorded)
                    deepAndShort = claimed.count == claiming[lane]
                    drained = claimed.isEmpty
                    claiming[lane] = nil
                    for task in claimed { tokens[task.token, default: 0] += 1 }
                    arrived[order] = claimed
                    let claimedAt = ContinuousClock.now
                    var ready: [ClaimedTask] = []
                    while let tasks = arrived.removeValue(forKey: claimsStarted) {
                        claimsStarted += 1
                        ready += tasks
                    }
                    // Claimed within the free slots, a task runs even if a stop came meanwhile: it was claimed
                    // before the stop, and the claim's committed lock already shows it as running.
                    for task in ready.sorted(by: Self.runsBefore) {
                        if running < maxWorkers { start(task) } else { prefetched.append((task, claimedAt)) }
                    }
                    prefetched.sort { Self.runsBefore($0.task, $1.task) }
                    scheduleExpiry()
                case .flush:
                    flushScheduled = false
                    flushDue = true
                case .prefetchExpiry:
                    expiryScheduled = false
                    if prefetched.contains(where: { $0.since <= .now - Self.prefetchWait }) {
                        // The slots are held by long tasks after all: claim no more than they free.
                        deepAndShort = false
                        releasePrefetched(waitingSince: .now - Self.prefetchWait)
                    }
                    scheduleExpiry()
                case .woken(let notified):
                    waiting = false
                    drained = false
                    if !notified && running == 0 && finished.isEmpty && asked == 0 { return .proceed }
                }
                if running > 0, let lane = claiming.firstIndex(where: { $0 == nil }),
                    ContinuousClock.now - lastHeartbeat >= heartbeatInterval
                {
                    try await stores[lane].heartbeat(tokens: Set(tokens.keys))
                    lastHeartbeat = .now
                }
            }
        }
    }

    /// The order tasks run in: lowest priority value first, then oldest.
    private static func runsBefore(_ first: ClaimedTask, _ second: ClaimedTask) -> Bool {
        (first.priority, first.id) < (second.priority, second.id)
    }

    /// Records outcomes; after cancellation, on a task of its own, so that tasks cut short still go back to the queue.
    private func record(_ outcomes: [TaskOutcome], on store: TaskStore) async throws {
        if Task.isCancelled {
            try await Task.detached { try await store.finish(outcomes) }.value
        } else {
            try await store.finish(outcomes)
        }
    }
}

/// An attempt that ran longer than its handler's timeout.
struct TaskTimedOut: Error, CustomStringConvertible {
    var type: String
    var timeout: Duration
    var description: String { "The \(type) task ran longer than its timeout of \(DurationText.format(timeout))." }
}
