/// How long to wait before restarting a crashed module: 100 ms after the first crash, doubling per crash in a row,
/// capped at 30 s (a `Backoff`). A child that ran for `stableAfter` before crashing starts the count again, so a rare
/// crash is restarted quickly while a crash loop settles at one attempt per cap.
public struct RestartBackoff: Sendable, Equatable {
    public var backoff = Backoff(initial: .milliseconds(100), cap: .seconds(30))
    public var stableAfter: Duration = .seconds(60)
    /// Crashes in a row so far.
    public var crashes: Int { backoff.attempts }

    public init() {}

    /// Counts a crash of a child that ran for `uptime`, and returns the delay before its restart.
    public mutating func delay(afterCrashWithUptime uptime: Duration) -> Duration {
        if uptime >= stableAfter { backoff.reset() }
        return backoff.next()
    }
}
