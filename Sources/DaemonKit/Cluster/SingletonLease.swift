import Foundation
import Postgres

/// The liveness lease on top of a singleton's advisory lock.
///
/// The lock lasts exactly as long as its session, and a holder frozen whole (SIGSTOP, a paused VM, a stuck mount)
/// keeps its session: the server keeps it and the holder's kernel answers its keepalives. So the holder also renews
/// a lease in `daemon_singleton`, by the database clock, on a timer of its own, and stops once an iteration runs past
/// its `max_iteration`. A standby that finds the lease older than `daemon.singleton_lease` ends the holder's sessions
/// (`daemon_singleton_end_stale`) and its lock wait is granted; the holder, when it wakes, finds its lock session gone,
/// the fence refuses its writes, and it discards itself.
public enum SingletonLease {
    /// How often a holder renews its lease.
    public static let renewalInterval = Duration.seconds(2)

    /// How often a standby looks at the holder's lease: a tenth of the lease, so that it takes over within the lease
    /// and a tenth, and at most every renewal interval.
    static func checkInterval(lease: Duration) -> Duration {
        min(lease / 10, renewalInterval)
    }

    /// Ends the sessions of `module`'s holder when its lease is older than `lease`; returns the server process of the
    /// lock session it ended, or nil when the lease is fresh (or the holder renews none).
    static func endStale(module: String, lease: Duration, on connection: Connection) async throws -> Int32? {
        try await connection.query(
            """
            SELECT daemon_singleton_end_stale(\(module), make_interval(secs => \(lease / .seconds(1)))) AS pid
            """
        )[0].decode(Int32?.self, "pid")
    }
}
