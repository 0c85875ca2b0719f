/// One entry of the configuration's `modules:`.
public struct ModuleConfiguration: Sendable, Equatable {
    /// The entry's key: the module's name on this node, in logs, `status` and `application_name`.
    public var name: String
    /// The registered module type it runs (`module:`, default: the key).
    public var type: String
    /// Whether it runs (`valid:`, default true): a module can stay configured but switched off, as in the seed.
    public var valid: Bool
    public var cluster: ClusterMode
    /// The pause after each iteration (`sleep_post:`).
    public var sleepPost: Duration
    /// How long one process serves before it is discarded and replaced (`discard_after:`, default 1h).
    public var discardAfter: Duration
    /// How long one iteration (PreRun, Run, PostRun) may run (`max_iteration:`, `none` for no bound; default the
    /// type's): past it a singleton stops renewing its lease, so a standby replaces it, and the supervisor ends the
    /// process and restarts it after the crash backoff.
    public var maxIteration: Duration?
    /// The module type's own settings.
    public var settings: ModuleSettings

    public init(
        name: String, type: String, valid: Bool = true, cluster: ClusterMode = .everyNode,
        sleepPost: Duration = .seconds(1), discardAfter: Duration = .seconds(3600),
        maxIteration: Duration? = .seconds(300), settings: ModuleSettings = .init()
    ) {
        self.name = name
        self.type = type
        self.valid = valid
        self.cluster = cluster
        self.sleepPost = sleepPost
        self.discardAfter = discardAfter
        self.maxIteration = maxIteration
        self.settings = settings
    }
}

/// The `daemon:` section.
public struct DaemonSettings: Sendable, Equatable {
    /// Written by `run` and `start`, read by `stop` and `status`; default `var/run/pgdaemon.pid`.
    public var pidFile = "var/run/pgdaemon.pid"
    /// Where `start` writes the supervisor's and each module's log; default `var/log/pgdaemon`.
    public var logDir = "var/log/pgdaemon"
    /// How old a singleton holder's lease may grow before a standby ends its sessions and takes over (default 10 s;
    /// longer than twice `SingletonLease.renewalInterval`).
    public var singletonLease: Duration = .seconds(10)
    /// Days a rotated log file is kept; default 7. Each log is rotated by day (see `LogFile`).
    public var logKeepDays = 7
    /// How long a stop lets running work finish before it kills what is left; default 30s.
    public var shutdownTimeout: Duration = .seconds(30)
    /// `host:port` for `/metrics` and `/health`; default none.
    public var http: String?
    /// How many connections `daemon.http` keeps open at once; a new one closes the one that has waited longest for
    /// its request. Default 64.
    public var httpMaxConnections = 64

    public init() {}
}
