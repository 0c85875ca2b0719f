/// The wait before a failed task's next attempt: `base` × 2^(n−1) for the n-th retry, with ±20 % jitter so that tasks
/// failing together do not come back together, capped at `cap` (worker settings `retry_backoff`, default 1s, and
/// `retry_backoff_max`, default 1h).
public struct RetryBackoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(3600)) {
        self.base = base
        self.cap = cap
    }

    /// The delay before retry `retry` (1 for the first), with `jitter` in -1...1 (random by default).
    public func delay(retry: Int, jitter: Double = .random(in: -1...1)) -> Duration {
        var delay = base
        for _ in 1..<max(retry, 1) where delay < cap {
            delay *= 2
        }
        return min(delay * (1 + 0.2 * jitter), cap)
    }
}
