import ArgumentParser
import DaemonKit
import Foundation
import Logging

/// `pgdaemon run`: the supervisor in the foreground.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run this node's daemon in the foreground (for systemd and containers); Ctrl-C or SIGTERM stops it.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Log more, including each module's countdown to its discard.")
    var debug = false

    @Flag(help: .hidden)
    var detached = false

    func run() async throws {
        let configuration = try global.loadConfiguration()
        if detached { setsid() }
        let makeLogger = bootstrapLogging(debug: debug)
        var options = Supervisor.Options(configurationFile: configuration.file, node: global.node)
        options.debug = debug
        if detached { options.logDirectory = configuration.daemon.logDir }
        let supervisor = Supervisor(
            configuration: configuration, options: options, registry: CommandEnvironment.registry,
            logger: makeLogger("supervisor"))
        let code = try await supervisor.run()
        if code != 0 { throw ExitCode(code) }
    }
}

/// `pgdaemon module-run NAME`: one module in this process; what the supervisor's children run.
struct ModuleRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "module-run", abstract: "Run one configured module in this process.", shouldDisplay: false)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The module's name in the configuration.")
    var module: String

    @Flag(help: "Exit when standard input closes: the supervisor's lifeline.")
    var supervised = false

    @Flag(help: "Log more.")
    var debug = false

    func run() async throws {
        let configuration = try global.loadConfiguration()
        guard let entry = configuration.modules.first(where: { $0.name == module }) else {
            throw CommandFailure.usage(
                "No module \(module) in the configuration; configured: \(configuration.modules.map(\.name).joined(separator: ", "))."
            )
        }
        let makeLogger = bootstrapLogging(debug: debug)
        let logger = makeLogger(entry.name)
        if supervised { watchLifeline(logger: logger) }
        let runner = ModuleRunner(
            configuration: configuration, module: entry, registry: CommandEnvironment.registry, logger: logger,
            debug: debug)
        let task = Task { await runner.run() }
        // Ctrl-C reaches the whole process group; the supervisor decides, and sends SIGTERM.
        signal(SIGINT, SIG_IGN)
        let signals = SignalStream([SIGTERM])
        // The first SIGTERM asks the module to finish its work; it is cancelled a second before the supervisor's
        // shutdown_timeout would kill it, or at a second SIGTERM.
        let grace = max(configuration.daemon.shutdownTimeout - .seconds(1), .zero)
        let stopper = Task { [stream = signals.signals, stop = runner.stop] in
            var deadline: Task<Void, any Error>?
            for await _ in stream {
                if stop.isRequested {
                    task.cancel()
                } else {
                    stop.request()
                    deadline = Task {
                        try await Task.sleep(for: grace)
                        logger.warning("Still running a second before shutdown_timeout; cancelling the work.")
                        task.cancel()
                    }
                }
            }
            deadline?.cancel()
        }
        let outcome = await task.value
        stopper.cancel()
        withExtendedLifetime(signals) {}
        throw ExitCode(outcome.rawValue)
    }

    /// Exits the moment the supervisor's end of stdin closes: when the supervisor dies, even by SIGKILL.
    private func watchLifeline(logger: Logger) {
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 64)
            while read(STDIN_FILENO, &buffer, buffer.count) > 0 {}
            logger.warning("The supervisor is gone; exiting.")
            _exit(ModuleExit.orphaned.rawValue)
        }
        thread.name = "lifeline"
        thread.start()
    }
}
