public import Postgres
import Synchronization

/// The console's one database session, lent to one request at a time.
///
/// A `Connection` runs one statement at a time and a transaction's statements must not interleave with another
/// request's, so each request's reads or action run as one turn, in arrival order. The console's traffic is a few
/// operators, and one session keeps its share of the server's connections at one whatever a client sends.
///
/// The session runs without JIT compilation (`SET jit = off`, again after a reconnect): the planner's cost estimate
/// of a page's statement over a million tasks passes `jit_above_cost`, and compiling it cost 700 ms of the queues
/// page's 780 (benchmarks/console), for statements that then run in milliseconds.
final class SerialDatabase: Sendable {
    private struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        /// The server process whose session has JIT switched off.
        var settledPID: Int32 = 0
    }

    private let connection: Connection
    private let state = Mutex(State())

    init(_ connection: Connection) {
        self.connection = connection
    }

    /// Runs `body` with the session once the requests before it are done.
    func use<Value: Sendable>(_ body: (Connection) async throws -> Value) async throws -> Value {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.busy {
                    state.waiting.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if now { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if state.waiting.isEmpty {
                    state.busy = false
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
        let pid = connection.backendPID
        if pid != state.withLock({ $0.settledPID }) {
            try await connection.execute("SET jit = off")
            state.withLock { $0.settledPID = pid }
        }
        return try await body(connection)
    }
}
