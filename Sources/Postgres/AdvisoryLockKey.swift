/// The two-integer key of a PostgreSQL advisory lock, as `pg_locks` shows it (`classid`, `objid`, `objsubid = 2`).
///
/// Applications use advisory locks for their own purposes; keeping all of ours under one `namespace` value means they
/// can never take one of the application's locks by accident, and a DBA can tell them apart in `pg_locks`.
public struct AdvisoryLockKey: Hashable, Sendable, CustomStringConvertible {
    public var namespace: Int32
    public var id: Int32

    public init(namespace: Int32, id: Int32) {
        self.namespace = namespace
        self.id = id
    }

    /// A key whose `id` is derived from a name with 32-bit FNV-1a, which, unlike `hashValue`, is the same in every
    /// process and every release.
    public init(namespace: Int32, name: String) {
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        self.init(namespace: namespace, id: Int32(bitPattern: hash))
    }

    public var description: String { "(\(namespace), \(id))" }

    /// A condition on `pg_locks` rows that is true for the granted lock of this key: `pg_locks` shows the two
    /// integers as unsigned object ids.
    public var grantedInPgLocks: SQL {
        """
        locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = \(Int64(UInt32(bitPattern: namespace)))
        AND objid::bigint = \(Int64(UInt32(bitPattern: id)))
        """
    }
}
