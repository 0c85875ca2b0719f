/// A statement and its bound values, built by string interpolation.
///
/// Every interpolated value becomes a `$n` placeholder and travels separately from the SQL text, so a value can never
/// change the statement: `"SELECT * FROM t WHERE name = \(name)"` is safe whatever `name` holds. SQL text that must be
/// spliced in (an identifier, a fragment built by the program) goes through `identifier:` or the deliberately named
/// `unsafeSQL:`.
public struct SQL: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The SQL text with `$1`, `$2`… placeholders.
    public private(set) var text: String
    /// The values for the placeholders, in order.
    public private(set) var binds: [PostgresBind]

    public init(stringLiteral value: String) {
        text = value
        binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        text = stringInterpolation.text
        binds = stringInterpolation.binds
    }

    /// SQL text that is trusted as it is, with values for its own `$n` placeholders.
    public init(unsafeSQL text: String, binds: [PostgresBind] = []) {
        self.text = text
        self.binds = binds
    }

    /// The SQL text only: bound values are never printed.
    public var description: String { text }

    public struct StringInterpolation: StringInterpolationProtocol {
        var text = ""
        var binds: [PostgresBind] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            text += literal
        }

        /// Binds a value as the next `$n` parameter.
        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            binds.append(value.postgresBind)
            text += "$\(binds.count)"
        }

        /// Binds a value, or NULL when it is `nil`.
        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            binds.append(value?.postgresBind ?? .null)
            text += "$\(binds.count)"
        }

        /// Splices another statement fragment, its placeholders renumbered after this one's, so fragments built
        /// elsewhere (a fencing condition) keep their values bound.
        public mutating func appendInterpolation(_ fragment: SQL) {
            let offset = binds.count
            binds += fragment.binds
            guard offset > 0, !fragment.binds.isEmpty else {
                text += fragment.text
                return
            }
            // Walks the UTF-8 bytes: `$` and digits are ASCII, and the walk by Character (grapheme breaking) it
            // replaces was among the top entries of a busy task worker's CPU profile.
            let utf8 = fragment.text.utf8
            var copied = utf8.startIndex
            var index = copied
            while let dollar = utf8[index...].firstIndex(of: UInt8(ascii: "$")) {
                var end = utf8.index(after: dollar)
                var (number, digits) = (0, 0)
                while end != utf8.endIndex, case let byte = utf8[end],
                    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                {
                    number = number &* 10 &+ Int(byte - UInt8(ascii: "0"))
                    digits += 1
                    utf8.formIndex(after: &end)
                }
                // A placeholder has at most 5 digits (65,535 parameters); longer runs of digits after a `$` are text.
                if (1...5).contains(digits) {
                    text += fragment.text[copied..<dollar]
                    text += "$\(number + offset)"
                    copied = end
                }
                index = end
            }
            text += fragment.text[copied...]
        }

        /// Splices a name (table, channel, role) as a double-quoted identifier.
        public mutating func appendInterpolation(identifier: String) {
            text += SQL.quoteIdentifier(identifier)
        }

        /// Splices SQL text as it is. Only for text the program itself built, never for input.
        public mutating func appendInterpolation(unsafeSQL fragment: String) {
            text += fragment
        }
    }

    /// Quotes a name the way PostgreSQL reads a quoted identifier: inside double quotes, with quotes doubled. NUL,
    /// which PostgreSQL cannot store in a name, is dropped.
    public static func quoteIdentifier(_ name: String) -> String {
        var quoted = "\""
        for character in name where character != "\0" {
            quoted += character == "\"" ? "\"\"" : String(character)
        }
        return quoted + "\""
    }
}
