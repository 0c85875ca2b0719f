import ArgumentParser
public import DaemonKit
import Foundation
import Postgres

/// The `pgdaemon` command line (DESIGN §7), over any set of registered modules: `pgdaemon` itself runs it with the
/// built-in set, and a team's own daemon binary with its modules added.
///
/// ```swift
/// @main struct MyDaemon {
///     static func main() async {
///         await DaemonCommandLine.main(
///             registry: .builtIn.adding(.scheduler(handlers: TaskHandlerRegistry.builtIn.adding(myHandlers)))
///                 .adding(ModuleRegistry([Heartbeat.self])))
///     }
/// }
/// ```
public enum DaemonCommandLine {
    /// Runs the command line with `registry`'s modules (the scheduler's with their task handlers), and exits with
    /// DESIGN §7's codes: 1 for a failure, 2 for a usage or configuration error, each with one line on stderr.
    public static func main(registry: ModuleRegistry) async {
        await PGDaemonCommand.main(registry: registry)
    }
}

struct PGDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgdaemon",
        abstract: "A clusterable daemon for PostgreSQL: daemon modules and a task scheduler sharing one database.",
        subcommands: [
            Database.self, ConfigCommand.self, Run.self, Start.self, Stop.self, Status.self, Reload.self, Modules.self,
            Summary.self, Nodes.self, Locks.self, Drain.self, Undrain.self, TaskCommand.self, QueueCommand.self,
            CronCommand.self, CacheCommand.self, ConsoleCommand.self,
            ModuleRun.self,
        ])

    static func main(registry: ModuleRegistry) async {
        do {
            var command = try parseAsRoot(ProcessArguments.afterProgramName)
            if let command = command as? any DaemonCommand {
                try await command.run(registry)
            } else if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            fail(failure.message, code: failure.exitCode)
        } catch let error as ConfigurationError {
            fail(error.description, code: CommandFailure.usageExitCode)
        } catch let error as PostgresError {
            fail(error.description, code: CommandFailure.failureExitCode)
        } catch let error as NodeAlreadyRunning {
            fail(error.description, code: CommandFailure.failureExitCode)
        } catch let error as PidFileHeld {
            fail(error.description, code: CommandFailure.failureExitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(CommandFailure.usageExitCode)
            }
            exit(withError: error)
        }
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("pgdaemon: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// A command that needs the binary's modules (to read the configuration, at least): `DaemonCommandLine.main` runs it
/// with them, handed over explicitly rather than through a task-local value.
protocol DaemonCommand: AsyncParsableCommand {
    func run(_ registry: ModuleRegistry) async throws
}

extension DaemonCommand {
    /// Reached only when the command is run outside `DaemonCommandLine.main`, which has the registry.
    func run() async throws {
        throw CommandFailure.failure("\(Self._commandName) runs only under DaemonCommandLine.main(registry:).")
    }
}
