/// `Noop`: does nothing; for tests, benchmarks and checking that workers run.
public struct NoopHandler: TaskHandler {
    public struct Payload: Decodable, Sendable {}
    public static let type = "Noop"
    public init() {}
    public func run(_ payload: Payload, context: TaskContext) async throws {}
}

/// `Sleep`: waits `{"seconds": 0.5}`; for tests of long tasks, timeouts and stops.
public struct SleepHandler: TaskHandler {
    public struct Payload: Decodable, Sendable {
        public var seconds: Double
    }

    public static let type = "Sleep"
    public init() {}

    public func run(_ payload: Payload, context: TaskContext) async throws {
        guard payload.seconds >= 0, payload.seconds.isFinite else {
            throw PermanentTaskFailure("Sleep needs a number of seconds of at least 0, not \(payload.seconds).")
        }
        try await Task.sleep(for: .milliseconds(Int64(payload.seconds * 1000)))
    }
}
