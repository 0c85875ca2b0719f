import Foundation
import Postgres

/// The answers of `daemon.http`: `/health` and `/metrics`, read from the shared database on a connection of their
/// own (`pgdaemon/NODE/http`), so what they show is what `status`, `summary` and a DBA see, whichever process did the
/// work.
actor NodeStatus {
    private let configuration: Configuration
    private var connection: Connection?

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Module states that count as up: a discard and the start after it are the normal lifecycle.
    static let upStates: Set<ModuleState> = [.running, .standby, .starting, .discarding]

    func respond(to path: String) async -> StatusServer.Response {
        switch path {
        case "/health": await health()
        case "/metrics": await metrics()
        default: StatusServer.Response(status: 404, body: "Only /health and /metrics.\n")
        }
    }

    /// 200 while the database answers and every configured module is up; 503 naming what is not.
    func health() async -> StatusServer.Response {
        let node = configuration.node
        do {
            let rows = try await query("SELECT module, state FROM daemon_module_state WHERE node = \(node)")
            var states: [String: String] = [:]
            for row in rows { states[try row.decode(String.self, "module")] = try row.decode(String?.self, "state") }
            let down = configuration.validModules.map(\.name).sorted().compactMap { module -> String? in
                guard let state = states[module] else { return "\(module) has not started" }
                return ModuleState(rawValue: state).map(Self.upStates.contains) == true ? nil : "\(module) is \(state)"
            }
            guard down.isEmpty else {
                return StatusServer.Response(
                    status: 503, body: "unhealthy: node \(node): \(down.joined(separator: "; "))\n")
            }
            return StatusServer.Response(
                status: 200, body: "ok: node \(node), \(configuration.validModules.count) modules up\n")
        } catch {
            return StatusServer.Response(status: 503, body: "unhealthy: node \(node): the database: \(error)\n")
        }
    }

    /// Bounds of the start-delay histogram, in seconds.
    static let delayBuckets = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300]

    /// The Prometheus text format. Task counts and the delay histogram come from this node's history rows, so they
    /// drop when `history_retention` prunes old rows, which Prometheus reads as a counter reset.
    func metrics() async -> StatusServer.Response {
        let node = configuration.node
        do {
            var text = PrometheusText()
            // One pass over this node's history rows gives both the outcome counts and the delay histogram. Every time
            // in it is the database clock's, so a delay is never below zero and is not clamped: a negative one would
            // show a fault instead of hiding it.
            let buckets = Self.delayBuckets.enumerated().map { "count(*) FILTER (WHERE d <= \($1)) AS b\($0)" }
                .joined(separator: ", ")
            let history = try await query(
                """
                SELECT task_type, status, count(*) AS n, count(d) AS started, coalesce(sum(d), 0)::float8 AS total,
                       \(unsafeSQL: buckets)
                FROM (SELECT task_type, status,
                             extract(epoch FROM started_at - coalesce(scheduled_for, create_time))::float8 AS d
                      FROM scheduler_task_history WHERE node = \(node)) AS h
                GROUP BY 1, 2 ORDER BY 1, 2
                """)
            text.add(
                "pgdaemon_tasks_finished_total", "Task attempts this node finished, by type and outcome.", "counter",
                try history.map {
                    (
                        [
                            ("type", try $0.decode(String.self, "task_type")),
                            ("status", try $0.decode(String.self, "status")),
                        ],
                        Double(try $0.decode(Int.self, "n"))
                    )
                })
            var (counts, count, total) = (Array(repeating: 0.0, count: Self.delayBuckets.count), 0.0, 0.0)
            for row in history {
                for index in counts.indices { counts[index] += Double(try row.decode(Int.self, "b\(index)")) }
                count += Double(try row.decode(Int.self, "started"))
                total += try row.decode(Double.self, "total")
            }
            text.add(
                "pgdaemon_task_start_delay_seconds",
                "From a task's due time (or its enqueueing) to its start on this node.", "histogram",
                zip(Self.delayBuckets, counts).map { ([("le", PrometheusText.number($0))], $1) }
                    + [([("le", "+Inf")], count)],
                suffixes: Array(repeating: "_bucket", count: Self.delayBuckets.count + 1))
            text.samples.append("pgdaemon_task_start_delay_seconds_sum \(PrometheusText.number(total))")
            text.samples.append("pgdaemon_task_start_delay_seconds_count \(PrometheusText.number(count))")

            let queue = try await query(
                """
                SELECT (SELECT count(*) FROM scheduler_task WHERE lock_key IS NULL) AS ready,
                       (SELECT count(*) FROM scheduler_task WHERE lock_key IS NOT NULL) AS running,
                       (SELECT count(*) FROM scheduler_future_task) AS future
                """)[0]
            text.add(
                "pgdaemon_queue_tasks", "Tasks in the cluster's queue, by state.", "gauge",
                try ["ready", "running", "future"].map { ([("state", $0)], Double(try queue.decode(Int.self, $0))) })

            let modules = try await query(
                "SELECT module, state, discards, restarts FROM daemon_module_state WHERE node = \(node) ORDER BY 1")
            for (column, help) in [
                ("discards", "Times a module's process was discarded and replaced."),
                ("restarts", "Times a module's process crashed and was restarted."),
            ] {
                text.add(
                    "pgdaemon_module_\(column)_total", help, "counter",
                    try modules.map {
                        ([("module", try $0.decode(String.self, "module"))], Double(try $0.decode(Int.self, column)))
                    })
            }
            text.add(
                "pgdaemon_module_up", "1 while a module is up (running, standing by, starting, discarding).", "gauge",
                try modules.map {
                    let state = try $0.decode(String?.self, "state").flatMap(ModuleState.init(rawValue:))
                    return (
                        [("module", try $0.decode(String.self, "module"))],
                        state.map(Self.upStates.contains) == true ? 1 : 0
                    )
                })

            let singletons = try await query(
                "SELECT module, epoch, coalesce(held AND holder_node = \(node), false) AS mine FROM daemon_singleton_overview ORDER BY 1"
            )
            text.add(
                "pgdaemon_singleton_held", "1 while this node holds the singleton.", "gauge",
                try singletons.map {
                    ([("module", try $0.decode(String.self, "module"))], try $0.decode(Bool.self, "mine") ? 1 : 0)
                })
            text.add(
                "pgdaemon_singleton_takeovers_total", "Takeovers of the singleton in the cluster (its epoch).",
                "counter",
                try singletons.map {
                    ([("module", try $0.decode(String.self, "module"))], Double(try $0.decode(Int.self, "epoch")))
                })

            let cache = try await query("SELECT type, entries, bytes FROM cache_overview ORDER BY 1")
            text.add(
                "pgdaemon_cache_entries", "Entries in the shared cache, by type.", "gauge",
                try cache.map {
                    ([("type", try $0.decode(String.self, "type"))], Double(try $0.decode(Int.self, "entries")))
                })
            text.add(
                "pgdaemon_cache_bytes", "Bytes of values in the shared cache, by type.", "gauge",
                try cache.map {
                    ([("type", try $0.decode(String.self, "type"))], Double(try $0.decode(Int.self, "bytes")))
                })
            let counters = try await query(
                """
                SELECT name, label, sum(value)::bigint AS value FROM daemon_counter
                WHERE node = \(node) AND name IN ('cache_hits', 'cache_misses') GROUP BY 1, 2 ORDER BY 1, 2
                """)
            for (name, help) in [
                ("cache_hits", "Cache reads that found a live entry, by type, in this node's module processes."),
                ("cache_misses", "Cache reads that found no live entry, by type, in this node's module processes."),
            ] {
                text.add(
                    "pgdaemon_\(name)_total", help, "counter",
                    try counters.filter { try $0.decode(String.self, "name") == name }.map {
                        ([("type", try $0.decode(String.self, "label"))], Double(try $0.decode(Int.self, "value")))
                    })
            }
            return StatusServer.Response(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: text.rendered)
        } catch {
            return StatusServer.Response(status: 503, body: "The database did not answer: \(error)\n")
        }
    }

    /// Runs a statement on the status connection: opened at the first use, and opened again once when it broke (a
    /// database restart); any other error is the answer.
    private func query(_ sql: SQL) async throws -> PostgresRows {
        if let connection {
            do {
                return try await connection.query(sql)
            } catch let error as PostgresError where error.isConnectionError {
                self.connection = nil
                await connection.close()
            }
        }
        let opened = try await Connection.connect(ModuleRunner.connectionOptions(configuration, purpose: "http"))
        connection = opened
        return try await opened.query(sql)
    }
}

/// Lines of the Prometheus text exposition format.
struct PrometheusText {
    var samples: [String] = []

    mutating func add(
        _ name: String, _ help: String, _ type: String, _ values: [([(String, String)], Double)],
        suffixes: [String]? = nil
    ) {
        samples.append("# HELP \(name) \(help)")
        samples.append("# TYPE \(name) \(type)")
        for (index, (labels, value)) in values.enumerated() {
            let suffix = suffixes?[index] ?? ""
            let rendered = labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",")
            samples.append("\(name)\(suffix)\(rendered.isEmpty ? "" : "{\(rendered)}") \(Self.number(value))")
        }
    }

    var rendered: String { samples.joined(separator: "\n") + "\n" }

    /// A label value with backslash, quote and line feed escaped, as the format asks.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
