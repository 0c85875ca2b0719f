import Foundation
import TestSupport
import Testing

@Suite("pgdaemon db, run as a process", .timeLimit(.minutes(2)))
struct DatabaseCommandTests {
    @Test func migrateTwiceThenStatusShowsEverythingApplied() async throws {
        try await withTestDatabase(migrated: false) { database in
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            let first = try await PGDaemonProcess.run(["db", "migrate"], environment: environment)
            #expect(first.status == 0, "\(first.stderr)")
            #expect(first.stdout.contains("Applied 0001_scheduler.sql."))
            #expect(first.stdout.hasSuffix("migrations; the database is up to date.\n"))
            let second = try await PGDaemonProcess.run(["db", "migrate"], environment: environment)
            #expect(second.status == 0)
            #expect(second.stdout.hasPrefix("The database is up to date ("))

            let status = try await PGDaemonProcess.run(["db", "status", "--json"], environment: environment)
            #expect(status.status == 0)
            struct Row: Decodable { var version: Int; var state: String }
            let states = try JSONDecoder().decode([Row].self, from: Data(status.stdout.utf8)).map(\.state)
            #expect(!states.isEmpty)
            #expect(states.allSatisfy { $0 == "applied" })
            let table = try await PGDaemonProcess.run(["db", "status"], environment: environment)
            #expect(table.stdout.hasPrefix("VERSION  FILE"))
        }
    }

    @Test func aWrongDatabaseURLFailsInOneLineWithoutItsPassword() async throws {
        let outcome = try await PGDaemonProcess.run(
            ["db", "migrate"],
            environment: ["PGDAEMON_DATABASE_URL": "postgresql://app:Sup3rSecret@127.0.0.1:1/app?connect_timeout=2"])
        #expect(outcome.status == 1)
        #expect(outcome.stdout.isEmpty)
        #expect(outcome.stderr.hasPrefix("pgdaemon: Cannot connect to PostgreSQL: "))
        #expect(outcome.stderr.filter { $0 == "\n" }.count == 1)
        #expect(!outcome.stderr.contains("Sup3rSecret"))
    }

    @Test func usageAndConfigurationErrorsExitWithTwo() async throws {
        let unknownFlag = try await PGDaemonProcess.run(["db", "migrate", "--bogus"])
        #expect(unknownFlag.status == 2)
        #expect(unknownFlag.stderr.contains("Unknown option '--bogus'"))

        let missing = try await PGDaemonProcess.run(["db", "migrate", "--config", "/nonexistent/pgdaemon.yaml"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "pgdaemon: /nonexistent/pgdaemon.yaml: the file does not exist or cannot be read\n")

        let file = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-\(UUID().uuidString).yaml")
        try "node: a\nnodes: b\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let unknownKey = try await PGDaemonProcess.run(["db", "status", "--config", file.path])
        #expect(unknownKey.status == 2)
        #expect(unknownKey.stderr.hasPrefix("pgdaemon: \(file.path):2: nodes: unknown key"))
    }
}
