import ArgumentParser
import DaemonKit
import Foundation
import Postgres

/// The options every command takes (DESIGN §7).
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (default: $PGDAEMON_CONFIG, else pgdaemon.yaml when present).")
    var config: String?

    @Option(
        name: .long, help: "This node's name (default: $PGDAEMON_NODE, else the configuration's, else the host name).")
    var node: String?

    /// The node name the command line or `PGDAEMON_NODE` asks for, if either does.
    var requestedNode: String? {
        node ?? ProcessInfo.processInfo.environment["PGDAEMON_NODE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The configuration with the command line's choices applied, checked against the binary's modules.
    func loadConfiguration(_ registry: ModuleRegistry) throws -> Configuration {
        try Configuration.load(file: config, node: node, registry: registry)
    }

    /// Connects for a command, named `pgdaemon/NODE/PURPOSE` in `pg_stat_activity`.
    func connect(purpose: String, registry: ModuleRegistry) async throws -> (Configuration, Connection) {
        let configuration = try loadConfiguration(registry)
        let connection = try await Connection.connect(configuration.connectionOptions(purpose: purpose))
        return (configuration, connection)
    }
}

/// The `--json` flag of every listing.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON for scripts instead of a table.")
    var json = false
}
