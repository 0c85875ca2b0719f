/// How a module process ended, as its exit status tells the supervisor.
public enum ModuleExit: Int32, Sendable {
    /// Asked to stop (SIGTERM): not restarted.
    case stopped = 0
    /// Could not start (an unknown module, a configuration that no longer loads): restarted after a backoff.
    case failed = 1
    /// Discarded by a step or by `discard_after`: restarted at once.
    case discarded = 75
    /// Discarded because a step threw: restarted at once, unless it ran for less than a second, when the crash
    /// backoff applies, so that a step failing every time does not spin.
    case discardedAfterError = 74
    /// Its supervisor died: nobody restarts it.
    case orphaned = 76
}
