import Synchronization

/// When the module's current iteration began, shared by the runner's loop, which starts each iteration, and the
/// singleton's lease renewal, which stops once an iteration has run past `max_iteration`.
final class IterationClock: Sendable {
    private let started = Mutex(ContinuousClock.now)

    func begin() {
        started.withLock { $0 = .now }
    }

    var elapsed: Duration {
        started.withLock { $0.duration(to: .now) }
    }
}
