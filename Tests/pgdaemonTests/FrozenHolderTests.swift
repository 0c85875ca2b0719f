import Foundation
import Postgres
import TestSupport
import Testing

/// A holder whose process tree is frozen, or whose iteration never returns, keeps its sessions and so its advisory
/// lock; the lease (`daemon.singleton_lease`, `max_iteration`) replaces it within a bound.
@Suite("A frozen or stuck singleton holder is replaced", .timeLimit(.minutes(3)))
struct FrozenHolderTests {
    static let lease = Duration.seconds(5)

    /// Two nodes, each logged in as a role of its own in pgdaemon_node (no superuser, neither a member of the other's
    /// role: only daemon_singleton_end_stale lets one end the other's sessions). The node holding the singletons is
    /// frozen with SIGSTOP, supervisor and modules, while its worker runs a long task: the other node takes over the
    /// cron manager within the lease and a second, its rescuer returns the frozen node's task to the queue, and
    /// after SIGCONT the frozen holder writes no slot, discards its cron manager and keeps its worker.
    @Test func aFrozenHolderIsReplacedWithinTheLeaseAndItsTasksAreRescued() async throws {
        try await withTestDatabase { database in
            try await withNodeRoles(2) { roles in
                let modules = """
                      SchedulerTaskWorker: {}
                      SchedulerCronTaskManager: {}
                      SchedulerTaskRescuer: {}
                    cron:
                      tick: { schedule: "* * * * * *", overlap: allow, task: { type: Noop } }
                    """
                var nodes: [DaemonHarness] = []
                for role in roles {
                    nodes.append(
                        try await DaemonHarness(
                            connectionString: "\(database.connectionString) user=\(role)", modules: modules,
                            daemonSettings: ["singleton_lease: \(Self.lease.components.seconds)s"]))
                }
                let (frozen, other) = (nodes[0], nodes[1])
                let connection = try await database.connect()
                func holder(_ module: String) async throws -> String? {
                    try await connection.query(
                        "SELECT holder_node FROM daemon_singleton_overview WHERE module = \(module) AND held"
                    ).first?.decode(String?.self, "holder_node")
                }
                try frozen.start()
                try await waitUntil("the first node holds the singletons", timeout: .seconds(30)) {
                    let cron = try await holder("SchedulerCronTaskManager")
                    let rescuer = try await holder("SchedulerTaskRescuer")
                    return cron == frozen.node && rescuer == frozen.node
                }
                let task = try await connection.query(
                    "SELECT scheduler_task_add('Sleep', '{\"seconds\": 600}') AS id")[0].decode(Int64.self, "id")
                try await waitUntil("the first node runs the long task", timeout: .seconds(20)) {
                    try await connection.query(
                        "SELECT count(*) AS n FROM scheduler_task WHERE id = \(task) AND lock_node = \(frozen.node)"
                    )[0].decode(Int.self, "n") == 1
                }
                try other.start()
                // A worker's iteration lasts while notifications keep coming (a task a second here).
                try await other.waitForModule("SchedulerTaskWorker", iterations: 0)
                try await waitUntil("the second node stands by", timeout: .seconds(20)) {
                    try await other.modules()["SchedulerCronTaskManager"]?.state == "standby"
                }

                // The node role may end a holder's sessions only through daemon_singleton_end_stale, and only once the
                // lease is stale.
                let intruder = try await Connection.connect(
                    ConnectionOptions(
                        "\(database.connectionString) user=\(roles[1])", applicationName: "pgdaemon-tests"))
                let holderPID = try await connection.query(
                    """
                    SELECT holder_backend_pid AS pid FROM daemon_singleton_overview
                    WHERE module = 'SchedulerCronTaskManager'
                    """)[0].decode(Int32.self, "pid")
                await #expect(throws: PostgresError.self) {
                    try await intruder.query("SELECT pg_terminate_backend(\(Int(holderPID)))")
                }
                let ended = try await intruder.query(
                    "SELECT daemon_singleton_end_stale('SchedulerCronTaskManager', interval '1 hour') AS pid"
                )[0].decode(Int32?.self, "pid")
                #expect(ended == nil, "a fresh lease is left alone")
                await intruder.close()

                let pids = frozen.freeze()
                let frozenAt = ContinuousClock.now
                try await waitUntil("the second node takes over the cron manager", timeout: .seconds(30)) {
                    try await holder("SchedulerCronTaskManager") == other.node
                }
                let takeover = frozenAt.duration(to: .now)
                print("A frozen holder was replaced \(takeover) after SIGSTOP, singleton_lease \(Self.lease).")
                #expect(takeover <= Self.lease + .seconds(1), "taken over after \(takeover)")
                let lease = try await connection.query(
                    """
                    SELECT extract(epoch FROM lease_age)::float8 AS age FROM daemon_singleton_overview
                    WHERE module = 'SchedulerCronTaskManager'
                    """)[0].decode(Double?.self, "age")
                #expect(lease.map { $0 < 5 } == true, "the new holder renews its lease: \(String(describing: lease))")
                try await waitUntil("the frozen node's task is rescued", timeout: .seconds(60)) {
                    try await connection.query(
                        """
                        SELECT count(*) AS n FROM scheduler_task_history
                        WHERE task_id = \(task) AND status = 'rescued' AND node = \(frozen.node)
                        """)[0].decode(Int.self, "n") >= 1
                }
                try await waitUntil("the second node records slots", timeout: .seconds(20)) {
                    try await connection.query(
                        "SELECT count(*) AS n FROM scheduler_cron_slot WHERE node = \(other.node)"
                    )[0].decode(Int.self, "n") >= 3
                }

                frozen.thaw(pids)
                let thawed = try await connection.query("SELECT now() AS at")[0].decode(Date.self, "at")
                try await waitUntil("the woken holder's cron manager stands by again", timeout: .seconds(30)) {
                    guard let row = try await frozen.modules()["SchedulerCronTaskManager"] else { return false }
                    return row.state == "standby" && row.discards + row.restarts >= 1
                }
                let worker = try await frozen.modules()["SchedulerTaskWorker"]
                #expect(worker?.state == "running", "the woken node's other modules carry on")
                #expect(worker?.restarts == 0 && worker?.discards == 0, "\(String(describing: worker))")
                try await waitUntil("more slots pass", timeout: .seconds(20)) {
                    try await connection.query(
                        "SELECT count(*) AS n FROM scheduler_cron_slot WHERE slot > \(thawed)"
                    )[0].decode(Int.self, "n") >= 3
                }
                let slots = try await connection.query(
                    """
                    SELECT count(*) AS slots, count(DISTINCT slot) AS distinct_slots,
                           count(*) FILTER (WHERE node = \(frozen.node) AND slot > \(thawed)) AS late
                    FROM scheduler_cron_slot WHERE name = 'tick'
                    """)[0]
                #expect(
                    try slots.decode(Int.self, "slots") == slots.decode(Int.self, "distinct_slots"), "no slot twice")
                #expect(try slots.decode(Int.self, "late") == 0, "the woken holder wrote no slot")
                for node in nodes { await node.cleanUp() }
                await connection.close()
            }
        }
    }

    /// A cron manager whose run() waits forever (here on a row lock a test transaction holds) stops renewing its
    /// lease after max_iteration, and the standby takes over within the lease after that.
    @Test func aHolderWhoseRunNeverReturnsIsReplacedAfterMaxIteration() async throws {
        try await withTestDatabase { database in
            let modules = """
                  SchedulerCronTaskManager: { max_iteration: 2s }
                cron:
                  tick: { schedule: "* * * * * *", task: { type: Noop } }
                """
            var nodes: [DaemonHarness] = []
            for _ in 0..<2 {
                nodes.append(
                    try await DaemonHarness(
                        connectionString: database.connectionString, modules: modules,
                        daemonSettings: ["singleton_lease: \(Self.lease.components.seconds)s"]))
            }
            let connection = try await database.connect()
            func holder() async throws -> String? {
                try await connection.query(
                    "SELECT holder_node FROM daemon_singleton_overview WHERE module = 'SchedulerCronTaskManager' AND held"
                ).first?.decode(String?.self, "holder_node")
            }
            try nodes[0].start()
            try await waitUntil("the first node holds the cron manager", timeout: .seconds(30)) {
                try await holder() == nodes[0].node
            }
            try nodes[1].start()
            try await waitUntil("the second node stands by", timeout: .seconds(20)) {
                try await nodes[1].modules()["SchedulerCronTaskManager"]?.state == "standby"
            }
            let blocker = try await database.connect()
            try await blocker.execute("BEGIN")
            try await blocker.execute("SELECT * FROM scheduler_recurrent_task WHERE name = 'tick' FOR UPDATE")
            let blockedAt = ContinuousClock.now
            try await waitUntil("the second node takes over", timeout: .seconds(40)) {
                try await holder() == nodes[1].node
            }
            let takeover = blockedAt.duration(to: .now)
            print("A holder stuck in run() was replaced \(takeover) after it blocked, max_iteration 2s.")
            // The next slot comes within a second and blocks; the lease stops 2 s later and runs out 5 s after that.
            #expect(takeover <= .seconds(1) + .seconds(2) + Self.lease + .seconds(2), "taken over after \(takeover)")
            try await blocker.execute("ROLLBACK")
            try await waitUntil("slots run again on the second node", timeout: .seconds(20)) {
                try await connection.query(
                    "SELECT count(*) AS n FROM scheduler_cron_slot WHERE node = \(nodes[1].node)"
                )[0].decode(Int.self, "n") >= 2
            }
            for node in nodes { await node.cleanUp() }
            await blocker.close()
            await connection.close()
        }
    }

    /// The supervisor ends a module process whose iteration runs past max_iteration (a worker busy with a task that
    /// never ends), records why and starts it again after the crash backoff.
    @Test func theSupervisorEndsAModuleWhoseIterationRunsPastMaxIteration() async throws {
        // Longer than an idle worker's iteration, which ends after its 5 s poll_interval.
        try await withDaemon(modules: "  SchedulerTaskWorker: { max_iteration: 8s }") { daemon, database in
            let connection = try await database.connect()
            try daemon.start()
            let first = try await daemon.waitForModule("SchedulerTaskWorker", iterations: 0)
            _ = try await connection.query("SELECT scheduler_task_add('Sleep', '{\"seconds\": 600}')")
            var restarted: DaemonHarness.ModuleRow?
            try await waitUntil("the worker is ended and started again", timeout: .seconds(60)) {
                guard let row = try await daemon.modules()["SchedulerTaskWorker"], row.restarts >= 1,
                    row.state == "running", row.pid != first.pid
                else { return false }
                restarted = row
                return true
            }
            #expect(restarted?.lastError?.contains("past max_iteration 8s") == true, "\(String(describing: restarted))")
            #expect(daemon.output.contains("A module's iteration ran past max_iteration; ending its process."))
            let listed = try await daemon.command(["modules"])
            #expect(listed.stdout.contains("MAX ITERATION"), "\(listed.stdout)")
            await connection.close()
        }
    }
}

/// Runs `body` with `count` login roles of pgdaemon_node, none a superuser nor a member of another's role, and drops
/// them afterwards.
func withNodeRoles<Value>(_ count: Int, _ body: ([String]) async throws -> Value) async throws -> Value {
    let admin = try await Connection.connect(ConnectionOptions(applicationName: "pgdaemon-tests"))
    let roles = (0..<count).map { _ in "pgd_node_" + UUID().uuidString.prefix(8).lowercased() }
    for role in roles { try await admin.execute("CREATE ROLE \(identifier: role) LOGIN IN ROLE pgdaemon_node") }
    func drop() async {
        for role in roles { _ = try? await admin.execute("DROP ROLE IF EXISTS \(identifier: role)") }
        await admin.close()
    }
    do {
        let value = try await body(roles)
        await drop()
        return value
    } catch {
        await drop()
        throw error
    }
}
