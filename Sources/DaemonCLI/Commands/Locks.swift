import ArgumentParser
import DaemonKit
import Foundation
import Postgres

/// `pgdaemon locks`: singleton holders and waiters, from `daemon_singleton_overview`.
struct Locks: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each singleton's holder (node, pid, server pid, epoch, since) and the nodes waiting for it.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    struct Holder: Encodable {
        var module: String
        var node: String?
        var pid: Int?
        var backendPID: Int?
        var epoch: Int64
        var since: Date?
        var held: Bool
        var waitingNodes: [String]
    }

    func run(_ registry: ModuleRegistry) async throws {
        let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
        let rows = try await connection.query(
            """
            SELECT module, holder_node, holder_pid, holder_backend_pid, epoch, since, held,
                   array_to_json(waiting_nodes)::text AS waiting
            FROM daemon_singleton_overview ORDER BY module
            """)
        let holders = try rows.map { row in
            Holder(
                module: try row.decode(String.self, "module"), node: try row.decode(String?.self, "holder_node"),
                pid: try row.decode(Int?.self, "holder_pid"),
                backendPID: try row.decode(Int?.self, "holder_backend_pid"),
                epoch: try row.decode(Int64.self, "epoch"), since: try row.decode(Date?.self, "since"),
                held: try row.decode(Bool.self, "held"),
                waitingNodes: try row.decode(PostgresJSON<[String]>.self, "waiting").value)
        }
        await connection.close()
        if output.json { return try printJSON(holders) }
        guard !holders.isEmpty else { return print("No singleton has run yet.") }
        var table = TextTable("MODULE", "HOLDER", "PID", "BACKEND PID", "EPOCH", "SINCE", "WAITING")
        for holder in holders {
            table.append([
                holder.module, holder.held ? holder.node ?? "-" : "none (last: \(holder.node ?? "-"))",
                holder.held ? holder.pid.map(String.init) ?? "-" : "-",
                holder.backendPID.map(String.init) ?? "-", String(holder.epoch),
                holder.since.map { $0.formatted(.iso8601) } ?? "-",
                holder.waitingNodes.isEmpty ? "-" : holder.waitingNodes.joined(separator: ", "),
            ])
        }
        print(table.rendered)
    }
}
