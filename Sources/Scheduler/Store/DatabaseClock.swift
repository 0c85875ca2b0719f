import Foundation
import Postgres
import Synchronization

/// The database's clock as a module reads it without asking each time: this process's monotonic clock plus an
/// offset learned from the server's `clock_timestamp()`. The cluster has one clock, the database's: a node whose
/// wall clock is minutes off still records its attempts' times, sleeps until cron slots and compares with due times
/// as the database does, and a step of the host's clock moves nothing (the monotonic clock does not step).
///
/// The server's time is read before its reply travels back, so each offset learned is a little low, by that reply's
/// delay; the largest seen is the closest. One offset for every task of a worker, which only grows, keeps the
/// attempts' times in the order they happened (per-claim offsets let two tasks started a millisecond apart swap places
/// in history under load).
final class DatabaseClock: Sendable {
    private let offset = Mutex<Double?>(nil)

    /// Learns from a statement that read `serverClock` (seconds since the epoch) and came back `at`: the worker's
    /// claims read it as they go.
    func observe(serverClock: Double, at instant: ContinuousClock.Instant) {
        let candidate = serverClock - Self.seconds(instant)
        offset.withLock { $0 = max($0 ?? candidate, candidate) }
    }

    /// Asks the server for its time, for a module that sends no statement that reads it anyway.
    func synchronize(on connection: Connection) async throws {
        let serverClock = try await connection.query("SELECT extract(epoch FROM clock_timestamp())::float8 AS now")[0]
            .decode(Double.self, "now")
        observe(serverClock: serverClock, at: .now)
    }

    /// The database clock's time now, in seconds since the epoch.
    func now() -> Double {
        let instant = ContinuousClock.now
        return Self.seconds(instant) + (offset.withLock { $0 } ?? 0)
    }

    /// The database clock's time now.
    var date: Date { Date(timeIntervalSince1970: now()) }

    private static let origin = ContinuousClock.now

    private static func seconds(_ instant: ContinuousClock.Instant) -> Double {
        origin.duration(to: instant) / .seconds(1)
    }
}
