import Foundation
import TestSupport
import Testing

@Suite("The supervisor and its module processes", .timeLimit(.minutes(2)))
struct SupervisorTests {
    @Test func eachModuleRunsInAChildProcessAndACrashedOneIsRespawned() async throws {
        try await withDaemon(
            modules: """
                  TestDaemon: { sleep_post: 100ms }
                  Second: { module: TestDaemon, sleep_post: 100ms }
                  Off: { module: TestDaemon, valid: false }
                """
        ) { daemon, _ in
            try daemon.start()
            let first = try await daemon.waitForModule("TestDaemon")
            let second = try await daemon.waitForModule("Second")
            let supervisor = try #require(daemon.process?.pid)
            #expect(Set(childProcesses(of: supervisor)) == [first.pid!, second.pid!])
            #expect(try await daemon.modules()["Off"] == nil)

            kill(first.pid!, SIGKILL)
            let respawned = try await daemon.waitForModule("TestDaemon") { $0.pid != first.pid }
            #expect(respawned.restarts == 1)
            #expect(respawned.lastError == "process killed by signal 9")
            #expect(try await daemon.modules()["Second"]?.pid == second.pid, "the other module is untouched")
        }
    }

    /// Each child runs 2 s: the polls must find the next one running past its first iteration, which a loaded
    /// clean-clone run missed for 20 s with children of half a second.
    @Test func discardAfterReplacesTheProcess() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms, discard_after: 2s }") { daemon, _ in
            try daemon.start()
            let first = try await daemon.waitForModule("TestDaemon")
            let next = try await daemon.waitForModule("TestDaemon") { $0.pid != first.pid }
            #expect(next.discards >= 1)
            #expect(next.restarts == 0)
            #expect(!processIsAlive(first.pid!))
        }
    }

    @Test func sigtermStopsEverythingAndLeavesNoProcess() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }") { daemon, _ in
            try daemon.start()
            let module = try await daemon.waitForModule("TestDaemon")
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
            #expect(!processIsAlive(module.pid!))
            #expect(try await daemon.modules()["TestDaemon"]?.state == "stopped")
            #expect(!FileManager.default.fileExists(atPath: daemon.pidFilePath))
        }
    }

    @Test func sigkillOfTheSupervisorLeavesNoOrphanWorking() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }") { daemon, _ in
            try daemon.start()
            let module = try await daemon.waitForModule("TestDaemon")
            daemon.signal(SIGKILL)
            try await waitUntil("the orphaned module exits", timeout: .seconds(5)) { !processIsAlive(module.pid!) }
        }
    }

    @Test func aSecondSupervisorWithTheSameNodeNameIsRefused() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }") { daemon, _ in
            try daemon.start()
            try await daemon.waitForModule("TestDaemon")
            // A configuration of its own, so its pid file does not refuse it first.
            let other = daemon.folder.appending(path: "other.yaml").path
            let text = try String(contentsOfFile: daemon.configPath, encoding: .utf8)
                .replacingOccurrences(of: daemon.pidFilePath, with: daemon.folder.appending(path: "other.pid").path)
            try text.write(toFile: other, atomically: true, encoding: .utf8)
            let second = try await PGDaemonProcess.run(
                ["run", "--config", other], environment: ["PGDAEMON_DATABASE_URL": daemon.connectionString])
            #expect(second.status == 1)
            let pid = try #require(daemon.process?.pid)
            #expect(second.stderr.hasPrefix("pgdaemon: Node \(daemon.node) is already running (pid \(pid) on "))
            #expect(daemon.process?.isRunning == true)
        }
    }

    @Test func aSecondSupervisorWithTheSamePidFileIsRefusedBeforeItTouchesTheDatabase() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }") { daemon, _ in
            try daemon.start()
            try await daemon.waitForModule("TestDaemon")
            let pid = try #require(daemon.process?.pid)
            let second = try await PGDaemonProcess.run(
                ["run", "--config", daemon.configPath], environment: ["PGDAEMON_DATABASE_URL": "host=/nonexistent"])
            #expect(second.status == 1)
            #expect(
                second.stderr
                    == "pgdaemon: A running supervisor (pid \(pid)) holds the pid file \(daemon.pidFilePath); stop it first, or give this configuration a daemon.pid_file of its own.\n"
            )
            #expect(try String(contentsOfFile: daemon.pidFilePath, encoding: .utf8) == "\(pid)\n\(daemon.node)\n")
        }
    }

    @Test func reloadAddsAndRemovesModulesAndKeepsTheRunningConfigurationWhenTheFileIsBroken() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }") { daemon, _ in
            try daemon.start()
            let first = try await daemon.waitForModule("TestDaemon")

            try daemon.writeConfiguration(modules: "  Added: { module: TestDaemon, sleep_post: 100ms }")
            daemon.signal(SIGHUP)
            try await daemon.waitForModule("Added")
            try await waitUntil("TestDaemon stops") { try await daemon.modules()["TestDaemon"]?.state == "stopped" }
            #expect(!processIsAlive(first.pid!))

            try "modules: [broken".write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
            let added = try await daemon.waitForModule("Added")
            daemon.signal(SIGHUP)
            try await waitUntil("the reload is refused") { daemon.output.contains("Reload refused") }
            #expect(try await daemon.modules()["Added"]?.pid == added.pid)
            #expect(processIsAlive(added.pid!))
        }
    }

    @Test func startStatusAndStopManageADetachedDaemon() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }") { daemon, _ in
            let started = try await daemon.command(["start"])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(started.stdout.hasPrefix("pgdaemon started on node \(daemon.node) (pid "))
            try await daemon.waitForModule("TestDaemon")

            let status = try await daemon.command(["status"])
            #expect(status.status == 0)
            #expect(status.stdout.contains("TestDaemon"))
            #expect(status.stdout.contains("running"))
            let json = try await daemon.command(["status", "--json"])
            let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(report?["running"] as? Bool == true)

            let stopped = try await daemon.command(["stop"])
            #expect(stopped.status == 0, "\(stopped.stderr)")
            #expect(stopped.stdout.hasPrefix("pgdaemon stopped on node \(daemon.node)"))
            let after = try await daemon.command(["status"])
            #expect(after.status == 3)
            #expect(after.stdout == "pgdaemon is not running on node \(daemon.node).\n")
            #expect(processes(withCommandLineContaining: "--node \(daemon.node)").isEmpty)
        }
    }
}
