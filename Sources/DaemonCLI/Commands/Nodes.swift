import ArgumentParser
import DaemonKit
import Foundation
import Postgres

/// `pgdaemon nodes`: the cluster as the shared database sees it.
struct Nodes: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cluster's nodes: status, heartbeat age, version, configuration hash, modules and states.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    struct Node: Encodable {
        var name: String
        var status: String?
        var host: String?
        var pid: Int?
        var version: String?
        var configHash: String?
        /// Whether this node's configuration differs from the one most running nodes have.
        var configDiffers: Bool
        var heartbeatAgeSeconds: Double?
        var modules: [String: String]
    }

    func run(_ registry: ModuleRegistry) async throws {
        let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
        let rows = try await connection.query(
            """
            SELECT n.name, n.status, n.host, n.pid, n.version, n.config_hash,
                   extract(epoch FROM now() - n.last_heartbeat)::float8 AS heartbeat_age,
                   coalesce(json_object_agg(m.module, coalesce(m.state, '-')) FILTER (WHERE m.module IS NOT NULL), '{}')::text
                       AS modules
            FROM daemon_node AS n LEFT JOIN daemon_module_state AS m ON m.node = n.name
            GROUP BY n.name ORDER BY n.name
            """)
        var nodes = try rows.map { row in
            Node(
                name: try row.decode(String.self, "name"), status: try row.decode(String?.self, "status"),
                host: try row.decode(String?.self, "host"), pid: try row.decode(Int?.self, "pid"),
                version: try row.decode(String?.self, "version"),
                configHash: try row.decode(String?.self, "config_hash"),
                configDiffers: false, heartbeatAgeSeconds: try row.decode(Double?.self, "heartbeat_age"),
                modules: try row.decode(PostgresJSON<[String: String]>.self, "modules").value)
        }
        await connection.close()
        let running = nodes.filter { $0.status == "running" }.compactMap(\.configHash)
        let common = Dictionary(running.map { ($0, 1) }, uniquingKeysWith: +).max { $0.value < $1.value }?.key
        for index in nodes.indices where nodes[index].status == "running" {
            nodes[index].configDiffers = common != nil && nodes[index].configHash != common
        }
        if output.json { return try printJSON(nodes) }
        guard !nodes.isEmpty else { return print("No node has registered yet.") }
        var table = TextTable("NODE", "STATUS", "HEARTBEAT", "HOST", "PID", "VERSION", "CONFIG", "MODULES")
        for node in nodes {
            table.append([
                node.name, node.status ?? "-",
                node.heartbeatAgeSeconds.map { String(format: "%.1fs ago", $0) } ?? "-", node.host ?? "-",
                node.pid.map(String.init) ?? "-", node.version ?? "-",
                (node.configHash ?? "-") + (node.configDiffers ? " (differs)" : ""),
                node.modules.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
            ])
        }
        print(table.rendered)
        if nodes.contains(where: \.configDiffers) {
            print("Configurations differ between running nodes: compare their files before relying on the cluster.")
        }
    }
}
