public import DaemonKit

extension ModuleRegistry {
    /// The scheduler's modules (DESIGN §5), run by default when a configuration has no `modules:` key, with a task
    /// worker that runs the task types of `handlers`.
    public static func scheduler(handlers: TaskHandlerRegistry = .builtIn) -> ModuleRegistry {
        var registry = ModuleRegistry([
            SchedulerFutureTaskManager.self, SchedulerCronTaskManager.self, SchedulerTaskRescuer.self,
        ])
        registry.register(SchedulerTaskWorker.self) { try await SchedulerTaskWorker(context: $0, handlers: handlers) }
        return registry
    }
}
