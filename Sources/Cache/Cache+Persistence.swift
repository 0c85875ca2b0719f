extension Cache {
    /// Whether `cache_entry` is a logged table. Unlogged (the default) writes no WAL, so writes are cheaper, and the
    /// table is emptied after a database crash and not replicated; logged survives both.
    public func isLogged() async throws -> Bool {
        let persistence = try await connection.query(
            "SELECT relpersistence::text FROM pg_class WHERE oid = 'cache_entry'::regclass"
        ).first?.decode(String.self, "relpersistence")
        return persistence == "p"
    }

    /// Makes `cache_entry` logged or unlogged; returns whether that changed it. Changing rewrites the table under an
    /// exclusive lock and needs its owner, so `pgdaemon db migrate` does it from the `cache.logged` setting.
    @discardableResult
    public func setLogged(_ logged: Bool) async throws -> Bool {
        guard try await isLogged() != logged else { return false }
        try await connection.execute(
            logged ? "ALTER TABLE cache_entry SET LOGGED" : "ALTER TABLE cache_entry SET UNLOGGED")
        return true
    }
}
