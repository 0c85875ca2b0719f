import Foundation
import Postgres
import TestSupport
import Testing

/// A node with the console under a path prefix, as behind a reverse proxy, with an admin and a viewer whose password
/// files `pgdaemon console hash-password` wrote.
struct ConsoleNode {
    static let base = "/ops/pgdaemon"
    let daemon: DaemonHarness
    let database: TestDatabase
    let port: UInt16
    let connection: Connection

    func client() -> ConsoleClient { ConsoleClient(port: port) }

    /// A client logged in as `user`.
    func signedIn(_ user: String) throws -> ConsoleClient {
        let client = client()
        let reply = try client.logIn(Self.base, user: user, password: "\(user)-password")
        #expect(reply.status == 303, "\(reply.body)")
        return client
    }

    static func run(_ body: (ConsoleNode) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "console-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for user in ["ops", "view"] {
            let written = try await PGDaemonProcess.run(
                ["console", "hash-password", "--cost", "10", "--output", folder.appending(path: "\(user).hash").path],
                input: "\(user)-password\n")
            #expect(written.status == 0, "\(written.stderr)")
        }
        let port = freePort()
        try await withDaemon(
            modules: """
                  SchedulerTaskWorker: {}
                  SchedulerCronTaskManager: {}
                  Console: {}
                console:
                  listen: 127.0.0.1:\(port)
                  base_path: \(base)
                  users:
                    ops: { role: admin, password_file: \(folder.appending(path: "ops.hash").path) }
                    view: { role: viewer, password_file: \(folder.appending(path: "view.hash").path) }
                commands:
                  fail: { argv: [/bin/sh, -c, "echo 'some <b>output</b>'; exit 3"] }
                queues:
                  mail: { per_node: 2, limit: 4, rate: 100/1m }
                  reports: { per_node: 1 }
                cron:
                  cache-cleanup: false
                  nightly: { schedule: "0 3 * * *", task: { type: Noop } }
                  every-minute: { schedule: "* * * * *", task: { type: Noop } }
                """
        ) { daemon, database in
            try daemon.start()
            try await waitUntil("the console answers") {
                (try? ConsoleClient(port: port).get("\(base)/login"))?.status == 200
            }
            let connection = try await database.connect()
            defer { Task { await connection.close() } }
            try await body(ConsoleNode(daemon: daemon, database: database, port: port, connection: connection))
        }
    }

    func count(_ sql: SQL) async throws -> Int {
        try await connection.query(sql)[0].decode(Int.self, "n")
    }
}

@Suite("Console: logins, roles, pages and actions of the web console, run as a process", .timeLimit(.minutes(3)))
struct ConsoleTests {
    @Test func everyPageNeedsALoginAndEveryActionAnAdminWithTheFormToken() async throws {
        try await ConsoleNode.run { node in
            let base = ConsoleNode.base
            let anonymous = node.client()
            for path in ["/", "/queues", "/tasks", "/tasks/1", "/cron", "/failures"] {
                let reply = try anonymous.get(base + path)
                #expect(reply.status == 401, "\(path)")
                #expect(reply.body.contains(#"action="\#(base)/login""#), "\(path) shows the login form")
            }
            #expect(try anonymous.post("\(base)/queues/pause", ["queue": "default"]).status == 401)
            #expect(try anonymous.logIn(base, user: "ops", password: "wrong").status == 401)
            #expect(try anonymous.logIn(base, user: "nobody", password: "ops-password").status == 401)

            let admin = node.client()
            let login = try admin.logIn(base, user: "ops", password: "ops-password")
            #expect(login.status == 303)
            #expect(login.header("Location") == "\(base)/")
            let cookie = try #require(login.header("Set-Cookie"))
            #expect(
                cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=\(base)"))
            #expect(!cookie.contains("ops-password"))

            let page = try admin.get("\(base)/queues")
            #expect(page.status == 200)
            let policy = try #require(page.header("Content-Security-Policy"))
            #expect(policy.contains("default-src 'none'") && !policy.contains("unsafe-inline"))
            #expect(page.header("X-Frame-Options") == "DENY")
            #expect(page.header("Cache-Control") == "no-store")
            let token = try #require(page.csrf)

            // A forged POST: the admin's cookie without the page's token, or with another one.
            #expect(try admin.post("\(base)/queues/pause", ["queue": "default"]).status == 403)
            #expect(
                try admin.post("\(base)/queues/pause", ["queue": "default", "csrf": "x" + token.dropFirst()]).status
                    == 403)
            #expect(
                try admin.post("\(base)/queues/pause", ["queue": "default", "csrf": token], withCookie: false).status
                    == 401)
            #expect(try await node.count("SELECT count(*) AS n FROM scheduler_queue WHERE paused_at IS NOT NULL") == 0)

