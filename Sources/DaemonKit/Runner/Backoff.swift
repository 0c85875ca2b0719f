/// A wait that doubles from `initial` up to `cap`, spread at random by `jitter`: every retry, restart and
/// wait-for-the-database loop of pgdaemon waits through one, so they all grow, cap and spread alike.
///
/// ```swift
/// var backoff = Backoff(initial: .seconds(1), cap: .seconds(30))
/// while !(await database.ping()) { try await Task.sleep(for: backoff.next()) }
/// ```
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var cap: Duration
    /// How far each delay is spread both ways, as a share of it (0.2: ±20 %), so that what failed together does not
    /// come back together; 0 for none.
    public var jitter: Double
    /// The waits `next()` has given since the last `reset()`.
    public private(set) var attempts = 0

    public init(initial: Duration, cap: Duration, jitter: Double = 0) {
        self.initial = initial
        self.cap = cap
        self.jitter = jitter
    }

    /// The wait before attempt `attempt` after the first (1 for the first wait): `initial` × 2^(attempt − 1), spread
    /// by `jitter` × `random` (in -1...1), at most `cap`.
    public func delay(attempt: Int, random: Double = .random(in: -1...1)) -> Duration {
        var delay = initial
        for _ in 1..<max(attempt, 1) where delay < cap {
            delay *= 2
        }
        return min(delay * (1 + jitter * random), cap)
    }

    /// Counts one more wait and returns it.
    public mutating func next() -> Duration {
        attempts += 1
        return delay(attempt: attempts)
    }

    /// Starts the count again: the next wait is `initial`.
    public mutating func reset() {
        attempts = 0
    }

    /// A module's wait for a database that does not answer (PreRun, and connecting): 250 ms, doubling to 5 s, spread
    /// by ±20 %. The cap bounds how long a node lags behind a database that is back: after a failover of half a
    /// minute, a 30 s cap left modules idle up to 30 s more. An attempt on a server that is down costs a refused
    /// connection; the spread keeps the nodes from arriving together.
    public static let waitingForTheDatabase = Backoff(initial: .milliseconds(250), cap: .seconds(5), jitter: 0.2)
}
