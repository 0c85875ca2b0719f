public import Foundation

/// One parameter value as it travels to the server.
///
/// Values go in PostgreSQL's text format with their type left for the server to infer from the statement (so `$1` in
/// `WHERE int4_column = $1` needs no cast); bytes go in binary format as `bytea`, which spares them hex encoding.
public enum PostgresBind: Sendable, Equatable {
    case null
    case text(String)
    case bytes(Data)
}

/// A Swift value that can be bound as a statement parameter.
public protocol PostgresEncodable: Sendable {
    var postgresBind: PostgresBind { get }
}

extension String: PostgresEncodable {
    public var postgresBind: PostgresBind { .text(self) }
}

extension Int: PostgresEncodable {
    public var postgresBind: PostgresBind { .text(String(self)) }
}

extension Int64: PostgresEncodable {
    public var postgresBind: PostgresBind { .text(String(self)) }
}

extension Int32: PostgresEncodable {
    public var postgresBind: PostgresBind { .text(String(self)) }
}

extension Double: PostgresEncodable {
    public var postgresBind: PostgresBind {
        if isNaN { return .text("NaN") }
        if isInfinite { return .text(self < 0 ? "-Infinity" : "Infinity") }
        return .text(String(self))
    }
}

extension Bool: PostgresEncodable {
    public var postgresBind: PostgresBind { .text(self ? "true" : "false") }
}

extension Date: PostgresEncodable {
    public var postgresBind: PostgresBind { .text(PostgresTimestamp.format(self)) }
}

extension Data: PostgresEncodable {
    public var postgresBind: PostgresBind { .bytes(self) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresBind: PostgresBind { self?.postgresBind ?? .null }
}

extension Duration: PostgresEncodable {
    /// An `interval` in microseconds, the server's own precision.
    public var postgresBind: PostgresBind {
        let (seconds, attoseconds) = components
        let microseconds = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        return .text("\(microseconds) microseconds")
    }
}
