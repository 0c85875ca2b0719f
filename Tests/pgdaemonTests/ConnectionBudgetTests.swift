import Foundation
import Postgres
import TestSupport
import Testing

/// A node with the default module set holds at most five server sessions, one per process, whether it holds the
/// singletons or stands by, and while its `/metrics` is scraped: ten nodes fit in PostgreSQL's default
/// max_connections with room to spare.
@Suite("Server connections per node", .timeLimit(.minutes(2)))
struct ConnectionBudgetTests {
    static let defaultModules = """
          SchedulerTaskWorker: {}
          SchedulerFutureTaskManager: {}
          SchedulerCronTaskManager: {}
          SchedulerTaskRescuer: {}
        cron:
          tick: { schedule: "* * * * * *", overlap: allow, task: { type: Noop } }
        """

    @Test func aHolderAndAStandbyEachHoldAtMostFiveSessions() async throws {
        try await withTestDatabase { database in
            let ports = [freePort(), freePort()]
            var nodes: [DaemonHarness] = []
            for port in ports {
                nodes.append(
                    try await DaemonHarness(
                        connectionString: database.connectionString, modules: Self.defaultModules,
                        http: "127.0.0.1:\(port)"))
            }
            let observer = try await database.connect()
            /// Sessions by node, from the application names every connection of a node carries.
            func sessions() async throws -> [String: Int] {
                var counts: [String: Int] = [:]
                for node in nodes {
                    counts[node.node] = try await observer.query(
                        """
                        SELECT count(*) AS n FROM pg_stat_activity
                        WHERE application_name LIKE 'pgdaemon/' || \(node.node) || '/%'
                        """
                    )[0].decode(Int.self, "n")
                }
                return counts
            }
            var most: [String: Int] = [:]
            func sample() async throws {
                for (node, count) in try await sessions() { most[node] = max(most[node] ?? 0, count) }
            }
            for node in nodes { try node.start() }
            try await waitUntil("every module of both nodes is up", timeout: .seconds(40)) {
                try await sample()
                var states: [String] = []
                for node in nodes { states += try await node.modules().values.compactMap(\.state) }
                return states.sorted()
                    == ["running", "running", "running", "running", "running", "standby", "standby", "standby"]
            }
            // The cron entry's tasks run, and both nodes' /metrics and /health answer, while the count goes on.
            try await waitUntil("cron tasks ran", timeout: .seconds(20)) {
                try await sample()
                return try await observer.query(
                    "SELECT count(*) AS n FROM scheduler_task_history WHERE name = 'tick'"
                )[0].decode(Int.self, "n") >= 2
            }
            for port in ports {
                #expect(try httpGet(port: port, path: "/metrics").body.contains("pgdaemon_singleton_held"))
                #expect(try httpGet(port: port, path: "/health").status == 200)
                try await sample()
            }
            let steady = try await sessions()
            for node in nodes {
                #expect(steady[node.node] == 5, "one session per process: \(steady)")
                #expect((most[node.node] ?? 0) <= 5, "at most five at any sample: \(most)")
            }
            await observer.close()
            for node in nodes { await node.cleanUp() }
        }
    }
}
