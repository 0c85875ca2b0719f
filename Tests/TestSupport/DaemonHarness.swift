public import DaemonKit
public import Foundation
import Postgres

/// A `pgdaemon` supervisor run by a test as an operator would run it: its own folder, configuration file and node
/// name, against a test database, observed through the shared tables and `/proc`.
public final class DaemonHarness {
    /// One row of `daemon_module_state`.
    public struct ModuleRow: Sendable, Equatable {
        public var module: String
        public var pid: Int32?
        public var state: String?
        public var iterations: Int
        public var discards: Int
        public var restarts: Int
        public var lastError: String?
    }

    public let folder: URL
    public let node: String
    public let connectionString: String
    public private(set) var process: ChildProcess?
    private let observer: Connection

    public var configPath: String { folder.appending(path: "pgdaemon.yaml").path }
    public var outputPath: String { folder.appending(path: "output.log").path }
    public var pidFilePath: String { folder.appending(path: "run/pgdaemon.pid").path }

    /// Prepares a folder with a configuration whose `modules:` section is `modules` (YAML, indented two spaces; it may
    /// go on with further top-level sections such as `commands:`).
    /// `daemon.http` for the configuration, when set.
    public let http: String?
    /// More `daemon:` settings, one `key: value` each.
    public let daemonSettings: [String]

    public init(
        connectionString: String, modules: String, node: String? = nil, http: String? = nil,
        daemonSettings: [String] = []
    ) async throws {
        self.http = http
        self.daemonSettings = daemonSettings
        folder = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        self.node = node ?? "node-\(UUID().uuidString.prefix(8).lowercased())"
        self.connectionString = connectionString
        var observing = ConnectionOptions(connectionString, applicationName: "pgdaemon-tests")
        // It reads the node's rows also while the node waits on a standby for its promotion.
        observing.acceptsStandby = true
        observer = try await Connection.connect(observing)
        try writeConfiguration(modules: modules)
    }

