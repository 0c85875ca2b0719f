public import DaemonKit
public import Logging
public import Postgres
import Synchronization

/// Runs the tasks of one type, with the task's data decoded into `Payload`. One instance, registered with
/// `TaskHandlerRegistry.register`, runs every attempt, so a handler holds its own dependencies.
///
/// ```swift
/// struct SendReport: TaskHandler {
///     struct Payload: Decodable, Sendable { var recipient: String }
///     static let type = "SendReport"
///     func run(_ payload: Payload, context: TaskContext) async throws {
///         context.logger.info("Sending.", metadata: ["to": "\(payload.recipient)"])
///     }
/// }
/// ```
///
/// A thrown error fails this attempt: the task comes back after a backoff until `max_attempts`, or at once as failed
/// for a `PermanentTaskFailure`. Execution is at least once, so a handler should be idempotent.
///
/// `run` runs on the cooperative pool, one thread per core: a handler that blocks a thread for long (a synchronous
/// call, a file read) should do that on a thread of its own, as the Command handler waits for its process.
public protocol TaskHandler: Sendable {
    associatedtype Payload: Decodable & Sendable
    /// The `task_type` it runs.
    static var type: String { get }
    /// How long one attempt may run before it is cancelled and counts as failed; default 1h. A task's data may
    /// override it with `"timeout": "30s"`.
    static var timeout: Duration { get }
    func run(_ payload: Payload, context: TaskContext) async throws
}

extension TaskHandler {
    public static var timeout: Duration { .seconds(3600) }
}

/// What a handler knows of its task and node.
public struct TaskContext: Sendable {
    public var taskID: Int64
    public var name: String?
    public var attempt: Int
    public var maxAttempts: Int
    public var logger: Logger
    /// The node's configuration: the `commands:` and `statements:` allow-lists live there.
    public var configuration: Configuration
    /// The worker's database connection, for handlers whose work is SQL.
    public var database: Connection
    /// What the task printed, kept with its attempt in `scheduler_task_history.output`.
    public var output = TaskOutput()
}

/// Text a task produces for its history row (the last 64 KiB).
public final class TaskOutput: Sendable {
    private let text = Mutex("")

    public init() {}

    public func append(_ more: String) {
        text.withLock { text in
            text += more
            if text.utf8.count > 65_536 { text = String(decoding: text.utf8.suffix(65_536), as: UTF8.self) }
        }
    }

    public var contents: String { text.withLock { $0 } }
}

/// A failure that retrying cannot fix (data that does not fit, a command not on the allow-list): the task fails at
/// once, without further attempts.
public struct PermanentTaskFailure: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
