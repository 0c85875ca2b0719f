import DaemonKit
import Foundation
import TestSupport
import Testing

/// The pid file proves itself: only a pid whose supervisor holds the file's lock is trusted, so a stale file left by a
/// crash never makes `status` lie or `stop` signal another program. One test at a time: each starts daemons, and the
/// whole run starts every suite at once on two cores.
@Suite("The pid file", .serialized, .timeLimit(.minutes(2)))
struct PidFileTests {
    private func withDaemon(_ body: (DaemonHarness, TestDatabase) async throws -> Void) async throws {
        try await TestSupport.withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }", body)
    }

    /// A live process that is not pgdaemon, as a reused pid would be.
    private func unrelatedProcess() throws -> ChildProcess {
        try ChildProcess(executable: "/bin/sleep", arguments: ["60"])
    }

    private func writePidFile(_ daemon: DaemonHarness, _ pid: Int32) throws {
        let url = URL(fileURLWithPath: daemon.pidFilePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "\(pid)\n".write(to: url, atomically: true, encoding: .utf8)
    }

    /// `pgdaemon run --node NAME` runs under a name the configuration does not give (the harness's file names
    /// `daemon.node`): status, drain, undrain and stop act on the node that runs, by the name its supervisor wrote into
    /// the pid file, and refuse, changing nothing, when --node names another.
    @Test func commandsActOnTheNodeThatRunsWhateverNameTheConfigurationGives() async throws {
        try await withDaemon { daemon, _ in
            try daemon.start(["run", "--node", "other-name"])
            let pid = try #require(daemon.process?.pid)
            try await waitUntil("status shows the running node's module") {
                let status = try await daemon.command(["status", "--json"])
                let report = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
                let modules = report?["modules"] as? [[String: Any]] ?? []
                return status.status == 0 && report?["node"] as? String == "other-name"
                    && modules.contains {
                        $0["module"] as? String == "TestDaemon" && $0["state"] as? String == "running"
                    }
            }
            let status = try await daemon.command(["status"])
            #expect(status.stdout.hasPrefix("pgdaemon is running on node other-name (pid \(pid)"), "\(status.stdout)")
            #expect(status.stdout.contains("TestDaemon"))
            let elsewhere =
                "pgdaemon is not running as node \(daemon.node) here: the supervisor of \(daemon.pidFilePath) (pid \(pid)) is node other-name; --node other-name acts on it.\n"
            for command in [["status"], ["drain"], ["undrain"], ["stop"]] {
                let refused = try await daemon.command(command + ["--node", daemon.node])
                #expect(refused.status == 3, "\(command)")
                #expect(refused.stdout == elsewhere, "\(command)")
            }
            #expect(
                try await daemon.command(["drain"]).stdout == "Node other-name is drained: it holds no singleton.\n")
            #expect(try await daemon.command(["undrain"]).stdout == "Node other-name takes part in singletons again.\n")
            #expect(try await daemon.command(["stop"]).stdout == "pgdaemon stopped on node other-name (pid \(pid)).\n")
        }
    }

    @Test func aPidFileNamingAnUnrelatedLiveProcessIsStaleAndThatProcessIsNeverSignalled() async throws {
        try await withDaemon { daemon, _ in
            let program = try unrelatedProcess()
            defer { program.signal(SIGKILL) }
            try writePidFile(daemon, program.pid)
            let stale =
                "pgdaemon is not running on node \(daemon.node); the stale pid file \(daemon.pidFilePath) names pid \(program.pid), another program.\n"

            let status = try await daemon.command(["status"])
            #expect(status.status == 3)
            #expect(status.stdout == stale)
            let json = try await daemon.command(["status", "--json"])
            let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(report?["running"] as? Bool == false)
            #expect(report?["stalePid"] as? Int == Int(program.pid))
            for command in [["stop"], ["stop", "--force"], ["drain"], ["undrain"], ["reload"]] {
                let outcome = try await daemon.command(command)
                #expect(outcome.status == 3, "\(command)")
                #expect(outcome.stdout == stale, "\(command)")
            }
            #expect(program.isRunning, "no command signalled the unrelated process")

            let started = try await daemon.command(["start"])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(started.stdout.hasPrefix("Starting in place of the stale pid file"))
            let pid = try #require(PidFile(path: daemon.pidFilePath).state().livePID)
            #expect(pid != program.pid)
            #expect(try String(contentsOfFile: daemon.pidFilePath, encoding: .utf8) == "\(pid)\n\(daemon.node)\n")
            #expect(try await daemon.command(["stop"]).status == 0)
            #expect(program.isRunning)
        }
    }

    @Test func aPidFileNamingADeadPidIsStale() async throws {
        try await withDaemon { daemon, _ in
            let gone = try ChildProcess(executable: "/bin/true", arguments: [])
            _ = try await gone.wait()
            try writePidFile(daemon, gone.pid)
            let status = try await daemon.command(["status"])
            #expect(status.status == 3)
            #expect(
                status.stdout
                    == "pgdaemon is not running on node \(daemon.node); the stale pid file \(daemon.pidFilePath) names pid \(gone.pid), which has exited.\n"
            )
            #expect(try await daemon.command(["stop"]).status == 3)
            let started = try await daemon.command(["start"])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(try await daemon.command(["status"]).status == 0)
        }
    }

    @Test func aPidFileNamingAnotherConfigurationsLiveDaemonIsStale() async throws {
        try await withDaemon { running, database in
            let other = try await DaemonHarness(
                connectionString: database.connectionString, modules: "  TestDaemon: { sleep_post: 100ms }")
            defer { try? FileManager.default.removeItem(at: other.folder) }
            try running.start()
            try await running.waitForModule("TestDaemon")
            let pid = try #require(running.process?.pid)
            try writePidFile(other, pid)

            let status = try await other.command(["status"])
            #expect(status.status == 3)
            #expect(status.stdout.hasSuffix("names pid \(pid), another program.\n"))
            #expect(try await other.command(["stop", "--force"]).status == 3)
            #expect(running.process?.isRunning == true, "the other configuration's daemon was not signalled")
            #expect(try await running.command(["status"]).status == 0)
        }
    }

    @Test func ofTwoStartsAtTheSameMomentOneRunsAndTheOtherSaysSo() async throws {
        try await withDaemon { daemon, _ in
            let start = ["start", "--config", daemon.configPath]
            let environment = ["PGDAEMON_DATABASE_URL": daemon.connectionString]
            async let first = PGDaemonProcess.run(start, environment: environment)
            async let second = PGDaemonProcess.run(start, environment: environment)
            let outcomes = try await [first, second]
            #expect(outcomes.map(\.status) == [0, 0], "\(outcomes.map(\.stderr))")
            let pid = try #require(PidFile(path: daemon.pidFilePath).state().livePID)
            let said = outcomes.map(\.stdout).sorted()
            #expect(said[0] == "pgdaemon is already running on node \(daemon.node) (pid \(pid)).\n")
            #expect(said[1].hasPrefix("pgdaemon started on node \(daemon.node) (pid \(pid));"))
            try await daemon.waitForModule("TestDaemon")
            let supervisors = processes(withCommandLineContaining: "run --detached --node \(daemon.node)")
            #expect(supervisors == [pid])
        }
    }

    @Test func aSupervisorKilledWithSIGKILLLeavesAFileThatIsStaleAtOnce() async throws {
        try await withDaemon { daemon, _ in
            let started = try await daemon.command(["start"])
            #expect(started.status == 0, "\(started.stderr)")
            let pidFile = PidFile(path: daemon.pidFilePath)
            let pid = try #require(pidFile.state().livePID)
            kill(pid, SIGKILL)
            try await waitUntil("the supervisor is gone", timeout: .seconds(5)) { !processIsAlive(pid) }

            let status = try await daemon.command(["status"])
            #expect(status.status == 3)
            #expect(status.stdout.hasSuffix("names pid \(pid), which has exited.\n"))
            let again = try await daemon.command(["start"])
            #expect(again.status == 0, "\(again.stderr)")
            let next = try #require(pidFile.state().livePID)
            #expect(next != pid)
            try await daemon.waitForModule("TestDaemon")
        }
    }
}
