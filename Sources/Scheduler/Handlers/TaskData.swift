import DaemonKit

/// A task's data, read once per attempt: its handler's payload and the `"timeout": "30s"` that may override the
/// handler's timeout.
struct TaskData<Payload: Decodable>: Decodable {
    var payload: Payload
    /// `nil` when the data has no `timeout`.
    var timeout: Duration?

    private enum Keys: String, CodingKey { case timeout }

    init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: Keys.self), keyed.contains(.timeout) {
            guard let text = try? keyed.decode(String.self, forKey: .timeout), let timeout = DurationText.parse(text),
                timeout > .zero
            else {
                throw PermanentTaskFailure("The task data's timeout is not a duration; write it like 30s, 10m or 1h.")
            }
            self.timeout = timeout
        } else {
            timeout = nil
        }
        payload = try Payload(from: decoder)
    }
}
