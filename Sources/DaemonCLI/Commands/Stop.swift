import ArgumentParser
import DaemonKit
import Foundation

/// `pgdaemon stop [--force]`.
struct Stop: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Stop this node's daemon: running work finishes up to shutdown_timeout; waits until it is gone. \
            Exit 3 when it does not run.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Kill the supervisor at once (SIGKILL); its modules notice and exit.")
    var force = false

    func run(_ registry: ModuleRegistry) async throws {
        let (configuration, pid) = try runningSupervisor(global, registry)
        let pidFile = PidFile(path: configuration.daemon.pidFile)
        kill(pid, force ? SIGKILL : SIGTERM)
        let limit = force ? Duration.seconds(10) : configuration.daemon.shutdownTimeout + .seconds(10)
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            // The supervisor's lock on the file goes with its process, whichever way it ends.
            if pidFile.state().livePID != pid {
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
