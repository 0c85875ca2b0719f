/// An aligned plain-text table for people: a header line, then one line per row, columns two spaces apart.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) {
        self.headers = headers
    }

    /// Adds a row; control characters in its cells are written out (see `escapingControlCharacters`).
    mutating func append(_ row: [String]) {
        rows.append(row.map(\.escapingControlCharacters))
    }

    var rendered: String {
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        return ([headers] + rows).map { cells in
            cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell.padding(toLength: widths[column])
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
