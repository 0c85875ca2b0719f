import Foundation

/// A task a worker claimed: its row's essentials and the claim token that its completion must match.
struct ClaimedTask: Sendable {
    var id: Int64
    var name: String?
    var type: String
    var dataJSON: String
    /// Attempts including this one.
    var attempts: Int
    var maxAttempts: Int
    /// Lower runs first.
    var priority: Int
    /// Its place among the tasks of its claim that have its priority, as the claim took them: keys and queues take
    /// turns, so this is not the order of ids.
    var turn: Int
    var queue: String
    var token: String
    /// The worker's reading of the database clock, which an attempt's times come from.
    var clock: DatabaseClock

    /// The database clock's time now: an attempt's times compare with create_time and lock_time, which the database
    /// records, however far this host's wall clock is off.
    func serverTime() -> Double { clock.now() }
}

/// How one attempt ended.
struct TaskOutcome: Sendable {
    enum Status: String {
        case done, retried, failed
        /// Stopped at `scheduler_task_cancel`'s request: not retried.
        case cancelled
        /// Not run to its end (the worker was stopped): back to ready, the attempt not counted.
        case released
    }

    var id: Int64
    var token: String
    var queue: String
    var status: Status
    var error: String?
    /// What the task printed, for history.
    var output: String?
    /// Seconds since the epoch, by the database clock (`ClaimedTask.serverTime`): when a retried task is due again.
    var retryAt: Double?
    var startedAt: Double
    var finishedAt: Double
}
