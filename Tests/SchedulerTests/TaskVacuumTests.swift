import DaemonKit
import Postgres
import TestSupport
import Testing

@testable import Scheduler

/// The rescuer's vacuum of the task table, which keeps claims from walking the dead entries that finished tasks
/// leave at the front of the ready index.
@Suite("The task table vacuumed by the rescuer", .timeLimit(.minutes(2)))
struct TaskVacuumTests {
    /// Dead rows in the task table, as the statistics have them once this session's counts are sent.
    static func deadRows(on connection: Connection) async throws -> Int {
        try await connection.query("SELECT pg_stat_get_dead_tuples('scheduler_task'::regclass) AS dead")[0]
            .decode(Int.self, "dead")
    }

    /// Index pages a claim's scan of the ready index reads to find the first ready task.
    static func pagesToFirstReadyTask(on connection: Connection) async throws -> Int {
        let plan = try await connection.query(
            """
            EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
            SELECT id FROM scheduler_task WHERE queue = 'default' AND lock_key IS NULL ORDER BY priority, id LIMIT 1
            """)[0].decode(String.self, "QUERY PLAN")
        let buffers = plan.split(separator: "\"Shared Hit Blocks\": ").dropFirst().first?.prefix { $0.isNumber }
        return Int(buffers ?? "") ?? -1
    }

    @Test func claimedAndFinishedTasksAreVacuumedOnceEnoughAreDead() async throws {
        try await withTestConnection { connection in
            let store = RescueStore(connection: connection, columns: try await TaskColumns.read(on: connection))
            // Autovacuum stays out of it: a run of its own between the deletes and the rescuer's would leave it nothing.
            try await connection.execute("ALTER TABLE scheduler_task SET (autovacuum_enabled = false)")
            try await connection.execute(
                "INSERT INTO scheduler_task (task_type) SELECT 'Noop' FROM generate_series(1, 61000)")
            try await connection.execute("VACUUM ANALYZE scheduler_task")
            // As 60,000 claims and finishes leave the table: the oldest tasks locked, then deleted.
            try await connection.execute(
                "UPDATE scheduler_task SET lock_key = 'claimed' WHERE id IN (SELECT id FROM scheduler_task ORDER BY id LIMIT 60000)"
            )
            try await connection.execute("DELETE FROM scheduler_task WHERE lock_key = 'claimed'")
            try await connection.execute("SELECT pg_stat_force_next_flush()")
            _ = try await Self.pagesToFirstReadyTask(on: connection)  // marks the dead entries, as claims do
            let before = try await Self.pagesToFirstReadyTask(on: connection)

            #expect(try await !store.vacuumTasks(above: 200_000, timeout: .seconds(10)))
            #expect(try await store.vacuumTasks(above: 50_000, timeout: .seconds(10)))

            let after = try await Self.pagesToFirstReadyTask(on: connection)
            #expect(before > 100, "a scan read \(before) pages before the vacuum")
            #expect(after < 10, "a scan read \(after) pages after the vacuum")
            #expect(try await Self.deadRows(on: connection) < 50_000)
            #expect(try await !store.vacuumTasks(above: 50_000, timeout: .seconds(10)))
            let timeout = try await connection.query("SHOW statement_timeout")[0].decode(
                String.self, "statement_timeout")
            #expect(timeout == "0", "the vacuum's time limit outlived it")
        }
    }
}
