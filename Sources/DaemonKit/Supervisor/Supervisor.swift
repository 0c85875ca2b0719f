public import Foundation
public import Logging
import Postgres

/// A node's supervisor: one child process per valid module, restarted when it is discarded (at once) or crashes (with
/// a capped backoff); SIGTERM and SIGINT stop it gracefully within `shutdown_timeout`, SIGHUP reloads the
/// configuration, SIGUSR1 drains the node (its singletons stop, so other nodes take them over) and SIGUSR2 ends the
/// drain.
///
/// ```swift
/// let registry = ModuleRegistry.builtIn.adding(.scheduler())
/// let configuration = try Configuration.load(file: "pgdaemon.yaml", node: nil, registry: registry)
/// let supervisor = Supervisor(
///     configuration: configuration, options: .init(configurationFile: "pgdaemon.yaml"), registry: registry,
///     logger: logger)
/// let exitCode = try await supervisor.run()
/// ```
///
/// Each child is this binary again, run as `module-run NAME --supervised` (`ModuleProcess.Invocation`), which the
/// binary hands to `ModuleProcess.run`; its stdin is a pipe the supervisor never writes, so when the supervisor dies,
/// even by SIGKILL, the child reads end-of-file and exits.
public actor Supervisor {
    /// How the supervisor was started.
    public struct Options: Sendable {
        /// The configuration file children re-read; `nil` for the default lookup.
        public var configurationFile: String?
        /// A `--node` given on the command line.
        public var node: String?
        public var debug = false
        /// When set, each module's output goes to `DIRECTORY/MODULE.log` instead of the supervisor's own output.
        public var logDirectory: String?
        /// The binary children run; default: this process's own.
        public var executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()

        public init(configurationFile: String? = nil, node: String? = nil) {
            self.configurationFile = configurationFile
            self.node = node
        }
    }

    private enum Event: Sendable {
        case exited(module: String, generation: Int, status: Int32, signaled: Bool)
        case restart(module: String, generation: Int)
        case signal(Int32)
        case heartbeat
        case heartbeatDone(HeartbeatOutcome)
        /// How long each module's current iteration has run, read after a heartbeat.
        case iterations([String: NodeRegistration.Iteration])
        /// A child ended for overrunning `max_iteration` had its grace: kill it if it still runs.
        case overrunDeadline(module: String, generation: Int)
        /// Time to tell systemd's watchdog that the supervisor's loop still turns.
        case watchdog
        case shutdownDeadline
    }

    private enum HeartbeatOutcome: Sendable {
        case written
        case failed(String)
        /// The server still kept this supervisor's earlier session; it was ended.
        case previousSession(String)
        case nameTaken(String)
    }

    private struct Child {
        var entry: ModuleConfiguration
        var generation: Int
        var process: ChildProcess?
        /// The write end of the child's stdin pipe: open while the child lives, so it reads end-of-file only when this
        /// process is gone.
        var lifeline: Int32?
        var started = ContinuousClock.now
        var backoff = RestartBackoff()
        /// Set when the child is stopped on purpose; `replacement` is started once it has exited.
        var stopping = false
        var replacement: ModuleConfiguration?
        /// Why it is being ended for an iteration past `max_iteration`; its exit then counts as a crash.
        var overrun: String?
    }

    private let options: Options
    private let registry: ModuleRegistry
    private let logger: Logger
    private var configuration: Configuration
    private var children: [String: Child] = [:]
    private var generation = 0
    private var stopping = false
    private var draining = false
    private var heartbeating = false
    /// Helpers waiting to join the loop's task group (`later`).
    private var pending: [@Sendable () async -> Void] = []
    private let systemd = SystemdNotifier()
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation

    /// The interval of `daemon_node.last_heartbeat` updates.
    public static let heartbeatInterval = Duration.seconds(5)

    public init(configuration: Configuration, options: Options, registry: ModuleRegistry, logger: Logger) {
        self.configuration = configuration
        self.options = options
        self.registry = registry
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
    }

    /// Runs until stopped; returns the process's exit code. Throws `PidFileHeld` when a live supervisor holds the pid
    /// file, and `NodeAlreadyRunning` when the node name is taken.
    public func run() async throws -> Int32 {
        // The pid file is taken before anything else, so of two supervisors started at once with one file, one runs
        // and the other is refused at once, naming the first.
        let pidFile = try PidFile(path: configuration.daemon.pidFile).lock()
        defer { pidFile.release() }
        let registration = try await registerWaitingForTheDatabase()
        if !registration.locksNodeName {
            logger.warning(
                "A transaction-pooling proxy is in the way: a second supervisor with this node name cannot be refused, and singletons will not run. Connect to PostgreSQL directly or through a session pooler."
            )
        }
        let signals = SignalStream([SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2])
        defer { withExtendedLifetime(signals) {} }
        let signalNumbers = signals.signals
        // The loop's helpers (the signals' forwarder, the heartbeat and watchdog tickers, each heartbeat, restart
        // and shutdown timers) are children of one task group, cancelled when the loop ends. A discarding group, as
        // nothing awaits their ends: a plain one keeps every finished child until `next()`, which leaked about 30 KB
        // a minute of heartbeats in a supervisor that runs for months.
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { [eventSink] in
                for await number in signalNumbers { eventSink.yield(.signal(number)) }
            }
            group.addTask { [eventSink] in
                while (try? await Task.sleep(for: Self.heartbeatInterval)) != nil { eventSink.yield(.heartbeat) }
            }
            if let interval = systemd.watchdogInterval {
                group.addTask { [eventSink] in
                    while (try? await Task.sleep(for: interval)) != nil { eventSink.yield(.watchdog) }
                }
            }
            defer { group.cancelAll() }
            try await serve(registration: registration, pidFile: pidFile, group: &group)
        }
        await registration.release()
        logger.notice("Supervisor stopped.", metadata: ["node": "\(configuration.node)"])
        return 0
    }

    /// Starts the modules and handles events until the node has stopped and every child has exited.
    private func serve(
        registration: NodeRegistration, pidFile: PidFile.Lock, group: inout ThrowingDiscardingTaskGroup<any Error>
    ) async throws {
        for entry in configuration.validModules {
            await start(entry, registration: registration)
        }
        try pidFile.publish(node: configuration.node)
        let statusServer = serveStatus(registration)
        defer { statusServer?.stop() }
        logger.notice(
            "Supervisor started.",
            metadata: ["node": "\(configuration.node)", "modules": "\(configuration.validModules.map(\.name))"])
        systemd.ready()

        for await event in events {
            switch event {
            case .exited(let module, let generation, let status, let signaled):
                await childExited(module, generation: generation, status: status, signaled: signaled, registration)
            case .restart(let module, let generation):
                if let child = children[module],
                    ChildExit.restartApplies(
                        sameGeneration: child.generation == generation, processRunning: child.process != nil,
                        nodeStopping: stopping, draining: draining, singleton: child.entry.cluster == .singleton)
                {
                    await start(child.entry, registration: registration, backoff: child.backoff)
                }
            case .signal(SIGHUP):
                await reload(registration)
            case .signal(SIGUSR1):
                await drain(true, registration)
            case .signal(SIGUSR2):
                await drain(false, registration)
                for entry in configuration.validModules where children[entry.name] == nil {
                    await start(entry, registration: registration)
                }
            case .signal:
                beginShutdown()
            case .watchdog:
                systemd.watchdog()
            case .heartbeat:
                // The heartbeat runs beside the loop: with the database silent, one try can wait out a 10 s timeout
                // twice, and signals, child exits and systemd's watchdog must not wait behind it. A tick that finds
                // the last heartbeat still running is skipped.
                guard !heartbeating else { break }
                heartbeating = true
                later { [eventSink, status = nodeStatus] in
                    let outcome: HeartbeatOutcome
                    do {
                        try await registration.heartbeat(status: status)
                        outcome = .written
                    } catch let error as PreviousSessionHoldsName {
                        outcome = .previousSession("\(error)")
                    } catch let error as NodeAlreadyRunning {
                        outcome = .nameTaken("\(error)")
                    } catch {
                        outcome = .failed("\(error)")
                    }
                    if case .written = outcome, let ages = try? await registration.iterations() {
                        eventSink.yield(.iterations(ages))
                    }
                    eventSink.yield(.heartbeatDone(outcome))
                }
            case .heartbeatDone(let outcome):
                heartbeating = false
                switch outcome {
                case .written: break
                case .failed(let error): logger.warning("Heartbeat failed.", metadata: ["error": "\(error)"])
                case .previousSession(let reason):
                    logger.warning(
                        "Taking the node's name back at the next heartbeat.", metadata: ["reason": "\(reason)"])
                case .nameTaken(let error):
                    logger.critical(
                        "Lost the node's name to another supervisor; stopping.", metadata: ["error": "\(error)"])
                    beginShutdown()
                }
            case .iterations(let ages):
                endOverrunningChildren(ages)
            case .overrunDeadline(let module, let generation):
                if let child = children[module], child.generation == generation, child.process?.signal(SIGKILL) == true
                {
                    logger.warning(
                        "Killed a module that went on past max_iteration.", metadata: ["module": "\(module)"])
                }
            case .shutdownDeadline:
                let late = children.values.filter { $0.process != nil }
                if !late.isEmpty {
                    logger.warning(
                        "shutdown_timeout reached; killing the modules still running.",
                        metadata: ["modules": "\(late.map(\.entry.name).sorted())"])
                }
                for child in late {
                    child.process?.signal(SIGKILL)
                }
            }
            for work in pending { group.addTask(operation: work) }
            pending = []
            if stopping && children.values.allSatisfy({ $0.process == nil }) { break }
        }
    }

    /// Ends each child whose current iteration has run past its `max_iteration`: SIGTERM, then SIGKILL after the
    /// grace of `shutdown_timeout`. Its exit counts as a crash, with the reason, and it restarts after the backoff.
    private func endOverrunningChildren(_ ages: [String: NodeRegistration.Iteration]) {
        guard !stopping else { return }
        for (module, age) in ages {
            guard var child = children[module], !child.stopping, child.overrun == nil, let process = child.process,
                process.pid == age.pid, let limit = child.entry.maxIteration, age.age > limit
            else { continue }
            let reason =
                "ended: an iteration ran \(DurationText.format(age.age)), past max_iteration \(DurationText.format(limit))"
            logger.error(
                "A module's iteration ran past max_iteration; ending its process.",
                metadata: ["module": "\(module)", "reason": "\(reason)"])
            child.overrun = reason
            children[module] = child
            process.signal(SIGTERM)
            post(
                .overrunDeadline(module: module, generation: child.generation),
                after: configuration.daemon.shutdownTimeout)
        }
    }

    /// Work for the loop's task group, added after the current event: `serve` holds the group.
    private func later(_ work: @escaping @Sendable () async -> Void) {
        pending.append(work)
    }

    /// Sends `event` to the loop after `delay`, unless the loop has ended by then.
    private func post(_ event: Event, after delay: Duration) {
        later { [eventSink] in
            guard (try? await Task.sleep(for: delay)) != nil else { return }
            eventSink.yield(event)
        }
    }

    private func start(_ entry: ModuleConfiguration, registration: NodeRegistration, backoff: RestartBackoff = .init())
        async
    {
        generation += 1
        var child = Child(entry: entry, generation: generation, backoff: backoff)
        let arguments = ModuleProcess.Invocation(
            module: entry.name, node: configuration.node, configurationFile: configuration.file, debug: options.debug,
            realSession: registration.locksNodeName
        ).arguments
        var output = ChildProcess.Stream.inherit
        if let directory = options.logDirectory,
            let path = try? LogFile.prepare(
                directory: directory, name: entry.name, keepDays: configuration.daemon.logKeepDays)
        {
            output = .file(path)
        }
        let name = entry.name
        let generation = generation
        let store = await registration.stateStore(module: entry.name)
        var lifeline: [Int32] = [-1, -1]
        do {
            guard pipe(&lifeline) == 0 else { throw POSIXError(.EMFILE) }
            for end in lifeline { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
            let process = try ChildProcess(
                executable: options.executable.path, arguments: arguments, stdin: .descriptor(lifeline[0]),
                stdout: output, stderr: output
            ) { [eventSink] raw in
                let signal = ChildProcess.signal(of: raw)
                eventSink.yield(
                    .exited(
                        module: name, generation: generation, status: signal ?? ChildProcess.exitCode(of: raw),
                        signaled: signal != nil))
            }
            close(lifeline[0])
            child.process = process
            child.lifeline = lifeline[1]
            child.started = .now
            await store.report(.starting, pid: process.pid)
        } catch {
            for end in lifeline where end >= 0 { close(end) }
            logger.error("Cannot start the module's process.", metadata: ["module": "\(name)", "error": "\(error)"])
            child.process = nil
            let delay = child.backoff.delay(afterCrashWithUptime: .zero)
            restart(child, after: delay)
        }
        children[name] = child
    }

    private func childExited(
        _ module: String, generation: Int, status: Int32, signaled: Bool, _ registration: NodeRegistration
    ) async {
        guard var child = children[module], child.generation == generation else { return }
        child.process = nil
        if let lifeline = child.lifeline { close(lifeline) }
        child.lifeline = nil
        let store = await registration.stateStore(module: module)
        let decision = ChildExit.decide(
            status: status, signaled: signaled, uptime: child.started.duration(to: .now), nodeStopping: stopping,
            childStopping: child.stopping, hasReplacement: child.replacement != nil, draining: draining,
            singleton: child.entry.cluster == .singleton, overrun: child.overrun, backoff: &child.backoff)
        child.overrun = nil
        switch decision {
        case .stopped(let drained, let then):
            await store.report(drained ? .drained : .stopped, pid: 0)
            switch then {
            case .keep: children[module] = child
            case .forget: children[module] = nil
            case .startReplacement:
                children[module] = child
                await start(child.replacement!, registration: registration)
            }
        case .discarded:
            await store.countExit(discarded: true, error: nil)
            await start(child.entry, registration: registration, backoff: child.backoff)
        case .discardedTooSoon(let delay):
            await store.countExit(discarded: true, error: nil)
            restart(child, after: delay)
            children[module] = child
        case .crashed(let reason, let delay):
            logger.warning(
                "A module's process ended unexpectedly.", metadata: ["module": "\(module)", "reason": "\(reason)"])
            await store.countExit(discarded: false, error: "process \(reason)")
            restart(child, after: delay)
            children[module] = child
        }
    }

    /// Restarts the child's generation after `delay`, unless something replaced it meanwhile.
    private func restart(_ child: Child, after delay: Duration) {
        post(.restart(module: child.entry.name, generation: child.generation), after: delay)
    }

    /// Registers the node, waiting while the database does not answer (it may be restarting, or start after this
    /// node), as the modules wait in PreRun: every try is logged, and the waits grow from 250 ms to 5 s.
    private func registerWaitingForTheDatabase() async throws -> NodeRegistration {
        var backoff = Backoff(initial: .milliseconds(250), cap: .seconds(5))
        while true {
            do {
                return try await NodeRegistration.register(configuration)
            } catch let error as PostgresError where error.isConnectionError {
                logger.warning(
                    "Cannot reach the database to register the node; retrying.", metadata: ["error": "\(error)"])
                try await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Serves `/metrics` and `/health` on `daemon.http`, when it is set. A port that cannot be had is logged, and the
    /// node runs on without them (a reload does not change the address; a restart does).
    private func serveStatus(_ registration: NodeRegistration) -> StatusServer? {
        guard let text = configuration.daemon.http, let address = HTTPAddress(text) else { return nil }
        let status = NodeStatus(configuration: configuration, registry: registry, registration: registration)
        do {
            let limits = StatusServer.Limits(connections: configuration.daemon.httpMaxConnections)
            let server = try StatusServer(address: address, limits: limits) { path in await status.respond(to: path) }
            logger.notice("Serving /metrics and /health.", metadata: ["http": "\(address)"])
            return server
        } catch {
            logger.error("Cannot serve daemon.http.", metadata: ["http": "\(address)", "error": "\(error)"])
            return nil
        }
    }

    private func beginShutdown() {
        guard !stopping else { return }
        stopping = true
        systemd.stopping()
        logger.notice(
            "Stopping.", metadata: ["shutdown_timeout": "\(DurationText.format(configuration.daemon.shutdownTimeout))"])
        for child in children.values {
            child.process?.signal(SIGTERM)
        }
        post(.shutdownDeadline, after: configuration.daemon.shutdownTimeout)
    }

    /// Re-reads the configuration; an invalid file is reported and the running configuration kept. Removed modules
    /// stop, added ones start, changed ones restart.
    private func reload(_ registration: NodeRegistration) async {
        let fresh: Configuration
        do {
            fresh = try Configuration.load(file: options.configurationFile, node: options.node, registry: registry)
        } catch {
            logger.error(
                "Reload refused: the configuration is invalid; keeping the running one.",
                metadata: ["error": "\(error)"])
            return
        }
        let wanted = Dictionary(uniqueKeysWithValues: fresh.validModules.map { ($0.name, $0) })
        // A module reads the libraries' sections (cron:, queues:, …) when it starts: when they changed, every module
        // starts again, as one whose own entry changed.
        let sectionsChanged = fresh.sectionsHash != configuration.sectionsHash
        configuration = fresh
        for (name, var child) in children where !child.stopping {
            guard let entry = wanted[name] else {
                stop(&child, replacement: nil)
                children[name] = child
                continue
            }
            if entry != child.entry || sectionsChanged {
                stop(&child, replacement: entry)
                children[name] = child
            }
        }
        for (name, entry) in wanted where children[name] == nil && !(draining && entry.cluster == .singleton) {
            await start(entry, registration: registration)
        }
        try? await registration.heartbeat(configHash: fresh.hash)
        logger.notice(
            "Configuration reloaded.",
            metadata: ["modules": "\(fresh.validModules.map(\.name))", "sections_changed": "\(sectionsChanged)"])
    }

    /// `daemon_node.status`: running, drained, or stopping.
    private var nodeStatus: String {
        stopping ? "stopping" : draining ? "drained" : "running"
    }

    /// Starts or ends a drain: the node's singletons stop (handing over to other nodes at once) and are not started
    /// again until the drain ends; its every-node modules keep running.
    private func drain(_ on: Bool, _ registration: NodeRegistration) async {
        guard draining != on, !stopping else { return }
        draining = on
        try? await registration.heartbeat(status: nodeStatus)
        logger.notice(on ? "Draining: handing this node's singletons to other nodes." : "Drain ended.")
        guard on else { return }
        for (name, var child) in children where child.entry.cluster == .singleton && !child.stopping {
            stop(&child, replacement: nil)
            children[name] = child
        }
    }

    private func stop(_ child: inout Child, replacement: ModuleConfiguration?) {
        child.stopping = true
        child.replacement = replacement
        if let process = child.process {
            process.signal(SIGTERM)
        } else if let replacement {
            // Waiting for a restart after a crash: nothing to stop, so the replacement starts on the next event.
            child.entry = replacement
            child.stopping = false
            child.replacement = nil
        }
    }
}
