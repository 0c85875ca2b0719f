import ArgumentParser
import DaemonKit
import Foundation
import Scheduler

/// `pgdaemon queue`: the named queues, and pause and resume.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "List, pause or resume the named queues.",
        subcommands: [List.self, Pause.self, Resume.self])

    struct List: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each queue: waiting, running, paused, its limits, what it finished in the last minute and hour.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let queues = try await QueueStore(connection: connection).list()
            await connection.close()
            if output.json { return try printJSON(queues) }
            var table = TextTable("QUEUE", "READY", "RUNNING", "FUTURE", "PAUSED", "LIMITS", "ENDED 1M", "ENDED 1H")
            for queue in queues {
                table.append([
                    queue.name, String(queue.ready), String(queue.running), String(queue.future),
                    queue.pausedAt.map { $0.formatted(.iso8601) } ?? "-", queue.limitsText,
                    String(queue.finishedLastMinute), String(queue.finishedLastHour),
                ])
            }
            print(table.rendered)
        }
    }

    struct Pause: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Pause a queue in the whole cluster: nothing in it starts until it is resumed; running tasks finish.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The queue's name.") var name: String

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let changed = try await QueueStore(connection: connection).pause(name)
            await connection.close()
            print(changed ? "Queue \(name) paused." : "Queue \(name) was paused already.")
        }
    }

    struct Resume: DaemonCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused queue in the whole cluster.")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The queue's name.") var name: String

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let changed = try await QueueStore(connection: connection).resume(name)
            await connection.close()
            print(changed ? "Queue \(name) resumed." : "Queue \(name) was not paused.")
        }
    }
}
