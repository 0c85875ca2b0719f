import HummingbirdBcrypt

/// The console's password hashes: bcrypt, as `pgdaemon console hash-password` writes them.
enum PasswordHash {
    /// Whether `text` reads as a bcrypt hash: `$2a$`, `$2b$` or `$2y$`, a two-digit cost, and 53 characters of salt
    /// and hash.
    static func isBcrypt(_ text: String) -> Bool {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, ["2a", "2b", "2y"].contains(parts[1]),
            parts[2].count == 2, parts[2].allSatisfy(\.isNumber), parts[3].count == 53
        else { return false }
        return parts[3].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "/") }
    }

    /// Whether `password` matches `hash`. Bcrypt is slow on purpose (a quarter of a second at cost 12, holding its
    /// thread), so the console checks a password once, at the login, and a session cookie carries the login after.
    static func matches(_ password: String, hash: String) -> Bool {
        Bcrypt.verify(password, hash: hash)
    }
}
