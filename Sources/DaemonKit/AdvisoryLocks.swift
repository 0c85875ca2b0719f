public import Postgres

/// The advisory locks pgdaemon takes, each kind under its own fixed first key so that they never collide with each
/// other or with an application's locks.
///
/// The first keys spell "pgd" followed by a kind: 1885824000 migrations, 1885824001 node names, 1885824002 singleton
/// modules, 1885824003 task unique keys (taken inside `scheduler_task_add`). A DBA finds them all with
/// `SELECT * FROM pg_locks WHERE locktype = 'advisory' AND classid BETWEEN 1885824000 AND 1885824003`.
public enum AdvisoryLocks {
    /// Held by the transaction that applies a migration.
    public static let migrations = AdvisoryLockKey(namespace: 1_885_824_000, id: 0)
    /// Namespace of node-name locks, held by each live supervisor on its registration connection.
    public static let nodeNamespace: Int32 = 1_885_824_001
    /// Namespace of singleton module locks, held by the running holder's lock connection.
    public static let singletonNamespace: Int32 = 1_885_824_002

    /// The lock of a singleton module, by its configuration entry's name.
    public static func singleton(_ module: String) -> AdvisoryLockKey {
        AdvisoryLockKey(namespace: singletonNamespace, name: module)
    }
}
