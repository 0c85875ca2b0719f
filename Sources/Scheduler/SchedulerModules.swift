import Cache
public import DaemonKit

extension ModuleRegistry {
    /// The scheduler (DESIGN §5): its modules, which a node runs when its file has no `modules:` key, with a task
    /// worker that runs the task types of `handlers`; its `commands:`, `statements:` and `cron:` sections; its
    /// metrics; and the cache, whose cleanup it runs.
    public static func scheduler(handlers: TaskHandlerRegistry = .builtIn) -> ModuleRegistry {
        var registry = ModuleRegistry([
            SchedulerFutureTaskManager.self, SchedulerCronTaskManager.self, SchedulerTaskRescuer.self,
        ])
        registry.register(SchedulerTaskWorker.self) { try await SchedulerTaskWorker(context: $0, handlers: handlers) }
        for module in [
            SchedulerTaskWorker.self, SchedulerFutureTaskManager.self, SchedulerCronTaskManager.self,
            SchedulerTaskRescuer.self,
        ] as [any DaemonModule.Type] {
            registry.runByDefault(module)
        }
        for section in [CommandsSection.self, StatementsSection.self, CronSection.self]
            as [any ConfigurationSection.Type]
        {
            registry.register(section: section)
        }
        registry.register(metrics: SchedulerMetrics.read)
        return registry.adding(.cache)
    }
}