    /// Rewrites the configuration file (for reload tests).
    public func writeConfiguration(modules: String) throws {
        let text = """
            node: \(node)
            daemon:
              pid_file: \(pidFilePath)
              log_dir: \(folder.appending(path: "log").path)
              shutdown_timeout: 5s\(http.map { "\n  http: \($0)" } ?? "")\(daemonSettings.map { "\n  \($0)" }.joined())
            modules:
            \(modules)
            """
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts `pgdaemon ARGUMENTS --config FILE` (default `run`; another `binary` when given), its output in
    /// `output.log`; through `launcher` when given (a program that executes its arguments, such as
    /// `ip netns exec NAME`), with `environment` added.
    public func start(
        _ arguments: [String] = ["run"], binary: URL = PGDaemonProcess.binary, launcher: [String] = [],
        environment: [String: String] = [:]
    ) throws {
        let argv = launcher + [binary.path] + arguments + ["--config", configPath]
        let process = try ChildProcess(
            executable: argv[0], arguments: Array(argv.dropFirst()),
            environment: ProcessInfo.processInfo.environment.merging(
                environment.merging(["PGDAEMON_DATABASE_URL": connectionString]) { $1 }
            ) { $1 },
            stdout: .file(outputPath), stderr: .file(outputPath))
        self.process = process
    }

    /// What the daemon printed so far.
    public var output: String {
        (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    }

    /// Runs `pgdaemon ARGUMENTS --config FILE` to its end, against this daemon's database.
    public func command(_ arguments: [String]) async throws -> PGDaemonProcess.Outcome {
        try await PGDaemonProcess.run(
            arguments + ["--config", configPath], environment: ["PGDAEMON_DATABASE_URL": connectionString])
    }

    public func signal(_ number: Int32) {
        if let pid = process?.pid { kill(pid, number) }
    }

    /// Kills the whole node, supervisor and module processes, with SIGKILL, as a machine's crash would; `noting`
    /// learns their pids before the signals go. Returns those pids.
    @discardableResult
    public func killNode(noting: (Set<Int32>) -> Void = { _ in }) -> Set<Int32> {
        guard let supervisor = process?.pid else { return [] }
        let pids = Set(childProcesses(of: supervisor) + [supervisor])
        noting(pids)
        kill(supervisor, SIGKILL)
        for pid in pids where pid != supervisor { kill(pid, SIGKILL) }
        return pids
    }

    /// Freezes the whole node, supervisor first so that it restarts nothing, then its module processes, with
    /// SIGSTOP, as a paused VM or a stuck storage mount would; returns the pids for `thaw`.
    @discardableResult
    public func freeze() -> [Int32] {
        guard let supervisor = process?.pid else { return [] }
        kill(supervisor, SIGSTOP)
        let pids = [supervisor] + childProcesses(of: supervisor)
        for pid in pids.dropFirst() { kill(pid, SIGSTOP) }
        return pids
    }

    /// Lets the processes `freeze` stopped go on (SIGCONT).
    public func thaw(_ pids: [Int32]) {
        for pid in pids { kill(pid, SIGCONT) }
    }

    /// Waits for the supervisor to exit and returns its status.
    public func waitForExit(timeout: Duration = .seconds(20)) async throws -> Int32 {
        guard let process else { return -1 }
        try await waitUntil("the supervisor exits", timeout: timeout) { !process.isRunning }
        return process.exitCode ?? -1
    }

    /// The node's module rows (read on a connection renewed after a database restart).
    public func modules() async throws -> [String: ModuleRow] {
        if !(await observer.ping()) { try await observer.reconnect() }
        let rows = try await observer.query(
            """
            SELECT module, pid, state, iterations, discards, restarts, last_error FROM daemon_module_state
            WHERE node = \(node)
            """)
        return Dictionary(
            uniqueKeysWithValues: try rows.map { row in
                let module = try row.decode(String.self, "module")
                return (
                    module,
                    ModuleRow(
                        module: module, pid: try row.decode(Int32?.self, "pid"),
                        state: try row.decode(String?.self, "state"),
                        iterations: try row.decode(Int.self, "iterations"),
                        discards: try row.decode(Int.self, "discards"),
                        restarts: try row.decode(Int.self, "restarts"),
                        lastError: try row.decode(String?.self, "last_error"))
                )
            })
    }

    /// Waits until the named module runs in a live process after at least `iterations` iterations; returns its row.
    @discardableResult
    public func waitForModule(
        _ name: String, iterations: Int = 1, timeout: Duration = .seconds(20),
        where extra: @escaping (ModuleRow) -> Bool = { _ in true }
    ) async throws -> ModuleRow {
        var found: ModuleRow?
        try await waitUntil("\(name) runs with \(iterations) iterations", timeout: timeout) {
            guard let row = try await self.modules()[name], row.state == "running", let pid = row.pid,
                row.iterations >= iterations, processIsAlive(pid), extra(row)
            else { return false }
            found = row
            return true
        }
        return found!
    }

    /// Stops the daemon if it still runs (SIGKILL, so a failed test leaves nothing behind), whether the test ran it or
    /// `pgdaemon start` detached it, and removes its folder.
    public func cleanUp() async {
        if let process, process.isRunning {
            kill(process.pid, SIGKILL)
            try? await waitUntil("the supervisor dies", timeout: .seconds(5)) { !process.isRunning }
        }
        let pidFile = PidFile(path: pidFilePath)
        if let detached = pidFile.state().livePID {
            kill(detached, SIGKILL)
            try? await waitUntil("the detached supervisor dies", timeout: .seconds(5)) {
                pidFile.state().livePID == nil
            }
        }
        await observer.close()
        try? FileManager.default.removeItem(at: folder)
    }

    /// A test that throws before `cleanUp` must not leave its daemon running to load every later test: the harness's
    /// end kills the supervisor, whose modules then see their lifeline close and exit.
    deinit {
        if let process, process.isRunning { kill(process.pid, SIGKILL) }
    }
}

/// Runs `body` with a daemon harness (not started yet) for `modules` on a fresh database, cleaned up whatever happens;
/// a failure prints what the daemon printed.
public func withDaemon(
    modules: String, _ body: (DaemonHarness, TestDatabase) async throws -> Void
) async throws {
    try await withTestDatabase { database in
        let daemon = try await DaemonHarness(connectionString: database.connectionString, modules: modules)
        do {
            try await body(daemon, database)
            await daemon.cleanUp()
        } catch {
            print("daemon output:\n\(daemon.output)")
            await daemon.cleanUp()
            throw error
        }
    }
}

/// Polls `condition` every 20 ms until it holds; throws a timeout naming `what` when it does not within `timeout`.
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what, after: timeout) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// A condition a test waited for did not come about.
public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public var after: Duration
    public var description: String { "timed out after \(after) waiting until \(what)" }
}

/// Whether a process exists and has not exited.
public func processIsAlive(_ pid: Int32) -> Bool {
    PidFile.isAlive(pid)
}

/// The fields of `/proc/PID/stat` after the command name, starting with the state: nil when the process is gone.
private func statFields(of pid: Int32) -> [Substring]? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let afterName = stat.range(of: ") ", options: .backwards)
    else { return nil }
    return stat[afterName.upperBound...].split(separator: " ")
}

/// The live processes whose parent is `pid`, from `/proc`.
public func childProcesses(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { candidate in
        guard let fields = statFields(of: candidate) else { return false }
        return fields.count > 1 && fields[0] != "Z" && Int32(fields[1]) == pid
    }
}

/// The CPU time a process has used, user and system, in clock ticks (a hundredth of a second here).
public func cpuTicks(of pid: Int32) -> Int? {
    guard let fields = statFields(of: pid), fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12])
    else { return nil }
    return user + system
}

/// The live processes whose command line contains `text`, from `/proc`.
public func processes(withCommandLineContaining text: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let commandLine = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        return commandLine.contains(text) && processIsAlive(pid)
    }
}
