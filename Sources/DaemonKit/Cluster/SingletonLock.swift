import Foundation
public import Postgres

/// The advisory lock that makes a module a singleton: held on a connection of its own, so that it lasts exactly as
/// long as that session, and a successor's blocking wait ends the moment the session does.
///
/// Session advisory locks stack, so this type takes the lock at most once per session and releases it before the
/// connection closes: a graceful stop hands over in milliseconds.
public actor SingletonLock {
    public let module: String
    public let key: AdvisoryLockKey
    private let configuration: Configuration
    private let connection: Connection
    /// Set while the lock is held: the holder's epoch and lock session.
    private var fence: Fence?

    /// The lock of `module` on `connection`, the module's own (`pgdaemon/NODE/MODULE` in `pg_stat_activity`). The
    /// server drops that session, and so the lock, once the holder's machine stops answering: 10 s of silence, then 3
    /// probes 5 s apart (every connection sets these for the server's end too; see `Connection`).
    public init(configuration: Configuration, module: String, connection: Connection) {
        self.module = module
        self.key = AdvisoryLocks.singleton(module)
        self.configuration = configuration
        self.connection = connection
    }

    /// Refuses a connection that is not a real session (see `RealSession`): behind a transaction-pooling proxy,
    /// the session lock would be taken by one server session and outlive the client on it. `known` is the
    /// supervisor's finding for the node's database URL; without one, a second connection looks for a moment.
    public func checkRealSession(known: Bool?) async throws {
        let real: Bool
        if let known {
            real = known
        } else {
            real = try await RealSession.verify(connection, configuration: configuration, purpose: "\(module)/probe")
        }
        guard real else {
            throw SingletonError(
                message: """
                    The connection of \(module) is not a real session: a transaction-pooling proxy (such as \
                    PgBouncer with pool_mode = transaction) is between pgdaemon and PostgreSQL. Point the database URL \
                    at PostgreSQL directly or at a session-pooling proxy to run singleton modules.
                    """)
        }
    }

    /// Waits for the lock up to `wait` (cancelling the task ends the wait at once); once it is taken, records this
    /// node as the holder with the next epoch and returns the fence for the holder's writes. Nil when the wait ran
    /// out: a standby waits in such slices and looks at the holder's lease between them on the same session, and a
    /// holder whose session ends in between is followed at the next slice's first moment.
    public func acquire(node: String, waitingAtMost wait: Duration) async throws -> Fence? {
        precondition(fence == nil, "a singleton lock is taken once per session")
        // The server's lock_timeout ends the wait; it stays set until the lock is taken.
        let timeout = "\(max(1, Int(wait / .milliseconds(1))))ms"
        try await connection.execute("SELECT set_config('lock_timeout', \(timeout), false)")
        do {
            try await connection.advisoryLock(key)
        } catch let error as PostgresError where error.sqlState == PostgresError.SQLState.lockNotAvailable {
            return nil
        }
        try await connection.execute("RESET lock_timeout")
        let row = try await connection.query(
            """
            INSERT INTO daemon_singleton AS s (module, node, pid, epoch, acquired_at, lock_objid, lease_renewed_at,
                                               backend_pid)
            VALUES (\(module), \(node), \(Int(getpid())), 1, now(), \(Int64(UInt32(bitPattern: key.id))), now(),
                    pg_backend_pid())
            ON CONFLICT (module) DO UPDATE
            SET node = EXCLUDED.node, pid = EXCLUDED.pid, epoch = s.epoch + 1, acquired_at = now(),
                lock_objid = EXCLUDED.lock_objid, lease_renewed_at = now(), backend_pid = EXCLUDED.backend_pid
            RETURNING epoch, pg_backend_pid() AS backend, pg_postmaster_start_time()::text AS server_started
            """)[0]
        // The server's own pid: behind a proxy, libpq's backend pid is the proxy's key.
        let fence = Fence(
            module: module, epoch: try row.decode(Int64.self, "epoch"), lock: key,
            lockBackendPID: try row.decode(Int32.self, "backend"),
            serverStartedAt: try row.decode(String.self, "server_started"))
        self.fence = fence
        return fence
    }

    /// Whether this session is still the holder: its connection answers, `pg_locks` shows the lock as its own, and
    /// no later epoch was recorded. A holder that cannot tell must stop acting as the holder.
    public func stillHeld() async -> Bool {
        guard let fence, await connection.ping() else { return false }
        let held = try? await connection.query("SELECT \(fence.condition) AS held").first?.decode(Bool.self, "held")
        return held == true
    }

    /// What a renewal of the lease came to.
    public enum Renewal: Sendable {
        case renewed
        /// The statement failed, or this holder's epoch is no longer the current one.
        case notRenewed
        /// The module had a transaction open on the session (a cron batch waiting for its slot): nothing was sent, so
        /// the renewal neither joins nor waits for it; try again in a moment.
        case busy
    }

    /// Renews this holder's lease (`SingletonLease`).
    @discardableResult
    public func renew() async -> Renewal {
        guard let fence else { return .notRenewed }
        do {
            guard
                let renewed = try await connection.executeOutsideTransaction(
                    "UPDATE daemon_singleton SET lease_renewed_at = now() WHERE module = \(module) AND epoch = \(fence.epoch)"
                )
            else { return .busy }
            return renewed == 1 ? .renewed : .notRenewed
        } catch {
            return .notRenewed
        }
    }

    /// Lets go of the lock, so a waiting node takes over at once; the module's connection stays open.
    public func release() async {
        if fence != nil { _ = try? await connection.advisoryUnlock(key) }
        fence = nil
    }
}

/// A singleton module cannot run as one.
public struct SingletonError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
