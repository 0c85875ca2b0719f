import Cache
import DaemonKit
import Foundation
import Logging

// A daemon binary on DaemonKit and the cache, without pgdaemon's command line or scheduler: `bare-daemon run --config
// FILE` runs the supervisor, which starts this binary again for each module; ModuleProcess runs those children. The
// tests drive it to show that a team's own binary gets the children's lifecycle (lifeline, SIGTERM's grace) without
// DaemonCLI, and what a library registers (the cache's section, metrics and counters).
let registry = ModuleRegistry.builtIn.adding(.cache).adding(ModuleRegistry([Unyielding.self, CacheReader.self]))
let arguments = Array(CommandLine.arguments.dropFirst())
LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }

if let invocation = ModuleProcess.Invocation(arguments) {
    let configuration = try Configuration.load(
        file: invocation.configurationFile, node: invocation.node, registry: registry)
    let outcome = await ModuleProcess.run(
        invocation, configuration: configuration, registry: registry, logger: Logger(label: invocation.module))
    exit(outcome.rawValue)
}
guard arguments.count == 3, arguments[0] == "run", arguments[1] == "--config" else {
    FileHandle.standardError.write(Data("usage: bare-daemon run --config FILE\n".utf8))
    exit(2)
}
let configuration = try Configuration.load(file: arguments[2], registry: registry)
let supervisor = Supervisor(
    configuration: configuration, options: Supervisor.Options(configurationFile: arguments[2]), registry: registry,
    logger: Logger(label: "supervisor"))
exit(try await supervisor.run())
