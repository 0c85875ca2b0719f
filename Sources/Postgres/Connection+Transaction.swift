import CLibPQ

extension Connection {
    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws.
    ///
    /// The body receives the connection isolated, so its statements run back to back on the connection's thread.
    /// A commit the server turns into a rollback (because a statement in the block failed and the body caught the
    /// error) throws instead of returning as if the work were saved.
    public func transaction<Value: Sendable>(
        _ body: @Sendable (isolated Connection) async throws -> Value
    ) async throws -> Value {
        guard !isInTransaction else {
            throw PostgresError(.misuse, message: "A transaction is already open on this connection.")
        }
        try await execute("BEGIN")
        let value: Value
        do {
            value = try await body(self)
        } catch {
            if handle.map({ PQstatus($0) == CONNECTION_OK }) ?? false {
                _ = try? run("ROLLBACK")
            }
            throw error
        }
        let handle = try openHandle()
        let result = PQexec(handle, "COMMIT")
        let status = result.map { String(cString: PQcmdStatus($0)) }
        _ = try consume(result, query: "COMMIT")
        guard status == "COMMIT" else {
            throw PostgresError(
                .server, message: "The transaction was rolled back because a statement in it failed.",
                sqlState: "25P02")
        }
        return value
    }
}
