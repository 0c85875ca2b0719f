import Cache
import Foundation
import Hummingbird

/// Console logins kept in the cache table (`cache_entry`, type `pgdaemon.console.session`), so that a login holds on
/// every node behind one address and survives the module's discards; the cache's cleanup removes expired ones.
struct CacheSessionStore: PersistDriver {
    static let type = "pgdaemon.console.session"

    let database: SerialDatabase

    func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        try await database.use { connection in
            let cache = Cache(connection: connection)
            if try await cache.entry(type: Self.type, key: key) != nil { throw PersistError.duplicate }
            try await cache.set(value, type: Self.type, key: key, ttl: expires)
        }
    }

    /// With `expires` nil an existing entry keeps the time it expires at, as `PersistDriver` asks.
    func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        try await database.use { connection in
            let cache = Cache(connection: connection)
            var ttl = expires
            if ttl == nil, let expiresAt = try await cache.entry(type: Self.type, key: key)?.expiresAt {
                ttl = .seconds(max(1, expiresAt.timeIntervalSinceNow))
            }
            try await cache.set(value, type: Self.type, key: key, ttl: ttl)
        }
    }

    func get<Object: Codable & Sendable>(key: String, as: Object.Type) async throws -> Object? {
        try await database.use { connection in
            try await Cache(connection: connection).get(Object.self, type: Self.type, key: key)
        }
    }

    func remove(key: String) async throws {
        try await database.use { connection in
            _ = try await Cache(connection: connection).delete(type: Self.type, key: key)
        }
    }

    /// Nothing runs beside the store: the cache's own cleanup removes expired sessions.
    func run() async throws {}
}
