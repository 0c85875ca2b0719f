extension Connection {
    /// Takes a session advisory lock if it is free; returns whether it was taken.
    ///
    /// Session locks stack: taking one twice needs two unlocks, so callers track what they hold.
    public func tryAdvisoryLock(_ key: AdvisoryLockKey) async throws -> Bool {
        try await query("SELECT pg_try_advisory_lock(\(key.namespace)::int4, \(key.id)::int4) AS taken")[0]
            .decode(Bool.self, "taken")
    }

    /// Waits for a session advisory lock as long as it takes. The wait sleeps in the server and ends the moment the
    /// holder's session ends; cancelling the waiting task cancels the wait.
    public func advisoryLock(_ key: AdvisoryLockKey) async throws {
        try await query("SELECT pg_advisory_lock(\(key.namespace)::int4, \(key.id)::int4)")
    }

    /// Releases one hold of a session advisory lock; returns false when this session did not hold it.
    @discardableResult
    public func advisoryUnlock(_ key: AdvisoryLockKey) async throws -> Bool {
        try await query("SELECT pg_advisory_unlock(\(key.namespace)::int4, \(key.id)::int4) AS released")[0]
            .decode(Bool.self, "released")
    }

    /// Waits for a transaction advisory lock, released by the end of the current transaction.
    public func advisoryTransactionLock(_ key: AdvisoryLockKey) async throws {
        try await query("SELECT pg_advisory_xact_lock(\(key.namespace)::int4, \(key.id)::int4)")
    }
}
