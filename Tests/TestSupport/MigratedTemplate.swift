import DaemonKit
import Foundation
import Postgres

/// The migrated database that `TestDatabase.create` copies, made once per server, set of migrations and day.
///
/// Its name holds a digest of the migrations' text, so a changed migration gets a new template, and the day, because
/// migrations create the history partitions of the days around the one they run on. Test processes that run at the
/// same time on one server share it: an advisory lock lets one of them make it while the others wait.
actor MigratedTemplate {
    static let shared = MigratedTemplate()

    private var made: String?

    func name(admin: Connection) async throws -> String {
        if let made { return made }
        let name = Self.name(for: Migration.all, day: Date())
        try await admin.execute("SELECT pg_advisory_lock(hashtext(\(name)))")
        do {
            let rows = try await admin.query("SELECT 1 FROM pg_database WHERE datname = \(name)")
            if rows.isEmpty { try await Self.make(name, admin: admin) }
        } catch {
            _ = try? await admin.execute("SELECT pg_advisory_unlock(hashtext(\(name)))")
            throw error
        }
        try await admin.execute("SELECT pg_advisory_unlock(hashtext(\(name)))")
        made = name
        return name
    }

    /// Creates and migrates the template under a passing name, and renames it only once it is whole, so a process
    /// killed midway leaves no half-migrated template behind that name.
    private static func make(_ name: String, admin: Connection) async throws {
        let partial = name + "_partial"
        try await admin.execute("DROP DATABASE IF EXISTS \(identifier: partial) WITH (FORCE)")
        try await admin.execute("CREATE DATABASE \(identifier: partial)")
        let connection = try await Connection.connect(
            ConnectionOptions("dbname=\(partial)", applicationName: "pgdaemon-tests"))
        do {
            try await Migrator(connection: connection).migrate()
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        try await admin.execute("ALTER DATABASE \(identifier: partial) RENAME TO \(identifier: name)")
    }

    /// `pgdaemon_template_` with an FNV-1a digest of the migrations and the UTC day, e.g.
    /// `pgdaemon_template_1f0c…_20261206`; Swift's own `Hasher` is seeded anew in every process.
    static func name(for migrations: [Migration], day: Date) -> String {
        var digest: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in migrations.flatMap({ Array("\($0.fileName)\n\($0.sql)".utf8) }) {
            digest = (digest ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd"
        return "pgdaemon_template_\(String(digest, radix: 16))_\(formatter.string(from: day))"
    }
}
