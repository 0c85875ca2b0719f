import ArgumentParser
import DaemonKit
import Foundation
import Postgres

/// `pgdaemon drain`: hands this node's singletons to other nodes.
struct Drain: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: """
            Hand this node's singletons to other nodes and keep them away until undrain or a restart; \
            every-node modules keep running.
            """)

    @OptionGroup var global: GlobalOptions

    func run(_ registry: ModuleRegistry) async throws {
        let (configuration, pid) = try runningSupervisor(global, registry)
        kill(pid, SIGUSR1)
        let connection = try await Connection.connect(configuration.connectionOptions(purpose: "cli"))
        let deadline = ContinuousClock.now + configuration.daemon.shutdownTimeout + .seconds(10)
        while ContinuousClock.now < deadline {
            let held = try await connection.query(
                "SELECT module FROM daemon_singleton_overview WHERE held AND holder_node = \(configuration.node)"
            ).map { try $0.decode(String.self, "module") }
            if held.isEmpty {
                await connection.close()
                return print("Node \(configuration.node) is drained: it holds no singleton.")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await connection.close()
        throw CommandFailure.failure("Node \(configuration.node) still holds singletons; see `pgdaemon locks`.")
    }
}

/// `pgdaemon undrain`: lets this node take singletons again.
struct Undrain: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: "Let this node take part in singletons again (it takes one when it is free).")

    @OptionGroup var global: GlobalOptions

    func run(_ registry: ModuleRegistry) async throws {
        let (configuration, pid) = try runningSupervisor(global, registry)
        kill(pid, SIGUSR2)
        print("Node \(configuration.node) takes part in singletons again.")
    }
}
