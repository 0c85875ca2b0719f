import Foundation
import Hummingbird
import HummingbirdAuth
import Logging

/// Logins: the form, the password check, and the rules every other request passes: a page needs a login (401
/// without), an action needs an admin (403 for a viewer) and the session's form token (403 without: a forged POST).
struct ConsoleLogin: Sendable {
    let users: [String: ConsoleSection.User]
    let timeout: Duration
    let pages: PageRenderer
    let logger: Logger

    struct LoginPage: Sendable {
        var user: String
        var refused: Bool
    }

    /// The login form, with 401 when a page was asked for without a login.
    func form(status: HTTPResponse.Status = .ok, user: String = "", refused: Bool = false) -> Response {
        pages.render(
            "login", title: "Log in", identity: nil, page: LoginPage(user: user, refused: refused), status: status)
    }

    /// Checks the form's user and password; a match starts a session and goes to the cluster page.
    func logIn(_ request: Request, context: ConsoleContext, home: String) async throws -> Response {
        let form = try await request.decode(as: [String: String].self, context: context)
        let name = form["user"] ?? ""
        guard let user = users[name], PasswordHash.matches(form["password"] ?? "", hash: user.passwordHash) else {
            logger.warning("Console login refused.", metadata: ["console.user": "\(String(reflecting: name))"])
            return self.form(status: .unauthorized, user: name, refused: true)
        }
        context.sessions.createSession(ConsoleSession(user: name, csrf: ConsoleSession.newToken()), expiresIn: timeout)
        logger.notice("Console login.", metadata: ["console.user": "\(name)", "console.role": "\(user.role.rawValue)"])
        return Response(status: .seeOther, headers: [.location: home])
    }

    /// Lets a request with a session of a configured user through, with its identity; answers others with the login
    /// form and 401. A user taken out of the configuration is logged out at their next request.
    func required(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response)
        async throws -> Response
    {
        guard let session = context.sessions.session else { return form(status: .unauthorized) }
        guard let user = users[session.user] else {
            context.sessions.clearSession()
            return form(status: .unauthorized)
        }
        var context = context
        context.identity = ConsoleIdentity(user: session.user, role: user.role, csrf: session.csrf)
        return try await next(request, context)
    }

    /// The form of an action, once its user may act (an admin) and it carries the session's token.
    func action(_ request: Request, context: ConsoleContext, name: String) async throws -> [String: String] {
        let identity = try context.requireIdentity()
        guard identity.role == .admin else {
            logger.warning(
                "Console action refused: the user is a viewer.",
                metadata: ["console.user": "\(identity.user)", "console.action": "\(name)"])
            throw HTTPError(.forbidden, message: "Only an admin may \(name).")
        }
        return try await form(of: request, context: context, name: name)
    }

    /// The form of a POST of any signed-in user, once it carries the session's token (403 without: a forged POST).
    func form(of request: Request, context: ConsoleContext, name: String) async throws -> [String: String] {
        let identity = try context.requireIdentity()
        let form = try await request.decode(as: [String: String].self, context: context)
        guard let token = form["csrf"], token == identity.csrf else {
            logger.warning(
                "Console action refused: the form token is missing or wrong.",
                metadata: ["console.user": "\(identity.user)", "console.action": "\(name)"])
            throw HTTPError(.forbidden, message: "The form's token is missing or out of date; reload the page.")
        }
        return form
    }
}
