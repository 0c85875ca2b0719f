import CLibPQ
import Foundation

/// Where and how to connect: a libpq connection string plus the settings pgdaemon always wants.
///
/// The connection string may be a URL (`postgresql://user@host/db`) or `key=value` pairs; anything it leaves out comes
/// from libpq's own defaults, `PG*` environment variables and service files, so `nil` means "whatever libpq would do".
/// Keepalive and connect-timeout defaults are added where the string sets none, so a dead server or a cut network is
/// noticed in seconds, not after the kernel's two-hour default.
public struct ConnectionOptions: Sendable {
    /// The connection string; `nil` or empty uses libpq's defaults alone.
    public var connectionString: String?
    /// Shown in `pg_stat_activity.application_name`; overrides the connection string's. Default: none, and libpq
    /// falls back to `pgdaemon`.
    public var applicationName: String?
    /// Seconds to wait for a connection before failing; default 10.
    public var connectTimeoutSeconds: Int = 10
    /// Seconds of idleness before TCP keepalive probes start; default 10.
    public var keepalivesIdleSeconds: Int = 10
    /// Seconds between keepalive probes; default 5.
    public var keepalivesIntervalSeconds: Int = 5
    /// Unanswered probes after which the connection counts as dead; default 3.
    public var keepalivesCount: Int = 3
    /// Milliseconds sent data may stay unacknowledged before the connection counts as dead; default 10 000. Keepalives
    /// only watch an idle connection; this bounds a statement sent into a network that has gone silent.
    public var tcpUserTimeoutMilliseconds: Int = 10_000
    /// Whether a server that takes no writes will do, for a session that only reads (a test's observer). Default
    /// `false`: every session pgdaemon opens writes (heartbeats, claims, locks), so a standby is refused at the
    /// connection, with one sentence, instead of failing statement by statement.
    public var acceptsStandby = false

    /// The statements that give the server's end of the session the keepalives and timeout that `parameters` (the
    /// connection string's, else our defaults) give the client's: the server's own default is the kernel's two hours
    /// of silence. Only whole numbers are spliced in; libpq has refused anything else before this runs.
    static func serverKeepaliveScript(_ parameters: [(String, String)]) -> String {
        [
            ("keepalives_idle", "tcp_keepalives_idle"), ("keepalives_interval", "tcp_keepalives_interval"),
            ("keepalives_count", "tcp_keepalives_count"), ("tcp_user_timeout", "tcp_user_timeout"),
        ].compactMap { client, server in
            parameters.last { $0.0 == client }.flatMap { Int($0.1) }.map { "SET \(server) = \($0)" }
        }.joined(separator: "; ")
    }

    public init(_ connectionString: String? = nil, applicationName: String? = nil) {
        self.connectionString = connectionString
        self.applicationName = applicationName
    }

    /// The keyword/value pairs handed to `PQconnectdbParams`, the connection string's own taking precedence over our
    /// defaults (except `application_name`, which the caller sets on purpose).
    func parameters() throws -> [(String, String)] {
        var given = try Self.parse(connectionString ?? "")
        func setDefault(_ key: String, _ value: String) {
            if given.firstIndex(where: { $0.0 == key }) == nil { given.append((key, value)) }
        }
        setDefault("connect_timeout", String(connectTimeoutSeconds))
        setDefault("keepalives", "1")
        setDefault("keepalives_idle", String(keepalivesIdleSeconds))
        setDefault("keepalives_interval", String(keepalivesIntervalSeconds))
        setDefault("keepalives_count", String(keepalivesCount))
        setDefault("tcp_user_timeout", String(tcpUserTimeoutMilliseconds))
        setDefault("fallback_application_name", "pgdaemon")
        setDefault("client_encoding", "UTF8")
        if let applicationName {
            given.removeAll { $0.0 == "application_name" }
            given.append(("application_name", applicationName))
        }
        return given
    }

    /// The connection string with its password replaced by `****`, for messages and logs.
    public var redacted: String {
        guard let connectionString, !connectionString.isEmpty else { return "(libpq defaults)" }
        guard let pairs = try? Self.parse(connectionString) else { return "(unparseable connection string)" }
        return pairs.map { key, value in
            switch key {
            case "password": return "password=****"
            // A password with an unencoded "@" spills into the host: "user:pa@ss@db" reads as host "ss@db".
            case "host" where value.contains("@"): return "host=****@\(value.split(separator: "@").last ?? "")"
            default: return "\(key)=\(value)"
            }
        }.joined(separator: " ")
    }

    /// Removes every password the connection string contains from a message, such as libpq's own error text, which
    /// may quote the string it failed to parse.
    func redact(_ message: String) -> String {
        var message = message
        for secret in Self.passwords(in: connectionString ?? "") where !secret.isEmpty {
            message = message.replacingOccurrences(of: secret, with: "****")
        }
        return message
    }

    /// Passwords as libpq would read them, and as they appear raw in a URL, so that even a string libpq cannot parse
    /// has its password found.
    static func passwords(in connectionString: String) -> [String] {
        var found: [String] = []
        if case .success(let pairs) = libpqParse(connectionString) {
            found += pairs.filter { $0.0 == "password" }.map(\.1)
        }
        if let scheme = connectionString.range(of: "://") {
            let rest = connectionString[scheme.upperBound...]
            let authority = rest.prefix { $0 != "/" && $0 != "?" }
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                found.append(String(authority[authority.index(after: colon)..<at]))
            }
        }
        if let range = connectionString.range(of: "password=") {
            found.append(String(connectionString[range.upperBound...].prefix { $0 != " " && $0 != "&" }))
        }
        return found.sorted { $0.count > $1.count }
    }

    /// Splits a connection string with libpq's own parser, so it accepts exactly what libpq accepts.
    static func parse(_ connectionString: String) throws -> [(String, String)] {
        switch libpqParse(connectionString) {
        case .success(let pairs):
            return pairs
        case .failure(let reason):
            let message = "Invalid connection string: \(reason.message.oneLine)"
            throw PostgresError(.connectionFailed, message: ConnectionOptions(connectionString).redact(message))
        }
    }

    private struct ParseFailure: Error {
        var message: String
    }

    private static func libpqParse(_ connectionString: String) -> Result<[(String, String)], ParseFailure> {
        if connectionString.isEmpty { return .success([]) }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            defer { if let errorMessage { PQfreemem(errorMessage) } }
            return .failure(ParseFailure(message: errorMessage.map { String(cString: $0) } ?? "out of memory"))
        }
        defer { PQconninfoFree(options) }
        var pairs: [(String, String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                pairs.append((String(cString: keyword), String(cString: value)))
            }
            option += 1
        }
        return .success(pairs)
    }
}

extension String {
    /// libpq's multi-line message as one line: lines trimmed and joined as sentences.
    var oneLine: String {
        var result = ""
        for line in split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            if let last = result.last { result += ".?!:;".contains(last) ? " " : ". " }
            result += trimmed
        }
        return result
    }
}
