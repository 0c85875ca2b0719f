import Foundation
import Postgres
import TestSupport
import Testing

/// Bad input through the real binary: one line naming what is wrong, a non-zero exit, nothing written; and hostile
/// values stored exactly and shown without their control characters reaching the terminal.
@Suite("Bad input and hostile values, run as a process", .timeLimit(.minutes(2)))
struct BadInputTests {
    @Test(arguments: [
        ("node: [unclosed", "c.yaml:2: not valid YAML"),
        ("nod: x", "c.yaml:1: nod: unknown key; expected one of"),
        ("modules: 5", "c.yaml:1: modules: expected a mapping"),
        ("daemon: { shutdown_timeout: 5 parsecs }", #"daemon.shutdown_timeout: "5 parsecs" is not a duration"#),
        ("cron: { x: { schedule: '61 * * * *', task: Noop } }", "the minute field \"61\" has 61, outside 0-59"),
        ("modules: { Foo: {} }", "modules.Foo: unknown module Foo"),
        ("commands: { ls: { argv: /bin/ls } }", "commands.ls.argv: expected a non-empty list"),
        ("daemon: { http: 9464 }", #"daemon.http: "9464" is not HOST:PORT"#),
        ("daemon: { http: \"127.0.0.01:9464\" }", #"daemon.http: "127.0.0.01:9464" is not HOST:PORT"#),
        ("node: \"a\\u001B[2Jb\"", #"node: "a\u{1B}[2Jb" has a control character"#),
        ("node: \(String(repeating: "n", count: 64))", "a node name is at most 63 bytes, and this one has 64"),
    ])
    func aBadConfigurationIsOneLineAndExitTwo(file: String, message: String) async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appending(path: "c.yaml").path
        try file.write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = try await PGDaemonProcess.run(["config", "check", "--config", path])
        #expect(outcome.status == 2)
        #expect(outcome.stdout.isEmpty)
        #expect(outcome.stderr.hasPrefix("pgdaemon: \(path):"), "\(outcome.stderr)")
        #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
        #expect(outcome.stderr.split(separator: "\n").count == 1, "\(outcome.stderr)")
    }

    @Test func aMissingFileOrABadNodeNameFromTheEnvironmentIsNamed() async throws {
        let missing = try await PGDaemonProcess.run(["config", "check", "--config", "/nonexistent/pgdaemon.yaml"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "pgdaemon: /nonexistent/pgdaemon.yaml: the file does not exist or cannot be read\n")
        let node = try await PGDaemonProcess.run(["config", "check", "--node", "a\nb"])
        #expect(node.status == 2)
        #expect(node.stderr.contains(#"--node: "a\nb" has a control character"#), "\(node.stderr)")
    }

    /// How many rows each of pgdaemon's tables holds.
    private func rowCounts(_ database: TestDatabase) async throws -> [String: Int] {
        let connection = try await database.connect()
        let rows = try await connection.query(
            """
            SELECT c.relname, (xpath('/row/n/text()',
                   query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text::int AS n
            FROM pg_class AS c
            WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
            """)
        await connection.close()
        return try Dictionary(
            uniqueKeysWithValues: rows.map { (try $0.decode(String.self, "relname"), try $0.decode(Int.self, "n")) })
    }

    @Test(arguments: [
        (["task", "show", "abc"], 2, "'abc' is invalid"),
        (["task", "show", "999999"], 1, "No task 999999."),
        (["task", "retry", "-5"], 2, "Missing expected argument '<id>'"),
        (["task", "delete", "1.5"], 2, "'1.5' is invalid"),
        (["task", "add", "--type", "Noop", "--priority", "9999999999999"], 2, "--priority must be between"),
        (["cache", "set", "T", "k", "v", "--ttl", "forever"], 2, "forever"),
        (["cache", "set", "T", "k", "{bad", "--json-value"], 2, "JSON"),
        (["cache", "get", "T"], 2, "Missing expected argument"),
        (["nodes", "--bogus"], 2, "Unknown option '--bogus'"),
    ])
    func aBadCommandLineSaysWhatIsWrongAndWritesNothing(arguments: [String], status: Int32, message: String)
        async throws
    {
        try await withTestDatabase { database in
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            let before = try await rowCounts(database)
            let outcome = try await PGDaemonProcess.run(arguments, environment: environment)
            #expect(outcome.status == status, "\(outcome.stderr)")
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
            #expect(try await rowCounts(database) == before)
        }
    }

    static let hostile = [
        "Robert'); DROP TABLE scheduler_task; --",
        "\"quoted\" and 'single' and \\backslash",
        "$1 $$dollar$$ %s %n {{template}}",
        "Zoë 東京 🚀 \u{202E}reversed",
        "red\u{1B}[31m alarm\u{07} clear\u{1B}[2J\nsecond line\ttab\r",
        String(repeating: "long-", count: 2_000),
    ]

    @Test func hostileNamesAreStoredExactlyAndShownWithoutControlCharacters() async throws {
        try await withTestDatabase { database in
            let environment = ["PGDAEMON_DATABASE_URL": database.connectionString]
            func pgdaemon(_ arguments: String...) async throws -> PGDaemonProcess.Outcome {
                try await PGDaemonProcess.run(arguments, environment: environment)
            }
            let connection = try await database.connect()
            for (index, name) in Self.hostile.enumerated() {
                let added = try await pgdaemon("task", "add", "--type", "Noop", "--name", name)
                #expect(added.status == 0, "\(added.stderr)")
                let id = index + 1
                let stored = try await connection.query("SELECT name FROM scheduler_task WHERE id = \(id)")
                #expect(try stored.first?.decode(String.self, "name") == name)

                let json = try await pgdaemon("task", "show", String(id), "--json")
                let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
                #expect((report?["task"] as? [String: Any])?["name"] as? String == name)

                let text = try await pgdaemon("task", "show", String(id))
                #expect(text.stdout.split(separator: "\n").first?.contains(name.escapingForTest) == true)
                #expect(
                    !text.stdout.contains("\u{1B}") && !text.stdout.contains("\r") && !text.stdout.contains("\u{07}"))

                let set = try await pgdaemon("cache", "set", name, name, "value \(index)")
                if name.utf8.count > 200 {
                    #expect(set.status == 2 && set.stderr.contains("200 bytes"), "\(set.stderr)")
                } else {
                    #expect(set.status == 0, "\(set.stderr)")
                    #expect(try await pgdaemon("cache", "get", name, name).stdout == "value \(index)\n")
                }
            }
            let list = try await pgdaemon("task", "list")
            #expect(list.stdout.split(separator: "\n").count == Self.hostile.count + 1, "one line per task")
            #expect(!list.stdout.contains("\u{1B}"))
            let stats = try await pgdaemon("cache", "stats")
            #expect(!stats.stdout.contains("\u{1B}"))
            for name in Self.hostile where name.utf8.count <= 200 {
                #expect(stats.stdout.contains(name.escapingForTest), "\(stats.stdout)")
            }
            #expect(
                try await connection.query("SELECT count(*) AS n FROM scheduler_task")[0].decode(Int.self, "n") == 6)
            await connection.close()
        }
    }
}

extension String {
    /// The text as the command line shows it: each control character written out as Swift writes it.
    fileprivate var escapingForTest: String {
        unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: false) : String($0) }
            .joined()
    }
}
