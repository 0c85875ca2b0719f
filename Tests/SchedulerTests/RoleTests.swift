import Foundation
import Postgres
import Scheduler
import TestSupport
import Testing

@Suite("Least-privilege roles", .timeLimit(.minutes(2)))
struct RoleTests {
    /// Runs `body` connected as a new login role that is a member of `group`, dropped afterwards.
    private func asMemberOf(
        _ group: String, in database: TestDatabase, _ body: (Connection) async throws -> Void
    ) async throws {
        let role = "pgdaemon_test_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try await database.connect()
        try await admin.execute("CREATE ROLE \(identifier: role) LOGIN IN ROLE \(identifier: group)")
        do {
            var options = database.options
            options.connectionString = "\(database.connectionString) user=\(role)"
            let connection = try await Connection.connect(options)
            try await body(connection)
            await connection.close()
        } catch {
            try await admin.execute("DROP ROLE \(identifier: role)")
            throw error
        }
        try await admin.execute("DROP ROLE \(identifier: role)")
        await admin.close()
    }

    private func expectDenied(_ connection: Connection, _ sql: SQL) async {
        let error = await #expect(throws: PostgresError.self, "\(sql)") { try await connection.execute(sql) }
        #expect(error?.sqlState == PostgresError.SQLState.insufficientPrivilege, "\(sql)")
    }

    @Test func theEnqueueRoleMayOnlyCallTaskAddAndAddMany() async throws {
        try await withTestDatabase { database in
            try await asMemberOf("pgdaemon_enqueue", in: database) { connection in
                let id = try await TaskQueue(connection: connection).add(
                    NewTask(type: "Noop", uniqueKey: "app", queue: "mail", concurrencyKey: "tenant-42"))
                #expect(id > 0)
                let many = try await TaskQueue(connection: connection).add(
                    manyJSON: #"[{"task_type": "Noop"}, {"task_type": "Noop", "unique_key": "app"}]"#)
                #expect(many.count == 2 && many[1] == id, "ids in order; a pending unique key returns its task")
                await expectDenied(connection, "SELECT scheduler_queue_pause('mail')")
                await expectDenied(connection, "SELECT * FROM scheduler_task")
                await expectDenied(connection, "INSERT INTO scheduler_task (task_type) VALUES ('Noop')")
                await expectDenied(connection, "UPDATE scheduler_task SET priority = 1")
                await expectDenied(connection, "DELETE FROM scheduler_future_task")
                await expectDenied(connection, "SELECT * FROM daemon_node")
                await expectDenied(connection, "SELECT * FROM cache_entry")
                await expectDenied(connection, "SELECT * FROM scheduler_task_overview")
            }
        }
    }

    /// pgdaemon's tables and views, from the catalog, so a new one is covered without touching this test. A partitioned
    /// table counts once, as itself: privileges on it govern reading through it, its partitions are its own.
    private func relations(_ connection: Connection) async throws -> (tables: [String], views: [String]) {
        let rows = try await connection.query(
            """
            SELECT c.relname, c.relkind::text AS kind FROM pg_class AS c
            WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
              AND (c.relname LIKE 'scheduler\\_%' OR c.relname LIKE 'daemon\\_%' OR c.relname LIKE 'cache\\_%'
                   OR c.relname = 'pgdaemon_migration')
            ORDER BY 1
            """)
        var tables: [String] = []
        var views: [String] = []
        for row in rows {
            let name = try row.decode(String.self, "relname")
            if try row.decode(String.self, "kind") == "v" { views.append(name) } else { tables.append(name) }
        }
        return (tables, views)
    }

    @Test func theReadonlyRoleReadsButNeverWrites() async throws {
        try await withTestDatabase { database in
            let admin = try await database.connect()
            let (tables, views) = try await relations(admin)
            await admin.close()
            #expect(tables.contains("scheduler_task") && views.contains("cache_overview"))
            try await asMemberOf("pgdaemon_readonly", in: database) { connection in
                for relation in tables + views where relation != "cache_entry" && relation != "pgdaemon_migration" {
                    try await connection.query("SELECT * FROM \(identifier: relation) LIMIT 1")
                }
                for table in tables {
                    await expectDenied(connection, "DELETE FROM \(identifier: table)")
                    let writable = try await connection.query(
                        """
                        SELECT has_table_privilege(\(table), 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                            AS writable
                        """)[0].decode(Bool.self, "writable")
                    #expect(!writable, "\(table)")
                }
                await expectDenied(connection, "INSERT INTO daemon_node (name) VALUES ('x')")
                await expectDenied(connection, "SELECT scheduler_task_add('Noop')")
                await expectDenied(connection, "SELECT * FROM cache_entry")
            }
        }
    }

    @Test func theNodeRoleWorksTheTables() async throws {
        try await withTestDatabase { database in
            try await asMemberOf("pgdaemon_node", in: database) { connection in
                let id = try await TaskQueue(connection: connection).add(NewTask(type: "Noop"))
                try await connection.execute("UPDATE scheduler_task SET lock_key = 'token' WHERE id = \(id)")
                try await connection.execute("DELETE FROM scheduler_task WHERE id = \(id)")
                try await connection.execute("INSERT INTO daemon_node (name) VALUES ('node-a')")
                try await connection.execute(
                    "INSERT INTO cache_entry (type, key, value) VALUES ('t', 'k', \(Data([1, 2, 3])))")
                for view in try await relations(connection).views {
                    try await connection.query("SELECT * FROM \(identifier: view) LIMIT 1")
                }
                await expectDenied(connection, "DROP TABLE scheduler_task")
                await expectDenied(connection, "ALTER TABLE scheduler_task ADD COLUMN x int")
                await expectDenied(connection, "TRUNCATE scheduler_task_history")
                await expectDenied(connection, "DROP VIEW scheduler_task_overview")
                await expectDenied(connection, "CREATE TABLE pgdaemon_intruder (x int)")
                await expectDenied(connection, "CREATE INDEX ON scheduler_task (name)")
                await expectDenied(connection, "DROP FUNCTION scheduler_task_add")
                await expectDenied(connection, "DELETE FROM pgdaemon_migration")
            }
        }
    }
}
