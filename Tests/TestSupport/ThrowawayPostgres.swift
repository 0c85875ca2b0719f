import DaemonKit
public import Foundation
import Postgres

/// A PostgreSQL server of a test's own, started with `scripts/pg-local`, for tests that stop and start the server
/// (the shared test server must stay up for everyone else).
public struct ThrowawayPostgres: Sendable {
    public let folder: String
    /// The IPv4 addresses it listens on, comma-separated.
    public let listenAddresses: String
    /// Whether it keeps PostgreSQL's durable defaults (a test of synchronous replication needs synchronous_commit on),
    /// or runs with fsync, synchronous_commit and full_page_writes off as the test command's servers do.
    public let durable: Bool

    /// The repository's root, found from this file's place in it (scripts/ are there).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `parent` is where its folder goes (a small file system of a test's own, for a full disk).
    public init(listenAddresses: String = "127.0.0.1", durable: Bool = false, parent: String = "/tmp") {
        folder = "\(parent)/pgdaemon-outage-\(UUID().uuidString.prefix(8))"
        self.listenAddresses = listenAddresses
        self.durable = durable
    }

    /// The connection string of its `postgres` database, over the Unix socket, from the `env` file `pg-local` writes.
    public var connectionString: String {
        get throws {
            let values = try environment
            return "host=\(values["PGHOST"] ?? "") port=\(values["PGPORT"] ?? "") user=postgres dbname=postgres"
        }
    }

    /// The TCP port it listens on (on 127.0.0.1).
    public var port: String {
        get throws { try environment["PGPORT"] ?? "" }
    }

    /// The data folder: `postgresql.conf`, `pg_hba.conf`.
    public var dataFolder: String { "\(folder)/data" }

    /// The `KEY=VALUE` lines of the `env` file.
    private var environment: [String: String] {
        get throws {
            let text = try String(contentsOfFile: "\(folder)/env", encoding: .utf8)
            var values: [String: String] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { values[parts[0]] = parts[1] }
            }
            return values
        }
    }

    public func start() async throws { try await pgLocal(["start", folder]) }
    /// Starts this server as a streaming standby of `primary`, copied from it with `pg_basebackup`.
    public func startStandby(of primary: ThrowawayPostgres) async throws {
        try await pgLocal(["standby", folder, primary.folder])
    }
    /// Promotes this standby; returns once it accepts writes.
    public func promote() async throws { try await pgLocal(["promote", folder]) }
    /// Kills the server and all its processes with SIGKILL, as when its host dies.
    public func crash() async throws { try await pgLocal(["crash", folder]) }
    public func stop() async throws { try await pgLocal(["stop", folder]) }
    public func remove() async { try? await pgLocal(["stop", folder, "--remove"]) }

    /// Runs `scripts/pg-local`.
    private func pgLocal(_ arguments: [String]) async throws {
        let script = Self.repositoryRoot.appending(path: "scripts/pg-local").path
        let status = try await runToCompletion(
            [script] + arguments,
            environment: ProcessInfo.processInfo.environment.merging([
                "PG_LOCAL_LISTEN": listenAddresses, "PG_LOCAL_DURABLE": durable ? "1" : "0",
            ]) { $1 })
        guard status == 0 else {
            throw CocoaError(
                .executableLoad, userInfo: [NSLocalizedDescriptionKey: "pg-local \(arguments) exited with \(status)"])
        }
    }
}

/// Runs a program (an absolute path and its arguments) with its output discarded and returns its exit status;
/// `environment` replaces this process's when given.
public func runToCompletion(_ argv: [String], environment: [String: String]? = nil) async throws -> Int32 {
    try await ChildProcess(
        executable: argv[0], arguments: Array(argv.dropFirst()), environment: environment, stdout: .null, stderr: .null
    ).wait()
}

/// Runs `body` with a migrated PostgreSQL of the test's own, which it may stop and start, and a daemon running
/// `modules` against it; prints the daemon's output when `body` throws, and removes both.
public func withOwnServer(
    modules: String, http: String? = nil, _ body: (ThrowawayPostgres, String, DaemonHarness) async throws -> Void
) async throws {
    let server = ThrowawayPostgres()
    try await server.start()
    var daemon: DaemonHarness?
    do {
        let url = try server.connectionString
        let connection = try await Connection.connect(ConnectionOptions(url))
        try await Migrator(connection: connection).migrate()
        await connection.close()
        let harness = try await DaemonHarness(connectionString: url, modules: modules, http: http)
        daemon = harness
        try harness.start()
        try await body(server, url, harness)
    } catch {
        print("daemon output:\n\(daemon?.output ?? "")")
        await daemon?.cleanUp()
        await server.remove()
        throw error
    }
    await daemon?.cleanUp()
    await server.remove()
}
