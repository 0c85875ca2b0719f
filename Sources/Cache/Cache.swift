public import Foundation
public import Postgres

/// The cache every node shares, on the `cache_entry` table (DESIGN §6).
///
/// Daemon modules keep no cache of their own in memory, because one node could not tell another that an entry
/// changed; every read goes to the table, so a cluster always agrees. Expiry is judged by the database's clock, so
/// nodes with skewed clocks agree too, and an entry is never returned past its TTL even before cleanup removes it.
///
/// ```swift
/// let cache = Cache(connection: connection)
/// try await cache.set(report, type: "Reports", key: "daily", ttl: .seconds(3600))
/// let cached = try await cache.get(Report.self, type: "Reports", key: "daily")
/// ```
///
/// Values are stored as their JSON encoding, except `Data`, which is stored as its bytes. Statements are prepared
/// once per session, and a read receives the value in binary. A loop that reads or writes many entries runs faster on
/// the connection's own thread, which saves two thread switches per statement:
/// `try await withTaskExecutorPreference(connection.taskExecutor) { … }`.
public struct Cache: Sendable {
    /// The longest type, in UTF-8 bytes.
    public static let maxTypeLength = 200
    /// The longest key, in UTF-8 bytes; with the type it stays inside what a B-tree index row may hold.
    public static let maxKeyLength = 2000

    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Stores `value` under (type, key), replacing what was there; `ttl` nil keeps it until it is deleted or cleaned
    /// up. Concurrent writers of one key do not fail: the last write wins.
    public func set(_ value: some Encodable, type: String, key: String, ttl: Duration? = nil) async throws {
        try await setEncoded(try Self.encode(value), type: type, key: key, ttl: ttl)
    }

    /// Stores bytes that are already encoded (what `get` of the same value type expects).
    public func setEncoded(_ bytes: Data, type: String, key: String, ttl: Duration? = nil) async throws {
        try Self.check(type: type, key: key)
        if let ttl, ttl <= .zero { throw CacheError("A cache TTL must be positive, not \(ttl).") }
        try await connection.execute(
            """
            INSERT INTO cache_entry (type, key, value, expires_at, created_at)
            VALUES (\(type), \(key), \(bytes), clock_timestamp() + \(ttl.map(Self.microseconds))::bigint * interval '1 microsecond',
                    clock_timestamp())
            ON CONFLICT (type, key) DO UPDATE
            SET value = excluded.value, expires_at = excluded.expires_at, created_at = excluded.created_at
            """, prepared: true)
    }

    /// The value under (type, key) decoded as `Value`, or nil when there is none or it has expired.
    public func get<Value: Decodable>(_ valueType: Value.Type, type: String, key: String) async throws -> Value? {
        try Self.check(type: type, key: key)
        // Only the value, in binary: the entry's timestamps and the hex text form would cost a read a tenth of its time.
        let bytes = try await connection.queryBytes(
            "SELECT value FROM cache_entry WHERE \(Self.live(type, key))", prepared: true)
        CacheCounters.record(type: type, hit: bytes != nil)
        guard let bytes else { return nil }
        return try Self.decode(valueType, from: bytes, type: type, key: key)
    }

    /// The live entry under (type, key) with its bytes and times, or nil when there is none or it has expired.
    public func entry(type: String, key: String) async throws -> CacheEntry? {
        try Self.check(type: type, key: key)
        let row = try await connection.query(
            "SELECT value, expires_at, created_at FROM cache_entry WHERE \(Self.live(type, key))", prepared: true
        ).first
        CacheCounters.record(type: type, hit: row != nil)
        return try row.map { row in
            CacheEntry(
                type: type, key: key, value: try row.decode(Data.self, "value"),
                expiresAt: try row.decode(Date?.self, "expires_at"), createdAt: try row.decode(Date.self, "created_at"))
        }
    }

    /// Removes the entry under (type, key); whether there was one, expired or not.
    @discardableResult
    public func delete(type: String, key: String) async throws -> Bool {
        try Self.check(type: type, key: key)
        return try await connection.execute(
            "DELETE FROM cache_entry WHERE type = \(type) AND key = \(key)", prepared: true) > 0
    }

    /// The condition for the entry under (type, key) that has not expired by the database's clock.
    private static func live(_ type: String, _ key: String) -> SQL {
        "type = \(type) AND key = \(key) AND (expires_at IS NULL OR expires_at > clock_timestamp())"
    }

    static func encode(_ value: some Encodable) throws -> Data {
        if let data = value as? Data { return data }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func decode<Value: Decodable>(_ valueType: Value.Type, from bytes: Data, type: String, key: String) throws
        -> Value
    {
        if let data = bytes as? Value { return data }
        do {
            return try JSONDecoder().decode(valueType, from: bytes)
        } catch {
            throw CacheError("The cached value \(type)/\(key) does not decode as \(valueType): \(error).")
        }
    }

    /// A TTL as whole microseconds, the server's precision: bound as a number, it costs the server less than an
    /// interval's text.
    private static func microseconds(_ ttl: Duration) -> Int64 {
        ttl.components.seconds * 1_000_000 + ttl.components.attoseconds / 1_000_000_000_000
    }

    /// Throws a `CacheError` saying what is wrong when `type` or `key` is empty or too long.
    public static func check(type: String, key: String) throws {
        try checkType(type)
        guard !key.isEmpty else { throw CacheError("A cache key must not be empty.") }
        guard key.utf8.count <= maxKeyLength else {
            throw CacheError("A cache key may be at most \(maxKeyLength) bytes long, not \(key.utf8.count).")
        }
    }

    /// Throws a `CacheError` saying what is wrong when `type` is empty or too long.
    public static func checkType(_ type: String) throws {
        guard !type.isEmpty else { throw CacheError("A cache type must not be empty.") }
        guard type.utf8.count <= maxTypeLength else {
            throw CacheError("A cache type may be at most \(maxTypeLength) bytes long, not \(type.utf8.count).")
        }
    }
}

/// A cache entry as stored: its encoded value and its times.
public struct CacheEntry: Sendable {
    public var type: String
    public var key: String
    /// The stored bytes: a value's JSON encoding, or the bytes of a `Data` value.
    public var value: Data
    /// When it stops being served; nil when it has no TTL.
    public var expiresAt: Date?
    /// When it was last written.
    public var createdAt: Date
}

/// A cache call with an argument the cache cannot take, or a stored value that does not decode.
public struct CacheError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
