import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

/// A primary killed with SIGKILL under three busy nodes, and its streaming standby promoted, as Patroni or a cloud's
/// HA does. The nodes name both servers in a libpq multi-host URL with `target_session_attrs=read-write`, so that each
/// connection finds whichever is the primary; advisory locks are not replicated, so every singleton is taken over
/// again on the promoted server.
@Suite("A primary's failover to its standby", .serialized, .timeLimit(.minutes(6)))
struct FailoverTests {
    /// With synchronous replication a commit returns only once the standby has it: nothing acknowledged is lost, and
    /// nothing runs twice as far as history can tell (a task whose outcome was not committed before the kill is run
    /// again after the rescue, once).
    @Test func withSynchronousReplicationNothingAcknowledgedIsLostOrDoneTwice() async throws {
        let run = try await FailoverRun.perform(synchronous: true)
        print(run.report)
        #expect(run.lostTasks.isEmpty, "acknowledged enqueues lost: \(run.lostTasks.sorted())")
        #expect(run.tasksDoneTwice == 0, "tasks done twice")
        #expect(run.slotsRunTwice == 0, "cron slots run twice")
        #expect(run.slotsLost == 0, "cron slots recorded before the kill and gone after it")
        #expect(run.slotsRecordedAgain == 0, "cron slots recorded again after the kill")
        #expect(run.outcomesLost == 0, "outcomes recorded before the kill and gone after it")
        #expect(run.epochsKept == run.epochsBefore, "the standby has every takeover")
        #expect(run.promotionToFirstSlot < .seconds(20), "a cron slot \(run.promotionToFirstSlot) after promotion")
    }

    /// With asynchronous replication the last commits before the kill may not have reached the standby; the test
    /// measures that loss instead of asserting it away, and asserts what must still hold: every task that survived
    /// is done once, no slot runs twice on the promoted server, and the nodes take the singletons again.
    @Test func withAsynchronousReplicationWhatSurvivedIsDoneOnce() async throws {
        let run = try await FailoverRun.perform(synchronous: false)
        print(run.report)
        #expect(!run.lostTasks.isEmpty, "the last second's acknowledged enqueues are gone with the primary")
        let manager = "SchedulerCronTaskManager"
        #expect(
            (run.epochsKept[manager] ?? 0) < (run.epochsBefore[manager] ?? 0), "the standby lacks the last takeover")
        #expect(run.tasksDoneTwice == 0, "tasks done twice")
        #expect(run.slotsRunTwice == 0, "cron slots run twice")
        #expect(run.promotionToFirstSlot < .seconds(20), "a cron slot \(run.promotionToFirstSlot) after promotion")
    }
}

/// One failover under load and what it left behind.
private struct FailoverRun {
    /// Names of tasks whose enqueue was acknowledged and that are nowhere after the failover.
    var lostTasks: Set<String> = []
    /// Enqueues that failed with the kill and committed all the same (found after it).
    var unacknowledgedButCommitted = 0
    var acknowledged = 0
    var tasksDoneTwice = 0
    var rescued = 0
    /// History rows of cron tasks that share a slot.
    var slotsRunTwice = 0
    /// Cron slots recorded on the primary just before the kill and nowhere on the promoted server.
    var slotsLost = 0
    /// Cron slots recorded on the primary just before the kill, missing on the promoted server and recorded there
    /// again (catch_up: once): their tasks ran twice.
    var slotsRecordedAgain = 0
    /// Tasks done on the primary just before the kill whose enqueue the promoted server has but not the outcome: they
    /// ran again.
    var outcomesLost = 0
    var epochsBefore: [String: Int] = [:]
    /// The singletons' epochs on the standby when the primary died.
    var epochsKept: [String: Int] = [:]
    var epochsAfter: [String: Int] = [:]
    var promotionToFirstSlot: Duration = .zero
    var promotionToAllTasksDone: Duration = .zero
    var synchronous = false

    var report: String {
        """
        Failover (\(synchronous ? "synchronous" : "asynchronous") replication): \(acknowledged) enqueues \
        acknowledged, \(lostTasks.count) of them lost; \(unacknowledgedButCommitted) failed with the kill yet \
        committed; \(rescued) tasks rescued; \(tasksDoneTwice) done twice; cron slots lost \(slotsLost), run twice \
        \(slotsRunTwice), recorded again \(slotsRecordedAgain); outcomes lost (run again) \(outcomesLost); epochs \
        (before the kill / kept by the standby / after): \(epochsText); promotion to the first cron slot \(promotionToFirstSlot), to every \
        task done \(promotionToAllTasksDone).
        """
    }

