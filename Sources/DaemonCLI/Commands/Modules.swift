import ArgumentParser
import DaemonKit

/// `pgdaemon modules`: registered and configured modules, like the seed's Maint::Daemon::List.
struct Modules: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the configured modules and every registered module type.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    struct Entry: Encodable {
        var name: String
        var module: String
        var configured: Bool
        var valid: Bool
        var cluster: String
        var sleepPost: String
        var discardAfter: String
        /// `none` when an iteration has no bound.
        var maxIteration: String
        var description: String
    }

    func run(_ registry: ModuleRegistry) async throws {
        let configuration = try global.loadConfiguration(registry)
        var entries = configuration.modules.map { entry in
            Entry(
                name: entry.name, module: entry.type, configured: true, valid: entry.valid,
                cluster: entry.cluster.rawValue, sleepPost: DurationText.format(entry.sleepPost),
                discardAfter: DurationText.format(entry.discardAfter),
                maxIteration: entry.maxIteration.map(DurationText.format) ?? "none",
                description: registry[entry.type]?.description ?? "")
        }
        for name in registry.names where !configuration.modules.contains(where: { $0.type == name }) {
            let type = registry[name]!
            entries.append(
                Entry(
                    name: name, module: name, configured: false, valid: false, cluster: type.defaultCluster.rawValue,
                    sleepPost: DurationText.format(type.defaultSleepPost), discardAfter: "-",
                    maxIteration: type.defaultMaxIteration.map(DurationText.format) ?? "none",
                    description: type.description))
        }
        if output.json { return try printJSON(entries) }
        var table = TextTable(
            "NAME", "MODULE", "RUNS", "CLUSTER", "SLEEP POST", "DISCARD AFTER", "MAX ITERATION", "DESCRIPTION")
        for entry in entries {
            let runs = entry.configured ? (entry.valid ? "yes" : "no (valid: false)") : "no (not configured)"
            table.append([
                entry.name, entry.module, runs, entry.cluster, entry.sleepPost, entry.discardAfter, entry.maxIteration,
                entry.description,
            ])
        }
        print(table.rendered)
    }
}
