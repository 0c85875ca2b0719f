public import DaemonKit
import Foundation
import HummingbirdBcrypt

/// The `console:` section: where the web console listens, the path it is served under, and who may log in.
///
/// ```yaml
/// console:
///   listen: 127.0.0.1:9465
///   base_path: /pgdaemon        # behind a reverse proxy that keeps the prefix; default /
///   session_timeout: 12h
///   secure_cookie: true         # when users reach it over HTTPS (a proxy's TLS); default false
///   users:
///     ops:     { role: admin,  password_file: /etc/pgdaemon/console-ops.hash }
///     grafana: { role: viewer, password_file: /etc/pgdaemon/console-grafana.hash }
/// ```
///
/// Each password file holds a bcrypt hash that `pgdaemon console hash-password` wrote. The files are read with the
/// configuration, so a missing or malformed one stops the load with the key that names it, and a node whose file
/// changed re-reads it at its next reload. Nodes may differ here (each its own address), so the section does not count
/// in the cluster's configuration hash.
public struct ConsoleSection: ConfigurationSection, Equatable {
    public static let key = "console"
    public static let sharedInCluster = false

    /// What a user may do: a viewer reads, an admin also acts (retry, cancel, pause, run now).
    public enum Role: String, Sendable, Codable, CaseIterable {
        case viewer, admin
    }

    public struct User: Sendable, Equatable {
        public var role: Role
        /// The bcrypt hash from the user's password file.
        public var passwordHash: String
    }

    public var listen = HTTPAddress("127.0.0.1:9465")!
    /// The path every page is under, such as `/pgdaemon`; `/` when served at the root.
    public var basePath = "/"
    /// How long a login lasts without use.
    public var sessionTimeout: Duration = .seconds(12 * 3600)
    /// Whether the session cookie goes over HTTPS only: for a console that users reach through a proxy's TLS.
    public var secureCookie = false
    public var users: [String: User] = [:]

    public init() {}

    public init(_ value: ConfigurationValue) throws {
        for setting in try value.pairs(allowed: ["listen", "base_path", "session_timeout", "secure_cookie", "users"]) {
            switch setting.key {
            case "listen":
                let text = try setting.value.string()
                guard let address = HTTPAddress(text) else {
                    throw setting.value.fail("\"\(text)\" is not HOST:PORT with an IPv4 host, such as 127.0.0.1:9465")
                }
                listen = address
            case "base_path": basePath = try Self.basePath(setting.value)
            case "session_timeout": sessionTimeout = try setting.value.duration()
            case "secure_cookie": secureCookie = try setting.value.boolean()
            default:
                for entry in try setting.value.pairs() { users[entry.key] = try Self.user(entry) }
            }
        }
    }

    /// `/`, or a path of plain segments without a trailing slash, such as `/ops/pgdaemon`: it goes into every link
    /// and the session cookie's path, so nothing there may need escaping.
    private static func basePath(_ value: ConfigurationValue) throws -> String {
        let text = try value.string()
        let segments = text.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let plain = segments.allSatisfy { segment in
            !segment.isEmpty && segment.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.~".contains($0)) }
        }
        if text == "/" { return text }
        guard text.hasPrefix("/"), plain else {
            throw value.fail(
                "\"\(text)\" is not a path such as /pgdaemon: it starts with /, and its segments are letters, digits, "
                    + "- _ . or ~")
        }
        return text
    }

    private static func user(_ entry: ConfigurationValue.Pair) throws -> User {
        var role: Role?
        var hash: String?
        for setting in try entry.value.pairs(allowed: ["role", "password_file"]) {
            switch setting.key {
            case "role":
                let text = try setting.value.string()
                guard let parsed = Role(rawValue: text) else {
                    throw setting.value.fail("\"\(text)\" is not a role; a user is a viewer or an admin")
                }
                role = parsed
            default:
                hash = try passwordHash(setting.value)
            }
        }
        guard let role, let hash else {
            throw entry.fail("a console user needs a role (viewer or admin) and a password_file")
        }
        return User(role: role, passwordHash: hash)
    }

    /// The bcrypt hash in the file the value names (its first line).
    private static func passwordHash(_ value: ConfigurationValue) throws -> String {
        let path = try value.string()
        guard let data = FileManager.default.contents(atPath: path) else {
            throw value.fail("\(path) does not exist or cannot be read")
        }
        let hash = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard PasswordHash.isBcrypt(hash) else {
            throw value.fail(
                "\(path) does not hold a bcrypt hash; write one with `pgdaemon console hash-password --output \(path)`")
        }
        return hash
    }
}
