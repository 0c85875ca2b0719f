import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

/// A node pointed at a standby, by mistake or while a failover is under way, must not act on a server that takes no
/// writes: it says so in one line and waits for a primary, as for a database that is down.
@Suite("A node and a standby", .timeLimit(.minutes(2)))
struct StandbyTests {
    @Test func aNodeOnAStandbyRefusesItAndStartsOnceItIsPromoted() async throws {
        let primary = ThrowawayPostgres()
        let standby = ThrowawayPostgres()
        var node: DaemonHarness?
        do {
            try await primary.start()
            let admin = try await Connection.connect(ConnectionOptions(try primary.connectionString))
            try await Migrator(connection: admin).migrate()
            await admin.close()
            try await standby.startStandby(of: primary)

            let daemon = try await DaemonHarness(
                connectionString: try standby.connectionString, modules: "  SchedulerTaskWorker: {}")
            node = daemon
            try daemon.start()
            let refusal = "Cannot reach the database to register the node; retrying."
            try await waitUntil("the node has been refused twice") {
                daemon.output.components(separatedBy: refusal).count > 2
            }
            let line = daemon.output.split(separator: "\n").first { $0.contains(refusal) } ?? ""
            #expect(line.contains("it is a standby, which takes no writes; pgdaemon needs the primary"), "\(line)")
            #expect(!daemon.output.contains("Supervisor started."))

            try await standby.promote()
            let module = try await daemon.waitForModule("SchedulerTaskWorker")
            #expect(module.pid != nil)
            #expect(try await daemon.modules().count == 1)
        } catch {
            print("daemon output:\n\(node?.output ?? "")")
            await node?.cleanUp()
            await standby.remove()
            await primary.remove()
            throw error
        }
        await node?.cleanUp()
        await standby.remove()
        await primary.remove()
    }
}
