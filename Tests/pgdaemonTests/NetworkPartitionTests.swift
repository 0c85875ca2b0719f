import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

/// A network namespace joined to this host by a veth pair, for a node that talks to PostgreSQL over TCP through it:
/// the host's end is 10.213.N.1, the namespace's 10.213.N.2.
struct NetworkNamespace {
    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    /// Namespaces need root and the `ip` program.
    static var available: Bool { getuid() == 0 && ip != nil }

    let name: String
    let subnet: Int
    var hostLink: String { "pgdh\(subnet)" }
    var nodeLink: String { "pgdn\(subnet)" }
    var hostAddress: String { "10.213.\(subnet).1" }
    var nodeAddress: String { "10.213.\(subnet).2" }
    /// Runs a program inside the namespace.
    var launcher: [String] { [Self.ip!, "netns", "exec", name] }

    static func make() async throws -> NetworkNamespace {
        let subnet = Int.random(in: 0...255)
        let namespace = NetworkNamespace(name: "pgdaemon-\(subnet)-\(UUID().uuidString.prefix(6))", subnet: subnet)
        try await namespace.ip(["netns", "add", namespace.name])
        try await namespace.ip(["link", "add", namespace.hostLink, "type", "veth", "peer", "name", namespace.nodeLink])
        try await namespace.ip(["link", "set", namespace.nodeLink, "netns", namespace.name])
        try await namespace.ip(["addr", "add", "\(namespace.hostAddress)/30", "dev", namespace.hostLink])
        try await namespace.ip(["link", "set", namespace.hostLink, "up"])
        try await namespace.ip(["addr", "add", "\(namespace.nodeAddress)/30", "dev", namespace.nodeLink], inside: true)
        try await namespace.ip(["link", "set", namespace.nodeLink, "up"], inside: true)
        try await namespace.ip(["link", "set", "lo", "up"], inside: true)
        return namespace
    }

    /// Cuts the link silently, both ways: each end sends its frames to a hardware address nobody has, so they vanish
    /// without an error, as on a network that went dark (no `tc netem` or firewall needed).
    func cut() async throws {
        try await ip(
            ["neigh", "replace", hostAddress, "lladdr", "02:00:00:00:00:01", "dev", nodeLink, "nud", "permanent"],
            inside: true)
        try await ip([
            "neigh", "replace", nodeAddress, "lladdr", "02:00:00:00:00:02", "dev", hostLink, "nud", "permanent",
        ])
    }

    func heal() async throws {
        try await ip(["neigh", "del", hostAddress, "dev", nodeLink], inside: true)
        try await ip(["neigh", "del", nodeAddress, "dev", hostLink])
    }

    /// Deletes the namespace, and with it both ends of the link.
    func remove() async {
        _ = try? await runToCompletion([Self.ip!, "netns", "del", name])
    }

    private func ip(_ arguments: [String], inside: Bool = false) async throws {
        let argv = (inside ? launcher + [Self.ip!] : [Self.ip!]) + arguments
        let status = try await runToCompletion(argv)
        guard status == 0 else { throw CommandFailed(argv: argv, status: status) }
    }

    struct CommandFailed: Error, CustomStringConvertible {
        var argv: [String]
        var status: Int32
        var description: String { "\(argv.joined(separator: " ")) exited with \(status)" }
    }
}

/// The singleton holder's node is cut off the network. It must stop acting once its ping fails; another node takes
/// over once PostgreSQL drops the old session (bounded by the keepalives the lock session sets); no cron slot runs
/// twice; and after the link heals the cut-off node stands by. Prints the timings.
@Suite(
    "A network partition of the singleton holder", .timeLimit(.minutes(3)),
    .enabled(if: NetworkNamespace.available, "network namespaces need root and ip"))
struct NetworkPartitionTests {
    static let modules = """
          SchedulerCronTaskManager: {}
        cron:
          tick: { schedule: "* * * * * *", task: { type: Noop } }
        """

