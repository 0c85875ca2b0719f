import DaemonKit
import Postgres
import TestSupport
import Testing

@testable import Scheduler

/// History's daily partitions (sql/0022): an existing table migrated in place, partitions created ahead, and
/// retention dropping whole partitions without waiting on a busy table.
@Suite("History partitioned by day", .timeLimit(.minutes(2)))
struct HistoryPartitionTests {
    /// The partitions' names and the UTC days they end, in order; the migrated rows' partition first.
    static func partitions(on connection: Connection) async throws -> [(name: String, isDefault: Bool)] {
        try await connection.query(
            "SELECT name, is_default FROM scheduler_task_history_partition ORDER BY is_default, from_time NULLS FIRST"
        ).map { (try $0.decode(String.self, "name"), try $0.decode(Bool.self, "is_default")) }
    }

    static func count(_ condition: SQL, on connection: Connection) async throws -> Int {
        try await connection.query("SELECT count(*) AS n FROM scheduler_task_history WHERE \(condition)")[0]
            .decode(Int.self, "n")
    }

    static func store(on connection: Connection) async throws -> RescueStore {
        RescueStore(connection: connection, columns: try await TaskColumns.read(on: connection))
    }

    @Test func anExistingTableIsMigratedInPlaceWithItsRowsAndIds() async throws {
        try await withTestConnection(migrated: false) { connection in
            try await Migrator(connection: connection, migrations: Migration.all.filter { $0.id < 22 }).migrate()
            try await connection.execute(
                """
                INSERT INTO scheduler_task_history (task_id, task_type, create_time, finished_at, status, output)
                SELECT g, 'Noop', now(), now() - (g % 10) * interval '1 day', 'done', 'row ' || g
                FROM generate_series(1, 1000) AS g
                """)
            // Pruned rows leave the identity ahead of the largest id left; new ids must not reuse theirs.
            try await connection.execute("DELETE FROM scheduler_task_history WHERE id > 990")

            #expect(
                try await Migrator(connection: connection, migrations: Migration.all.filter { $0.id <= 22 }).migrate()
                    .map(\.id) == [22])

            let kind = try await connection.query(
                "SELECT relkind::text AS kind FROM pg_class WHERE oid = 'scheduler_task_history'::regclass")[0]
            #expect(try kind.decode(String.self, "kind") == "p")
            #expect(
                try await Self.count(
                    "output LIKE 'row %' AND tableoid::regclass::text = 'scheduler_task_history_migrated'",
                    on: connection) == 990)
            let next = try await connection.query(
                """
                INSERT INTO scheduler_task_history (task_id, task_type, create_time, status)
                VALUES (1, 'Noop', now(), 'done') RETURNING id
                """)[0].decode(Int.self, "id")
            #expect(next == 1001)

            let names = try await Self.partitions(on: connection).map(\.name)
            #expect(names.first == "scheduler_task_history_migrated")
            #expect(names.last == "scheduler_task_history_default")
            // The migrated rows' partition holds today; the week after it has a partition each.
            #expect(names.count == 2 + 7, "\(names)")
        }
    }

    @Test func retentionDropsWholePartitionsAndTheDaysAheadAreCreatedAgain() async throws {
        try await withTestConnection { connection in
            let store = try await Self.store(on: connection)
            try await connection.execute(
                """
                INSERT INTO scheduler_task_history (task_id, task_type, create_time, finished_at, status)
                VALUES (1, 'Noop', now(), now() - interval '10 days', 'done'),
                       (2, 'Noop', now(), now(), 'done'),
                       (3, 'Noop', now(), now() + interval '3 days', 'done'),
                       (4, 'Noop', now(), now() + interval '30 days', 'done')
                """)
            // Beyond the week ahead, a row waits in the default partition until its day's partition is made.
            #expect(
                try await Self.count(
                    "task_id = 4 AND tableoid::regclass::text = 'scheduler_task_history_default'", on: connection) == 1)

            // With a retention two days into the future, the migrated partition (all time up to tomorrow) and
            // tomorrow's fall out of it; the one of the day after still holds times within it.
            let first = try await store.maintainHistory(retention: .seconds(-2 * 86400))
            #expect(first == RescueStore.HistoryMaintenance(created: 0, dropped: 2, deferred: 0))
            #expect(try await Self.count("task_id IN (1, 2)", on: connection) == 0)
            #expect(try await Self.count("task_id IN (3, 4)", on: connection) == 2)

            // The next call puts back the partitions of today and tomorrow, which the drop took.
            let second = try await store.maintainHistory(retention: .seconds(7 * 86400))
            #expect(second == RescueStore.HistoryMaintenance(created: 2, dropped: 0, deferred: 0))
            #expect(try await Self.partitions(on: connection).filter { !$0.isDefault }.count == 8)
        }
    }

    @Test func aRowTheDefaultPartitionCaughtMovesIntoItsDaysPartition() async throws {
        try await withTestConnection { connection in
            try await connection.execute(
                """
                INSERT INTO scheduler_task_history (task_id, task_type, create_time, finished_at, status)
                VALUES (7, 'Noop', now(), now() + interval '9 days', 'done')
                """)
            let made = try await connection.query(
                "SELECT created FROM scheduler_task_history_maintain(NULL, 10)")[0].decode(Int.self, "created")
            #expect(made == 3)
            let place = try await connection.query(
                "SELECT tableoid::regclass::text AS part FROM scheduler_task_history WHERE task_id = 7")[0]
                .decode(String.self, "part")
            #expect(place.hasPrefix("scheduler_task_history_2"), "in \(place)")
        }
    }

    @Test func aBusyTableDefersTheDropInsteadOfStallingTheWorkers() async throws {
        try await withTestDatabase { database in
            let reader = try await database.connect()
            let rescuer = try await database.connect()
            // A reader's open transaction holds a lock on history that DROP waits for.
            try await reader.execute("BEGIN")
            try await reader.execute("SELECT count(*) FROM scheduler_task_history")
            let outcome = try await Self.store(on: rescuer).maintainHistory(retention: .seconds(-2 * 86400))
            #expect(outcome.dropped == 0 && outcome.deferred == 2)
            try await reader.execute("COMMIT")
            let later = try await Self.store(on: rescuer).maintainHistory(retention: .seconds(-2 * 86400))
            #expect(later.dropped == 2 && later.deferred == 0)
            await reader.close()
            await rescuer.close()
        }
    }
}
