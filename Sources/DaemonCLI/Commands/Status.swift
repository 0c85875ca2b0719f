import ArgumentParser
import DaemonKit
import Foundation
import Postgres

/// `pgdaemon status`: this node, from its pid file and the shared database; exit 0 running, 3 not (LSB).
struct Status: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether this node's daemon runs (exit 0) or not (exit 3), and each module's state.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        struct Module: Encodable {
            var module: String
            var pid: Int?
            var state: String?
            var since: Date?
            var iterations: Int
            var discards: Int
            var restarts: Int
            var lastError: String?
        }

        var node: String
        var running: Bool
        /// Running, but not up yet: waiting for the database or starting its modules.
        var starting: Bool
        var pid: Int32?
        /// The pid a stale pid file names: no supervisor holds the file, so nothing is trusted of it.
        var stalePid: Int32?
        /// One sentence for people when it does not run.
        var notRunning: String?
        var uptimeSeconds: Double?
        var modules: [Module]
        var databaseError: String?
    }

    func run(_ registry: ModuleRegistry) async throws {
        var configuration = try global.loadConfiguration(registry)
        let path = configuration.daemon.pidFile
        let state = PidFile(path: path).state()
        let pid = state.livePID
        if let pid { configuration.node = try runningNode(configuration, pid: pid, requested: global.requestedNode) }
        var report = Report(node: configuration.node, running: pid != nil, starting: false, pid: pid, modules: [])
        switch state {
        case .starting: report.starting = true
        case .running: break
        case .stale(let stale, _): report.stalePid = stale
        case .notRunning: break
        }
        if pid == nil { report.notRunning = state.notRunningSentence(node: configuration.node, pidFile: path) }
        do {
            let connection = try await Connection.connect(configuration.connectionOptions(purpose: "cli"))
            let node = try await connection.query(
                """
                SELECT extract(epoch FROM now() - started_at)::float8 AS uptime FROM daemon_node
                WHERE name = \(configuration.node) AND status <> 'stopped'
                """)
            report.uptimeSeconds = try node.first?.decode(Double?.self, "uptime")
            report.modules = try await connection.query(
                """
                SELECT module, pid, state, since, iterations, discards, restarts, last_error
                FROM daemon_module_state WHERE node = \(configuration.node) ORDER BY module
                """
            ).map { row in
                Report.Module(
                    module: try row.decode(String.self, "module"), pid: try row.decode(Int?.self, "pid"),
                    state: try row.decode(String?.self, "state"), since: try row.decode(Date?.self, "since"),
                    iterations: try row.decode(Int.self, "iterations"), discards: try row.decode(Int.self, "discards"),
                    restarts: try row.decode(Int.self, "restarts"),
                    lastError: try row.decode(String?.self, "last_error"))
            }
            await connection.close()
        } catch let error as PostgresError {
            report.databaseError = error.description
        }
        if output.json {
            try printJSON(report)
        } else {
            print(Self.render(report))
        }
        if pid == nil { throw ExitCode(notRunningExitCode) }
    }

    static func render(_ report: Report) -> String {
        guard let pid = report.pid else {
            return report.notRunning ?? "pgdaemon is not running on node \(report.node)."
        }
        var lines = [
            report.starting
                ? "pgdaemon is starting on node \(report.node) (pid \(pid)): it waits for the database or starts its modules."
                : "pgdaemon is running on node \(report.node) (pid \(pid)\(report.uptimeSeconds.map { ", up \(formatUptime($0))" } ?? ""))."
        ]
        if let error = report.databaseError {
            lines.append("Module states are unknown: \(error)")
            return lines.joined(separator: "\n")
        }
        var table = TextTable("MODULE", "PID", "STATE", "SINCE", "ITERATIONS", "DISCARDS", "RESTARTS", "LAST ERROR")
        for module in report.modules {
            table.append([
                module.module, module.pid.map(String.init) ?? "-", module.state ?? "-",
                module.since.map { $0.formatted(.iso8601) } ?? "-", String(module.iterations),
                String(module.discards), String(module.restarts), module.lastError ?? "-",
            ])
        }
        lines.append(table.rendered)
        return lines.joined(separator: "\n")
    }

    static func formatUptime(_ seconds: Double) -> String {
        DurationText.format(.seconds(Int64(seconds)))
    }
}
