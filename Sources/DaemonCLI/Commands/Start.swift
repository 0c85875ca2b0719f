import ArgumentParser
import DaemonKit
import Foundation

/// `pgdaemon start`: the supervisor, detached.
struct Start: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start this node's daemon in the background, with a pid file and one log file per module.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "How long to wait for the daemon to come up.")
    var wait: String = "30s"

    func run(_ registry: ModuleRegistry) async throws {
        let configuration = try global.loadConfiguration(registry)
        guard let timeout = DurationText.parse(wait) else {
            throw CommandFailure.usage("--wait \(wait) is not a duration; write it like 500ms, 10s or 1m.")
        }
        let pidFile = PidFile(path: configuration.daemon.pidFile)
        let before = pidFile.state()
        if let pid = before.livePID {
            return print("pgdaemon is already running on node \(configuration.node) (pid \(pid)).")
        }
        if let stale = before.staleFile(pidFile.path) { print("Starting in place of \(stale).") }
        let logDirectory = configuration.daemon.logDir
        let logPath = try LogFile.prepare(
            directory: logDirectory, name: "pgdaemon", keepDays: configuration.daemon.logKeepDays)
        var arguments = ["run", "--detached", "--node", configuration.node]
        if let file = configuration.file {
            arguments += ["--config", URL(fileURLWithPath: file).standardizedFileURL.path]
        }
        let process = try ChildProcess(
            executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path, arguments: arguments,
            stdin: .null, stdout: .file(logPath), stderr: .file(logPath))
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                // Another start at the same moment took the pid file first: the node runs, which was the point.
                if let pid = pidFile.state().livePID {
                    return print("pgdaemon is already running on node \(configuration.node) (pid \(pid)).")
                }
                throw CommandFailure.failure("pgdaemon did not start: \(lastLine(of: logPath))")
            }
            if pidFile.state() == .running(pid: process.pid) {
                print(
                    "pgdaemon started on node \(configuration.node) (pid \(process.pid)); logs in \(logDirectory)."
                )
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CommandFailure.failure(
            "pgdaemon did not come up within \(wait); see \(logPath). It may still be starting (pid \(process.pid))."
        )
    }

    private func lastLine(of path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let line = text.split(whereSeparator: \.isNewline).last.map(String.init) ?? "see \(path)"
        return line.hasPrefix("pgdaemon: ") ? String(line.dropFirst("pgdaemon: ".count)) : line
    }
}
