import Cache
public import DaemonKit

extension ModuleRegistry {
    /// The scheduler (DESIGN §5): its modules, which a node runs when its file has no `modules:` key, with a task
    /// worker that runs the task types of `handlers`; its `commands:`, `statements:`, `cron:` and `queues:` sections; its
    /// metrics; and the cache, whose cleanup it runs.
    public static func scheduler(handlers: TaskHandlerRegistry = .builtIn) -> ModuleRegistry {
        var registry = ModuleRegistry(
            [
                SchedulerTaskWorker.self, SchedulerFutureTaskManager.self, SchedulerCronTaskManager.self,
                SchedulerTaskRescuer.self,
            ],
            runByDefault: true)
        registry.register(SchedulerTaskWorker.self) { context in
            // The worker's heartbeats must keep its tasks' locks fresher than the rescuer's lock_timeout.
            try await SchedulerTaskWorker(
                context: context, handlers: handlers,
                lockTimeout: SchedulerTaskRescuer.lockTimeout(in: context.configuration))
        }
        for section in [CommandsSection.self, StatementsSection.self, CronSection.self, QueuesSection.self]
            as [any ConfigurationSection.Type]
        {
            registry.register(section: section)
        }
        registry.register(metrics: SchedulerMetrics.read)
        return registry.adding(.cache)
    }
}
