import DaemonCLI
import DaemonKit
import Scheduler
import WebConsole

// The pgdaemon binary: the command line over the built-in modules, the scheduler's and the web console among them.
await DaemonCommandLine.main(registry: .builtIn.adding(.scheduler(handlers: .builtIn)).adding(.console))
