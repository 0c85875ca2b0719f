public import Postgres

/// The fencing condition of a singleton holder: its epoch is still the current one, and its lock session still holds
/// the lock on the same run of the same server.
///
/// A write that must never be doubled by a stale holder includes the condition in the same statement, so the database
/// itself refuses a late write from an old holder:
///
/// ```swift
/// let written = try await context.database.execute(
///     "INSERT INTO report_slot (slot) SELECT \(slot) WHERE \(fence.condition)")
/// guard written == 1 else { return .discard(reason: "no longer the holder") }
/// ```
///
/// Both halves matter: the epoch alone leaves a moment between losing the lock and the successor's epoch being
/// committed; the lock alone would let a holder that lost and regained the lock act on decisions from before.
///
/// The server's start time is part of the lock half because a backend pid means something only on the server run that
/// gave it out. After a failover with asynchronous replication, the promoted standby's `daemon_singleton` may lack the
/// last takeover, so the next holder there is given the very epoch an old holder still has, and its lock session may
/// well have the old holder's pid (another host's numbering); only the start time tells the two apart.
public struct Fence: Sendable, Equatable {
    /// The configuration entry's name, the key of `daemon_singleton`.
    public let module: String
    /// The epoch this holder took over with.
    public let epoch: Int64
    /// The lock and the server process of the session holding it.
    public let lock: AdvisoryLockKey
    public let lockBackendPID: Int32
    /// `pg_postmaster_start_time()` of the server that granted the lock, as the server printed it.
    public let serverStartedAt: String

    public init(module: String, epoch: Int64, lock: AdvisoryLockKey, lockBackendPID: Int32, serverStartedAt: String) {
        self.module = module
        self.epoch = epoch
        self.lock = lock
        self.lockBackendPID = lockBackendPID
        self.serverStartedAt = serverStartedAt
    }

    /// A boolean SQL condition, true only while this holder is the current one.
    public var condition: SQL {
        """
        (EXISTS (SELECT 1 FROM daemon_singleton WHERE module = \(module) AND epoch = \(epoch))
         AND EXISTS (SELECT 1 FROM pg_locks WHERE \(lock.grantedInPgLocks) AND pid = \(Int(lockBackendPID)))
         AND pg_postmaster_start_time() = \(serverStartedAt)::timestamptz)
        """
    }
}
