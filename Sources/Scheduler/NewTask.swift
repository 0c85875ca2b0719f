public import Foundation

/// A task to enqueue, with the defaults of `scheduler_task_add`.
public struct NewTask: Sendable {
    /// The handler type that runs it, such as `Command` or `Noop`.
    public var type: String
    /// The handler's data as a JSON object text; default `{}`.
    public var dataJSON: String
    /// A name shown in listings and history; cron tasks carry their entry's name.
    public var name: String?
    /// Lower runs first; default 0.
    public var priority: Int
    /// While a task with this key is pending, enqueuing another returns the pending task's id instead.
    public var uniqueKey: String?
    /// When to run; `nil` or a time not later than now means at once.
    public var executionTime: Date?
    /// How long after the database's `now()` to run; when set, `executionTime` is not used. The database's clock
    /// decides, so a client whose clock is off still delays a task by what it asked.
    public var delay: Duration?
    /// Attempts before the task stays failed; default 3.
    public var maxAttempts: Int
    /// The named queue it runs in; default `default`.
    public var queue: String
    /// Tasks with one key count together against their queue's `key_limit`.
    public var concurrencyKey: String?

    public init(
        type: String, dataJSON: String = "{}", name: String? = nil, priority: Int = 0, uniqueKey: String? = nil,
        executionTime: Date? = nil, delay: Duration? = nil, maxAttempts: Int = 3, queue: String = "default",
        concurrencyKey: String? = nil
    ) {
        self.type = type
        self.dataJSON = dataJSON
        self.name = name
        self.priority = priority
        self.uniqueKey = uniqueKey
        self.executionTime = executionTime
        self.delay = delay
        self.maxAttempts = maxAttempts
        self.queue = queue
        self.concurrencyKey = concurrencyKey
    }
}
