import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Logging
import Postgres
import Scheduler

/// The console's pages and actions under `console.base_path`. Every page reads the database in one turn of the
/// console's session; every action is a POST that passes `ConsoleLogin.action` (an admin, the form's token), is
/// logged with its user, and answers with a redirect to the page it came from, which shows what it did.
struct ConsoleRoutes: Sendable {
    let database: SerialDatabase
    let login: ConsoleLogin
    let pages: PageRenderer
    let cron: CronSection
    let logger: Logger

    var base: String { pages.base }

    func add(to router: Router<ConsoleContext>) {
        let root = base.isEmpty ? router.group() : router.group(RouterPath(base))
        root.get("login") { _, _ in login.form() }
        root.post("login") { request, context in try await login.logIn(request, context: context, home: link("/")) }
        root.get("console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: pages.stylesheet)))
        }
        let signedIn = root.group().add(middleware: LoginRequired(login: login))
        signedIn.get { _, context in try await page("cluster", "Cluster", context) { try await ClusterPage.read($0) } }
        signedIn.get("queues") { _, context in
            try await page("queues", "Queues", context) { try await QueuesPage.read($0) }
        }
        signedIn.get("tasks") { request, context in
            let filter = try TaskFilterQuery.filter(
                request.uri.queryParameters.reduce(into: [:]) { $0[String($1.key)] = String($1.value) })
            return try await page("tasks", "Tasks", context) { try await TasksPage.read($0, filter: filter) }
        }
        signedIn.get("tasks/:id") { _, context in
            let id = try context.parameters.require("id", as: Int64.self)
            return try await page("task", "Task \(id)", context) { connection in
                guard let task = try await TaskPage.read(connection, id: id) else {
                    throw HTTPError(.notFound, message: "No task \(id).")
                }
                return task
            }
        }
        signedIn.get("cron") { _, context in try await page("cron", "Cron", context) { try await CronPage.read($0) } }
        signedIn.get("failures") { _, context in
            try await page("failures", "Failures", context) { try await FailuresPage.read($0) }
        }
        signedIn.post("logout") { request, context in
            _ = try await login.form(of: request, context: context, name: "log out")
            context.sessions.clearSession()
            return Response(status: .seeOther, headers: [.location: link("/login")])
        }
        ConsoleActions(routes: self).add(to: signedIn)
    }

    /// A path under the base path.
    func link(_ path: String) -> String { base + path }

    /// Renders `template` with what `read` finds in one turn of the database session, and the message an action
    /// left for it.
    private func page(
        _ template: String, _ title: String, _ context: ConsoleContext,
        read: (Connection) async throws -> some Sendable
    ) async throws -> Response {
        let identity = try context.requireIdentity()
        let started = ContinuousClock.now
        let values = try await database.use(read)
        let read = ContinuousClock.now
        var message: String?
        if var session = context.sessions.session, let flash = session.flash {
            message = flash
            session.flash = nil
            _ = context.sessions.updateSession(session)
        }
        var response = pages.render(template, title: title, identity: identity, message: message, page: values)
        // What the page cost the server, for a browser's developer tools and benchmarks/console.
        response.headers[.serverTiming] =
            "db;dur=\(Self.milliseconds(started.duration(to: read))), render;dur=\(Self.milliseconds(read.duration(to: .now)))"
        return response
    }

    private static func milliseconds(_ duration: Duration) -> String {
        String(
            format: "%.2f", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000)
    }
}

/// Lets through a request with a login; `ConsoleLogin.required` says how.
struct LoginRequired: RouterMiddleware {
    let login: ConsoleLogin

    func handle(
        _ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response
    ) async throws -> Response {
        try await login.required(request, context: context, next: next)
    }
}
