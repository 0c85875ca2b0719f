import Foundation
import Postgres

/// The answers of `daemon.http`: `/health` and `/metrics`, read from the shared database on the supervisor's
/// connection, so what they show is what `status`, `summary` and a DBA see, whichever process did the work, and a
/// scraped node costs the server no session more. While that connection is broken they answer 503; the heartbeat
/// opens it again.
actor NodeStatus {
    private let configuration: Configuration
    /// The binary's registry, whose libraries add their metrics.
    private let registry: ModuleRegistry
    private let registration: NodeRegistration
    private var connection: Connection { registration.connection }

    init(configuration: Configuration, registry: ModuleRegistry, registration: NodeRegistration) {
        self.configuration = configuration
        self.registry = registry
        self.registration = registration
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

    /// 200 while the database answers, the node's last heartbeat was written and every configured module is up; 503
    /// naming what is not, with the error a module last recorded.
    func health() async -> StatusServer.Response {
        let node = configuration.node
        do {
            let rows = try await connection.query(
                "SELECT module, state, last_error FROM daemon_module_state WHERE node = \(node)")
            var states: [String: (state: String?, error: String?)] = [:]
            for row in rows {
                states[try row.decode(String.self, "module")] = (
                    try row.decode(String?.self, "state"), try row.decode(String?.self, "last_error")
                )
            }
            var down = configuration.validModules.map(\.name).sorted().compactMap { module -> String? in
                guard let (state, error) = states[module] else { return "\(module) has not started" }
                guard ModuleState(rawValue: state ?? "").map(Self.upStates.contains) != true else { return nil }
                return "\(module) is \(state ?? "unknown")" + (error.map { " (\($0))" } ?? "")
            }
            if let failure = await registration.heartbeatFailure {
                down.insert("the node's heartbeat failed: \(failure)", at: 0)
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

    /// The Prometheus text format: the modules' and singletons' states, and what the registered libraries add
    /// (`ModuleRegistry.register(metrics:)`: the scheduler's tasks, the cache).
    func metrics() async -> StatusServer.Response {
        let node = configuration.node
        do {
            var text = PrometheusText()
            let modules = try await connection.query(
                "SELECT module, state, discards, restarts FROM daemon_module_state WHERE node = \(node) ORDER BY 1")
            for (column, help) in [
                ("discards", "Times a module's process was discarded and replaced."),
                ("restarts", "Times a module's process crashed and was restarted."),
            ] {
                text.add(
                    "pgdaemon_module_\(column)_total", help, .counter,
                    try modules.map {
                        ([("module", try $0.decode(String.self, "module"))], Double(try $0.decode(Int.self, column)))
                    })
            }
            text.add(
                "pgdaemon_module_up", "1 while a module is up (running, standing by, starting, discarding).", .gauge,
                try modules.map {
                    let state = try $0.decode(String?.self, "state").flatMap(ModuleState.init(rawValue:))
                    return (
                        [("module", try $0.decode(String.self, "module"))],
                        state.map(Self.upStates.contains) == true ? 1 : 0
                    )
                })

            let singletons = try await connection.query(
                "SELECT module, epoch, coalesce(held AND holder_node = \(node), false) AS mine FROM daemon_singleton_overview ORDER BY 1"
            )
            text.add(
                "pgdaemon_singleton_held", "1 while this node holds the singleton.", .gauge,
                try singletons.map {
                    ([("module", try $0.decode(String.self, "module"))], try $0.decode(Bool.self, "mine") ? 1 : 0)
                })
            text.add(
                "pgdaemon_singleton_takeovers_total", "Takeovers of the singleton in the cluster (its epoch).",
                .counter,
                try singletons.map {
                    ([("module", try $0.decode(String.self, "module"))], Double(try $0.decode(Int.self, "epoch")))
                })

            for source in registry.metrics {
                for metric in try await source(configuration, connection) {
                    text.add(metric)
                }
            }
            return StatusServer.Response(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: text.rendered)
        } catch {
            return StatusServer.Response(status: 503, body: "The database did not answer: \(error)\n")
        }
    }

}

/// Lines of the Prometheus text exposition format.
struct PrometheusText {
    var samples: [String] = []

    mutating func add(_ metric: Metric) {
        samples += metric.lines
    }

    /// Adds a metric with one sample for each of `values`.
    mutating func add(_ name: String, _ help: String, _ kind: Metric.Kind, _ values: [([(String, String)], Double)]) {
        add(Metric(name, help, kind, values.map { Metric.Sample($0, $1) }))
    }

    var rendered: String { samples.joined(separator: "\n") + "\n" }
}
