import ArgumentParser
import DaemonKit
import Foundation
import Logging

/// `pgdaemon run`: the supervisor in the foreground.
struct Run: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run this node's daemon in the foreground (for systemd and containers); Ctrl-C or SIGTERM stops it.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Log more, including each module's countdown to its discard.")
    var debug = false

    @Flag(help: .hidden)
    var detached = false

    func run(_ registry: ModuleRegistry) async throws {
        let configuration = try global.loadConfiguration(registry)
        if detached { setsid() }
        let makeLogger = bootstrapLogging(debug: debug)
        var options = Supervisor.Options(configurationFile: configuration.file, node: global.node)
        options.debug = debug
        if detached { options.logDirectory = configuration.daemon.logDir }
        let supervisor = Supervisor(
            configuration: configuration, options: options, registry: registry,
            logger: makeLogger("supervisor"))
        let code = try await supervisor.run()
        if code != 0 { throw ExitCode(code) }
    }
}

/// `pgdaemon module-run NAME`: one module in this process; what the supervisor's children run (`ModuleProcess`).
struct ModuleRun: DaemonCommand {
    static let configuration = CommandConfiguration(
        commandName: ModuleProcess.Invocation.command, abstract: "Run one configured module in this process.",
        shouldDisplay: false)

    @Argument(
        parsing: .captureForPassthrough,
        help:
            "NAME [--supervised] [--node NODE] [--config FILE] [--debug] [--real-session | --pooled-session], as the supervisor writes them."
    )
    var arguments: [String] = []

    func run(_ registry: ModuleRegistry) async throws {
        guard let invocation = ModuleProcess.Invocation([ModuleProcess.Invocation.command] + arguments) else {
            throw CommandFailure.usage(
                "module-run takes NAME [--supervised] [--node NODE] [--config FILE] [--debug] [--real-session | --pooled-session], not \(arguments.joined(separator: " "))."
            )
        }
        let configuration = try Configuration.load(
            file: invocation.configurationFile, node: invocation.node, registry: registry)
        let logger = bootstrapLogging(debug: invocation.debug)(invocation.module)
        let outcome = await ModuleProcess.run(
            invocation, configuration: configuration, registry: registry, logger: logger)
        throw ExitCode(outcome.rawValue)
    }
}
