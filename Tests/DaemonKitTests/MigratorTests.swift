import DaemonKit
import Postgres
import TestSupport
import Testing

@Suite("Schema migrations", .timeLimit(.minutes(2)))
struct MigratorTests {
    /// Every table of DESIGN §5–6 with the columns whose names are fixed.
    static let fixedColumns: [String: [String]] = [
        "scheduler_task": [
            "id", "name", "task_type", "task_data", "priority", "attempts", "max_attempts", "unique_key", "lock_key",
            "lock_time", "lock_update_time", "create_time",
        ],
        "scheduler_future_task": [
            "id", "name", "task_type", "task_data", "priority", "attempts", "max_attempts", "unique_key", "lock_key",
            "lock_time", "lock_update_time", "create_time", "execution_time",
        ],
        "scheduler_recurrent_task": [
            "name", "schedule", "timezone", "task_type", "last_execution_time", "next_execution_time", "last_status",
            "last_duration_ms",
        ],
        "scheduler_task_history": [
            "id", "task_id", "name", "task_type", "node", "create_time", "scheduled_for", "started_at", "finished_at",
            "status", "attempts", "error",
        ],
        "daemon_node": ["name", "host", "pid", "version", "config_hash", "started_at", "last_heartbeat", "status"],
        "daemon_module_state": [
            "node", "module", "pid", "state", "since", "iterations", "discards", "restarts", "last_error",
        ],
        "daemon_singleton": ["module", "node", "pid", "epoch", "acquired_at"],
        "cache_entry": ["type", "key", "value", "expires_at", "created_at"],
    ]

    @Test func migratingTwiceAppliesEverythingOnceAndCreatesEveryTable() async throws {
        try await withTestConnection(migrated: false) { connection in
            let migrator = Migrator(connection: connection)
            #expect(try await migrator.status().allSatisfy { $0.state == .pending })
            let first = try await migrator.migrate()
            #expect(first.map(\.id) == Migration.all.map(\.id))
            #expect(try await migrator.migrate().isEmpty)
            #expect(try await migrator.status().allSatisfy { $0.state == .applied && $0.appliedAt != nil })

            for (table, columns) in Self.fixedColumns {
                let present = try await connection.query(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = \(table)"
                ).map { try $0.decode(String.self, "column_name") }
                #expect(Set(columns).isSubset(of: Set(present)), "\(table) has \(present)")
            }
            let persistence = try await connection.query(
                "SELECT relpersistence FROM pg_class WHERE relname = 'cache_entry'")[0]
                .decode(String.self, "relpersistence")
            #expect(persistence == "u", "cache_entry is UNLOGGED")
            let roles = try await connection.query(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE 'pgdaemon\\_%' AND NOT rolcanlogin ORDER BY rolname"
            ).map { try $0.decode(String.self, "rolname") }
            #expect(roles == ["pgdaemon_enqueue", "pgdaemon_node", "pgdaemon_readonly"])
        }
    }

    @Test func nodesMigratingAtTheSameMomentApplyEachMigrationOnce() async throws {
        try await withTestDatabase(migrated: false) { database in
            let connections = try await (0..<4).asyncMap { _ in try await database.connect() }
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for connection in connections {
                    group.addTask { try await Migrator(connection: connection).migrate().map(\.id) }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(applied.sorted() == Migration.all.map(\.id))
            let recorded = try await connections[0].query(
                "SELECT count(*) AS n, count(DISTINCT version) AS d FROM pgdaemon_migration")[0]
            #expect(try recorded.decode(Int.self, "n") == Migration.all.count)
            #expect(try recorded.decode(Int.self, "d") == Migration.all.count)
            for connection in connections { await connection.close() }
        }
    }

    @Test func statusTellsChangedAndUnknownMigrationsApart() async throws {
        try await withTestConnection { connection in
            var edited = Migration.all
            let last = edited.removeLast()
            let changedFirst = Migration(
                id: edited[0].id, fileName: edited[0].fileName, sql: edited[0].sql + "\n-- edited")
            edited[0] = changedFirst
            let statuses = try await Migrator(connection: connection, migrations: edited).status()
            #expect(statuses.first?.state == .changed)
            #expect(statuses.last?.version == last.id)
            #expect(statuses.last?.state == .unknown)
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await withTestConnection(migrated: false) { connection in
            let broken = Migration(
                id: 9001, fileName: "9001_broken.sql", sql: "CREATE TABLE half (id int); SELECT 1/0;")
            await #expect(throws: PostgresError.self) {
                try await Migrator(connection: connection, migrations: [broken]).migrate()
            }
            let half = try await connection.query("SELECT to_regclass('half') IS NULL AS gone")[0].decode(
                Bool.self, "gone")
            #expect(half)
            let statuses = try await Migrator(connection: connection, migrations: [broken]).status()
            #expect(statuses.map(\.state) == [.pending])
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
