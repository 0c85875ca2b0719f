import ArgumentParser
import DaemonKit
import Foundation

/// `pgdaemon reload`: SIGHUP to this node's supervisor as its pid file proves it, so a stale file never makes an
/// operator signal another program (what `kill -HUP $(cat PIDFILE)` would).
struct Reload: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Make this node's daemon re-read its configuration (SIGHUP); an invalid file is refused here and nothing \
            is signalled. Exit 3 when the daemon does not run.
            """)

    @OptionGroup var global: GlobalOptions

    func run(_ registry: ModuleRegistry) async throws {
        let (configuration, pid) = try runningSupervisor(global, registry)
        kill(pid, SIGHUP)
        print("pgdaemon on node \(configuration.node) (pid \(pid)) re-reads its configuration; its log says when.")
    }
}
