import ArgumentParser
import Cache
import DaemonKit
import Foundation

/// `pgdaemon db`: the schema.
struct Database: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Apply or show the database schema migrations.",
        subcommands: [Migrate.self, Status.self])

    struct Migrate: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the migrations the database lacks; safe to run again and from several nodes at once.")

        @OptionGroup var global: GlobalOptions

        func run(_ registry: ModuleRegistry) async throws {
            let (configuration, connection) = try await global.connect(purpose: "db", registry: registry)
            let applied = try await Migrator(connection: connection).migrate()
            for migration in applied {
                print("Applied \(migration.fileName).")
            }
            let total = Migration.all.count
            print(
                applied.isEmpty
                    ? "The database is up to date (\(total) migrations applied)."
                    : "Applied \(applied.count) of \(total) migrations; the database is up to date.")
            if let logged = configuration.section(CacheSettings.self).logged,
                try await Cache(connection: connection).setLogged(logged)
            {
                print("cache_entry is now \(logged ? "logged" : "unlogged"), as cache.logged says.")
            }
        }
    }

    struct Status: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the migrations: applied, pending, changed since applied, or unknown to this version.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "db", registry: registry)
            let statuses = try await Migrator(connection: connection).status()
            if output.json { return try printJSON(statuses) }
            var table = TextTable("VERSION", "FILE", "STATE", "APPLIED AT")
            for status in statuses {
                table.append([
                    String(format: "%04d", status.version), status.fileName, status.state.rawValue,
                    status.appliedAt.map { $0.formatted(.iso8601) } ?? "-",
                ])
            }
            print(table.rendered)
            let pending = statuses.filter { $0.state == .pending }.count
            if pending > 0 {
                print("\(pending) pending: run `pgdaemon db migrate`.")
            }
        }
    }
}
