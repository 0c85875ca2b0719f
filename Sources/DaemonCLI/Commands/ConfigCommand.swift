import ArgumentParser
import DaemonKit

/// `pgdaemon config check`.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check the configuration.", subcommands: [Check.self])

    struct Check: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the configuration without starting anything; prints ok, or the error and exits 2.")

        @OptionGroup var global: GlobalOptions

        func run(_ registry: ModuleRegistry) async throws {
            let configuration = try global.loadConfiguration(registry)
            let source = configuration.file ?? "defaults (no configuration file)"
            print(
                "ok: \(source), node \(configuration.node), modules: \(configuration.validModules.map(\.name).joined(separator: ", "))"
            )
        }
    }
}
