/// An array binds as an array literal in text format (`{"1","2",NULL}`), for a statement to cast
/// (`\(ids)::bigint[]`) and read with `ANY` or `unnest`. Every element is quoted, with its backslashes and quotes
/// escaped, so no element text can end the literal early; bytes go as `\x` hex.
extension Array: PostgresEncodable where Element: PostgresEncodable {
    public var postgresBind: PostgresBind {
        var literal = "{"
        for (index, element) in enumerated() {
            if index > 0 { literal.append(",") }
            switch element.postgresBind {
            case .null: literal.append("NULL")
            case .text(let text): Self.appendQuoted(text, to: &literal)
            case .bytes(let bytes): Self.appendQuoted("\\x" + bytes.map(Self.hex).joined(), to: &literal)
            }
        }
        literal.append("}")
        return .text(literal)
    }

    private static func appendQuoted(_ text: String, to literal: inout String) {
        literal.append("\"")
        for character in text.unicodeScalars {
            if character == "\\" || character == "\"" { literal.append("\\") }
            literal.unicodeScalars.append(character)
        }
        literal.append("\"")
    }

    private static func hex(_ byte: UInt8) -> String {
        byte < 16 ? "0" + String(byte, radix: 16) : String(byte, radix: 16)
    }
}
