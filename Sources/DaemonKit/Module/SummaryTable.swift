/// One table of a module's summary, as the seed's Summary returns it: a header, sized columns, rows, and the line
/// shown when there are no rows.
public struct SummaryTable: Sendable, Codable, Equatable {
    public struct Column: Sendable, Codable, Equatable {
        /// The key of this column's value in each row.
        public var name: String
        public var displayName: String
        /// The column's width in characters; longer values are cut with an ellipsis.
        public var width: Int

        public init(_ name: String, _ displayName: String, width: Int) {
            self.name = name
            self.displayName = displayName
            self.width = width
        }
    }

    public var header: String
    public var columns: [Column]
    /// Each row maps a column's `name` to its text.
    public var rows: [[String: String]]
    public var noDataMessage: String

    public init(header: String, columns: [Column], rows: [[String: String]], noDataMessage: String = "No data.") {
        self.header = header
        self.columns = columns
        self.rows = rows
        self.noDataMessage = noDataMessage
    }
}
