import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Cron across three nodes", .timeLimit(.minutes(2)))
struct CronTests {
    /// Thirty seconds of a per-second entry on three nodes, with the manager's node killed after the third slot. Its
    /// overlap is allow: a task the killed node ran waits for the rescuer, and the default (skip) would skip the slots
    /// meanwhile, as CronControlTests shows. The manager prepares each slot ahead and commits it at its time; the
    /// kill may fall in that wait, and the slot is still run once.
    @Test func aPerSecondEntryRunsEverySlotOnceWhileTheManagerFailsOver() async throws {
        try await withTestDatabase { database in
            let modules = """
                  SchedulerTaskWorker: {}
                  SchedulerFutureTaskManager: {}
                  SchedulerCronTaskManager: {}
                cron:
                  tick: { schedule: "* * * * * *", overlap: allow, task: { type: Noop, data: { from: cron } } }
                """
            var nodes: [DaemonHarness] = []
            for _ in 0..<3 {
                let node = try await DaemonHarness(connectionString: database.connectionString, modules: modules)
                try node.start()
                nodes.append(node)
            }
            let connection = try await database.connect()
            func slots() async throws -> Int {
                try await connection.query("SELECT count(*) AS n FROM scheduler_cron_slot WHERE name = 'tick'")[0]
                    .decode(
                        Int.self, "n")
            }
            try await waitUntil("three slots ran", timeout: .seconds(20)) { try await slots() >= 3 }
            // Kill the node whose cron manager holds the singleton, supervisor and all.
            let holder = try await connection.query(
                "SELECT holder_node FROM daemon_singleton_overview WHERE module = 'SchedulerCronTaskManager' AND held"
            )[0].decode(String.self, "holder_node")
            let victim = nodes.first { $0.node == holder }!
            #expect(!victim.killNode().isEmpty)
            try await waitUntil("thirty slots ran", timeout: .seconds(60)) { try await slots() >= 30 }

            let row = try await connection.query(
                """
                SELECT count(*) AS slots, count(DISTINCT slot) AS distinct_slots,
                       count(*) FILTER (WHERE status = 'enqueued') AS enqueued,
                       extract(epoch FROM max(slot) - min(slot))::int + 1 AS span,
                       count(DISTINCT node) AS managers
                FROM scheduler_cron_slot WHERE name = 'tick'
                """)[0]
            let count = try row.decode(Int.self, "slots")
            #expect(try row.decode(Int.self, "distinct_slots") == count, "no slot twice")
            #expect(try row.decode(Int.self, "enqueued") == count, "no slot skipped")
            #expect(try row.decode(Int.self, "span") == count, "no gap between the first and the last slot")
            #expect(try row.decode(Int.self, "managers") == 2, "the manager failed over to another node")
            let tasks = try await connection.query(
                "SELECT count(*) AS n, count(DISTINCT scheduled_for) AS d FROM scheduler_task_history WHERE name = 'tick'"
            )[0]
            #expect(try tasks.decode(Int.self, "n") == tasks.decode(Int.self, "d"), "each slot's task ran once")
            // A slot's batch is prepared ahead of it and committed at its time: its task is due at its slot and starts
            // no earlier.
            let early = try await connection.query(
                """
                SELECT count(*) FILTER (WHERE h.scheduled_for IS DISTINCT FROM s.slot) AS misdated,
                       count(*) FILTER (WHERE h.started_at < s.slot) AS early
                FROM scheduler_cron_slot AS s JOIN scheduler_task_history AS h ON h.task_id = s.task_id
                WHERE s.name = 'tick'
                """)[0]
            #expect(try early.decode(Int.self, "misdated") == 0, "each task is due at its slot")
            #expect(try early.decode(Int.self, "early") == 0, "no task started before its slot")
            let summary = try await nodes.last!.command(["summary", "SchedulerCronTaskManager"])
            #expect(summary.stdout.hasPrefix("Recurrent tasks:"))
            #expect(summary.stdout.contains("tick"))
            for node in nodes { await node.cleanUp() }
            await connection.close()
        }
    }
}
