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
/// task starts the moment a slot frees; one still waiting after a second (`WorkerLoop.Settings.prefetchWait`) goes back to the queue. Its attempt
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
/// 33,100–35,400), so the default is one: the module's own connection, which also listens (a notification wait holds
/// no connection), and a node's worker costs the server one session.
///
/// On SIGTERM it claims nothing more, puts prefetched tasks back and lets running tasks finish; tasks still running
/// when the process is cancelled go back to the queue.
public final class SchedulerTaskWorker: DaemonModule {
    public static let description = "Runs ready tasks, up to max_workers at once, woken at once by enqueues."
    /// Its waits happen inside `run()`, on notifications.
    public static var defaultSleepPost: Duration { .zero }
    /// None: an iteration lasts while tasks keep coming, and each task has its own timeout.
    public static var defaultMaxIteration: Duration? { nil }
    public static var settings: [ModuleSetting] {
        [
            ModuleSetting("max_workers", .integer, help: "Tasks run at once; default 10."),
            ModuleSetting(
                "prefetch", .integer,
                help: "Short tasks claimed beyond the free slots while the queue is deep; default 10 × max_workers."),
            ModuleSetting(
                "claim_connections", .integer, help: "Connections that claim and record tasks side by side; default 1."),
            ModuleSetting(
                "poll_interval", .duration, help: "How often to look for tasks without a notification; default 5s."),
            ModuleSetting("retry_backoff", .duration, help: "The wait before a failed task's first retry; default 1s."),
            ModuleSetting("retry_backoff_max", .duration, help: "The longest wait before a retry; default 1h."),
        ]
    }

    public let context: ModuleContext
    /// One per claiming connection; the first is the module's own, which also listens.
    private let stores: [TaskStore]
    private let runner: TaskRunner
    /// What `scheduler_task_cancel` stops, told through `pgdaemon_cancel` or the heartbeat.
    private let attempts = RunningAttempts()
    private let queues: QueuesSection
    private let maxWorkers: Int
    private let prefetch: Int
    private let pollInterval: Duration
    /// How often running tasks' `lock_update_time` is refreshed: a quarter of the rescuer's `lock_timeout`, at most
    /// every 10 s, so the rescuer never takes a task from a live worker.
    private let heartbeatInterval: Duration

    /// A worker that runs the built-in task types, within the configured rescuer's `lock_timeout`.
    public convenience init(context: ModuleContext) async throws {
        try await self.init(
            context: context, handlers: .builtIn,
            lockTimeout: SchedulerTaskRescuer.lockTimeout(in: context.configuration))
    }

    /// A worker that runs the task types of `handlers` and refreshes its tasks' locks well within `lockTimeout`, the
    /// rescuer's; `ModuleRegistry.scheduler(handlers:)` makes it so.
    public init(context: ModuleContext, handlers: TaskHandlerRegistry, lockTimeout: Duration) async throws {
        self.context = context
        maxWorkers = max(1, context.settings.integer("max_workers", default: 10))
        prefetch = max(0, context.settings.integer("prefetch", default: 10 * maxWorkers))
        pollInterval = context.settings.duration("poll_interval", default: .seconds(5))
        heartbeatInterval = min(.seconds(10), lockTimeout / 4)
        runner = TaskRunner(
            handlers: handlers,
            // The n-th retry waits retry_backoff × 2^(n−1), ±20 % so that tasks failing together do not come back
            // together, at most retry_backoff_max.
            backoff: Backoff(
                initial: context.settings.duration("retry_backoff", default: .seconds(1)),
                cap: context.settings.duration("retry_backoff_max", default: .seconds(3600)), jitter: 0.2),
            context: context, attempts: attempts)
        queues = context.configuration.section(QueuesSection.self)
        try await QueueStore(connection: context.database).configure(queues)
        let clock = DatabaseClock()
        let columns = try await TaskColumns.read(on: context.database)
        var stores = [
            TaskStore(connection: context.database, node: context.node, clock: clock, columns: columns, queues: queues)
        ]
        for lane in 1..<max(1, context.settings.integer("claim_connections", default: 1)) {
            stores.append(
                TaskStore(
                    connection: try await context.connect("claim-\(lane + 1)"), node: context.node, clock: clock,
                    columns: columns, queues: queues))
        }
        self.stores = stores
        try await context.database.listen("pgdaemon_task")
        try await context.database.listen("pgdaemon_cancel")
    }

    /// One stretch of work: claims and runs tasks until the queue is empty and nothing ran for a poll interval, or
    /// until a stop request has let the running tasks finish. `WorkerLoop` decides; this performs its actions.
    ///
    /// A claim is a task of the group, like the handlers and the timers, so the loop goes on while it is out: tasks
    /// claimed before run and finish while the server works on the next batch. Handlers and the loop run on the
    /// cooperative pool; the connection's own thread blocks in libpq for the claim.
    public func run() async throws -> ModuleStep {
        try await withThrowingTaskGroup(of: WorkerLoop.Event.self) { group in
            defer { group.cancelAll() }
            var loop = WorkerLoop(
                WorkerLoop.Settings(
                    maxWorkers: maxWorkers, prefetch: prefetch, lanes: stores.count,
                    heartbeatInterval: heartbeatInterval, queues: queues),
                now: .now)
            /// Performs the actions in order; false once the loop has ended.
            func perform(_ actions: [WorkerLoop.Action]) async throws -> Bool {
                for action in actions {
                    switch action {
                    case .claim(let lane, let limit, let rooms, let recording):
                        let token = "\(context.node)/\(getpid())/\(UUID().uuidString.prefix(8))"
                        group.addTask { [store = stores[lane]] in
                            let claimed = try await store.claim(
                                limit: limit, rooms: rooms, token: token, recording: recording)
                            return .claimed(claimed, lane: lane, recorded: recording)
                        }
                    case .record(let outcomes, let lane):
                        try await record(outcomes, on: stores[lane])
                    case .start(let task):
                        group.addTask { [runner] in .finished(await runner.execute(task)) }
                    case .heartbeat(let tokens, let lane):
                        for id in try await stores[lane].heartbeat(tokens: tokens) { attempts.cancel(id) }
                    case .schedule(let timer, let delay):
                        group.addTask {
                            try? await Task.sleep(for: delay)
                            return .timer(timer)
                        }
                    case .wait:
                        // Woken at least every heartbeat interval, so running tasks' locks stay fresh.
                        group.addTask {
                            [
                                listener = context.database, attempts, wait = min(pollInterval, heartbeatInterval),
                                stop = context.stop
                            ] in
                            let notification =
                                try? await stop.unlessStopped {
                                    try await listener.nextNotification(timeout: wait)
                                } ?? nil
                            if let notification, notification.channel == "pgdaemon_cancel",
                                let id = Int64(notification.payload)
                            {
                                attempts.cancel(id)
                            }
                            return .woken(notified: notification != nil)
                        }
                    case .end:
                        return false
                    }
                }
                return true
            }
            var stopping: Bool { context.stop.isRequested || Task.isCancelled }
            while try await perform(loop.decide(now: .now, stopping: stopping)) {
                guard let event = try await group.next(),
                    try await perform(loop.handle(event, now: .now, stopping: context.stop.isRequested))
                else { return .proceed }
            }
            return .proceed
        }
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
