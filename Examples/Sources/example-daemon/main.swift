import DaemonCLI
import DaemonKit
import Scheduler

// The whole daemon binary: pgdaemon's command line over the built-in modules, the scheduler's, and ours.
await DaemonCommandLine.main(registry: .builtIn.adding(.scheduler).adding(ModuleRegistry([HeartbeatWriter.self])))
