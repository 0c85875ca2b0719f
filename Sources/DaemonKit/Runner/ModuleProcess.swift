import Foundation
public import Logging

/// A module's whole process, as the supervisor starts it: the module under its runner, the lifeline that ends the
/// process when the supervisor dies, and SIGTERM's two steps. Any binary built on DaemonKit runs its children with
/// this, whether it uses pgdaemon's command line or not:
///
/// ```swift
/// if let invocation = ModuleProcess.Invocation(CommandLine.arguments.dropFirst()) {
///     let configuration = try Configuration.load(
///         file: invocation.configurationFile, node: invocation.node, registry: registry)
///     exit(await ModuleProcess.run(invocation, configuration: configuration, registry: registry, logger: logger).rawValue)
/// }
/// ```
public enum ModuleProcess {
    /// The arguments a supervisor gives each child (`module-run NAME --supervised --node NODE --config FILE`), written
    /// and read here only, so the two sides cannot drift apart.
    public struct Invocation: Sendable, Equatable {
        /// The module's name in the configuration.
        public var module: String
        public var node: String?
        public var configurationFile: String?
        /// Exit when standard input closes: set for the supervisor's children.
        public var supervised: Bool
        public var debug: Bool
        /// What the supervisor found the database URL to lead to (`--real-session`, `--pooled-session`; see
        /// `RealSession`), so that a singleton child needs no second connection to find out; nil: not looked at.
        public var realSession: Bool?

        public init(
            module: String, node: String? = nil, configurationFile: String? = nil, supervised: Bool = true,
            debug: Bool = false, realSession: Bool? = nil
        ) {
            self.module = module
            self.node = node
            self.configurationFile = configurationFile
            self.supervised = supervised
            self.debug = debug
            self.realSession = realSession
        }

        /// The command that names a child's invocation.
        public static let command = "module-run"

        /// The process arguments, after the executable.
        public var arguments: [String] {
            var arguments = [Self.command, module]
            if supervised { arguments.append("--supervised") }
            if let node { arguments += ["--node", node] }
            if let configurationFile { arguments += ["--config", configurationFile] }
            if debug { arguments.append("--debug") }
            if let realSession { arguments.append(realSession ? "--real-session" : "--pooled-session") }
            return arguments
        }

        /// Reads `arguments` (after the executable) as `arguments` writes them; `nil` when they are not a child's.
        public init?(_ arguments: some Sequence<String>) {
            var rest = Array(arguments)[...]
            guard rest.popFirst() == Self.command, let module = rest.popFirst(), !module.hasPrefix("--") else {
                return nil
            }
            self.init(module: module, supervised: false)
            while let option = rest.popFirst() {
                switch option {
                case "--supervised": supervised = true
                case "--debug": debug = true
                case "--real-session": realSession = true
                case "--pooled-session": realSession = false
                case "--node":
                    guard let value = rest.popFirst() else { return nil }
                    node = value
                case "--config":
                    guard let value = rest.popFirst() else { return nil }
                    configurationFile = value
                default: return nil
                }
            }
        }
    }

    /// Runs the invoked module until it ends and returns how, the process's exit status.
    ///
    /// The first SIGTERM asks the module to finish its work; the work is cancelled a second before the supervisor's
    /// `shutdown_timeout` would kill the process, or at a second SIGTERM. SIGINT is ignored: Ctrl-C reaches the whole
    /// process group, and the supervisor decides. A supervised process exits the moment the supervisor's end of its
    /// stdin closes, even when the supervisor died by SIGKILL.
    public static func run(
        _ invocation: Invocation, configuration: Configuration, registry: ModuleRegistry, logger: Logger
    ) async -> ModuleExit {
        guard let entry = configuration.modules.first(where: { $0.name == invocation.module }) else {
            logger.error(
                "No such module in the configuration.",
                metadata: [
                    "module": "\(invocation.module)",
                    "configured": "\(configuration.modules.map(\.name).joined(separator: ", "))",
                ])
            return .failed
        }
        if invocation.supervised { watchLifeline(logger: logger) }
        let runner = ModuleRunner(
            configuration: configuration, module: entry, registry: registry, logger: logger, debug: invocation.debug,
            realSession: invocation.realSession)
        signal(SIGINT, SIG_IGN)
        let signals = SignalStream([SIGTERM])
        defer { withExtendedLifetime(signals) {} }
        let sigterms = signals.signals
        let grace = max(configuration.daemon.shutdownTimeout - .seconds(1), .zero)
        // The work, the SIGTERM listener and the grace timer are children of one group: the first SIGTERM asks the
        // work to stop; a second, or the end of the grace, cancels the group, and so the work.
        return await withTaskGroup(of: Step.self) { group in
            group.addTask { .ended(await runner.run()) }
            group.addTask { [stop = runner.stop] in
                for await _ in sigterms {
                    if stop.isRequested { return .cancel }
                    stop.request()
                }
                return .quiet
            }
            group.addTask { [stop = runner.stop] in
                await stop.wait()
                guard !Task.isCancelled, (try? await Task.sleep(for: grace)) != nil else { return .quiet }
                logger.warning("Still running a second before shutdown_timeout; cancelling the work.")
                return .cancel
            }
            while let step = await group.next() {
                switch step {
                case .ended(let outcome):
                    group.cancelAll()
                    return outcome
                case .cancel: group.cancelAll()
                case .quiet: break
                }
            }
            return .stopped
        }
    }

    /// What a child of `run`'s group came to.
    private enum Step: Sendable {
        /// The module's work ended so.
        case ended(ModuleExit)
        /// A second SIGTERM, or the grace is over: cancel the work.
        case cancel
        /// Nothing to do (cancelled itself).
        case quiet
    }

    /// Exits the moment the supervisor's end of stdin closes: when the supervisor dies, even by SIGKILL.
    private static func watchLifeline(logger: Logger) {
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
