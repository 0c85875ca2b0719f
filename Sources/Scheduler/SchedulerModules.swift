public import DaemonKit

extension ModuleRegistry {
    /// The scheduler's modules (DESIGN §5), run by default when a configuration has no `modules:` key.
    public static let scheduler = ModuleRegistry([
        SchedulerTaskWorker.self, SchedulerFutureTaskManager.self, SchedulerCronTaskManager.self,
        SchedulerTaskRescuer.self,
    ])
}
