import Foundation
import Postgres

/// A PgBouncer of a test's own in front of the test server, to test pgdaemon behind a connection pooler. Started
/// with `pgbouncer -d` (as the `postgres` user when running as root), killed by the pid it writes.
public struct ThrowawayPgBouncer: Sendable {
    public let folder: String
    public let port: Int

    /// Starts one in `mode` (`session` or `transaction`) for the server the `PG*` variables name.
    public static func start(mode: String) async throws -> ThrowawayPgBouncer {
        // The port is picked at random, so another test's pooler may hold it: try a few.
        for _ in 1...3 {
            let pooler = try await launch(mode: mode, port: 30_000 + Int.random(in: 0..<20_000))
            if await pooler.answers() { return pooler }
            pooler.stop()
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "pgbouncer did not start listening"])
    }

    private static func launch(mode: String, port: Int) async throws -> ThrowawayPgBouncer {
        let environment = ProcessInfo.processInfo.environment
        let folder = "/tmp/pgdaemon-pgbouncer-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let ini = """
            [databases]
            * = host=\(environment["PGHOST"] ?? "") port=\(environment["PGPORT"] ?? "5432")
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = \(port)
            unix_socket_dir =
            auth_type = trust
            auth_file = \(folder)/users.txt
            pool_mode = \(mode)
            default_pool_size = 8
            logfile = \(folder)/pgbouncer.log
            pidfile = \(folder)/pgbouncer.pid
            """
        try ini.write(toFile: "\(folder)/pgbouncer.ini", atomically: true, encoding: .utf8)
        try "\"postgres\" \"\"\n".write(toFile: "\(folder)/users.txt", atomically: true, encoding: .utf8)
        var command = [Self.binary, "-d", "\(folder)/pgbouncer.ini"]
        if getuid() == 0 {
            _ = try await runToCompletion(["/bin/chown", "-R", "postgres", folder])
            command = ["/usr/sbin/runuser", "-u", "postgres", "--"] + command
        }
        let status = try await runToCompletion(command)
        guard status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "pgbouncer exited with \(status)"])
        }
        return ThrowawayPgBouncer(folder: folder, port: port)
    }

    /// Whether the pooler accepts a session within five seconds of its start.
    private func answers() async -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if let connection = try? await Connection.connect(ConnectionOptions(connectionString(database: "postgres")))
            {
                await connection.close()
                return true
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// A connection string through the pooler to the test database `database`.
    public func connectionString(database: String) -> String {
        "host=127.0.0.1 port=\(port) user=postgres dbname=\(database)"
    }

    public func stop() {
        if let text = try? String(contentsOfFile: "\(folder)/pgbouncer.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            // PgBouncer started this way was seen to ignore SIGTERM and SIGINT; a test's pooler holds nothing that
            // needs a graceful stop.
            kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    private static var binary: String {
        ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "pgbouncer"
    }
}

/// Runs `body` with a PgBouncer of its own in `mode`, stopped afterwards also when `body` throws.
public func withPgBouncer<Value>(
    mode: String, _ body: (ThrowawayPgBouncer) async throws -> Value
) async throws -> Value {
    let pooler = try await ThrowawayPgBouncer.start(mode: mode)
    defer { pooler.stop() }
    return try await body(pooler)
}
