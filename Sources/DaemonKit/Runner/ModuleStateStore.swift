import Foundation
public import Postgres

/// Keeps a module's row of `daemon_module_state` current, so that `status`, `nodes` and DBAs see every node's modules
/// in the shared database.
///
/// Writes are best effort: a module whose database is down cannot record that, and must not fail because of it.
public struct ModuleStateStore: Sendable {
    public let database: Connection
    public let node: String
    public let module: String

    public init(database: Connection, node: String, module: String) {
        self.database = database
        self.node = node
        self.module = module
    }

    /// Records a state, with a pid (default: this process's; 0 for none); `since` changes only when the state does.
    public func report(_ state: ModuleState, pid: Int32? = nil, lastError: String? = nil) async {
        let pid = pid ?? getpid()
        await write(
            """
            INSERT INTO daemon_module_state AS m (node, module, pid, state, since, last_error, iteration_started_at)
            VALUES (\(node), \(module), \(pid == 0 ? nil : Int(pid)), \(state.rawValue), now(), \(lastError),
                    CASE WHEN \(state == .running) THEN now() END)
            ON CONFLICT (node, module) DO UPDATE
            SET pid = EXCLUDED.pid, state = EXCLUDED.state,
                since = CASE WHEN m.state IS DISTINCT FROM EXCLUDED.state THEN now() ELSE m.since END,
                last_error = coalesce(EXCLUDED.last_error, m.last_error),
                iteration_started_at = EXCLUDED.iteration_started_at
            """)
    }

    /// Counts one finished iteration, the next one starting now (`iteration_started_at`, which the supervisor
    /// holds against `max_iteration`); false when the write failed (the connection is gone, or the database).
    @discardableResult
    public func countIteration() async -> Bool {
        await write(
            """
            UPDATE daemon_module_state SET iterations = iterations + 1, iteration_started_at = now()
            WHERE node = \(node) AND module = \(module)
            """)
    }

    /// Counts a discard or a crash, as the supervisor sees them, with the reason for a crash.
    public func countExit(discarded: Bool, error: String?) async {
        await write(
            """
            UPDATE daemon_module_state
            SET discards = discards + \(discarded ? 1 : 0), restarts = restarts + \(discarded ? 0 : 1),
                last_error = coalesce(\(error), last_error),
                state = \(discarded ? ModuleState.discarding.rawValue : ModuleState.restarting.rawValue),
                since = now(), iteration_started_at = NULL
            WHERE node = \(node) AND module = \(module)
            """)
    }

    /// Runs the statement; false when it failed. The state is for display: a failed write is not an error here.
    @discardableResult
    private func write(_ sql: SQL) async -> Bool {
        (try? await database.execute(sql)) != nil
    }
}
