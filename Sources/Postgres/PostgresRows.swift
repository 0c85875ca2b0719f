/// The rows a statement returned, copied out of libpq's result so they outlive it.
public struct PostgresRows: Sendable, RandomAccessCollection {
    let columns: PostgresColumns
    let values: [[String?]]
    /// Rows inserted, updated or deleted, for statements that report it (`UPDATE 3`); 0 otherwise.
    public let affectedRows: Int

    init(columns: PostgresColumns, values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
    }

    /// The result's column names, in order.
    public var columnNames: [String] { columns.names }

    public var startIndex: Int { values.startIndex }
    public var endIndex: Int { values.endIndex }

    public subscript(position: Int) -> PostgresRow {
        PostgresRow(columns: columns, values: values[position])
    }
}

/// Names and types of a result's columns, shared by all its rows.
final class PostgresColumns: Sendable {
    let names: [String]
    let types: [PostgresType]
    private let indexByName: [String: Int]

    init(names: [String], types: [PostgresType]) {
        self.names = names
        self.types = types
        // The first of two equally named columns wins, as in psql's display order.
        self.indexByName = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func index(of name: String) -> Int? { indexByName[name] }
}

/// One row of a result; its values decode by column name or position.
public struct PostgresRow: Sendable {
    let columns: PostgresColumns
    let values: [String?]

    /// Decodes the named column; NULL decodes only into an optional type.
    ///
    /// ```swift
    /// let id = try row.decode(Int64.self, "id")
    /// let name = try row.decode(String?.self, "name")
    /// ```
    public func decode<Value: PostgresDecodable>(_ type: Value.Type, _ column: String) throws -> Value {
        guard let index = columns.index(of: column) else {
            throw PostgresError(
                .decoding,
                message: "The result has no column \"\(column)\"; it has \(columns.names.joined(separator: ", ")).")
        }
        return try decode(type, at: index)
    }

    /// Decodes the column at a position, counting from 0.
    public func decode<Value: PostgresDecodable>(_ type: Value.Type, at index: Int) throws -> Value {
        guard values.indices.contains(index) else {
            throw PostgresError(.decoding, message: "The result has no column \(index); it has \(values.count).")
        }
        let name = columns.names[index]
        let columnType = columns.types[index]
        guard let text = values[index] else {
            guard let null = Value.postgresNull else {
                throw PostgresError(
                    .decoding, message: "Column \"\(name)\" is NULL, which cannot be decoded as \(Value.self).")
            }
            return null
        }
        let reason: String
        do {
            if let value = try Value.decode(postgresText: text, type: columnType) { return value }
            reason = ""
        } catch let failure as PostgresDecodingFailure {
            reason = ": " + failure.reason
        }
        throw PostgresError(
            .decoding, message: "Column \"\(name)\" of type \(columnType) cannot be decoded as \(Value.self)\(reason).")
    }
}
