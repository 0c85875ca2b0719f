import Foundation

/// A PostgreSQL server of a test's own, started with `scripts/pg-local`, for tests that stop and start the server
/// (the shared test server must stay up for everyone else).
public struct ThrowawayPostgres: Sendable {
    public let folder: String

    /// The repository's root, found from this file's place in it.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    public init() {
        folder = "/tmp/pgdaemon-outage-\(UUID().uuidString.prefix(8))"
    }

    /// The connection string of its `postgres` database, from the `env` file `pg-local` writes.
    public var connectionString: String {
        get throws {
            let text = try String(contentsOfFile: "\(folder)/env", encoding: .utf8)
            var values: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { values[parts[0]] = parts[1] }
            }
            return "host=\(values["PGHOST"] ?? "") port=\(values["PGPORT"] ?? "") user=postgres dbname=postgres"
        }
    }

    public func start() async throws { try await pgLocal(["start", folder]) }
    public func stop() async throws { try await pgLocal(["stop", folder]) }
    public func remove() async { try? await pgLocal(["stop", folder, "--remove"]) }

    /// Runs `scripts/pg-local`, waiting for it with `waitpid` on a thread of its own.
    private func pgLocal(_ arguments: [String]) async throws {
        let script = Self.repositoryRoot.appending(path: "scripts/pg-local").path
        let status = try await runToCompletion([script] + arguments)
        guard status == 0 else {
            throw CocoaError(
                .executableLoad, userInfo: [NSLocalizedDescriptionKey: "pg-local \(arguments) exited with \(status)"])
        }
    }
}

/// Runs a program (an absolute path and its arguments) with its output discarded and returns its exit status.
///
/// `posix_spawn` and a blocking `waitpid` on a dedicated thread, rather than Foundation's `Process`, whose exit
/// notification did not arrive for `pg-local`, a script that leaves a daemonised server behind.
public func runToCompletion(_ argv: [String]) async throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] {
        posix_spawn_file_actions_addopen(
            &actions, descriptor, "/dev/null", descriptor == STDIN_FILENO ? O_RDONLY : O_WRONLY, 0)
    }
    var pid: pid_t = 0
    let arguments = argv.map { strdup($0) } + [nil]
    defer { arguments.forEach { free($0) } }
    let spawned = posix_spawn(&pid, argv[0], &actions, nil, arguments, environ)
    guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
    let child = pid
    return await withCheckedContinuation { continuation in
        Thread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            continuation.resume(returning: (status >> 8) & 0xFF)
        }.start()
    }
}
