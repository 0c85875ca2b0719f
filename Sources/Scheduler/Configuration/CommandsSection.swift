public import DaemonKit

/// The `commands:` section: the only programs a `Command` task may run, by the name a task gives.
public struct CommandsSection: ConfigurationSection, Equatable {
    public static let key = "commands"

    /// One entry: a program and its arguments, run without a shell.
    public struct Command: Sendable, Equatable {
        public var argv: [String]
        /// How long it may run before it is killed; default 1h.
        public var timeout: Duration
    }

    public var commands: [String: Command] = [:]

    public init() {}

    public init(_ value: ConfigurationValue) throws {
        for entry in try value.pairs() {
            let pairs = try entry.value.pairs(allowed: ["argv", "timeout"])
            guard let argv = pairs.first(where: { $0.key == "argv" }) else {
                throw entry.fail("missing argv, the program and its arguments as a list")
            }
            commands[entry.key] = Command(
                argv: try argv.value.stringList(),
                timeout: try pairs.first { $0.key == "timeout" }?.value.duration() ?? .seconds(3600))
        }
    }
}
