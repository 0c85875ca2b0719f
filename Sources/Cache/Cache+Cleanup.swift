import Postgres

extension Cache {
    /// How many rows one cleanup statement removes at most. Each batch is its own short transaction, and rows another
    /// session is writing are skipped, so cleanup never holds many locks or waits on a writer.
    public static let cleanupBatchSize = 1000

    /// Removes every entry of `type`, or of every type when nil; returns how many.
    @discardableResult
    public func cleanUp(type: String? = nil) async throws -> Int {
        if let type { try Self.checkType(type) }
        return try await deleteInBatches("type = \(type) OR \(type)::text IS NULL")
    }

    /// Removes the entries past their TTL, of `type` or of every type; returns how many.
    @discardableResult
    public func cleanUpExpired(type: String? = nil) async throws -> Int {
        if let type { try Self.checkType(type) }
        return try await deleteInBatches(
            "expires_at <= clock_timestamp() AND (type = \(type) OR \(type)::text IS NULL)")
    }

    /// Brings `type` within `limit`, removing its oldest entries first; returns how many it removed.
    @discardableResult
    public func enforce(_ limit: CacheLimit, type: String) async throws -> Int {
        try Self.checkType(type)
        var removed = 0
        if let maxEntries = limit.maxEntries {
            removed += try await deleteInBatches(
                """
                type = \(type) AND key IN (
                    SELECT key FROM cache_entry WHERE type = \(type)
                    ORDER BY created_at DESC, key DESC OFFSET \(maxEntries))
                """)
        }
        if let maxBytes = limit.maxBytes {
            removed += try await deleteInBatches(
                """
                type = \(type) AND key IN (
                    SELECT key FROM (
                        SELECT key, sum(octet_length(value)) OVER (ORDER BY created_at DESC, key DESC) AS running
                        FROM cache_entry WHERE type = \(type)) AS newest_first
                    WHERE running > \(maxBytes))
                """)
        }
        return removed
    }

    /// One cleanup pass, as the `CacheCleanup` task runs it: expired entries first, then every type over its limit;
    /// of `type` only when one is given.
    public func sweep(limits: [String: CacheLimit], type: String? = nil) async throws -> CacheSweep {
        var sweep = CacheSweep(expired: try await cleanUpExpired(type: type))
        for (limitType, limit) in limits.sorted(by: { $0.key < $1.key }) where type == nil || type == limitType {
            sweep.overLimit += try await enforce(limit, type: limitType)
        }
        return sweep
    }

    /// What each type holds, by type.
    public func statistics() async throws -> [CacheStatistics] {
        try await connection.query("SELECT type, entries, bytes, expired FROM cache_overview ORDER BY type").map {
            row in
            CacheStatistics(
                type: try row.decode(String.self, "type"), entries: try row.decode(Int.self, "entries"),
                bytes: try row.decode(Int64.self, "bytes"), expired: try row.decode(Int.self, "expired"))
        }
    }

    /// Deletes the rows matching `condition`, a batch per statement, until none is left. A row another session is
    /// writing is skipped rather than waited for: its writer makes it fresh.
    private func deleteInBatches(_ condition: SQL) async throws -> Int {
        var total = 0
        while true {
            let removed = try await connection.execute(
                """
                DELETE FROM cache_entry WHERE (type, key) IN (
                    SELECT type, key FROM cache_entry WHERE \(condition)
                    LIMIT \(Self.cleanupBatchSize) FOR UPDATE SKIP LOCKED)
                """)
            total += removed
            if removed < Self.cleanupBatchSize { return total }
        }
    }
}
