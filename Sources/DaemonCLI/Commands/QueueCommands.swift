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
                    queue.pausedAt.map { $0.formatted(.iso8601) } ?? "-", Self.limits(queue),
                    String(queue.finishedLastMinute), String(queue.finishedLastHour),
                ])
            }
            print(table.rendered)
        }

        /// `per_node 2, limit 4, key_limit 1, rate 100/60s`, or `-`.
        static func limits(_ queue: QueueStore.Summary) -> String {
            var parts: [String] = []
            if let perNode = queue.perNode { parts.append("per_node \(perNode)") }
            if let limit = queue.limit { parts.append("limit \(limit)") }
            if let keyLimit = queue.keyLimit { parts.append("key_limit \(keyLimit)") }
            if let count = queue.rateCount, let period = queue.ratePeriodSeconds {
                parts.append("rate \(count)/\(DurationText.format(.milliseconds(Int64(period * 1000))))")
            }
            return parts.isEmpty ? "-" : parts.joined(separator: ", ")
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
