extension String {
    /// Whether the text holds a control character (Unicode category Cc: line breaks, tabs, escape, NUL…), which names
    /// that end up in terminals and in `application_name` must not.
    public var containsControlCharacters: Bool { unicodeScalars.contains(where: \.isControl) }

    /// The text with each control character written out (`\n`, `\t`, `\u{1B}`): for values from the database shown in
    /// a terminal. A task name or error holding an escape sequence could otherwise move the cursor, recolour or
    /// rewrite what an operator reads, and a line break would split a table row. `--json` output keeps values exact.
    public var escapingControlCharacters: String {
        guard containsControlCharacters else { return self }
        var escaped = ""
        for scalar in unicodeScalars {
            escaped += scalar.isControl ? scalar.escaped(asASCII: false) : String(scalar)
        }
        return escaped
    }
}

extension Unicode.Scalar {
    fileprivate var isControl: Bool { properties.generalCategory == .control }
}
