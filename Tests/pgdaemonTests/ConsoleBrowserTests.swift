import Foundation
import Postgres
import TestSupport
import Testing

/// The console in headless Chromium: the login form, each page with its stylesheet and without a script, and the
/// actions by their buttons, each checked in the database. With `CONSOLE_SCREENSHOTS=DIR` it saves a PNG of every
/// page there (docs/console/ holds those of the README).
@Suite(
    "Console in a browser: each page and action in headless Chromium", .timeLimit(.minutes(3)),
    .enabled(if: WebDriver.isAvailable, "needs Debian's chromium and chromium-driver"))
struct ConsoleBrowserTests {
    @Test func anAdminLogsInSeesEveryPageAndActsByItsButtons() async throws {
        try await ConsoleNode.run { node in
            try await Self.seed(node.connection)
            try await waitUntil("the seeded tasks ran", timeout: .seconds(30)) {
                let failed = try await node.count(
                    "SELECT count(*) AS n FROM scheduler_task_history WHERE name = 'monthly report' AND status = 'failed'"
                )
                let waiting = try await node.count("SELECT count(*) AS n FROM scheduler_task WHERE queue = 'default'")
                return failed == 3 && waiting == 0
            }
            let browser = try await WebDriver()
            defer { browser.close() }
            let root = "http://127.0.0.1:\(node.port)\(ConsoleNode.base)"
            let screenshots = ProcessInfo.processInfo.environment["CONSOLE_SCREENSHOTS"].map {
                URL(fileURLWithPath: $0)
            }
            func shoot(_ name: String) throws {
                guard let screenshots else { return }
                try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
                try browser.screenshot().write(to: screenshots.appending(path: "\(name).png"))
            }

            try browser.open("\(root)/")
            #expect(try browser.title == "Log in · pgdaemon")
            try shoot("login")
            try browser.type("ops", into: "input[name=user]")
            try browser.type("ops-password", into: "input[name=password]")
            try browser.click("form.login button")
            try await waitUntil("the cluster page is shown") { try browser.title == "Cluster · pgdaemon" }
            #expect(try browser.url == "\(root)/")

            for (path, title, name) in [
                ("/", "Cluster", "cluster"), ("/queues", "Queues", "queues"), ("/tasks", "Tasks", "tasks"),
                ("/tasks?state=failed", "Tasks", "tasks-failed"), ("/failures", "Failures", "failures"),
                ("/cron", "Cron", "cron"),
            ] {
                try browser.open(root + path)
                #expect(try browser.title == "\(title) · pgdaemon", "\(path)")
                // The stylesheet loaded under the page's CSP, and the page has no script element.
                #expect(
                    try browser.evaluate("return getComputedStyle(document.body).backgroundColor") as? String
                        == "rgb(246, 247, 249)", "\(path)")
                #expect(try browser.evaluate("return document.scripts.length") as? Int == 0, "\(path)")
                try shoot(name)
            }
            try browser.open("\(root)/tasks?queue=mail")
            let names = try browser.evaluate(
                "return [...document.querySelectorAll('tbody td:nth-child(2)')].map(cell => cell.textContent)")
            #expect((names as? [String])?.contains("<script>alert('x')</script>") == true, "\(names ?? "-")")

            let failed = try await node.connection.query(
                "SELECT max(task_id) AS id FROM scheduler_task_history WHERE name = 'monthly report'")[0].decode(
                    Int64.self, "id")
            try browser.open("\(root)/tasks/\(failed)")
            try shoot("task")
            let retried = try await browser.submit("form[action$='/retry'] button")
            #expect(retried.hasPrefix("Task \(failed) enqueued again as task "), "\(retried)")

            try browser.open("\(root)/queues")
            #expect(
                try await browser.submit("form[action$='/queues/pause'] input[value=mail] ~ button")
                    == "Queue mail paused.")
            #expect(
                try await node.count(
                    "SELECT count(*) AS n FROM scheduler_queue WHERE name = 'mail' AND paused_at IS NOT NULL") == 1)

            try browser.open("\(root)/tasks?queue=mail")
            #expect(try await browser.submit("form.bulk button[value=cancel]") == "Cancel: 6 of the 6 tasks selected.")
            #expect(try await node.count("SELECT count(*) AS n FROM scheduler_future_task WHERE queue = 'mail'") == 0)

            try browser.open("\(root)/cron")
            let ran = try await browser.submit("form[action$='/cron/run'] input[value=nightly] ~ button")
            #expect(ran.hasPrefix("Cron entry nightly enqueued task "), "\(ran)")
            try await waitUntil("the manual slot ran") {
                try await node.count("SELECT count(*) AS n FROM scheduler_task_history WHERE name = 'nightly'") == 1
            }

            try browser.click("form.user button")
            try await waitUntil("the login page is back") { try browser.title == "Log in · pgdaemon" }
            try browser.open("\(root)/queues")
            #expect(try browser.title == "Log in · pgdaemon", "logged out")
        }
    }

    /// A little of everything the pages show: an hour of finished work in history for the charts (written there
    /// directly, as if workers had run it), failures with output, waiting tasks in a limited queue, one with a
    /// hostile name.
    private static func seed(_ connection: Connection) async throws {
        try await connection.execute(
            """
            INSERT INTO scheduler_task_history (task_id, name, task_type, queue, create_time, started_at, finished_at,
                                                status, attempts, error)
            SELECT 900000 + row_number() OVER (), 'digest', 'Noop', q.name, at.t, at.t, at.t, s.status, 1,
                   CASE WHEN s.status = 'failed' THEN 'upstream timed out' END
            FROM (VALUES ('default', 30, 0.02), ('mail', 12, 0.08), ('reports', 4, 0.25)) AS q(name, rate, failing),
                 generate_series(1, 59) AS m, generate_series(1, 60) AS k,
                 LATERAL (SELECT now() - m * interval '1 minute' - (k % 50) * interval '1 second' AS t) AS at,
                 LATERAL (SELECT CASE WHEN (k * 7 + m) % 100 < q.failing * 100 THEN 'failed' ELSE 'done' END
                          AS status) AS s
            WHERE k <= q.rate * (1.2 + sin(m / 7.0))
            """)
        try await connection.execute("SELECT scheduler_task_add('Noop') FROM generate_series(1, 40)")
        try await connection.execute(
            """
            SELECT scheduler_task_add('Command', '{"command": "fail"}', 'monthly report', max_attempts => 1,
                                      queue => 'reports')
            FROM generate_series(1, 3)
            """)
        try await connection.execute(
            """
            SELECT scheduler_task_add('Noop', '{"to": "ops@example.com"}', 'welcome mail',
                                      execution_time => now() + interval '1 hour', queue => 'mail')
            FROM generate_series(1, 5)
            """)
        try await connection.execute(
            """
            SELECT scheduler_task_add('Noop', '{}', '<script>alert(''x'')</script>',
                                      execution_time => now() + interval '2 hours', queue => 'mail', priority => -1)
            """)
    }
}
