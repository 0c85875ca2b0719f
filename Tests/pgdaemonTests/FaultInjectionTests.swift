import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

/// Three nodes work through Sleep tasks and a per-second cron entry while whole nodes are killed with SIGKILL and
/// restarted, PostgreSQL restarts once, and one node's sessions are terminated. Afterwards every task is done, no
/// cron slot ran twice, nothing is stuck and every node is alive; the figures are printed.
///
/// `scripts/fault-injection` runs the long variant (PGDAEMON_FAULT_TASKS, PGDAEMON_FAULT_SECONDS); the test command
/// runs a short one.
@Suite("Fault injection: kills, a database restart, terminated sessions", .timeLimit(.minutes(10)))
struct FaultInjectionTests {
    static let environment = ProcessInfo.processInfo.environment
    static let tasks = Int(environment["PGDAEMON_FAULT_TASKS"] ?? "") ?? 1_500
    static let seconds = Int(environment["PGDAEMON_FAULT_SECONDS"] ?? "") ?? 12

    static let modules = """
          SchedulerTaskWorker: { max_workers: 10 }
          SchedulerFutureTaskManager: {}
          SchedulerCronTaskManager: {}
          SchedulerTaskRescuer: { lock_timeout: 3s }
        cron:
          tick: { schedule: "* * * * * *", task: { type: Noop } }
        """

    /// A connection that is opened again when a statement fails on a broken one (the server restarts midway).
    final class Observer: @unchecked Sendable {
        let url: String
        var connection: Connection?
        init(url: String) { self.url = url }

