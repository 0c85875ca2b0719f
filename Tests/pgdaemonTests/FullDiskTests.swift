import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

/// PostgreSQL's data on a small tmpfs of the test's own that fills while a node works: the server stays up and reads,
/// but refuses what needs new space (SQLSTATE 53100), so every module's writes fail alike. The node must say so on
/// `/health`, wait instead of failing in a loop, lose nothing, and resume by itself once space is freed.
@Suite(
    "A database whose disk fills", .timeLimit(.minutes(5)),
    .enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
struct FullDiskTests {
    @Test func theNodeSaysWhyOnHealthWaitsAndResumesWhenSpaceIsFreed() async throws {
        let mountPoint = "/tmp/pgdaemon-disk-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        #expect(try await runToCompletion(["/bin/mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", mountPoint]) == 0)
        let server = ThrowawayPostgres(parent: mountPoint)
        let filler = "\(mountPoint)/filler"
        var node: DaemonHarness?
        do {
            try await server.start()
            let observer = try await Connection.connect(ConnectionOptions(try server.connectionString))
            try await Migrator(connection: observer).migrate()
            let port = freePort()
            let daemon = try await DaemonHarness(
                connectionString: try server.connectionString,
                modules: """
                      SchedulerTaskWorker: {}
                      SchedulerFutureTaskManager: {}
                      SchedulerCronTaskManager: {}
                      SchedulerTaskRescuer: { lock_timeout: 5s }
                    cron:
                      tick: { schedule: "* * * * * *", task: { type: Noop } }
                    """, http: "127.0.0.1:\(port)")
            node = daemon
            try daemon.start()
            func health() -> (status: Int, body: String) { (try? httpGet(port: port, path: "/health")) ?? (0, "") }
            try await waitUntil("the node is healthy") { health().status == 200 }
            let enqueuer = SteadyEnqueuer(prefix: "disk")
            let url = try server.connectionString
            let load = Task { await enqueuer.run(url: url) }
            try await enqueuer.waitForMore(100, "100 enqueues were acknowledged")

            try fill(filler)
            var unhealthy = (status: 0, body: "")
            try await waitUntil("/health says the disk is full", timeout: .seconds(60)) {
                unhealthy = health()
                return unhealthy.status == 503 && unhealthy.body.contains("No space left on device")
            }
            #expect(unhealthy.body.contains("SQLSTATE 53100"), "\(unhealthy.body)")
            try await waitUntil("the modules say they wait") {
                daemon.output.contains("The database is out of resources; trying again in a fresh process shortly.")
            }
            #expect(!daemon.output.contains("A step failed."), "a full disk is waited out, not failed in a loop")

            try FileManager.default.removeItem(atPath: filler)
            let freed = ContinuousClock.now
            try await waitUntil("the node is healthy again", timeout: .seconds(30)) { health().status == 200 }
            let resumed = ContinuousClock.now - freed
            try await enqueuer.waitForMore(100, "100 more enqueues were acknowledged")
            load.cancel()
            await load.value
            try await waitUntil("every task is done", timeout: .seconds(60)) {
                try await observer.query("SELECT count(*) AS n FROM scheduler_task")[0].decode(Int.self, "n") == 0
            }
            let acknowledged = await enqueuer.acknowledged
            let done = try await observer.query(
                """
                SELECT name, count(*) AS n FROM scheduler_task_history
                WHERE name LIKE 'disk-%' AND status = 'done' GROUP BY name
                """)
            var doneCount: [String: Int] = [:]
            for row in done { doneCount[try row.decode(String.self, "name")] = try row.decode(Int.self, "n") }
            let lost = acknowledged.filter { doneCount[$0] == nil }
            #expect(lost.isEmpty, "acknowledged enqueues not done: \(lost.sorted())")
            #expect(doneCount.values.allSatisfy { $0 == 1 }, "no task is done twice")
            #expect(daemon.process?.isRunning == true)
            print(
                "Full disk: \(acknowledged.count) enqueues acknowledged, all done once; healthy \(resumed) after the "
                    + "space was freed; /health meanwhile: \(unhealthy.body.prefix(300))")
            await observer.close()
        } catch {
            print("node output:\n\(node?.output ?? "")")
            await cleanUp(node: node, server: server, filler: filler, mountPoint: mountPoint)
            throw error
        }
        await cleanUp(node: node, server: server, filler: filler, mountPoint: mountPoint)
    }

    /// Writes zeros into `path` until the file system has no room left.
    private func fill(_ path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT, 0o600)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        while chunk.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
    }

    private func cleanUp(node: DaemonHarness?, server: ThrowawayPostgres, filler: String, mountPoint: String) async {
        await node?.cleanUp()
        try? FileManager.default.removeItem(atPath: filler)
        await server.remove()
        _ = try? await runToCompletion(["/bin/umount", mountPoint])
        try? FileManager.default.removeItem(atPath: mountPoint)
    }
}
