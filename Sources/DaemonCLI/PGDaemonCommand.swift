import ArgumentParser
public import DaemonKit
import Foundation
import Postgres
public import Scheduler

/// The `pgdaemon` command line (DESIGN §7), over any set of registered modules: `pgdaemon` itself runs it with the
/// built-in set, and a team's own daemon binary with its modules added.
///
/// ```swift
/// @main struct MyDaemon {
///     static func main() async {
///         await DaemonCommandLine.main(
///             registry: .builtIn.adding(.scheduler).adding(ModuleRegistry([Heartbeat.self])),
///             handlers: TaskHandlerRegistry.builtIn.adding(myHandlers))
///     }
/// }
/// ```
public enum DaemonCommandLine {
    /// Runs the command line with `registry`'s modules and `handlers`' task types, and exits with DESIGN §7's codes:
    /// 1 for a failure, 2 for a usage or configuration error, each with one line on stderr.
    public static func main(registry: ModuleRegistry, handlers: TaskHandlerRegistry = .builtIn) async {
        await TaskHandlerRegistry.$current.withValue(handlers) {
            await PGDaemonCommand.main(registry: registry)
        }
    }
}

struct PGDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgdaemon",
        abstract: "A clusterable daemon for PostgreSQL: daemon modules and a task scheduler sharing one database.",
        subcommands: [
            Database.self, ConfigCommand.self, Run.self, Start.self, Stop.self, Status.self, Reload.self, Modules.self,
            Summary.self, Nodes.self, Locks.self, Drain.self, Undrain.self, TaskCommand.self, CacheCommand.self,
            ModuleRun.self,
        ])

    static func main(registry: ModuleRegistry) async {
        await CommandEnvironment.$registry.withValue(registry) {
            do {
                var command = try parseAsRoot()
                if var command = command as? any AsyncParsableCommand {
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
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("pgdaemon: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

/// What the commands share without passing it through every parser: the registered modules.
enum CommandEnvironment {
    @TaskLocal static var registry = ModuleRegistry.builtIn.adding(.scheduler)
}
