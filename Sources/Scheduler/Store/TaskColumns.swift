import Postgres

/// Which columns go with a task when it moves between the task tables, read from the catalog, so that a column a
/// migration adds to them travels without a Swift change: every column two tables share by name is copied as it is.
///
/// Statements that move a task (a retry to the future tasks, a due task to the queue, an attempt into history, a
/// failed task enqueued again) name only what they set themselves; `insert` adds every other shared column. Two kinds
/// never travel: the claim (`lock_*`, as a moved task is not running) and history's own `id`.
struct TaskColumns: Sendable {
    enum Table: String, Sendable, CaseIterable {
        case ready = "scheduler_task"
        case future = "scheduler_future_task"
        case history = "scheduler_task_history"
    }

    /// Each table's columns, in the table's order.
    private let columns: [Table: [String]]

    /// The columns a running task has and a moved one must not keep.
    static let claim: Set = ["lock_key", "lock_time", "lock_update_time", "lock_node"]

    /// Reads the tables' columns as this connection's search path finds them.
    static func read(on connection: Connection) async throws -> TaskColumns {
        let rows = try await connection.query(
            """
            SELECT c.relname::text AS table_name, a.attname::text AS column_name
            FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
            WHERE a.attrelid IN ('scheduler_task'::regclass, 'scheduler_future_task'::regclass,
                                 'scheduler_task_history'::regclass)
              AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attrelid, a.attnum
            """)
        var columns: [Table: [String]] = [:]
        for row in rows {
            guard let table = Table(rawValue: try row.decode(String.self, "table_name")) else { continue }
            columns[table, default: []].append(try row.decode(String.self, "column_name"))
        }
        return TaskColumns(columns: columns)
    }

    /// The columns of `source` that `target` has too and that travel between them.
    func shared(from source: Table, to target: Table) -> [String] {
        let targetColumns = Set(columns[target] ?? [])
        return (columns[source] ?? []).filter { column in
            guard targetColumns.contains(column) else { return false }
            if source == .history || target == .history, column == "id" { return false }
            return target == .history || !Self.claim.contains(column)
        }
    }

    /// `INSERT INTO target (…) SELECT …` for rows of `source` read under `alias` (a table alias or a CTE whose rows
    /// are `source`'s): the `setting` columns from their expressions, the `omitting` ones left to their defaults, every
    /// other shared column copied. The caller appends the `FROM`.
    func insert(
        into target: Table, from source: Table, alias: String, setting: [String: String] = [:],
        omitting: Set<String> = []
    ) -> String {
        let copied = shared(from: source, to: target).filter { setting[$0] == nil && !omitting.contains($0) }
        // Sorted, so that a statement's text, and so its prepared plan, is the same in every process.
        let set = setting.sorted { $0.key < $1.key }
        let names = (copied + set.map(\.key)).map(SQL.quoteIdentifier)
        let values = copied.map { "\(alias).\(SQL.quoteIdentifier($0))" } + set.map(\.value)
        return
            "INSERT INTO \(target.rawValue) (\(names.joined(separator: ", "))) SELECT \(values.joined(separator: ", "))"
    }
}
