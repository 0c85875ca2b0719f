import ArgumentParser
import DaemonKit
import Foundation

/// `pgdaemon stop [--force]`.
struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop this node's daemon: running work finishes up to shutdown_timeout; waits until it is gone.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Kill the supervisor at once (SIGKILL); its modules notice and exit.")
    var force = false

    func run() async throws {
        let configuration = try global.loadConfiguration()
        let pidFile = PidFile(path: configuration.daemon.pidFile)
        guard let pid = pidFile.livePID() else {
            print("pgdaemon is not running on node \(configuration.node).")
            return
        }
        kill(pid, force ? SIGKILL : SIGTERM)
        let limit = force ? Duration.seconds(10) : configuration.daemon.shutdownTimeout + .seconds(10)
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if !PidFile.isAlive(pid) {
                if force { try? FileManager.default.removeItem(atPath: pidFile.path) }
                print("pgdaemon stopped on node \(configuration.node) (pid \(pid)).")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CommandFailure.failure(
            "pgdaemon (pid \(pid)) did not stop within \(DurationText.format(limit)); `pgdaemon stop --force` kills it."
        )
    }
}
