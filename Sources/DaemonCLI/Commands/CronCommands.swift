import ArgumentParser
import DaemonKit
import Foundation
import Scheduler

/// `pgdaemon cron`: the cron entries at runtime: list them, run one now, pause and resume one. Each acts on the
/// database, so it holds whichever node runs the cron manager, across its restarts and failovers.
struct CronCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron", abstract: "List the cron entries, run one now, pause or resume one.",
        subcommands: [List.self, RunNow.self, Pause.self, Resume.self])

    struct List: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each entry: its schedule, overlap rule, pause, last slot and its status, next slot.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let entries = try await CronStore(connection: connection).list()
            await connection.close()
            if output.json { return try printJSON(entries) }
            var table = TextTable("ENTRY", "SCHEDULE", "TASK", "OVERLAP", "PAUSED", "LAST SLOT", "LAST", "NEXT SLOT")
            func time(_ date: Date?) -> String { date.map { $0.formatted(.iso8601) } ?? "-" }
            for entry in entries {
                table.append([
                    entry.name, "\(entry.schedule) \(entry.timezone)", entry.taskType,
                    entry.overlapText,
                    time(entry.pausedAt), time(entry.lastSlot), entry.lastStatus ?? "-", time(entry.nextSlot),
                ])
            }
            print(table.rendered)
        }
    }

    struct RunNow: DaemonCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run an entry's task now, as one extra slot recorded as manual, once in the cluster.",
            discussion: "It runs even while the entry is paused or its previous task still runs.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The entry's name, as in the configuration's cron: section.") var name: String

        func run(_ registry: ModuleRegistry) async throws {
            let (configuration, connection) = try await global.connect(purpose: "cli", registry: registry)
            defer { Task { await connection.close() } }
            guard let entry = configuration.section(CronSection.self).entries.first(where: { $0.name == name }) else {
                throw CommandFailure.failure("The configuration has no cron entry \(name).")
            }
            do {
                let id = try await CronStore(connection: connection).runNow(entry, node: configuration.node)
                print("Cron entry \(name) enqueued task \(id).")
            } catch let missing as CronEntryMissing {
                throw CommandFailure.failure(missing.description)
            }
        }
    }

    struct Pause: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause an entry: its slots are recorded as skipped until it is resumed.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The entry's name.") var name: String

        func run(_ registry: ModuleRegistry) async throws {
            try await CronCommand.setPaused(true, name, global: global, registry: registry)
            print("Cron entry \(name) paused.")
        }
    }

    struct Resume: DaemonCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused entry from its next slot on.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The entry's name.") var name: String

        func run(_ registry: ModuleRegistry) async throws {
            try await CronCommand.setPaused(false, name, global: global, registry: registry)
            print("Cron entry \(name) resumed.")
        }
    }

    /// Pause and resume, which differ only in the flag and their message.
    static func setPaused(_ paused: Bool, _ name: String, global: GlobalOptions, registry: ModuleRegistry)
        async throws
    {
        let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
        let found = try await CronStore(connection: connection).setPaused(paused, name)
        await connection.close()
        guard found else { throw CommandFailure.failure("No cron entry \(name) is registered.") }
    }
}
