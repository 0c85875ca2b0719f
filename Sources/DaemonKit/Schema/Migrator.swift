public import Foundation
public import Postgres

/// Applies the embedded migrations to a database and reports which are applied.
///
/// Each migration runs in its own transaction together with the row that records it, so a migration is either wholly
/// applied and recorded or not at all, whatever is killed. Every transaction first takes the migration advisory lock,
/// so nodes that migrate at the same moment apply each migration exactly once, one after the other.
public struct Migrator: Sendable {
    /// The table of applied migrations.
    public static let table = "pgdaemon_migration"

    public let connection: Connection
    public let migrations: [Migration]

    public init(connection: Connection, migrations: [Migration] = Migration.all) {
        self.connection = connection
        self.migrations = migrations
    }

    /// Applies every migration not yet applied, in order; returns those it applied.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        var applied: [Migration] = []
        for migration in migrations {
            let didApply = try await connection.transaction { connection in
                try await connection.advisoryTransactionLock(AdvisoryLocks.migrations)
                try await Self.createTable(on: connection)
                let done = try await connection.query(
                    "SELECT 1 FROM \(unsafeSQL: Self.table) WHERE version = \(migration.id)")
                guard done.isEmpty else { return false }
                try await connection.runScript(migration.sql)
                try await connection.execute(
                    """
                    INSERT INTO \(unsafeSQL: Self.table) (version, file_name, checksum)
                    VALUES (\(migration.id), \(migration.fileName), md5(\(migration.sql)))
                    """)
                return true
            }
            if didApply { applied.append(migration) }
        }
        return applied
    }

    /// Every known or recorded migration with whether and when it was applied.
    public func status() async throws -> [MigrationStatus] {
        let exists = try await connection.query("SELECT to_regclass(\(Self.table)) IS NOT NULL AS present")[0]
            .decode(Bool.self, "present")
        var recorded: [Int: (fileName: String, appliedAt: Date, matches: Bool)] = [:]
        if exists {
            // Each file's checksum is computed by the server, with the same md5() that recorded it.
            let files = try PostgresJSON(Dictionary(migrations.map { (String($0.id), $0.sql) }) { first, _ in first })
            let rows = try await connection.query(
                """
                SELECT version, file_name, applied_at, checksum = md5(\(files)::jsonb ->> version::text) AS matches
                FROM \(unsafeSQL: Self.table) ORDER BY version
                """)
            for row in rows {
                recorded[try row.decode(Int.self, "version")] = (
                    try row.decode(String.self, "file_name"), try row.decode(Date.self, "applied_at"),
                    try row.decode(Bool?.self, "matches") ?? false
                )
            }
        }
        var statuses = migrations.map { migration in
            let record = recorded[migration.id]
            return MigrationStatus(
                version: migration.id, fileName: migration.fileName, appliedAt: record?.appliedAt,
                state: record == nil ? .pending : record!.matches ? .applied : .changed)
        }
        let known = Set(migrations.map(\.id))
        for (version, record) in recorded where !known.contains(version) {
            statuses.append(
                MigrationStatus(
                    version: version, fileName: record.fileName, appliedAt: record.appliedAt, state: .unknown))
        }
        return statuses.sorted { $0.version < $1.version }
    }

    private static func createTable(on connection: isolated Connection) async throws {
        try await connection.runScript(
            """
            CREATE TABLE IF NOT EXISTS \(table) (
                version    integer PRIMARY KEY,
                file_name  text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE \(table) IS 'pgdaemon: the sql/ migrations applied to this database.';
            """)
    }
}

/// Whether one migration is applied to a database.
public struct MigrationStatus: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        /// Applied, and the file is unchanged since.
        case applied
        /// Not applied yet.
        case pending
        /// Applied, but the file in this build differs from what was applied.
        case changed
        /// Applied by a newer build; this build does not know it.
        case unknown
    }

    public var version: Int
    public var fileName: String
    public var appliedAt: Date?
    public var state: State
}
