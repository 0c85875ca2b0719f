import Foundation
import Postgres
import Synchronization
import TestSupport
import Testing

/// The processes a test killed on purpose, shared with the task watching the holders.
final class KilledProcesses: Sendable {
    let pids = Mutex<Set<Int32>>([])
}

@Suite("Singleton modules across three nodes", .timeLimit(.minutes(3)))
struct SingletonTests {
    private static let modules = "  TestDaemon: { cluster: singleton, sleep_post: 100ms }"

    /// The current holder as the DBA view shows it, when the lock is held.
    private struct Holder: Equatable {
        var node: String
        var pid: Int32
        var epoch: Int64
        var waiting: Int
    }

    private func holder(_ connection: Connection) async throws -> Holder? {
        let rows = try await connection.query(
            """
            SELECT holder_node, holder_pid, epoch, cardinality(waiting_nodes) AS waiting
            FROM daemon_singleton_overview WHERE module = 'TestDaemon' AND held
            """)
        return try rows.first.map { row in
            Holder(
                node: try row.decode(String.self, "holder_node"), pid: try row.decode(Int32.self, "holder_pid"),
                epoch: try row.decode(Int64.self, "epoch"), waiting: try row.decode(Int.self, "waiting"))
        }
    }

    /// Runs `body` with three nodes started on one database, all cleaned up afterwards.
    private func withThreeNodes(
        _ body: ([DaemonHarness], Connection) async throws -> Void
    ) async throws {
        try await withTestDatabase { database in
            var nodes: [DaemonHarness] = []
            let observer = try await database.connect()
            do {
                for _ in 0..<3 {
                    let node = try await DaemonHarness(
                        connectionString: database.connectionString, modules: Self.modules)
                    try node.start()
                    nodes.append(node)
                }
                try await body(nodes, observer)
            } catch {
                for node in nodes { print("\(node.node):\n\(node.output)") }
                for node in nodes { await node.cleanUp() }
                await observer.close()
                throw error
            }
            for node in nodes { await node.cleanUp() }
            await observer.close()
        }
    }

    /// Waits for a holder with two nodes waiting, other than `previous`, and returns it.
    private func waitForHolder(_ connection: Connection, after previous: Holder? = nil, waiting: Int = 2) async throws
        -> Holder
    {
        var found: Holder?
        try await waitUntil("a new holder with \(waiting) waiting") {
            guard let current = try await holder(connection), current.waiting == waiting,
                current.epoch > (previous?.epoch ?? 0), processIsAlive(current.pid)
            else { return false }
            found = current
            return true
        }
        return found!
    }

    @Test func exactlyOneNodeHoldsTheSingletonAndTheOthersStandBy() async throws {
        try await withThreeNodes { nodes, observer in
            let current = try await waitForHolder(observer)
            let states = try await observer.query(
                "SELECT state, count(*) AS n FROM daemon_module_state GROUP BY state ORDER BY state"
            ).map { "\(try $0.decode(String.self, "state"))=\(try $0.decode(Int.self, "n"))" }
            #expect(states == ["running=1", "standby=2"])
            #expect(nodes.contains { $0.node == current.node })
        }
    }

    @Test func killingTheHolderNodeHandsTheLockToAnother() async throws {
        try await withThreeNodes { nodes, observer in
            let first = try await waitForHolder(observer)
            nodes.first { $0.node == first.node }!.killNode()
            let second = try await waitForHolder(observer, after: first, waiting: 1)
            #expect(second.node != first.node)
            #expect(second.epoch == first.epoch + 1)
        }
    }

    @Test func terminatingTheHoldersLockConnectionMakesItStepDown() async throws {
        try await withThreeNodes { nodes, observer in
            let first = try await waitForHolder(observer)
            let backend = try await observer.query(
                "SELECT holder_backend_pid FROM daemon_singleton_overview WHERE module = 'TestDaemon'")[0]
                .decode(Int.self, "holder_backend_pid")
            try await observer.execute("SELECT pg_terminate_backend(\(backend))")
            let second = try await waitForHolder(observer, after: first)
            #expect(second.node != first.node)
            let old = nodes.first { $0.node == first.node }!
            // Its one session held the lock and ran its statements: whichever notices first, it discards itself.
            try await waitUntil("the old holder logs that it stepped down") {
                old.output.contains("Lost the singleton lock; discarding.")
                    || old.output.contains("Lost the database connection; discarding the singleton.")
            }
            try await waitUntil("the old holder's process is gone") { !processIsAlive(first.pid) }
        }
    }

    @Test func aGracefulStopHandsOver() async throws {
        try await withThreeNodes { nodes, observer in
            let first = try await waitForHolder(observer)
            let old = nodes.first { $0.node == first.node }!
            old.signal(SIGTERM)
            let second = try await waitForHolder(observer, after: first, waiting: 1)
            #expect(second.node != first.node)
            #expect(try await old.waitForExit() == 0)
        }
    }

    @Test func drainHandsTheSingletonsAwayUntilUndrain() async throws {
        try await withThreeNodes { nodes, observer in
            let first = try await waitForHolder(observer)
            let holderNode = nodes.first { $0.node == first.node }!
            let drained = try await holderNode.command(["drain"])
            #expect(drained.status == 0, "\(drained.stderr)")
            #expect(drained.stdout == "Node \(first.node) is drained: it holds no singleton.\n")
            let second = try await waitForHolder(observer, after: first, waiting: 1)
            #expect(second.node != first.node)
            let status = try await observer.query("SELECT status FROM daemon_node WHERE name = \(first.node)")
            #expect(try status[0].decode(String.self, "status") == "drained")
            // The lock goes before the process: the supervisor records the drained state once the child has exited.
            try await waitUntil("the module shows as drained") {
                try await holderNode.modules()["TestDaemon"]?.state == "drained"
            }

            let undrained = try await holderNode.command(["undrain"])
            #expect(undrained.status == 0)
            try await waitUntil("the undrained node stands by again") {
                try await holder(observer)?.waiting == 2
            }
        }
    }

    @Test func noTwoLiveHoldersWhileNodesAreKilledAndRestarted() async throws {
        try await withThreeNodes { nodes, observer in
            let victims = KilledProcesses()
            let watcher = try await Connection.connect(ConnectionOptions(observer.options.connectionString))
            let watching = Task {
                var worst = 0
                while !Task.isCancelled {
                    // A query cut short by the cancellation that ends the watch is no sample.
                    guard
                        let rows = try? await watcher.query(
                            "SELECT pid FROM daemon_module_state WHERE module = 'TestDaemon' AND state = 'running'")
                    else { break }
                    let pids = try rows.compactMap { try $0.decode(Int32?.self, "pid") }
                    // A process this test killed is still in /proc for a moment while the kernel ends it; it cannot
                    // act any more, so only the others count.
                    let killed = victims.pids.withLock { $0 }
                    worst = max(worst, pids.filter { processIsAlive($0) && !killed.contains($0) }.count)
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return worst
            }
            var previous = try await waitForHolder(observer)
            for _ in 0..<4 {
                let holderNode = nodes.first { $0.node == previous.node }!
                holderNode.killNode { pids in victims.pids.withLock { $0.formUnion(pids) } }
                previous = try await waitForHolder(observer, after: previous, waiting: 1)
                try holderNode.start()
                try await waitUntil("the restarted node stands by") {
                    try await holder(observer)?.waiting == 2
                }
            }
            watching.cancel()
            let worst = try await watching.value
            #expect(worst == 1, "at most one live process ever reported itself running as the holder")
            await watcher.close()
        }
    }
}
