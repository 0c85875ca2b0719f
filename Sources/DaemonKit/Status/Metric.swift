/// One metric of `/metrics`: a name, its help and type, and its samples, in the Prometheus text format.
///
/// Libraries contribute their own with `ModuleRegistry.register(metrics:)`, read from the shared database as a summary
/// is, so the daemon's status page knows nothing of what a library stores.
public struct Metric: Sendable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public struct Sample: Sendable {
        /// Label names and values, in order.
        public var labels: [(String, String)]
        public var value: Double
        /// Appended to the metric's name, such as `_bucket`, `_sum` or `_count` of a histogram.
        public var suffix: String

        public init(_ labels: [(String, String)] = [], _ value: Double, suffix: String = "") {
            self.labels = labels
            self.value = value
            self.suffix = suffix
        }
    }

    public var name: String
    public var help: String
    public var kind: Kind
    public var samples: [Sample]

    public init(_ name: String, _ help: String, _ kind: Kind, _ samples: [Sample]) {
        self.name = name
        self.help = help
        self.kind = kind
        self.samples = samples
    }

    /// The metric's lines of the text format.
    var lines: [String] {
        ["# HELP \(name) \(help)", "# TYPE \(name) \(kind.rawValue)"]
            + samples.map { sample in
                let labels = sample.labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",")
                return "\(name)\(sample.suffix)\(labels.isEmpty ? "" : "{\(labels)}") \(Self.number(sample.value))"
            }
    }

    /// A label value with backslash, quote and line feed escaped, as the format asks.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A value as the format writes it: whole numbers without a fraction.
    public static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
