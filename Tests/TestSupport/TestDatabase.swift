import DaemonKit
import Foundation
public import Postgres

/// A database of its own for one test, on the throwaway server `scripts/test` starts (found through the `PG*`
/// variables it exports), so tests can run in parallel without seeing each other's rows.
public struct TestDatabase: Sendable {
    public let name: String

    /// Connection options for this database; host, port and user come from the `PG*` variables.
    public var options: ConnectionOptions {
        ConnectionOptions("dbname=\(name)", applicationName: "pgdaemon-tests")
    }

    /// The connection string for child processes: `dbname=NAME`, the rest from the inherited `PG*` variables.
    public var connectionString: String { "dbname=\(name)" }

    /// Creates an empty database, or when `migrated` is true a copy of one migrated with the embedded migrations:
    /// copying is as cheap as creating, and migrating every test's database anew cost the server a third of the
    /// first minute of a full run, in which every test starts at once.
    public static func create(migrated: Bool = true) async throws -> TestDatabase {
        let name = "pgdaemon_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let admin = try await Connection.connect(ConnectionOptions(applicationName: "pgdaemon-tests"))
        do {
            if migrated {
                let template = try await MigratedTemplate.shared.name(admin: admin)
                try await admin.execute("CREATE DATABASE \(identifier: name) TEMPLATE \(identifier: template)")
            } else {
                try await admin.execute("CREATE DATABASE \(identifier: name)")
            }
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        return TestDatabase(name: name)
    }

    public func connect(applicationName: String = "pgdaemon-tests") async throws -> Connection {
        var options = options
        options.applicationName = applicationName
        return try await Connection.connect(options)
    }

    /// Drops the database, ending sessions still connected to it.
    public func drop() async throws {
        let admin = try await Connection.connect(ConnectionOptions(applicationName: "pgdaemon-tests"))
        try await admin.execute("DROP DATABASE IF EXISTS \(identifier: name) WITH (FORCE)")
        await admin.close()
    }
}

/// Runs `body` with a fresh database and drops it afterwards, also when `body` throws.
public func withTestDatabase<Value>(
    migrated: Bool = true, _ body: (TestDatabase) async throws -> Value
) async throws -> Value {
    let database = try await TestDatabase.create(migrated: migrated)
    do {
        let value = try await body(database)
        try await database.drop()
        return value
    } catch {
        try? await database.drop()
        throw error
    }
}

/// Runs `body` with a connection to a fresh database, closed and dropped afterwards.
public func withTestConnection<Value>(
    migrated: Bool = true, _ body: (Connection) async throws -> Value
) async throws -> Value {
    try await withTestDatabase(migrated: migrated) { database in
        let connection = try await database.connect()
        do {
            let value = try await body(connection)
            await connection.close()
            return value
        } catch {
            await connection.close()
            throw error
        }
    }
}
