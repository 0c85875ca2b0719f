import ArgumentParser
import DaemonKit
import Foundation
import Postgres

/// The `pgdaemon` command: the daemon's node and cluster tools (DESIGN §7).
@main
struct PGDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgdaemon",
        abstract: "A clusterable daemon for PostgreSQL: daemon modules and a task scheduler sharing one database.",
        subcommands: [Database.self])

    /// Runs the command and turns every failure into one line on stderr and the exit codes of DESIGN §7: 1 for a
    /// failure, 2 for a usage or configuration error.
    static func main() async {
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
