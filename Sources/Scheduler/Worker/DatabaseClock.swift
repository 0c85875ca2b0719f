import Synchronization

/// The database's clock as a worker reads it without asking: this process's monotonic clock plus an offset learned
/// from each claim's `clock_timestamp()`.
///
/// A claim's server time is read before its reply travels back, so each claim's offset is a little low, by that
/// reply's delay; the largest seen is the closest. One offset for every task of the worker, which only grows, keeps
/// the attempts' times in the order they happened (per-claim offsets let two tasks started a millisecond apart
/// swap places in history under load).
final class DatabaseClock: Sendable {
    private let offset = Mutex<Double?>(nil)

    /// Learns from a claim whose statement read `serverClock` (seconds since the epoch) and came back `at`.
    func observe(serverClock: Double, at instant: ContinuousClock.Instant) {
        let candidate = serverClock - Self.seconds(instant)
        offset.withLock { $0 = max($0 ?? candidate, candidate) }
    }

    /// The database clock's time now, in seconds since the epoch.
    func now() -> Double {
        let instant = ContinuousClock.now
        return Self.seconds(instant) + (offset.withLock { $0 } ?? 0)
    }

    private static let origin = ContinuousClock.now

    private static func seconds(_ instant: ContinuousClock.Instant) -> Double {
        origin.duration(to: instant) / .seconds(1)
    }
}
