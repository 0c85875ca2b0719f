import DaemonCLI
import DaemonKit
import Scheduler

// The whole daemon binary: pgdaemon's command line over the built-in modules, the scheduler's, and ours, with the
// built-in task handlers and ours.
var handlers = TaskHandlerRegistry()
handlers.register(SendGreeting.self)
await DaemonCommandLine.main(
    registry: .builtIn.adding(.scheduler).adding(ModuleRegistry([HeartbeatWriter.self])),
    handlers: .builtIn.adding(handlers))
