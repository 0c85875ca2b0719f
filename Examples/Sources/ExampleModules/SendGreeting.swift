public import Scheduler

/// A task handler of your own: runs the tasks of type `SendGreeting`, whose data decodes into `Payload`.
///
/// Enqueue one from anywhere that shares the database:
///
///     SELECT scheduler_task_add('SendGreeting', '{"name": "Ada"}');
///     -- or: example-daemon task add --type SendGreeting --data '{"name": "Ada"}'
///
/// Data that does not decode fails the task at once with the reason; a thrown error is retried with backoff up to
/// the task's `max_attempts`; `PermanentTaskFailure` fails it at once. Execution is at least once: a handler whose
/// work must not happen twice records that it happened, in the same database, and checks first.
public struct SendGreeting: TaskHandler {
    public struct Payload: Decodable, Sendable {
        public var name: String
    }

    public static let type = "SendGreeting"
    public static let timeout = Duration.seconds(30)

    public init() {}

    public func run(_ payload: Payload, context: TaskContext) async throws {
        guard !payload.name.isEmpty else { throw PermanentTaskFailure("A greeting needs a name.") }
        context.logger.info("Greeting.", metadata: ["name": "\(payload.name)", "attempt": "\(context.attempt)"])
        // Kept with this attempt in scheduler_task_history.output; `task show ID` prints it.
        context.output.append("Hello, \(payload.name)!\n")
    }
}
