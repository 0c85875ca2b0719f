/// An error from PostgreSQL or from talking to it.
///
/// `description` is one sentence for an operator. It never contains bound parameter values or a password from a
/// connection string: only the server's message, which names objects, not data, unless a detail says more.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; `server` errors also carry a SQLSTATE.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String

        /// The server could not be reached or refused the connection.
        public static let connectionFailed = Code(name: "connectionFailed")
        /// The connection broke while in use (server restart, network cut, backend terminated).
        public static let connectionLost = Code(name: "connectionLost")
        /// The connection was closed by this process and cannot be used again.
        public static let closed = Code(name: "closed")
        /// The server answered a statement with an error; see `sqlState`.
        public static let server = Code(name: "server")
        /// A column value could not be decoded as the requested Swift type.
        public static let decoding = Code(name: "decoding")
        /// The caller used the API in a way it does not allow (for example a nested transaction).
        public static let misuse = Code(name: "misuse")
        /// The task waiting on the connection was cancelled.
        public static let cancelled = Code(name: "cancelled")

        public var description: String { name }
    }

    /// SQLSTATE codes this package reacts to.
    public enum SQLState {
        /// `57014`: the statement was cancelled (by `PQcancel` or `statement_timeout`).
        public static let queryCanceled = "57014"
        /// `23505`: a unique constraint was violated.
        public static let uniqueViolation = "23505"
        /// `42501`: the role lacks a privilege.
        public static let insufficientPrivilege = "42501"
        /// `40P01`: the transaction was chosen as a deadlock victim.
        public static let deadlockDetected = "40P01"
        /// `55P03`: a lock wait ran out its `lock_timeout`.
        public static let lockNotAvailable = "55P03"
    }

    public var code: Code
    /// The five-character SQLSTATE the server sent, when the server sent one.
    public var sqlState: String?
    /// The primary message, one line.
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The SQL text that failed, without its bound values.
    public var query: String?

    public init(
        _ code: Code, message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil,
        query: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.query = query
    }

    /// True when the failure means the connection is unusable and must be re-established.
    public var isConnectionError: Bool {
        code == .connectionFailed || code == .connectionLost || code == .closed
            || (sqlState?.hasPrefix("08") ?? false) || sqlState == "57P01" || sqlState == "57P02"
            || sqlState == "57P03"
    }

    /// True when the server is out of a resource it needs for the statement (SQLSTATE class 53: disk full, out of
    /// memory, too many connections): nothing was wrong with the statement, and it may work once the server has room.
    public var isOutOfResources: Bool {
        sqlState?.hasPrefix("53") ?? false
    }

    public var description: String {
        var text = message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let hint { text += " Hint: \(hint)" }
        return text
    }
}
