import DaemonKit
import Foundation
import Postgres

/// The task handlers a daemon binary knows, by task type. `pgdaemon` uses the built-in set; a team's own daemon adds
/// its handlers and gives them to its task workers with `ModuleRegistry.scheduler(handlers:)`.
public struct TaskHandlerRegistry: Sendable {
    /// One attempt of a task, its data read: how long it may take, and what runs it.
    struct Attempt: Sendable {
        var timeout: Duration
        var run: @Sendable (_ context: TaskContext) async throws -> Void
    }

    /// A task type's handler: reads a task's data once, into an `Attempt`, or throws `PermanentTaskFailure` naming
    /// what does not fit.
    struct Entry: Sendable {
        var prepare: @Sendable (_ dataJSON: String) throws -> Attempt
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    /// The built-in handlers: `Command`, `SQL`, `CacheCleanup`, `Noop` and `Sleep`.
    public static let builtIn: TaskHandlerRegistry = {
        var registry = TaskHandlerRegistry()
        registry.register(CommandHandler())
        registry.register(SQLHandler())
        registry.register(CacheCleanupHandler())
        registry.register(NoopHandler())
        registry.register(SleepHandler())
        return registry
    }()

    /// Registers a handler for its task type; every attempt of such a task runs this one instance, so it may hold
    /// what it needs (a client, a pool, settings). Task data that does not decode into its payload fails permanently.
    public mutating func register<Handler: TaskHandler>(_ handler: Handler) {
        entries[Handler.type] = Entry { dataJSON in
            let data: TaskData<Handler.Payload>
            do {
                data = try JSONDecoder().decode(TaskData<Handler.Payload>.self, from: Data(dataJSON.utf8))
            } catch let error as DecodingError {
                throw PermanentTaskFailure("The task data does not fit \(Handler.type): \(error.shortDescription).")
            }
            return Attempt(timeout: data.timeout ?? Handler.timeout) { [payload = data.payload] context in
                try await handler.run(payload, context: context)
            }
        }
    }

    /// This registry with another's handlers added.
    public func adding(_ other: TaskHandlerRegistry) -> TaskHandlerRegistry {
        var merged = self
        merged.entries.merge(other.entries) { _, new in new }
        return merged
    }

    /// The registered task types, sorted.
    public var types: [String] { entries.keys.sorted() }

    subscript(type: String) -> Entry? { entries[type] }
}
