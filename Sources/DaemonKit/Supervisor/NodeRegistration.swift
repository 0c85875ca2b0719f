public import Foundation
public import Postgres

/// A node's registration in the cluster: the advisory lock on its name, which refuses a second supervisor with the same
/// name, and its `daemon_node` row with a heartbeat from the database clock.
public actor NodeRegistration {
    public let configuration: Configuration
    /// The supervisor's one session: the node's lock, its heartbeats, and `/health` and `/metrics`.
    let connection: Connection
    private let lock: AdvisoryLockKey
    /// False behind a transaction-pooling proxy, where a session lock on the node's name would outlive this
    /// supervisor on a pooled server connection: the name is then not locked, and duplicates are not refused.
    public let locksNodeName: Bool
    /// Whether this supervisor holds its name now: false from a lost connection until the name is taken again.
    private var holdsName = false
    /// When this run started, as `daemon_node.started_at` records it: with the host and pid, what tells this run's
    /// own earlier session apart from another supervisor.
    private var startedAt: Date?
    /// Why the last heartbeat failed; nil once one is written. A server whose disk is full still answers the reads
    /// of `/health`, and this is how `/health` learns that the node cannot write.
    public private(set) var heartbeatFailure: String?

    /// The version `daemon_node.version` shows.
    public static let version = "0.1.0"

    /// The lock key of a node name.
    public static func lockKey(node: String) -> AdvisoryLockKey {
        AdvisoryLockKey(namespace: AdvisoryLocks.nodeNamespace, name: node)
    }

    /// Takes the node's name, or throws `NodeAlreadyRunning` naming the live supervisor, and records the node as
    /// running. The module rows of the node's previous run are cleared: counters start with the supervisor.
    public static func register(_ configuration: Configuration) async throws -> NodeRegistration {
        let connection = try await Connection.connect(
            configuration.connectionOptions(purpose: "supervisor"))
        let realSession = try await RealSession.verify(
            connection, configuration: configuration, purpose: "supervisor/probe")
        let registration = NodeRegistration(
            configuration: configuration, connection: connection, locksNodeName: realSession)
        // A supervisor of this machine killed a moment ago leaves its session to the server until the server reads the
        // closed socket: a restart at once (systemd's, an operator's) waits for that, up to 5 s, instead of failing.
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                try await registration.claim(firstTime: true)
                return registration
            } catch let error as NodeAlreadyRunning where error.isGoneProcessOfThisHost && .now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    private init(configuration: Configuration, connection: Connection, locksNodeName: Bool) {
        self.configuration = configuration
        self.connection = connection
        self.locksNodeName = locksNodeName
        self.lock = Self.lockKey(node: configuration.node)
    }

    /// Takes the node's name and marks the node running. The first time, the run starts: `started_at` is now and
    /// the previous run's module rows go. After a reconnect the run goes on, and the rows that the modules keep
    /// counting in stay.
    private func claim(firstTime: Bool) async throws {
        let node = configuration.node
        let claimed = locksNodeName ? try await connection.tryAdvisoryLock(lock) : true
        guard claimed else {
            let rows = try await connection.query(
                "SELECT host, pid, started_at FROM daemon_node WHERE name = \(node)")
            let (host, pid, since) = (
                try rows.first?.decode(String?.self, "host"), try rows.first?.decode(Int?.self, "pid"),
                try rows.first?.decode(Date?.self, "started_at")
            )
            if !firstTime, host == ProcessInfo.processInfo.hostName, pid == Int(getpid()), since == startedAt {
                try await endPreviousSession()
                throw PreviousSessionHoldsName(node: node)
            }
            throw NodeAlreadyRunning(node: node, host: host, pid: pid, since: since)
        }
        startedAt = try await connection.transaction { [configuration] connection in
            let started = try await connection.query(
                """
                INSERT INTO daemon_node AS n (name, host, pid, version, config_hash, started_at, last_heartbeat, status)
                VALUES (\(node), \(ProcessInfo.processInfo.hostName), \(Int(getpid())), \(Self.version),
                        \(configuration.hash), now(), now(), 'running')
                ON CONFLICT (name) DO UPDATE
                SET host = EXCLUDED.host, pid = EXCLUDED.pid, version = EXCLUDED.version,
                    config_hash = EXCLUDED.config_hash, last_heartbeat = now(), status = 'running',
                    started_at = CASE WHEN \(firstTime)::boolean THEN now() ELSE n.started_at END
                RETURNING started_at
                """)[0].decode(Date.self, "started_at")
            if firstTime {
                try await connection.execute("DELETE FROM daemon_module_state WHERE node = \(node)")
            }
            return started
        }
        holdsName = true
    }

    /// Ends the session that still holds this node's name on the server's side although this supervisor has left it
    /// (a network partition: the server has not noticed yet). A role may end its own sessions.
    private func endPreviousSession() async throws {
        try await connection.execute(
            """
            SELECT pg_terminate_backend(pid) FROM pg_locks WHERE \(lock.grantedInPgLocks) AND pid <> pg_backend_pid()
            """)
    }

    /// Writes the heartbeat. After a lost connection it reconnects and takes the node's lock again; it throws
    /// `NodeAlreadyRunning` when another supervisor took the name meanwhile, and `PreviousSessionHoldsName` while the
    /// server still keeps this supervisor's own earlier session (the next heartbeat takes the name).
    public func heartbeat(status: String = "running", configHash: String? = nil) async throws {
        do {
            if !(await connection.ping()) {
                holdsName = false
                try await connection.reconnect()
            }
            if !holdsName { try await claim(firstTime: false) }
            try await connection.execute(
                """
                UPDATE daemon_node SET last_heartbeat = now(), status = \(status),
                       config_hash = coalesce(\(configHash), config_hash)
                WHERE name = \(configuration.node)
                """)
            heartbeatFailure = nil
        } catch {
            heartbeatFailure = "\(error)"
            throw error
        }
    }

    /// A module process's pid (its row's writer) and how long its current iteration has run.
    public struct Iteration: Sendable {
        public var pid: Int32
        public var age: Duration
    }

    /// Each running module process's current iteration, by module name, from
    /// `daemon_module_state.iteration_started_at`.
    public func iterations() async throws -> [String: Iteration] {
        var ages: [String: Iteration] = [:]
        for row in try await connection.query(
            """
            SELECT module, pid, extract(epoch FROM now() - iteration_started_at)::float8 AS age
            FROM daemon_module_state
            WHERE node = \(configuration.node) AND state = 'running' AND pid IS NOT NULL
              AND iteration_started_at IS NOT NULL
            """)
        {
            ages[try row.decode(String.self, "module")] = Iteration(
                pid: try row.decode(Int32.self, "pid"), age: .seconds(try row.decode(Double.self, "age")))
        }
        return ages
    }

    /// A store for a module's row, on the supervisor's connection.
    public func stateStore(module: String) -> ModuleStateStore {
        ModuleStateStore(database: connection, node: configuration.node, module: module)
    }

    /// Records the node as stopped and lets go of its name.
    public func release() async {
        _ = try? await connection.execute(
            "UPDATE daemon_module_state SET state = 'stopped', pid = NULL, since = now() WHERE node = \(configuration.node)"
        )
        _ = try? await connection.execute(
            "UPDATE daemon_node SET status = 'stopped', last_heartbeat = now() WHERE name = \(configuration.node)")
        await connection.close()
    }
}

