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
    var token: String
    /// The database's clock when the claim ran (seconds since the epoch), and this process's monotonic clock when the
    /// claim came back: together they tell the database's time of any later moment of this attempt.
    var claimedOnServer: Double
    var claimedHere: ContinuousClock.Instant

    /// The database clock's time at `instant`: the claim's server time plus what this process's monotonic clock
    /// measured since, so that an attempt's times compare with create_time and lock_time, which the database
    /// records, however far this host's wall clock is off.
    func serverTime(at instant: ContinuousClock.Instant = .now) -> Double {
        let elapsed = claimedHere.duration(to: instant)
        return claimedOnServer + Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// How one attempt ended.
struct TaskOutcome: Sendable {
    enum Status: String {
        case done, retried, failed
        /// Not run to its end (the worker was stopped): back to ready, the attempt not counted.
        case released
    }

    var id: Int64
    var token: String
    var status: Status
    var error: String?
    /// What the task printed, for history.
    var output: String?
    /// Seconds since the epoch, by the database clock (`ClaimedTask.serverTime`): when a retried task is due again.
    var retryAt: Double?
    var startedAt: Double
    var finishedAt: Double
}
