import Foundation
public import Logging
import Postgres

/// Runs one module in the current process, from its creation to its discard: the child side of the supervisor.
///
/// The process serves one module instance: PreRun, Run and PostRun loop until a step discards or throws, or until
/// `discard_after` has passed. Cancelling the task (the child's SIGTERM) ends the current step at its next wait and
/// returns `.stopped`.
public struct ModuleRunner: Sendable {
    public let configuration: Configuration
    public let module: ModuleConfiguration
    public let registry: ModuleRegistry
    public let logger: Logger
    public let debug: Bool
    /// Whether the database URL leads to real sessions, as the supervisor found at its start (`RealSession`); nil
    /// when no supervisor looked, and a singleton looks for itself.
    public let realSession: Bool?
    /// Raise it to make the module finish its current work and stop (the child's SIGTERM).
    public let stop = StopRequest()

    public init(
        configuration: Configuration, module: ModuleConfiguration, registry: ModuleRegistry, logger: Logger,
        debug: Bool, realSession: Bool? = nil
    ) {
        self.configuration = configuration
        self.module = module
        self.registry = registry
        self.logger = logger
        self.debug = debug
        self.realSession = realSession
    }

    public func run() async -> ModuleExit {
        guard registry[module.type] != nil else {
            logger.error("Unknown module type.", metadata: ["module.type": "\(module.type)"])
            return .failed
        }
        let database: Connection
        do {
            database = try await connectWaiting()
        } catch {
            return .stopped
        }
        let state = ModuleStateStore(database: database, node: configuration.node, module: module.name)
        var lock: SingletonLock?
        var fence: Fence?
        if module.cluster == .singleton {
            let singleton = SingletonLock(configuration: configuration, module: module.name, connection: database)
            do {
                lock = singleton
                try await singleton.checkRealSession(known: realSession)
                await state.report(.standby)
                guard
                    let acquired = try await stop.unlessStopped({ [self] in
                        try await acquire(singleton, watching: database)
                    })
                else { throw CancellationError() }
                fence = acquired
                logger.notice("Took over the singleton.", metadata: ["epoch": "\(fence!.epoch)"])
            } catch {
                await lock?.release()
                await database.close()
                if Task.isCancelled || stop.isRequested { return .stopped }
                logger.error("Cannot run as the singleton.", metadata: ["error": "\(error)"])
                await state.report(.restarting, lastError: "\(error)")
                return .failed
            }
        }
        await state.report(.running)
        let context = ModuleContext(
            configuration: configuration, module: module, logger: logger, database: database, debug: debug,
            fence: fence, stop: stop, state: state)
        let counters = CounterFlusher(
            database: database, node: configuration.node, module: module.name, sources: registry.counters)
        let iteration = IterationClock()
        let outcome = await withTaskGroup(of: Void.self) { group in
            group.addTask { await counters.flushPeriodically() }
            if let lock { group.addTask { await renewLease(lock, iteration: iteration) } }
            // The periodic flush ends first: a flush cut short puts its counts back, and the last one takes them all.
            defer { group.cancelAll() }
            return await serve(context: context, lock: lock, iteration: iteration)
        }
        await counters.flush()
        if case .discarded = outcome { await state.report(.discarding) }
        await lock?.release()
        await database.close()
        return outcome
    }

    /// Connects, retrying with a backoff while the database is unreachable, as PreRun would; a stop ends the wait.
    private func connectWaiting() async throws -> Connection {
        var backoff = Backoff.waitingForTheDatabase
        while true {
            do {
                return try await Connection.connect(configuration.connectionOptions(purpose: module.name))
            } catch let error as PostgresError {
                logger.warning("Cannot connect to the database; retrying.", metadata: ["error": "\(error)"])
                if try await stop.sleep(for: backoff.next()) { throw CancellationError() }
            }
        }
    }

    /// Waits for the singleton's lock. Every tenth of `singleton_lease` the wait pauses for a look at the holder's
    /// lease on the same session, and once the lease is older, ends the holder's sessions, which grants the next wait.
    private func acquire(_ lock: SingletonLock, watching database: Connection) async throws -> Fence {
        let lease = configuration.daemon.singletonLease
        // A refusal (the schema's owner may not end the nodes' sessions) is logged once until it passes.
        var refused = false
        while true {
            if let fence = try await lock.acquire(
                node: configuration.node, waitingAtMost: SingletonLease.checkInterval(lease: lease))
            {
                return fence
            }
            do {
                if let ended = try await SingletonLease.endStale(module: module.name, lease: lease, on: database) {
                    logger.warning(
                        "Ended the sessions of a holder whose lease ran out; taking over.",
                        metadata: [
                            "holder_backend_pid": "\(ended)", "singleton_lease": "\(DurationText.format(lease))",
                        ])
                }
                refused = false
            } catch {
                if Task.isCancelled { throw CancellationError() }
                if !refused {
                    logger.error(
                        "Cannot end the sessions of a holder whose lease ran out.", metadata: ["error": "\(error)"])
                }
                refused = true
            }
        }
    }