    @Test func theCutOffHolderStepsDownAndAnotherTakesOverWithoutASlotTwice() async throws {
        let namespace = try await NetworkNamespace.make()
        let server = ThrowawayPostgres(listenAddresses: "127.0.0.1,\(namespace.hostAddress)")
        var nodes: [DaemonHarness] = []
        do {
            try await server.start()
            let hba = "\(server.dataFolder)/pg_hba.conf"
            try (try String(contentsOfFile: hba, encoding: .utf8) + "host all all 10.213.0.0/16 trust\n")
                .write(toFile: hba, atomically: false, encoding: .utf8)
            let admin = try await Connection.connect(ConnectionOptions(try server.connectionString))
            try await admin.execute("SELECT pg_reload_conf()")
            try await Migrator(connection: admin).migrate()
            let url = "host=\(namespace.hostAddress) port=\(try server.port) user=postgres dbname=postgres"

            // The node in the namespace starts first and takes the singleton; the other stands by.
            let cutOff = try await DaemonHarness(connectionString: url, modules: Self.modules)
            nodes.append(cutOff)
            try cutOff.start(launcher: namespace.launcher)
            func holder() async throws -> String? {
                try await admin.query(
                    "SELECT holder_node FROM daemon_singleton_overview WHERE module = 'SchedulerCronTaskManager' AND held"
                ).first?.decode(String?.self, "holder_node")
            }
            try await waitUntil("the namespaced node holds the singleton", timeout: .seconds(30)) {
                try await holder() == cutOff.node
            }
            let successor = try await DaemonHarness(connectionString: url, modules: Self.modules)
            nodes.append(successor)
            try successor.start()
            try await waitUntil("the other node stands by", timeout: .seconds(30)) {
                try await successor.modules()["SchedulerCronTaskManager"]?.state == "standby"
            }

            let seen = cutOff.output.count
            try await namespace.cut()
            let cut = ContinuousClock.now
            // Both moments are watched together: the old holder may step down before or after the takeover.
            var stopped: Duration?
            var tookOver: Duration?
            try await waitUntil("the cut-off holder stops acting and the other node takes over", timeout: .seconds(90))
            {
                let after = cutOff.output.dropFirst(seen)
                if stopped == nil, after.contains("discarding") || after.contains("A step failed.") {
                    stopped = ContinuousClock.now - cut
                }
                if tookOver == nil, successor.output.contains("Took over the singleton.") {
                    tookOver = ContinuousClock.now - cut
                }
                return stopped != nil && tookOver != nil
            }
            try await waitUntil("the new holder records slots", timeout: .seconds(30)) {
                try await admin.query(
                    "SELECT count(*) AS n FROM scheduler_cron_slot WHERE name = 'tick' AND node = \(successor.node)"
                )[0].decode(Int.self, "n") >= 3
            }

            try await namespace.heal()
            let healed = ContinuousClock.now
            try await waitUntil("the healed node stands by", timeout: .seconds(90)) {
                try await cutOff.modules()["SchedulerCronTaskManager"]?.state == "standby"
            }
            let stoodBy = ContinuousClock.now - healed

            let slots = try await admin.query(
                """
                SELECT count(*) AS n, count(DISTINCT slot) AS distinct_slots,
                       count(*) FILTER (WHERE epoch < previous_epoch) AS epoch_went_back,
                       count(*) FILTER (WHERE node = \(cutOff.node) AND slot > (SELECT min(slot) FROM scheduler_cron_slot
                                                                            WHERE node = \(successor.node))) AS late
                FROM (SELECT slot, epoch, node, lag(epoch) OVER (ORDER BY slot) AS previous_epoch
                      FROM scheduler_cron_slot WHERE name = 'tick') AS s
                """)[0]
            print(
                """
                partition: the holder stopped acting \(stopped!) after the cut; the other node took over after \
                \(tookOver!) (bound: 10 s of silence, then the keepalive probe 5 s later meets the server's 10 s tcp_user_timeout); after the link healed, the \
                cut-off node stood by after \(stoodBy)
                """)
            #expect(try slots.decode(Int.self, "n") == slots.decode(Int.self, "distinct_slots"), "no slot twice")
            #expect(try slots.decode(Int.self, "epoch_went_back") == 0, "slots were recorded in epoch order")
            #expect(try slots.decode(Int.self, "late") == 0, "no slot of the old holder after the new one's first")
            #expect(cutOff.process?.isRunning == true, "the cut-off node's supervisor kept its name and runs on")
            #expect(stopped! < .seconds(15), "the holder stops within one tcp_user_timeout and an iteration")
            #expect(tookOver! < .seconds(30), "the server drops the old session within its keepalive bound")
            await admin.close()
        } catch {
            for node in nodes { print("\(node.node) output:\n\(node.output.suffix(3_000))") }
            for node in nodes { await node.cleanUp() }
            await server.remove()
            await namespace.remove()
            throw error
        }
        for node in nodes { await node.cleanUp() }
        await server.remove()
        await namespace.remove()
    }
}