            let viewer = try node.signedIn("view")
            let viewed = try viewer.get("\(base)/queues")
            #expect(viewed.status == 200)
            #expect(!viewed.body.contains("Pause</button>"), "a viewer sees no actions")
            let viewerToken = try #require(viewed.csrf)
            #expect(try viewer.post("\(base)/queues/pause", ["queue": "default", "csrf": viewerToken]).status == 403)
            #expect(try await node.count("SELECT count(*) AS n FROM scheduler_queue WHERE paused_at IS NOT NULL") == 0)

            let paused = try admin.post("\(base)/queues/pause", ["queue": "default", "csrf": token])
            #expect(paused.status == 303)
            #expect(paused.header("Location") == "\(base)/queues")
            #expect(
                try await node.count(
                    "SELECT count(*) AS n FROM scheduler_queue WHERE name = 'default' AND paused_at IS NOT NULL") == 1)
            #expect(try admin.get("\(base)/queues").body.contains("Queue default paused."))
            try await waitUntil("the action is logged with its user") {
                node.daemon.output.contains("Console action.")
                    && node.daemon.output.contains("console.action=queues/pause")
                    && node.daemon.output.contains("console.user=ops")
            }
            #expect(node.daemon.output.contains("Console action refused: the user is a viewer."))
            #expect(!node.daemon.output.contains("-password"), "no password reaches the log")

            let loggedOut = try admin.post("\(base)/logout", ["csrf": token])
            #expect(loggedOut.status == 303)
            #expect(try admin.get("\(base)/").status == 401)
        }
    }

    @Test func pagesShowTheClusterAndTasksAndEscapeWhatTheDatabaseHolds() async throws {
        try await ConsoleNode.run { node in
            let base = ConsoleNode.base
            let hostile = "<script>alert('x')</script>"
            try await node.connection.execute(
                "SELECT scheduler_task_add('Noop', '{}', \(hostile), execution_time => now() + interval '1 hour')")
            try await node.connection.execute(
                "SELECT scheduler_task_add('Command', '{\"command\": \"fail\"}', 'fails <b>loudly</b>', max_attempts => 1)"
            )
            try await waitUntil("the failing task is in history") {
                try await node.count("SELECT count(*) AS n FROM scheduler_task_history WHERE status = 'failed'") == 1
            }
            let admin = try node.signedIn("ops")
            let cluster = try admin.get("\(base)/")
            #expect(cluster.status == 200)
            #expect(cluster.body.contains("<td>\(node.daemon.node)</td>"))
            #expect(cluster.body.contains("SchedulerCronTaskManager"))

            let tasks = try admin.get("\(base)/tasks")
            #expect(tasks.status == 200)
            #expect(tasks.body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "\(tasks.body)")
            for page in ["/", "/tasks", "/tasks?state=failed", "/failures", "/queues", "/cron"] {
                let reply = try admin.get(base + page)
                #expect(reply.status == 200, "\(page)")
                #expect(!reply.body.contains("<script"), "\(page) has no script, the hostile name least of all")
                #expect(!reply.body.contains("<b>"), "\(page)")
            }
            let byName = try admin.get(
                "\(base)/tasks?name=\(hostile.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
            #expect(byName.body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
            #expect(byName.body.contains("are searched among the first 10000 tasks of each queue and state"))
            #expect(try admin.get("\(base)/tasks?name=nobody").body.contains("No task matches."))
            let failed = try admin.get("\(base)/tasks?state=failed")
            #expect(failed.body.contains("fails &lt;b&gt;loudly&lt;/b&gt;"))
            let id = try await node.connection.query(
                "SELECT task_id FROM scheduler_task_history WHERE status = 'failed'")[0]
                .decode(Int64.self, "task_id")
            let detail = try admin.get("\(base)/tasks/\(id)")
            #expect(detail.status == 200)
            #expect(detail.body.contains("some &lt;b&gt;output&lt;/b&gt;"), "the captured output, escaped")
            #expect(try admin.get("\(base)/failures").body.contains("1 failed"))
            #expect(try admin.get("\(base)/cron").body.contains("<td>nightly</td>"))
            #expect(try admin.get("\(base)/tasks?state=bogus").status == 400)
            #expect(try admin.get("\(base)/tasks/999999").status == 404)
            #expect(try admin.get("\(base)/console.css").header("Content-Type")?.hasPrefix("text/css") == true)
        }
    }

    @Test func adminsRetryCancelDeleteTasksOneByOneOrByFilterAndRunPauseAndResumeCron() async throws {
        try await ConsoleNode.run { node in
            let base = ConsoleNode.base
            let admin = try node.signedIn("ops")
            let token = try #require(try admin.get("\(base)/tasks").csrf)

            try await node.connection.execute(
                "SELECT scheduler_task_add('Command', '{\"command\": \"fail\"}', 'retry me', max_attempts => 1)")
            try await waitUntil("it failed") {
                try await node.count("SELECT count(*) AS n FROM scheduler_task_history WHERE name = 'retry me'") == 1
            }
            let failedID = try await node.connection.query(
                "SELECT task_id FROM scheduler_task_history WHERE name = 'retry me'")[0]
                .decode(Int64.self, "task_id")
            let retried = try admin.post("\(base)/tasks/\(failedID)/retry", ["csrf": token])
            #expect(retried.status == 303)
            try await waitUntil("the retry failed too") {
                try await node.count("SELECT count(*) AS n FROM scheduler_task_history WHERE name = 'retry me'") == 2
            }
            #expect(try admin.get("\(base)/tasks/\(failedID)").body.contains("enqueued again as task"))

            let later = try await node.connection.query(
                "SELECT scheduler_task_add('Noop', '{}', 'later', execution_time => now() + interval '1 hour') AS id")[
                    0
                ]
                .decode(Int64.self, "id")
            #expect(try admin.post("\(base)/tasks/\(later)/delete", ["csrf": token]).status == 303)
            #expect(try await node.count("SELECT count(*) AS n FROM scheduler_future_task WHERE id = \(later)") == 0)
            #expect(
                try await node.count(
                    "SELECT count(*) AS n FROM scheduler_task_history WHERE task_id = \(later) AND status = 'cancelled'"
                ) == 1)

            try await node.connection.execute(
                "SELECT scheduler_task_add('Noop', '{}', 'bulk', execution_time => now() + interval '1 hour', queue => 'bulk') FROM generate_series(1, 25)"
            )
            try await node.connection.execute(
                "SELECT scheduler_task_add('Noop', '{}', 'stays', execution_time => now() + interval '1 hour', queue => 'other')"
            )
            let bulk = try admin.post("\(base)/tasks/bulk", ["csrf": token, "action": "cancel", "queue": "bulk"])
            #expect(bulk.status == 303)
            #expect(bulk.header("Location") == "\(base)/tasks?queue=bulk")
            #expect(try admin.get("\(base)/tasks?queue=bulk").body.contains("Cancel: 25 of the 25 tasks selected."))
            #expect(try await node.count("SELECT count(*) AS n FROM scheduler_future_task WHERE queue = 'bulk'") == 0)
            #expect(try await node.count("SELECT count(*) AS n FROM scheduler_future_task WHERE queue = 'other'") == 1)
            #expect(try admin.post("\(base)/tasks/bulk", ["csrf": token, "action": "explode"]).status == 400)

            #expect(try admin.post("\(base)/cron/pause", ["csrf": token, "entry": "nightly"]).status == 303)
            #expect(
                try await node.count(
                    "SELECT count(*) AS n FROM scheduler_recurrent_task WHERE name = 'nightly' AND paused_at IS NOT NULL"
                ) == 1)
            #expect(try admin.post("\(base)/cron/run", ["csrf": token, "entry": "nightly"]).status == 303)
            try await waitUntil("the manual slot ran") {
                try await node.count(
                    "SELECT count(*) AS n FROM scheduler_task_history WHERE name = 'nightly' AND status = 'done'") == 1
            }
            #expect(try admin.post("\(base)/cron/resume", ["csrf": token, "entry": "nightly"]).status == 303)
            #expect(
                try await node.count(
                    "SELECT count(*) AS n FROM scheduler_recurrent_task WHERE name = 'nightly' AND paused_at IS NULL")
                    == 1)
            #expect(try admin.post("\(base)/cron/run", ["csrf": token, "entry": "no-such"]).status == 404)
        }
    }

    @Test func badConsoleSettingsAndPasswordsAreRefusedWithOneSentence() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(
            path: "console-bad-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let hash = folder.appending(path: "ok.hash").path
        #expect(
            try await PGDaemonProcess.run(
                ["console", "hash-password", "--cost", "10", "--output", hash], input: "pw\n"
            ).status == 0)
        let notAHash = folder.appending(path: "plain.txt").path
        try "hunter2\n".write(toFile: notAHash, atomically: true, encoding: .utf8)
        for (console, complaint) in [
            ("base_path: pgdaemon", "is not a path such as /pgdaemon"),
            ("base_path: /a/<b>", "is not a path such as /pgdaemon"),
            ("listen: somewhere", "is not HOST:PORT"),
            ("users: { ops: { role: root, password_file: \(hash) } }", "is not a role"),
            ("users: { ops: { role: admin } }", "needs a role (viewer or admin) and a password_file"),
            (
                "users: { ops: { role: admin, password_file: \(folder.path)/missing } }",
                "does not exist or cannot be read"
            ),
            ("users: { ops: { role: admin, password_file: \(notAHash) } }", "does not hold a bcrypt hash"),
        ] {
            let file = folder.appending(path: "pgdaemon.yaml").path
            try "node: n\nconsole: { \(console) }\n".write(toFile: file, atomically: true, encoding: .utf8)
            let outcome = try await PGDaemonProcess.run(["config", "check", "--config", file])
            #expect(outcome.status == 2, "\(console)")
            #expect(outcome.stderr.contains(complaint), "\(console): \(outcome.stderr)")
            #expect(outcome.stderr.split(separator: "\n").count == 1, "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("hunter2"))
        }
        let empty = try await PGDaemonProcess.run(["console", "hash-password"], input: "\n")
        #expect(empty.status == 2 && empty.stderr.contains("The password is empty."))
        let cost = try await PGDaemonProcess.run(["console", "hash-password", "--cost", "40"], input: "pw\n")
        #expect(cost.status == 2 && cost.stderr.contains("--cost is from 10 to 16, not 40."))
        let existing = try await PGDaemonProcess.run(["console", "hash-password", "--output", hash], input: "pw\n")
        #expect(existing.status == 1, "\(existing.stderr)")
    }
}
