import Foundation
import TestSupport
import Testing

@Suite("config check, modules and summary, run as a process", .timeLimit(.minutes(2)))
struct ModuleCommandTests {
    @Test func configCheckPrintsOkOrTheErrorWithExitTwo() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString, modules: "  TestDaemon: { sleep_post: 100ms }")
            let ok = try await daemon.command(["config", "check"])
            #expect(ok.status == 0)
            #expect(ok.stdout.hasPrefix("ok: \(daemon.configPath), node \(daemon.node), modules: TestDaemon"))

            try daemon.writeConfiguration(modules: "  Nope: {}")
            let bad = try await daemon.command(["config", "check"])
            #expect(bad.status == 2)
            #expect(bad.stdout.isEmpty)
            #expect(
                bad.stderr
                    == "pgdaemon: \(daemon.configPath):7: modules.Nope: unknown module Nope; registered modules: Console, SchedulerCronTaskManager, SchedulerFutureTaskManager, SchedulerTaskRescuer, SchedulerTaskWorker, TestDaemon\n"
            )
            await daemon.cleanUp()
        }
    }

    @Test func modulesListsRegisteredTypesThatNoEntryUses() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(connectionString: database.connectionString, modules: "  {}")
            let listing = try await daemon.command(["modules"])
            #expect(listing.status == 0, "\(listing.stderr)")
            #expect(
                listing.stdout.split(separator: "\n").contains {
                    $0.hasPrefix("TestDaemon") && $0.contains("no (not configured)")
                })
            await daemon.cleanUp()
        }
    }

    @Test func modulesListsConfiguredModules() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString,
                modules: "  Clock: { module: TestDaemon, valid: false, sleep_post: 5s }")
            let listing = try await daemon.command(["modules"])
            #expect(listing.status == 0)
            let lines = listing.stdout.split(separator: "\n")
            #expect(lines.first?.hasPrefix("NAME") == true)
            #expect(lines.contains { $0.hasPrefix("Clock") && $0.contains("no (valid: false)") && $0.contains("5s") })
            #expect(
                !lines.contains { $0.hasPrefix("TestDaemon") },
                "a registered type configured under another name is not listed again")
            await daemon.cleanUp()
        }
    }

    @Test func summaryReadsWhatTheModulesDidFromTheDatabase() async throws {
        try await withTestDatabase { database in
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString, modules: "  TestDaemon: { sleep_post: 100ms }")
            try daemon.start()
            try await daemon.waitForModule("TestDaemon", iterations: 2)
            let summary = try await daemon.command(["summary", "TestDaemon"])
            #expect(summary.status == 0, "\(summary.stderr)")
            let lines = summary.stdout.split(separator: "\n")
            #expect(lines.first == "Test Daemon Summary:")
            #expect(lines.contains { $0.contains(daemon.node) && $0.contains("running") })

            let unknown = try await daemon.command(["summary", "Nope"])
            #expect(unknown.status == 2)
            #expect(unknown.stderr == "pgdaemon: No module Nope in the configuration; configured: TestDaemon.\n")
            await daemon.cleanUp()
        }
    }
}
