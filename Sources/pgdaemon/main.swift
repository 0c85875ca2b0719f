import DaemonCLI
import DaemonKit
import Scheduler

// The pgdaemon binary: the command line over the built-in modules, the scheduler's among them.
await DaemonCommandLine.main(registry: .builtIn.adding(.scheduler(handlers: .builtIn)))
