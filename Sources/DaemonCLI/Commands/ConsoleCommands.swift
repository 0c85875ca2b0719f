import ArgumentParser
import Foundation
import HummingbirdBcrypt

/// `pgdaemon console`: what the web console needs from the command line.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console", abstract: "Set up the web console's logins.", subcommands: [HashPassword.self])

    struct HashPassword: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a bcrypt hash of a password, for a console user's password_file.",
            discussion: """
                The password is asked for twice on a terminal, or read as the first line of standard input. The hash \
                goes to standard output, or with --output to a new file that only its owner may read.
                """)

        @Option(help: "Write the hash to this file instead of standard output; it must not exist yet.")
        var output: String?
        @Option(help: "The bcrypt cost, from 10 to 16: each step doubles the time a guess takes. Default 12.")
        var cost: Int = 12

        func validate() throws {
            guard (10...16).contains(cost) else {
                throw ValidationError("--cost is from 10 to 16, not \(cost).")
            }
        }

        func run() throws {
            let password = try Self.readPassword()
            guard !password.isEmpty else { throw CommandFailure.usage("The password is empty.") }
            let hash = Bcrypt.hash(password, cost: UInt8(cost))
            guard let output else { return print(hash) }
            // O_EXCL: an existing file, perhaps another user's hash, is never overwritten.
            let descriptor = open(output, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard descriptor >= 0 else {
                throw CommandFailure.failure("Cannot create \(output): \(String(cString: strerror(errno))).")
            }
            defer { close(descriptor) }
            let line = Array((hash + "\n").utf8)
            guard write(descriptor, line, line.count) == line.count else {
                throw CommandFailure.failure("Cannot write \(output): \(String(cString: strerror(errno))).")
            }
            print("Wrote the hash to \(output).")
        }

        /// Asked for twice without echo on a terminal; else the first line of standard input.
        private static func readPassword() throws -> String {
            guard isatty(STDIN_FILENO) == 1 else { return readLine(strippingNewline: true) ?? "" }
            let first = getpass("Password: ").map { String(cString: $0) } ?? ""
            let second = getpass("Again: ").map { String(cString: $0) } ?? ""
            guard first == second else { throw CommandFailure.usage("The two passwords differ.") }
            return first
        }
    }
}
