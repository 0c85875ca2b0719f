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

    @Test func theEnqueueRoleMayOnlyCallTaskAdd() async throws {
        try await withTestDatabase { database in
            try await asMemberOf("pgdaemon_enqueue", in: database) { connection in
                let id = try await TaskQueue(connection: connection).add(NewTask(type: "Noop", uniqueKey: "app"))
                #expect(id > 0)
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

    @Test func theReadonlyRoleReadsButNeverWrites() async throws {
        try await withTestDatabase { database in
            try await asMemberOf("pgdaemon_readonly", in: database) { connection in
                try await connection.query("SELECT * FROM scheduler_task_overview")
                try await connection.query("SELECT * FROM daemon_cluster_overview")
                try await connection.query("SELECT * FROM scheduler_task_history")
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
                await expectDenied(connection, "DROP TABLE scheduler_task")
            }
        }
    }
}
