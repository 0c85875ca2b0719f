/// Outcomes as the JSON array of objects that the worker's statements read with `jsonb_to_recordset`.
///
/// Written out here, byte by byte, rather than with `JSONEncoder`: encoding a batch of outcomes took a quarter of the
/// task worker's instructions in a drain of Noop tasks (callgrind), building a keyed container for every outcome and
/// sorting its keys, for eight fields whose shape never changes.
enum TaskOutcomeJSON {
    static func encode(_ outcomes: [TaskOutcome]) -> String {
        var json: [UInt8] = []
        json.reserveCapacity(outcomes.count * 200)
        json.append(UInt8(ascii: "["))
        for (index, outcome) in outcomes.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            json += #"{"id":"#.utf8
            json += String(outcome.id).utf8
            json += #","token":"#.utf8
            appendString(outcome.token, to: &json)
            json += #","status":""#.utf8
            json += outcome.status.rawValue.utf8
            json += #"","error":"#.utf8
            appendString(outcome.error, to: &json)
            json += #","output":"#.utf8
            appendString(outcome.output, to: &json)
            json += #","retry_at":"#.utf8
            json += (outcome.retryAt.map { "\($0)" } ?? "null").utf8
            json += #","started_at":"#.utf8
            json += "\(outcome.startedAt)".utf8
            json += #","finished_at":"#.utf8
            json += "\(outcome.finishedAt)".utf8
            json.append(UInt8(ascii: "}"))
        }
        json.append(UInt8(ascii: "]"))
        return String(decoding: json, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A JSON string, or `null`: quotes, backslashes and control characters escaped, every other byte as it is (the
    /// bytes of a multi-byte UTF-8 sequence are all 0x80 or above). A NUL, which PostgreSQL's text cannot hold and
    /// its JSON parser refuses to turn into text, becomes U+FFFD: a task that printed one would otherwise make every
    /// statement recording its batch fail.
    private static func appendString(_ string: String?, to json: inout [UInt8]) {
        guard let string else { return json += "null".utf8 }
        json.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case 0: json += #"\ufffd"#.utf8
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                json += [UInt8(ascii: "\\"), byte]
            case UInt8(ascii: "\n"): json += #"\n"#.utf8
            case UInt8(ascii: "\r"): json += #"\r"#.utf8
            case UInt8(ascii: "\t"): json += #"\t"#.utf8
            case ..<0x20:
                json += #"\u00"#.utf8
                json += [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
            default:
                json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }
}
