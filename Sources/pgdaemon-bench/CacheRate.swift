import ArgumentParser
import Cache
import Foundation
import Postgres

/// A value of the size and shape a daemon caches: a record of a few fields (about 220 bytes as JSON).
struct TypicalValue: Codable {
    var id: Int
    var title: String
    var state: String
    var owner: String
    var queue: String
    var updated: Date
    var tags: [String]
    var escalated: Bool
    /// Text that makes the value larger, for measuring by size.
    var body: String?

    static func sample(_ id: Int, bodyLength: Int) -> TypicalValue {
        TypicalValue(
            id: id, title: "Printer on the third floor prints only blank pages #\(id)", state: "open",
            owner: "agent-\(id % 17)", queue: "Support::Hardware", updated: Date(timeIntervalSince1970: 1_795_000_000),
            tags: ["printer", "hardware", "floor-3"], escalated: id % 5 == 0,
            body: bodyLength > 0 ? String(repeating: "Lorem ipsum dolor sit amet. ", count: bodyLength / 28 + 1) : nil)
    }
}

struct CacheRate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Cache get or set operations per second.")

    enum Operation: String, ExpressibleByArgument {
        case get, set
    }

    enum Storage: String, ExpressibleByArgument {
        /// The `Cache` API on `cache_entry` (bytea).
        case bytea
        /// The same statements on a copy of the table whose value column is jsonb, for comparison.
        case jsonb
    }

    @Option(help: "get or set.") var operation: Operation
    @Option(help: "Concurrent clients, each with its own connection.") var clients = 1
    @Option(help: "How long to run, in seconds.") var seconds = 5.0
    @Option(help: "Distinct keys.") var keys = 10_000
    @Option(help: "bytea (the Cache API) or jsonb (the comparison table).") var storage = Storage.bytea
    @Flag(help: "Run each client's task on its connection's thread.") var pinned = false
    @Option(help: "Characters of body text added to each value; default none (a value of about 220 bytes).")
    var bodyLength = 0

    func run() async throws {
        let setup = try await Connection.connect(ConnectionOptions(applicationName: "pgdaemon-bench"))
        if storage == .jsonb {
            try await setup.runScript(
                """
                CREATE UNLOGGED TABLE IF NOT EXISTS cache_entry_jsonb (
                    type text NOT NULL, key text NOT NULL, value jsonb NOT NULL, expires_at timestamptz,
                    created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (type, key));
                CREATE INDEX IF NOT EXISTS cache_entry_jsonb_age_idx ON cache_entry_jsonb (type, created_at);
                CREATE INDEX IF NOT EXISTS cache_entry_jsonb_expires_idx ON cache_entry_jsonb (expires_at)
                    WHERE expires_at IS NOT NULL;
                """)
        }
        for id in 0..<keys {
            try await Self.set(Cache(connection: setup), storage, key: id, bodyLength: bodyLength)
        }
        await setup.close()

        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        let started = ContinuousClock.now
        let operations = try await withThrowingTaskGroup(of: Int.self) { group in
            for client in 0..<clients {
                group.addTask {
                    let connection = try await Connection.connect(
                        ConnectionOptions(applicationName: "pgdaemon-bench/\(client)"))
                    let cache = Cache(connection: connection)
                    return try await withTaskExecutorPreference(pinned ? connection.taskExecutor : nil) {
                        var generator = SystemRandomNumberGenerator()
                        var count = 0
                        while ContinuousClock.now < deadline {
                            let key = Int.random(in: 0..<keys, using: &generator)
                            switch operation {
                            case .get:
                                guard try await Self.get(cache, storage, key: key) != nil else {
                                    throw ValidationError("key \(key) is missing")
                                }
                            case .set: try await Self.set(cache, storage, key: key, bodyLength: bodyLength)
                            }
                            count += 1
                        }
                        await connection.close()
                        return count
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = started.duration(to: .now)
        let rate =
            Double(operations) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let line: [String: Any] = [
            "benchmark": "cache_\(operation.rawValue)", "storage": storage.rawValue, "clients": clients,
            "operations": operations, "ops_per_s": rate.rounded(),
        ]
        let json = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    private static func set(_ cache: Cache, _ storage: Storage, key: Int, bodyLength: Int) async throws {
        let value = TypicalValue.sample(key, bodyLength: bodyLength)
        switch storage {
        case .bytea: try await cache.set(value, type: "Bench", key: String(key), ttl: .seconds(3600))
        case .jsonb:
            let json = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
            try await cache.connection.execute(
                """
                INSERT INTO cache_entry_jsonb (type, key, value, expires_at, created_at)
                VALUES ('Bench', \(String(key)), \(json)::jsonb, clock_timestamp() + interval '1 hour', clock_timestamp())
                ON CONFLICT (type, key) DO UPDATE
                SET value = excluded.value, expires_at = excluded.expires_at, created_at = excluded.created_at
                """, prepared: true)
        }
    }

    private static func get(_ cache: Cache, _ storage: Storage, key: Int) async throws -> TypicalValue? {
        switch storage {
        case .bytea: return try await cache.get(TypicalValue.self, type: "Bench", key: String(key))
        case .jsonb:
            let rows = try await cache.connection.query(
                """
                SELECT value::text AS value FROM cache_entry_jsonb
                WHERE type = 'Bench' AND key = \(String(key)) AND (expires_at IS NULL OR expires_at > clock_timestamp())
                """, prepared: true)
            return try rows.first.map {
                try JSONDecoder().decode(TypicalValue.self, from: Data(try $0.decode(String.self, "value").utf8))
            }
        }
    }
}