    var epochsText: String {
        epochsBefore.keys.sorted().map {
            "\($0) \(epochsBefore[$0] ?? 0)/\(epochsKept[$0] ?? 0)/\(epochsAfter[$0] ?? 0)"
        }.joined(separator: ", ")
    }

    static let modules = """
          SchedulerTaskWorker: {}
          SchedulerFutureTaskManager: {}
          SchedulerCronTaskManager: {}
          SchedulerTaskRescuer: { lock_timeout: 5s }
        cron:
          tick: { schedule: "* * * * * *", overlap: allow, task: { type: Noop } }
        """
    static let singletons = ["SchedulerCronTaskManager", "SchedulerFutureTaskManager", "SchedulerTaskRescuer"]

    static func perform(synchronous: Bool) async throws -> FailoverRun {
        let primary = ThrowawayPostgres(durable: true)
        let standby = ThrowawayPostgres(durable: true)
        var nodes: [DaemonHarness] = []
        let enqueuer = SteadyEnqueuer(prefix: "load")
        do {
            try await primary.start()
            let admin = try await Connection.connect(ConnectionOptions(try primary.connectionString))
            try await Migrator(connection: admin).migrate()
            try await standby.startStandby(of: primary)
            if synchronous {
                // Set on the primary only, after the copy: the promoted standby must not wait for a standby of its own.
                try await admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'walreceiver'")
                try await admin.execute("SELECT pg_reload_conf()")
                try await waitUntil("the standby replicates synchronously") {
                    try await admin.query("SELECT count(*) AS n FROM pg_stat_replication WHERE sync_state = 'sync'")[0]
                        .decode(Int.self, "n") == 1
                }
            }
            let url =
                "postgresql://postgres@127.0.0.1:\(try primary.port),127.0.0.1:\(try standby.port)/postgres"
                + "?target_session_attrs=read-write"
            for _ in 0..<3 {
                let node = try await DaemonHarness(connectionString: url, modules: modules)
                try node.start()
                nodes.append(node)
            }
            for node in nodes { try await node.waitForModule("SchedulerTaskWorker", iterations: 0) }
            try await waitUntil("three cron slots ran") {
                try await admin.query("SELECT count(*) AS n FROM scheduler_cron_slot")[0].decode(Int.self, "n") >= 3
            }
            let load = Task { await enqueuer.run(url: url) }
            try await enqueuer.waitForMore(200, "200 enqueues were acknowledged")

            var run = FailoverRun(synchronous: synchronous)
            if !synchronous {
                // The last second before the kill never reaches the standby, as over a lagging link: the primary's
                // WAL sender is stopped, and the cron manager is killed meanwhile so that a takeover (epoch + 1) is
                // among what the standby misses.
                let sender = try await admin.query("SELECT pid FROM pg_stat_replication")[0].decode(Int32.self, "pid")
                kill(sender, SIGSTOP)
                let epoch = try await epochs(on: admin)["SchedulerCronTaskManager"] ?? 0
                let holder = try await admin.query(
                    "SELECT node, pid FROM daemon_singleton WHERE module = 'SchedulerCronTaskManager'")[0]
                let manager = try holder.decode(Int32.self, "pid")
                kill(manager, SIGKILL)
                try await waitUntil("another cron manager took over") {
                    try await epochs(on: admin)["SchedulerCronTaskManager"] == epoch + 1
                }
                try await enqueuer.waitForMore(100, "100 more enqueues were acknowledged")
            }
            run.epochsBefore = try await epochs(on: admin)
            let slotsBefore = try await admin.query("SELECT name, slot FROM scheduler_cron_slot").map {
                "\(try $0.decode(String.self, "name")) \(try $0.decode(String.self, "slot"))"
            }
            let doneBefore = Set(
                try await admin.query("SELECT name FROM scheduler_task_history WHERE status = 'done'").map {
                    try $0.decode(String.self, "name")
                })
            let snapshotTime = try await admin.query("SELECT clock_timestamp()::text AS t")[0].decode(String.self, "t")
            await admin.close()
            try await primary.crash()
            let onStandby = try await Connection.connect(
                {
                    var options = ConnectionOptions(try standby.connectionString); options.acceptsStandby = true;
                    return options
                }())
            run.epochsKept = try await epochs(on: onStandby)
            await onStandby.close()
            try await standby.promote()
            let promoted = ContinuousClock.now

            let observer = try await Connection.connect(ConnectionOptions(try standby.connectionString))
            let lastSlotKept = try await observer.query("SELECT max(created_at) AS t FROM scheduler_cron_slot")[0]
                .decode(String.self, "t")
            try await waitUntil("a cron slot after the promotion", timeout: .seconds(60)) {
                try await observer.query(
                    "SELECT count(*) AS n FROM scheduler_cron_slot WHERE created_at > \(lastSlotKept)::timestamptz"
                )[0].decode(Int.self, "n") > 0
            }
            run.promotionToFirstSlot = ContinuousClock.now - promoted
            try await enqueuer.waitForMore(
                100, "100 enqueues acknowledged by the promoted server", timeout: .seconds(60))
            load.cancel()
            await load.value
            try await waitUntil("every task is done", timeout: .seconds(90)) {
                try await observer.query("SELECT count(*) AS n FROM scheduler_task")[0].decode(Int.self, "n") == 0
            }
            run.promotionToAllTasksDone = ContinuousClock.now - promoted

            for node in nodes {
                #expect(node.process?.isRunning == true, "node \(node.node) runs")
                try await node.waitForModule("SchedulerTaskWorker", iterations: 0)
            }
            let held = try await observer.query(
                "SELECT module, count(*) AS n FROM daemon_singleton_overview WHERE held GROUP BY module")
            let heldBy = Dictionary(
                uniqueKeysWithValues: try held.map {
                    (try $0.decode(String.self, "module"), try $0.decode(Int.self, "n"))
                })
            for module in singletons { #expect(heldBy[module] == 1, "\(module) is held once") }
            run.epochsAfter = try await epochs(on: observer)

            let acknowledged = await enqueuer.acknowledged
            run.acknowledged = acknowledged.count
            let found = Set(
                try await observer.query(
                    "SELECT DISTINCT name FROM scheduler_task_history WHERE name LIKE 'load-%'"
                ).map { try $0.decode(String.self, "name") })
            run.lostTasks = acknowledged.subtracting(found)
            run.unacknowledgedButCommitted = found.subtracting(acknowledged).count
            let counts = try await observer.query(
                """
                SELECT count(*) FILTER (WHERE done > 1) AS twice, coalesce(sum(rescued), 0)::int AS rescued FROM (
                    SELECT task_id, count(*) FILTER (WHERE status = 'done') AS done,
                           count(*) FILTER (WHERE status = 'rescued') AS rescued
                    FROM scheduler_task_history GROUP BY task_id) AS t
                """)[0]
            run.tasksDoneTwice = try counts.decode(Int.self, "twice")
            run.rescued = try counts.decode(Int.self, "rescued")
            run.slotsRunTwice = try await observer.query(
                """
                SELECT count(*) AS n FROM (SELECT scheduled_for FROM scheduler_task_history
                    WHERE name = 'tick' AND status = 'done' GROUP BY scheduled_for HAVING count(*) > 1) AS d
                """)[0].decode(Int.self, "n")
            // What the promoted server holds from before the kill, and what was recorded again after it.
            let slotsKept = Set(
                try await observer.query(
                    "SELECT name, slot FROM scheduler_cron_slot WHERE created_at <= \(snapshotTime)::timestamptz"
                ).map { "\(try $0.decode(String.self, "name")) \(try $0.decode(String.self, "slot"))" })
            let slotsAfter = Set(
                try await observer.query("SELECT name, slot FROM scheduler_cron_slot").map {
                    "\(try $0.decode(String.self, "name")) \(try $0.decode(String.self, "slot"))"
                })
            run.slotsLost = slotsBefore.filter { !slotsAfter.contains($0) }.count
            run.slotsRecordedAgain = slotsBefore.filter { !slotsKept.contains($0) && slotsAfter.contains($0) }.count
            let doneKept = Set(
                try await observer.query(
                    """
                    SELECT name FROM scheduler_task_history
                    WHERE status = 'done' AND finished_at <= \(snapshotTime)::timestamptz
                    """
                ).map { try $0.decode(String.self, "name") })
            // An enqueue lost with the primary does not run again; a task whose outcome alone was lost does.
            run.outcomesLost = doneBefore.subtracting(doneKept).intersection(found).count
            await observer.close()
            for node in nodes { await node.cleanUp() }
            await standby.remove()
            await primary.remove()
            return run
        } catch {
            for node in nodes { print("node \(node.node) output:\n\(node.output)") }
            for node in nodes { await node.cleanUp() }
            await standby.remove()
            await primary.remove()
            throw error
        }
    }

    static func epochs(on connection: Connection) async throws -> [String: Int] {
        Dictionary(
            uniqueKeysWithValues: try await connection.query("SELECT module, epoch FROM daemon_singleton").map {
                (try $0.decode(String.self, "module"), try $0.decode(Int.self, "epoch"))
            })
    }
}
