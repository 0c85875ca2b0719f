/// A command's failure, with the message for stderr and the exit code of DESIGN §7.
struct CommandFailure: Error {
    /// Exit code for a failure: the command could not do its work.
    static let failureExitCode: Int32 = 1
    /// Exit code for a usage or configuration error: nothing was attempted.
    static let usageExitCode: Int32 = 2

    var message: String
    var exitCode: Int32

    static func failure(_ message: String) -> CommandFailure {
        CommandFailure(message: message, exitCode: failureExitCode)
    }

    static func usage(_ message: String) -> CommandFailure {
        CommandFailure(message: message, exitCode: usageExitCode)
    }
}