        func query(_ sql: SQL) async throws -> PostgresRows {
            for attempt in 1... {
                do {
                    if connection == nil { connection = try await Connection.connect(ConnectionOptions(url)) }
                    return try await connection!.query(sql)
                } catch {
                    await connection?.close()
                    connection = nil
                    if attempt >= 100 { throw error }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            fatalError("unreachable")
        }
    }

    @Test func everyTaskIsDoneAndNoSlotRunsTwiceWhateverIsKilled() async throws {
        let server = ThrowawayPostgres()
        try await server.start()
        var nodes: [DaemonHarness] = []
        do {
            let url = try server.connectionString
            let observer = Observer(url: url)
            let admin = try await Connection.connect(ConnectionOptions(url))
            try await Migrator(connection: admin).migrate()
            await admin.close()
            for _ in 0..<3 {
                let node = try await DaemonHarness(connectionString: url, modules: Self.modules)
                try node.start()
                nodes.append(node)
            }
            var random = SystemRandomNumberGenerator()
            var kills = 0
            var terminated = 0
            var ids: [Int64] = []
            let start = ContinuousClock.now
            let span = Self.seconds * 1_000  // ms
            let restartAt = start + .milliseconds(span * 4 / 10)
            let terminateAt = start + .milliseconds(span * 7 / 10)
            var restarted = false
            var nextKill = start + .milliseconds(Int.random(in: 500...2_000, using: &random))
            // Tasks arrive in batches over the whole run, so there is always work in flight when a fault strikes.
            let batches = max(1, Self.seconds * 5)
            for batch in 0..<batches {
                let count = Self.tasks / batches + (batch < Self.tasks % batches ? 1 : 0)
                ids += try await observer.query(
                    """
                    SELECT scheduler_task_add('Sleep', jsonb_build_object('seconds', 0.02 + random() * 0.06), NULL, 0,
                                              NULL, NULL, 50) AS id
                    FROM generate_series(1, \(count))
                    """
                ).map { try $0.decode(Int64.self, "id") }
                let now = ContinuousClock.now
                if now >= nextKill {
                    let victim = nodes.randomElement(using: &random)!
                    victim.killNode()
                    _ = try await victim.waitForExit()
                    try victim.start()
                    kills += 1
                    nextKill = now + .milliseconds(Int.random(in: 500...2_000, using: &random))
                }
                if !restarted && now >= restartAt {
                    try await server.stop()
                    try await server.start()
                    restarted = true
                }
                if terminated == 0 && now >= terminateAt {
                    let victim = nodes.randomElement(using: &random)!.node
                    terminated = try await observer.query(
                        """
                        SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
                        WHERE application_name LIKE \("pgdaemon/" + victim + "/%")
                        """
                    )[0].decode(Int.self, "n")
                }
                try await Task.sleep(until: start + .milliseconds(span * (batch + 1) / batches))
            }
            let faultsOver = ContinuousClock.now

            let idList = "{" + ids.map(String.init).joined(separator: ",") + "}"
            try await waitUntil("every task is done", timeout: .seconds(120)) {
                try await observer.query(
                    """
                    SELECT count(DISTINCT task_id) AS n FROM scheduler_task_history
                    WHERE status = 'done' AND task_id = ANY(\(idList)::bigint[])
                    """
                )[0].decode(Int.self, "n") == ids.count
            }
            let drained = ContinuousClock.now - faultsOver
            let figures = try await observer.query(
                """
                SELECT
                  (SELECT count(*) FROM scheduler_task_history WHERE status = 'done' AND task_id = ANY(\(idList)::bigint[]))
                      AS done_rows,
                  (SELECT count(DISTINCT task_id) FROM scheduler_task_history
                   WHERE status = 'rescued' AND task_id = ANY(\(idList)::bigint[])) AS repeated,
                  (SELECT count(*) FROM scheduler_task_history
                   WHERE status IN ('failed', 'retried') AND task_id = ANY(\(idList)::bigint[])) AS failed_attempts,
                  (SELECT count(*) FROM scheduler_cron_slot WHERE name = 'tick') AS slots,
                  (SELECT count(DISTINCT slot) FROM scheduler_cron_slot WHERE name = 'tick') AS distinct_slots,
                  (SELECT count(*) FROM scheduler_cron_slot WHERE name = 'tick' AND status = 'skipped') AS skipped,
                  (SELECT count(*) FROM (SELECT scheduled_for FROM scheduler_task_history
                                         WHERE name = 'tick' AND status = 'done'
                                         GROUP BY scheduled_for HAVING count(*) > 1) AS twice) AS slots_done_twice,
                  (SELECT count(*) FROM scheduler_task WHERE task_type = 'Sleep') AS sleep_left,
                  (SELECT count(*) FROM scheduler_future_task WHERE task_type = 'Sleep') AS sleep_future
                """)[0]
            func figure(_ name: String) throws -> Int { try figures.decode(Int.self, name) }
            print(
                """
                fault injection: \(ids.count) tasks over \(Self.seconds) s on 3 nodes; \(kills) node kills, \
                1 PostgreSQL restart, \(terminated) sessions terminated
                  done \(try figure("done_rows")) of \(ids.count) (by task id), repeated after a rescue \
                \(try figure("repeated")), failed attempts \(try figure("failed_attempts"))
                  cron slots \(try figure("slots")) (distinct \(try figure("distinct_slots")), skipped \
                \(try figure("skipped"))), slots whose task was done twice \(try figure("slots_done_twice"))
                  drained \(drained) after the last fault
                """)
            #expect(try figure("done_rows") == ids.count, "each task done once, by its id")
            #expect(try figure("distinct_slots") == figure("slots"), "no cron slot recorded twice")
            #expect(try figure("slots_done_twice") == 0, "no cron slot's task done twice")
            #expect(try figure("slots") >= Self.seconds / 2, "the cron entry kept running")
            #expect(try figure("sleep_left") == 0 && figure("sleep_future") == 0, "nothing stuck")
            #expect(kills >= 1 && restarted && terminated >= 1)
            for node in nodes {
                #expect(node.process?.isRunning == true, "\(node.node) is alive: \(node.output.suffix(2_000))")
                let status = try await node.command(["status"])
                #expect(status.status == 0, "\(node.node): \(status.stdout)")
            }
        } catch {
            for node in nodes { print("\(node.node) output:\n\(node.output.suffix(3_000))") }
            for node in nodes { await node.cleanUp() }
            await server.remove()
            throw error
        }
        for node in nodes { await node.cleanUp() }
        await server.remove()
    }
}
