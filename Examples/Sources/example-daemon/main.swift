import DaemonCLI
import DaemonKit
import ExampleModules
import Scheduler

// The whole daemon binary: pgdaemon's command line over the built-in modules, the scheduler's, and ours, with the
// built-in task handlers and ours.
var handlers = TaskHandlerRegistry.builtIn
handlers.register(SendGreeting())
await DaemonCommandLine.main(
    registry: .builtIn.adding(.scheduler(handlers: handlers)).adding(ModuleRegistry([HeartbeatWriter.self])))