/// A second supervisor for a node name that a live one holds.
public struct NodeAlreadyRunning: Error, CustomStringConvertible {
    public var node: String
    public var host: String?
    public var pid: Int?
    public var since: Date?

    /// Whether the name is registered to a process of this host that no longer exists (its session outlived it).
    /// This very pid counts as gone: a restarted container's supervisor has its predecessor's pid (often 1).
    var isGoneProcessOfThisHost: Bool {
        guard host == ProcessInfo.processInfo.hostName, let pid else { return false }
        return pid == Int(getpid()) || (kill(pid_t(pid), 0) != 0 && errno == ESRCH)
    }

    public var description: String {
        var holder = "another supervisor"
        if let pid, let host { holder = "pid \(pid) on \(host)" }
        let started = since.map { ", running since \($0.formatted(.iso8601))" } ?? ""
        return "Node \(node) is already running (\(holder)\(started)); stop it first or choose another --node."
    }
}

/// After a lost connection, the server still kept this supervisor's earlier session, which holds the node's name. That
/// session has been ended; the name is taken at the next heartbeat.
public struct PreviousSessionHoldsName: Error, CustomStringConvertible {
    public var node: String
    public var description: String {
        "The server still kept this supervisor's earlier session, which holds the name \(node); ended it."
    }
}
