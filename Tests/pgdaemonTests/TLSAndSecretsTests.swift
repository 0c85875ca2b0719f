import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

/// A server of the test's own that takes TCP connections only over TLS (a self-signed certificate for `localhost`) and
/// only with a password, and a login role in `pgdaemon_node` with a password full of URL-special characters.
@Suite("TLS to the database, and no password in any output", .timeLimit(.minutes(3)))
struct TLSAndSecretsTests {
    static let password = "Pa55 w0rd/'&@?%\"-\(UUID().uuidString.prefix(6))"

    /// `password`, percent-encoded for the user part of a URL.
    static var encodedPassword: String {
        password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    }

    /// Runs `body` with the server, a daemon harness whose URL carries `password`, and a function that makes the URL
    /// for any password.
    private func withTLSServer(
        modules: String,
        _ body: (ThrowawayPostgres, DaemonHarness, _ url: (String) -> String) async throws -> Void
    ) async throws {
        let server = ThrowawayPostgres()
        try await server.start()
        do {
            let data = server.dataFolder
            let status = try await runToCompletion([
                "/usr/bin/env", "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                "-keyout", "\(data)/server.key", "-out", "\(data)/server.crt",
            ])
            try #require(status == 0, "openssl made the certificate")
            // The server's user must own its key, and nobody else may read it.
            let owner = try FileManager.default.attributesOfItem(atPath: data)[.ownerAccountID]!
            for file in ["server.key", "server.crt"] {
                try FileManager.default.setAttributes([.ownerAccountID: owner], ofItemAtPath: "\(data)/\(file)")
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(data)/server.key")
            let hba = try String(contentsOfFile: "\(data)/pg_hba.conf", encoding: .utf8)
            try ("hostnossl all all all reject\nhostssl all all all scram-sha-256\n" + hba)
                .write(toFile: "\(data)/pg_hba.conf", atomically: false, encoding: .utf8)

            let admin = try await Connection.connect(ConnectionOptions(try server.connectionString))
            try await Migrator(connection: admin).migrate()
            try await admin.execute("ALTER SYSTEM SET ssl = on")
            try await admin.execute("SELECT pg_reload_conf()")
            // A password cannot be a bound value in CREATE ROLE: the server quotes it (format's %L) into the text.
            let create = try await admin.query(
                "SELECT format('CREATE ROLE pgd_tls LOGIN IN ROLE pgdaemon_node PASSWORD %L', \(Self.password)::text) AS sql"
            )[0].decode(String.self, "sql")
            try await admin.execute(SQL(unsafeSQL: create))
            await admin.close()
            let port = try server.port
            let url = { (password: String) in
                "postgresql://pgd_tls:\(password)@localhost:\(port)/postgres?sslmode=verify-full"
                    + "&sslrootcert=\(data)/server.crt"
            }
            let harness = try await DaemonHarness(connectionString: url(Self.encodedPassword), modules: modules)
            do {
                try await body(server, harness, url)
            } catch {
                print("daemon output:\n\(harness.output)")
                await harness.cleanUp()
                throw error
            }
            await harness.cleanUp()
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }

    @Test func theDaemonTalksTLSWithAPasswordAndNoOutputShowsIt() async throws {
        try await withTLSServer(
            modules: "  TestDaemon: { sleep_post: 100ms }\n  SchedulerTaskWorker: {}\n  SchedulerFutureTaskManager: {}"
        ) {
            server, harness, url in
            try harness.start(["run", "--debug"])
            _ = try await harness.waitForModule("TestDaemon", iterations: 2)

            var outputs: [String] = []
            let added = try await harness.command(["task", "add", "--type", "Noop"])
            outputs += [added.stdout, added.stderr]
            // "Enqueued task 1 (Noop)."
            let id = added.stdout.split(separator: " ").dropFirst(2).first.map(String.init) ?? ""
            #expect(added.status == 0 && Int(id) != nil, "\(added.stdout)\(added.stderr)")
            for command in [
                ["status"], ["nodes"], ["modules"], ["locks"], ["config", "check"], ["task", "list"],
                ["cache", "stats"],
            ] {
                let outcome = try await harness.command(command)
                #expect(outcome.status == 0, "\(command): \(outcome.stderr)")
                outputs += [outcome.stdout, outcome.stderr]
            }
            try await waitUntil("the task is done") {
                let shown = try await harness.command(["task", "show", id])
                outputs += [shown.stdout, shown.stderr]
                return shown.stdout.contains("Task \(id): finished")
            }

            // Every session the daemon opened is encrypted, and there are several (supervisor, modules, listener).
            let admin = try await Connection.connect(ConnectionOptions(try server.connectionString))
            let sessions = try await admin.query(
                """
                SELECT a.application_name, s.ssl FROM pg_stat_activity AS a JOIN pg_stat_ssl AS s USING (pid)
                WHERE a.usename = 'pgd_tls' AND a.application_name LIKE 'pgdaemon/%'
                """)
            #expect(sessions.count >= 3)
            for row in sessions {
                let (name, encrypted) = (
                    try row.decode(String.self, "application_name"), try row.decode(Bool.self, "ssl")
                )
                #expect(encrypted, "\(name)")
            }
            await admin.close()

            // A wrong password is refused with a message that names neither password.
            let wrong = "Wr0ng-\(UUID().uuidString.prefix(6))"
            let refused = try await PGDaemonProcess.run(
                ["nodes", "--config", harness.configPath], environment: ["PGDAEMON_DATABASE_URL": url(wrong)])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("password authentication failed"), "\(refused.stderr)")
            #expect(!refused.stderr.contains(wrong) && !refused.stdout.contains(wrong))

            harness.signal(SIGTERM)
            #expect(try await harness.waitForExit() == 0)
            outputs.append(harness.output)

            // Then in the background, as `start` runs it: a log file per module.
            let logs = harness.folder.appending(path: "log")
            let started = try await harness.command(["start"])
            #expect(started.status == 0, "\(started.stderr)")
            try await waitUntil("TestDaemon logs an iteration to its file") {
                let text = try? String(contentsOf: logs.appending(path: "TestDaemon.log"), encoding: .utf8)
                return text?.contains("Current time") == true
            }
            let stopped = try await harness.command(["stop"])
            #expect(stopped.status == 0, "\(stopped.stderr)")
            outputs += [started.stdout, started.stderr, stopped.stdout, stopped.stderr]
            for file in try FileManager.default.contentsOfDirectory(atPath: logs.path) {
                outputs.append(try String(contentsOf: logs.appending(path: file), encoding: .utf8))
            }
            let lines = outputs.joined(separator: "\n").split(separator: "\n")
            #expect(lines.count > 20, "the run logged something to search")
            for line in lines {
                #expect(!line.contains(Self.password) && !line.contains(Self.encodedPassword), "\(line)")
            }
        }
    }
}
