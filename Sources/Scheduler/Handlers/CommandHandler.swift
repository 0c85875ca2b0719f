import DaemonKit

/// `Command`: runs an entry of the configuration's `commands:` allow-list, `{"command": "report"}`: its argv without a
/// shell, within its timeout, output captured into history. A command not on the list fails at once without running
/// anything; a non-zero exit, a signal or the timeout fails the attempt.
public struct CommandHandler: TaskHandler {
    public struct Payload: Decodable, Sendable {
        public var command: String
    }

    public static let type = "Command"
    /// A command's own `timeout:` applies; this bounds the task around it.
    public static var timeout: Duration { .seconds(86400) }
    public init() {}

    public func run(_ payload: Payload, context: TaskContext) async throws {
        let command = try allowListed(
            payload.command, in: context.configuration.section(CommandsSection.self).commands, called: "commands")
        let outcome = try await CommandRun.run(command.argv, timeout: command.timeout)
        context.output.append(outcome.output)
        if outcome.timedOut {
            throw CommandFailed(
                "\(payload.command) did not finish within \(DurationText.format(command.timeout)) and was killed.")
        }
        if let signal = outcome.signal { throw CommandFailed("\(payload.command) was killed by signal \(signal).") }
        if let status = outcome.status, status != 0 {
            throw CommandFailed("\(payload.command) exited with status \(status).")
        }
    }
}

/// A command that ran and failed: retried like any failed attempt.
struct CommandFailed: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
