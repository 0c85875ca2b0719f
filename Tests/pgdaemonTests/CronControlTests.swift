import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Cron at runtime: overlap, pause, manual runs", .timeLimit(.minutes(2)))
struct CronControlTests {
    /// Per-second entries whose task takes 2.5 s: skip never runs two at once and records the slots in between as
    /// skipped; queue never runs two at once and loses no slot; allow runs them side by side.
    @Test func overlapSkipQueueAndAllow() async throws {
        try await withDaemon(
            modules: """
                  SchedulerTaskWorker: { max_workers: 10 }
                  SchedulerCronTaskManager: {}
                cron:
                  skips: { schedule: "* * * * * *", task: { type: Sleep, data: { seconds: 2.5 } } }
                  queues: { schedule: "* * * * * *", overlap: queue, task: { type: Sleep, data: { seconds: 2.5 } } }
                  allows: { schedule: "* * * * * *", overlap: allow, task: { type: Sleep, data: { seconds: 2.5 } } }
                """
        ) { daemon, database in
            try daemon.start()
            let connection = try await database.connect()
            func count(_ name: String, _ condition: SQL) async throws -> Int {
                try await connection.query(
                    "SELECT count(*) AS n FROM scheduler_cron_slot WHERE name = \(name) AND \(condition)"
                )[0].decode(Int.self, "n")
            }
            try await waitUntil("eight slots of each", timeout: .seconds(30)) {
                try await count("allows", "true") >= 8
            }
            #expect(try await daemon.command(["cron", "pause", "skips"]).status == 0)
            #expect(try await daemon.command(["cron", "pause", "queues"]).status == 0)
            #expect(try await daemon.command(["cron", "pause", "allows"]).status == 0)
            try await waitUntil("everything enqueued ran", timeout: .seconds(40)) {
                let waiting = try await connection.query(
                    "SELECT count(*) AS n FROM scheduler_task WHERE name IN ('skips', 'queues', 'allows')"
                )[0].decode(Int.self, "n")
                let queued = try await count("queues", "status = 'queued'")
                return waiting == 0 && queued == 0
            }
            /// The most tasks of the entry that ran at the same moment, from history.
            func mostAtOnce(_ name: String) async throws -> Int {
                try await connection.query(
                    """
                    SELECT coalesce(max(n), 0) AS most FROM (
                        SELECT (SELECT count(*) FROM scheduler_task_history AS o
                                WHERE o.name = h.name AND o.status = 'done'
                                  AND o.started_at <= h.started_at AND o.finished_at > h.started_at) AS n
                        FROM scheduler_task_history AS h WHERE h.name = \(name) AND h.status = 'done') AS c
                    """
                )[0].decode(Int.self, "most")
            }
            #expect(try await mostAtOnce("skips") == 1)
            #expect(try await count("skips", "status = 'skipped' AND reason = 'overlap'") >= 3)
            #expect(try await mostAtOnce("queues") == 1)
            #expect(try await count("queues", "status = 'skipped' AND reason = 'overlap'") == 0)
            let queuedRan = try await connection.query(
                """
                SELECT count(*) AS n FROM scheduler_cron_slot AS s JOIN scheduler_task_history AS h ON h.task_id = s.task_id
                WHERE s.name = 'queues' AND h.started_at > s.slot + interval '1 second'
                """)[0].decode(Int.self, "n")
            #expect(queuedRan >= 3, "queued slots ran after their time, once the previous task ended")
            #expect(try await mostAtOnce("allows") >= 2)
            await connection.close()
        }
    }

    /// A pause, a manual run and a resume hold while the node running the cron manager is killed and another takes
    /// over; `cron list` shows the pause.
    @Test func pauseRunAndResumeHoldAcrossAFailoverOfTheCronManager() async throws {
        try await withTestDatabase { database in
            let modules = """
                  SchedulerTaskWorker: {}
                  SchedulerCronTaskManager: {}
                cron:
                  tick: { schedule: "* * * * * *", task: { type: Noop } }
                """
            var nodes: [DaemonHarness] = []
            for _ in 0..<2 {
                let node = try await DaemonHarness(connectionString: database.connectionString, modules: modules)
                try node.start()
                nodes.append(node)
            }
            let connection = try await database.connect()
            func slots(_ condition: SQL) async throws -> Int {
                try await connection.query(
                    "SELECT count(*) AS n FROM scheduler_cron_slot WHERE name = 'tick' AND \(condition)"
                )[0].decode(Int.self, "n")
            }
            try await waitUntil("a slot ran", timeout: .seconds(20)) { try await slots("status = 'enqueued'") >= 1 }
            #expect(try await nodes[0].command(["cron", "pause", "tick"]).stdout == "Cron entry tick paused.\n")
            let list = try await nodes[0].command(["cron", "list", "--json"])
            let entries = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
            #expect(entries?.first { $0["name"] as? String == "tick" }?["pausedAt"] != nil, "\(list.stdout)")
            let holder = try await connection.query(
                "SELECT holder_node FROM daemon_singleton_overview WHERE module = 'SchedulerCronTaskManager' AND held"
            )[0].decode(String.self, "holder_node")
            let victim = nodes.first { $0.node == holder }!
            let survivor = nodes.first { $0.node != holder }!
            _ = victim.killNode()
            try await waitUntil("the other node's manager skips paused slots", timeout: .seconds(30)) {
                try await slots("status = 'skipped' AND reason = 'paused' AND node = \(survivor.node)") >= 2
            }
            let enqueuedWhilePaused = try await slots("status = 'enqueued'")
            let run = try await survivor.command(["cron", "run", "tick"])
            #expect(run.stdout.hasPrefix("Cron entry tick enqueued task "), "\(run.stderr)")
            #expect(try await slots("status = 'manual'") == 1)
            #expect(try await slots("status = 'enqueued'") == enqueuedWhilePaused, "paused: no slot enqueued")
            #expect(try await survivor.command(["cron", "resume", "tick"]).stdout == "Cron entry tick resumed.\n")
            try await waitUntil("slots run again", timeout: .seconds(20)) {
                try await slots("status = 'enqueued'") >= enqueuedWhilePaused + 2
            }
            let missing = try await survivor.command(["cron", "pause", "nope"])
            #expect(missing.status == 1)
            #expect(missing.stderr == "pgdaemon: No cron entry nope is registered.\n")
            for node in nodes { await node.cleanUp() }
            await connection.close()
        }
    }
}
