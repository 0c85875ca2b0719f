import DaemonCLI
import DaemonKit

// The pgdaemon binary: the command line over the built-in modules.
await DaemonCommandLine.main(registry: .builtIn)
