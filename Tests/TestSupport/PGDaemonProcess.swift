import DaemonKit
public import Foundation

/// Runs the real `pgdaemon` binary, as an operator or a script would.
public enum PGDaemonProcess {
    /// What one run printed and how it ended.
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The binary `swift build` put next to the test bundle, or `$PGDAEMON_BIN`.
    public static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["PGDAEMON_BIN"] { return URL(fileURLWithPath: path) }
        return built("pgdaemon")
    }

    /// Another executable of the package, such as `bare-daemon`, from the folder `swift build` put the tests in.
    public static func built(_ name: String) -> URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appending(path: name)
    }

    /// Runs `pgdaemon ARGUMENTS` to its end with the test's environment plus `environment` and `input` on its standard
    /// input, output captured in files (pipes could fill and block the child), waited for with `waitpid` (see
    /// `ChildProcess`).
    public static func run(_ arguments: [String], environment: [String: String] = [:], input: String = "")
        async throws -> Outcome
    {
        let folder = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let stdoutFile = folder.appending(path: "stdout")
        let stderrFile = folder.appending(path: "stderr")
        for file in [stdoutFile, stderrFile] {
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
            }
        }

        let stdinFile = folder.appending(path: "stdin")
        try input.write(to: stdinFile, atomically: false, encoding: .utf8)
        let stdin = open(stdinFile.path, O_RDONLY)
        defer { close(stdin) }
        let process = try ChildProcess(
            executable: binary.path, arguments: arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
            stdin: .descriptor(stdin), stdout: .file(stdoutFile.path), stderr: .file(stderrFile.path))
        let status = try await process.wait()
        return Outcome(
            status: status, stdout: try String(contentsOf: stdoutFile, encoding: .utf8),
            stderr: try String(contentsOf: stderrFile, encoding: .utf8))
    }
}
