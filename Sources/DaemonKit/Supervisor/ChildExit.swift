/// What the supervisor makes of a module process that ended, decided from values alone (the exit, how long the
/// process ran, whether it was being stopped), so that every case is unit-tested; the supervisor carries it out.
enum ChildExit: Equatable {
    /// What happens to a child stopped on purpose once it has exited.
    enum AfterStop: Equatable {
        /// A reload changed its entry: the new one starts now.
        case startReplacement
        /// Removed by a reload, or a singleton handed over by a drain: forgotten until a reload or the drain's end.
        case forget
        /// The node is stopping: it stays, stopped, until the supervisor ends.
        case keep
    }

    /// Stopped on purpose: recorded as stopped, or drained for a singleton of a draining node.
    case stopped(drained: Bool, then: AfterStop)
    /// Discarded by a step, by `discard_after`, or after an error once it had run a second: restarted at once.
    case discarded
    /// Discarded after an error within its first second: restarted after the crash backoff, so that a step failing
    /// every time does not spin.
    case discardedTooSoon(restartAfter: Duration)
    /// Killed by a signal or exited with a status of no module's: logged, counted, restarted after the crash backoff.
    case crashed(reason: String, restartAfter: Duration)

    /// A process's end: its status (the signal's number when `signaled`), how long it ran, whether it was being
    /// stopped and why, or ended for an iteration past `max_iteration` (`overrun`, the reason). `backoff` counts
    /// crashes in a row and gives their delays.
    static func decide(
        status: Int32, signaled: Bool, uptime: Duration, nodeStopping: Bool, childStopping: Bool,
        hasReplacement: Bool, draining: Bool, singleton: Bool, overrun: String? = nil, backoff: inout RestartBackoff
    ) -> ChildExit {
        if nodeStopping || childStopping {
            let then: AfterStop = nodeStopping ? .keep : hasReplacement ? .startReplacement : .forget
            return .stopped(drained: draining && singleton, then: then)
        }
        if let overrun { return .crashed(reason: overrun, restartAfter: backoff.delay(afterCrashWithUptime: uptime)) }
        if !signaled && status == ModuleExit.discarded.rawValue { return .discarded }
        if !signaled && status == ModuleExit.discardedAfterError.rawValue {
            if uptime >= .seconds(1) { return .discarded }
            return .discardedTooSoon(restartAfter: backoff.delay(afterCrashWithUptime: uptime))
        }
        let reason = signaled ? "killed by signal \(status)" : "exited with status \(status)"
        return .crashed(reason: reason, restartAfter: backoff.delay(afterCrashWithUptime: uptime))
    }

    /// Whether a restart whose backoff ran out still applies: the same process generation is still down, and the node
    /// is neither stopping nor draining the singleton.
    static func restartApplies(
        sameGeneration: Bool, processRunning: Bool, nodeStopping: Bool, draining: Bool, singleton: Bool
    ) -> Bool {
        sameGeneration && !processRunning && !nodeStopping && !(draining && singleton)
    }
}
