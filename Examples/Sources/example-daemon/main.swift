import DaemonCLI
import DaemonKit

// The whole daemon binary: pgdaemon's command line over the built-in modules and ours.
await DaemonCommandLine.main(registry: .builtIn.adding(ModuleRegistry([HeartbeatWriter.self])))
