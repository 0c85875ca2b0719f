public import Postgres

/// Tells a real database session from a client of a transaction-pooling proxy, where session state (advisory locks
/// above all) lands on whichever server connection served the statement and stays there after the client is gone.
public enum RealSession {
    /// Whether `connection` is a real session.
    ///
    /// The test, in three rounds: a second client holds a server connection in an open transaction, then `connection`
    /// asks for its server process again. A real session (PostgreSQL itself, or a session-pooling proxy) keeps its
    /// server process to itself and gets it back at once. A transaction pooler shows itself either way. It hands the
    /// second client the very process `connection` used (PgBouncer's default order does), or it gives `connection`
    /// another process, or none at all until the transaction ends, which shows as a 2-second timeout. A process asked
    /// for twice with nothing in between proves nothing: an idle pooler hands the same one back every time.
    public static func verify(
        _ connection: Connection, configuration: Configuration, purpose: String
    ) async throws -> Bool {
        let serverPID: @Sendable (Connection) async throws -> Int32 = { connection in
            try await connection.query("SELECT pg_backend_pid() AS pid")[0].decode(Int32.self, "pid")
        }
        let own = try await serverPID(connection)
        let probe = try await Connection.connect(configuration.connectionOptions(purpose: purpose))
        do {
            let real = try await rounds(connection, own: own, probe: probe, serverPID: serverPID)
            await probe.close()
            return real
        } catch {
            await probe.close()
            throw error
        }
    }

    private static func rounds(
        _ connection: Connection, own: Int32, probe: Connection,
        serverPID: @escaping @Sendable (Connection) async throws -> Int32
    ) async throws -> Bool {
        for _ in 0..<3 {
            try await probe.execute("BEGIN")
            let pinned = try await serverPID(probe)
            let again = try await withThrowingTaskGroup(of: Int32?.self) { group in
                group.addTask { try await serverPID(connection) }
                group.addTask {
                    try await Task.sleep(for: .seconds(2))
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            try await probe.execute("ROLLBACK")
            guard pinned != own, again == own else { return false }
        }
        return true
    }
}
