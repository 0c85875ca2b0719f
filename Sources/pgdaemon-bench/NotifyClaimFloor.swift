import ArgumentParser
import Foundation
import Postgres

/// The floor under any PostgreSQL queue's enqueue→start latency (issue 17, item 5): one session inserts a row and
/// notifies in one statement, a second waits for the notification, and a third then claims the row with
/// `SKIP LOCKED`, ROUNDS times, `interval` apart. The latency runs from the insert's transaction time, as a task's
/// `create_time`, to the moment the claim's commit has returned to the claimer, where a worker records `started_at`:
/// a claim is not safe to act on before its commit, which on a durable server waits for its WAL flush like the
/// insert's. The client's clock is the server's on one machine.
struct NotifyClaimFloor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor", abstract: "The insert+NOTIFY+claim floor of enqueue→start latency, p50/p95/p99.")

    @Option(help: "Rows inserted, notified and claimed one after another.") var rounds = 200
    @Option(help: "Milliseconds between rounds.") var intervalMs = 10

    func run() async throws {
        let inserter = try await Connection.connect(ConnectionOptions(applicationName: "pgdaemon-bench/floor-insert"))
        let listener = try await Connection.connect(ConnectionOptions(applicationName: "pgdaemon-bench/floor-listen"))
        let claimer = try await Connection.connect(ConnectionOptions(applicationName: "pgdaemon-bench/floor-claim"))
        try await inserter.runScript(
            """
            DROP TABLE IF EXISTS bench_floor_probe;
            CREATE TABLE bench_floor_probe (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                            created timestamptz NOT NULL DEFAULT now());
            """)
        try await listener.listen("bench_floor")
        var latencies: [Double] = []
        for _ in 0..<rounds {
            async let heard = listener.nextNotification(timeout: .seconds(5))
            try await inserter.execute(
                """
                WITH row AS (INSERT INTO bench_floor_probe DEFAULT VALUES RETURNING id)
                SELECT pg_notify('bench_floor', '') FROM row
                """, prepared: true)
            guard try await heard != nil else { throw ValidationError("No notification came within 5 s.") }
            let claimed = try await claimer.query(
                """
                DELETE FROM bench_floor_probe WHERE id = (
                    SELECT id FROM bench_floor_probe ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
                RETURNING extract(epoch FROM created)::float8 AS created
                """, prepared: true)
            let created = try claimed[0].decode(Double.self, "created")
            latencies.append((Date().timeIntervalSince1970 - created) * 1000)
            try await Task.sleep(for: .milliseconds(intervalMs))
        }
        try await inserter.execute("DROP TABLE bench_floor_probe")
        for connection in [inserter, listener, claimer] { await connection.close() }

        latencies.sort()
        func percentile(_ p: Double) -> Double {
            (latencies[min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)] * 1000)
                .rounded() / 1000
        }
        let line: [String: Any] = [
            "benchmark": "notify_claim_floor", "rounds": rounds, "p50_ms": percentile(0.50),
            "p95_ms": percentile(0.95), "p99_ms": percentile(0.99),
        ]
        let json = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
