/// Reads and writes durations as the configuration spells them: `500ms`, `2s`, `10m`, `1h`, `1h30m`, `2d`.
public enum DurationText {
    private static let units: [(suffix: String, seconds: Double)] = [
        ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400),
    ]

    /// Parses a duration; `nil` when the text is not one (a bare number has no unit and is not one).
    public static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            guard let scale = units.first(where: { $0.suffix == unit })?.seconds else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        return .milliseconds(Int64((total * 1000).rounded()))
    }

    /// The shortest spelling that reads back as the same duration, in whole milliseconds: `1h30m`, `500ms`.
    public static func format(_ duration: Duration) -> String {
        var milliseconds =
            duration.components.seconds * 1000
            + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds == 0 { return "0s" }
        var text = ""
        for (suffix, seconds) in units.reversed() {
            let size = Int64(seconds * 1000)
            if milliseconds >= size {
                text += "\(milliseconds / size)\(suffix)"
                milliseconds %= size
            }
        }
        return text
    }
}