    /// Renews the singleton's lease on a timer of its own, whatever the iteration is doing, until an iteration runs
    /// past `max_iteration`: then a standby takes over within `singleton_lease`, and the supervisor ends this process.
    /// The renewal shares the module's session: it waits for the statement running there, and tries again every
    /// tenth of a second while the module holds a transaction open.
    private func renewLease(_ lock: SingletonLock, iteration: IterationClock) async {
        var overran = false
        var wait = SingletonLease.renewalInterval
        while (try? await Task.sleep(for: wait)) != nil {
            wait = SingletonLease.renewalInterval
            if let limit = module.maxIteration, iteration.elapsed > limit {
                if !overran {
                    logger.warning(
                        "The iteration ran past max_iteration; no longer renewing the singleton's lease.",
                        metadata: ["max_iteration": "\(DurationText.format(limit))"])
                }
                overran = true
            } else {
                overran = false
                if case .busy = await lock.renew() { wait = .milliseconds(100) }
            }
        }
    }

    private func serve(context: ModuleContext, lock: SingletonLock?, iteration: IterationClock) async -> ModuleExit {
        let started = ContinuousClock.now
        let instance: any DaemonModule
        do {
            guard let made = try await registry.make(module.type, context: context) else { return .failed }
            instance = made
        } catch {
            return await failed(error, step: "init", state: context.state, exit: Task.isCancelled ? .stopped : .failed)
        }
        logger.info("Module started.", metadata: ["pid": "\(getpid())"])
        while true {
            iteration.begin()
            // A holder that lost its lock connection, or whose lock is gone, must stop acting as the holder.
            if let lock, !(await lock.stillHeld()) {
                logger.warning("Lost the singleton lock; discarding.")
                return .discarded
            }
            for (name, step) in [("preRun", instance.preRun), ("run", instance.run), ("postRun", instance.postRun)] {
                do {
                    if case .discard(let reason) = try await step() {
                        logger.info("Discarded by its step.", metadata: ["step": "\(name)", "reason": "\(reason)"])
                        return .discarded
                    }
                } catch {
                    return await failed(error, step: name, state: context.state, exit: .discardedAfterError)
                }
                if stop.isRequested { return .stopped }
            }
            // A holder whose database connection just failed discards itself now: checking its lock connection next
            // would wait out a second network timeout (10 s each when the network went silent).
            if !(await context.state.countIteration()), lock != nil {
                logger.warning("Lost the database connection; discarding the singleton.")
                return .discarded
            }
            if debug {
                logger.debug(
                    "Iteration done.", metadata: ["discard.in": "\(module.discardAfter - started.duration(to: .now))"])
            }
            if ContinuousClock.now - started >= module.discardAfter {
                logger.info(
                    "Discarded after discard_after.",
                    metadata: ["discard_after": "\(DurationText.format(module.discardAfter))"])
                return .discarded
            }
        }
    }

    /// A thrown step: a stop request when the task was cancelled, else an error that is logged and recorded.
    ///
    /// A server out of disk, memory or connections fails every module's writes alike, and nothing in the modules can
    /// help: the process shows `waiting-for-db` with the error (so `/health` answers 503 naming it) and waits the
    /// database backoff's longest step before it ends, so that a fresh process tries again every few seconds (a
    /// process that ran a second is restarted at once), not in a loop of errors.
    private func failed(_ error: any Error, step: String, state: ModuleStateStore, exit: ModuleExit) async -> ModuleExit
    {
        if Task.isCancelled || error is CancellationError || stop.isRequested { return .stopped }
        if let error = error as? PostgresError, error.isOutOfResources {
            logger.warning(
                "The database is out of resources; trying again in a fresh process shortly.",
                metadata: ["step": "\(step)", "error": "\(error)"])
            await state.report(.waitingForDatabase, lastError: "\(step): \(error)")
            let stopped = (try? await stop.sleep(for: Backoff.waitingForTheDatabase.cap)) ?? true
            return stopped ? .stopped : exit
        }
        logger.error("A step failed.", metadata: ["step": "\(step)", "error": "\(error)"])
        await state.report(.discarding, lastError: "\(step): \(error)")
        return exit
    }
}
