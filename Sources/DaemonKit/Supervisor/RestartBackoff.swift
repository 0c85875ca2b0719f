/// How long to wait before restarting a crashed module: 100 ms after the first crash, doubling per crash in a row,
/// capped at 30 s. A child that ran for `stableAfter` before crashing starts the count again, so a rare crash is
/// restarted quickly while a crash loop settles at one attempt per cap.
public struct RestartBackoff: Sendable, Equatable {
    public var initial: Duration = .milliseconds(100)
    public var cap: Duration = .seconds(30)
    public var stableAfter: Duration = .seconds(60)
    /// Crashes in a row so far.
    public private(set) var crashes = 0

    public init() {}

    /// Counts a crash of a child that ran for `uptime`, and returns the delay before its restart.
    public mutating func delay(afterCrashWithUptime uptime: Duration) -> Duration {
        crashes = uptime >= stableAfter ? 1 : crashes + 1
        var delay = initial
        for _ in 1..<crashes where delay < cap {
            delay *= 2
        }
        return min(delay, cap)
    }
}
