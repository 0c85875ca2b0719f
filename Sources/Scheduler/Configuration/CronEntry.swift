public import Foundation

/// One entry of the configuration's `cron:`: a task enqueued at every slot of a schedule.
public struct CronEntry: Sendable, Equatable {
    /// What to do about slots missed while no cron manager ran.
    public enum CatchUp: String, Sendable {
        /// Run the latest missed slot once (default).
        case once
        /// Record the missed slots as skipped.
        case skip
    }

    /// What a slot does while the entry's previous task still waits or runs.
    public enum Overlap: String, Sendable {
        /// The slot is recorded as skipped (default): at most one run at a time, as OTRS's MaximumParallelInstances 1.
        case skip
        /// The slot waits, and its task is enqueued once the previous one has ended.
        case queue
        /// The slot's task is enqueued anyway.
        case allow
    }

    /// The entry's key; the tasks it enqueues carry it as their name.
    public var name: String
    public var schedule: CronSchedule
    /// The time zone the schedule is read in (`timezone:`, default UTC), by name: every process reads the
    /// configuration, and only the cron manager needs the zone itself, whose data comes from ICU (about a MB of
    /// memory in each process that loads it).
    public var timeZoneIdentifier: String
    /// The zone named by `timeZoneIdentifier`, which the configuration checked.
    public var timeZone: TimeZone { TimeZone(identifier: timeZoneIdentifier) ?? .gmt }
    public var catchUp: CatchUp
    public var taskType: String
    /// The task's data as JSON text (`task: { data: … }`, default `{}`).
    public var taskDataJSON: String
    public var priority: Int
    public var maxAttempts: Int
    /// The queue its tasks run in (`queue:`, default `default`).
    public var queue = "default"
    public var overlap = Overlap.skip
}
