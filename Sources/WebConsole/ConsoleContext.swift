import Hummingbird
import HummingbirdAuth

/// A login as its session keeps it: who, the token its forms carry, and a message for the next page after an action.
struct ConsoleSession: Codable, Sendable {
    var user: String
    /// Every form of the session carries it; a POST without it is refused (a forged request from another site
    /// cannot read it).
    var csrf: String
    var flash: String?

    /// A token no one can guess: 256 bits from the system's secure generator.
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    }
}

/// The signed-in user of a request.
struct ConsoleIdentity: Sendable {
    var user: String
    var role: ConsoleSection.Role
    var csrf: String
}

/// What a console request carries: its login (the session, and the identity the login middleware found) and form
/// decoding for its POST bodies.
struct ConsoleContext: AuthRequestContext, SessionRequestContext, RequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: ConsoleIdentity?
    let sessions: SessionContext<ConsoleSession>

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        sessions = .init()
    }

    var requestDecoder: URLEncodedFormDecoder { URLEncodedFormDecoder() }
    /// Forms are a few fields; nothing larger is read.
    var maxUploadSize: Int { 64 * 1024 }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}
