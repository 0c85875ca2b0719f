import Foundation
import Postgres

/// The cluster: every node with its modules, and every singleton with its holder and the nodes waiting for it.
struct ClusterPage: Sendable {
    struct Module: Sendable, Codable {
        var module: String
        var state: String?
        var restarts: Int
        var discards: Int
        var lastError: String?

        enum CodingKeys: String, CodingKey {
            case module, state, restarts, discards
            case lastError = "last_error"
        }
    }

    struct Node: Sendable {
        var name: String
        var status: String
        var heartbeat: String
        var stale: Bool
        var host: String
        var version: String
        var configHash: String
        var modules: [Module]
    }

    struct Singleton: Sendable {
        var module: String
        var holder: String
        var held: Bool
        var epoch: Int64
        var since: String
        var waiting: String
    }

    var nodes: [Node]
    var singletons: [Singleton]

    /// Two statements: the nodes with their modules (the primary keys of two small tables), and the singletons' view.
    static func read(_ connection: Connection) async throws -> ClusterPage {
        let nodes = try await connection.query(
            """
            SELECT n.name, n.status, n.host, n.version, n.config_hash,
                   extract(epoch FROM now() - n.last_heartbeat)::float8 AS heartbeat_age,
                   coalesce(json_agg(json_build_object('module', m.module, 'state', m.state, 'restarts', m.restarts,
                                                       'discards', m.discards, 'last_error', m.last_error)
                                     ORDER BY m.module) FILTER (WHERE m.module IS NOT NULL), '[]')::text AS modules
            FROM daemon_node AS n LEFT JOIN daemon_module_state AS m ON m.node = n.name
            GROUP BY n.name ORDER BY n.name
            """
        ).map { row in
            let age = try row.decode(Double?.self, "heartbeat_age")
            return Node(
                name: try row.decode(String.self, "name"), status: try row.decode(String?.self, "status") ?? "-",
                heartbeat: Formatting.age(seconds: age), stale: (age ?? .infinity) > 30,
                host: try row.decode(String?.self, "host") ?? "-",
                version: try row.decode(String?.self, "version") ?? "-",
                configHash: try row.decode(String?.self, "config_hash") ?? "-",
                modules: try row.decode(PostgresJSON<[Module]>.self, "modules").value)
        }
        let singletons = try await connection.query(
            """
            SELECT module, holder_node, held, epoch, since, array_to_string(waiting_nodes, ', ') AS waiting
            FROM daemon_singleton_overview ORDER BY module
            """
        ).map { row in
            Singleton(
                module: try row.decode(String.self, "module"),
                holder: try row.decode(String?.self, "holder_node") ?? "-",
                held: try row.decode(Bool.self, "held"), epoch: try row.decode(Int64.self, "epoch"),
                since: Formatting.time(try row.decode(Date?.self, "since")),
                waiting: try row.decode(String?.self, "waiting").flatMap { $0.isEmpty ? nil : $0 } ?? "-")
        }
        return ClusterPage(nodes: nodes, singletons: singletons)
    }
}
