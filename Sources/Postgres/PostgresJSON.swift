import Foundation

/// A `Codable` value stored as `json` or `jsonb`.
///
/// Bind it to write JSON (`"INSERT … VALUES (\(try PostgresJSON(payload)))"`), decode it to read a JSON column:
/// `try row.decode(PostgresJSON<Payload>.self, "task_data").value`.
public struct PostgresJSON<Value: Codable & Sendable>: Sendable {
    public let value: Value
    /// The JSON text, encoded once with sorted keys so that equal values produce equal text.
    public let text: String

    /// Encodes the value; throws when it has no JSON form (a NaN, a failing custom `encode(to:)`).
    public init(_ value: Value) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.value = value
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Decodes JSON text, as read from a column or given by a user.
    public init(json text: String) throws {
        self.value = try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        self.text = text
    }
}

extension PostgresJSON: PostgresEncodable {
    public var postgresBind: PostgresBind { .text(text) }
}

extension PostgresJSON: PostgresDecodable {
    public static func decode(postgresText text: String, type: PostgresType) throws -> PostgresJSON? {
        guard type == .json || type == .jsonb || type == .text else { return nil }
        do {
            return try PostgresJSON(json: text)
        } catch let error as DecodingError {
            throw PostgresDecodingFailure(reason: error.shortDescription)
        }
    }
}

/// Why a value that has the right column type still could not be decoded.
public struct PostgresDecodingFailure: Error, Sendable {
    public var reason: String

    public init(reason: String) { self.reason = reason }
}

extension DecodingError {
    /// One line naming the JSON path and what was wrong there, without the offending value.
    public var shortDescription: String {
        func path(_ context: Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "the top level" : String(keys.drop { $0 == "." })
        }
        switch self {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "key \"\(key.stringValue)\" is missing" + (context.codingPath.isEmpty ? "" : " in \(parent)")
        case .typeMismatch(let type, let context):
            return "\(path(context)) is not of type \(type)"
        case .valueNotFound(let type, let context):
            return "\(path(context)) is null, expected \(type)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "it is not valid JSON" : "\(path(context)) is invalid"
        @unknown default:
            return "it does not match the expected shape"
        }
    }
}
