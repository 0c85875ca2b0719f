public import Foundation

/// A Swift type that a column value, in PostgreSQL's text format, can be decoded into.
///
/// Each type names the column types it accepts, so that a mismatch (an integer read from a `text` column) is an
/// error naming both types rather than a value parsed by luck.
public protocol PostgresDecodable: Sendable {
    /// Decodes a non-NULL value, or returns `nil` when the column type or the text does not fit; throws
    /// `PostgresDecodingFailure` to say more about why.
    static func decode(postgresText text: String, type: PostgresType) throws -> Self?
    /// The value for SQL NULL; `nil` means NULL is an error for this type (only `Optional` has one).
    static var postgresNull: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(postgresText text: String, type: PostgresType) throws -> Self? {
        try Wrapped.decode(postgresText: text, type: type).map(Optional.some)
    }

    public static var postgresNull: Self? { .some(.none) }
}

private let integerTypes: Set<PostgresType> = [.int2, .int4, .int8, .oidType]

extension Int: PostgresDecodable {
    public static func decode(postgresText text: String, type: PostgresType) -> Int? {
        integerTypes.contains(type) ? Int(text) : nil
    }
}

extension Int64: PostgresDecodable {
    public static func decode(postgresText text: String, type: PostgresType) -> Int64? {
        integerTypes.contains(type) ? Int64(text) : nil
    }
}

extension Int32: PostgresDecodable {
    public static func decode(postgresText text: String, type: PostgresType) -> Int32? {
        integerTypes.contains(type) ? Int32(text) : nil
    }
}

extension Double: PostgresDecodable {
    public static func decode(postgresText text: String, type: PostgresType) -> Double? {
        guard type == .float4 || type == .float8 || type == .numeric || integerTypes.contains(type) else { return nil }
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text)
        }
    }
}

extension Bool: PostgresDecodable {
    public static func decode(postgresText text: String, type: PostgresType) -> Bool? {
        guard type == .bool else { return nil }
        return text == "t" ? true : text == "f" ? false : nil
    }
}

extension String: PostgresDecodable {
    /// Any column decodes as its text form, except `bytea`, whose text form is hex and which decodes as `Data`.
    public static func decode(postgresText text: String, type: PostgresType) -> String? {
        type == .bytea ? nil : text
    }
}

extension Date: PostgresDecodable {
    public static func decode(postgresText text: String, type: PostgresType) -> Date? {
        guard type == .timestamptz || type == .timestamp else { return nil }
        return PostgresTimestamp.parse(text)
    }
}

extension Data: PostgresDecodable {
    /// Reads `bytea` in the server's hex output format (`\x0a1b…`, the default since PostgreSQL 9.0).
    public static func decode(postgresText text: String, type: PostgresType) -> Data? {
        guard type == .bytea else { return nil }
        var text = text
        return text.withUTF8 { hex -> Data? in
            guard hex.count >= 2, hex[0] == UInt8(ascii: "\\"), hex[1] == UInt8(ascii: "x"), hex.count % 2 == 0 else {
                return nil
            }
            var data = Data(count: (hex.count - 2) / 2)
            let valid = data.withUnsafeMutableBytes { bytes in
                for index in bytes.indices {
                    let high = hexValues[Int(hex[2 + 2 * index])]
                    let low = hexValues[Int(hex[3 + 2 * index])]
                    guard high | low < 16 else { return false }
                    bytes[index] = high << 4 | low
                }
                return true
            }
            return valid ? data : nil
        }
    }
}

/// Each byte's value as a hex digit, 0xFF for a byte that is not one: a table, because bytea values run to megabytes.
private let hexValues: [UInt8] = (0...255).map { byte in
    switch UInt8(byte) {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(byte) - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(byte) - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt8(byte) - UInt8(ascii: "A") + 10
    default: 0xFF
    }
}
