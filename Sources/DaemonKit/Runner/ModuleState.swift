/// A module's state as `status` and `daemon_module_state.state` show it.
public enum ModuleState: String, Sendable, Codable {
    /// Its process is starting.
    case starting
    /// A singleton waiting for another node to let go.
    case standby
    case running
    /// PreRun is waiting for the database to answer.
    case waitingForDatabase = "waiting-for-db"
    /// It asked to be replaced; a fresh process follows at once.
    case discarding
    /// Crashed; restarting after a backoff.
    case restarting
    /// A singleton handed to other nodes by `pgdaemon drain`, until `undrain` or a restart.
    case drained
    /// Not running: the node stopped, or the module was removed from the configuration.
    case stopped
}
