import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

@Suite("A database outage under a running daemon", .timeLimit(.minutes(3)))
struct DatabaseOutageTests {
    @Test func modulesWaitInPreRunWhileTheDatabaseIsDownAndResumeByThemselves() async throws {
        try await withOwnServer(modules: "  TestDaemon: { sleep_post: 100ms }") { server, url, harness in
            let before = try await harness.waitForModule("TestDaemon", iterations: 2)

            try await server.stop()
            try await waitUntil("the module notices and waits", timeout: .seconds(30)) {
                harness.output.contains("The database does not answer; waiting for it.")
            }
            try await server.start()
            // The row cannot change while the server is down, so first the module must see it back, then count on.
            try await waitUntil("the module sees the database again", timeout: .seconds(60)) {
                harness.output.contains("The database answers again.")
            }
            // The supervisor reconnects at its next heartbeat and takes its node's name again; the module rows,
            // which the modules go on counting in, must survive that.
            let observer = try await Connection.connect(ConnectionOptions(url))
            try await waitUntil("the supervisor heartbeats again", timeout: .seconds(30)) {
                try await observer.query(
                    "SELECT last_heartbeat > pg_postmaster_start_time() AS again FROM daemon_node"
                )[0].decode(Bool.self, "again")
            }
            await observer.close()
            let resumed = try await harness.waitForModule("TestDaemon")
            let after = try await harness.waitForModule("TestDaemon", iterations: resumed.iterations + 2)
            #expect(after.pid == before.pid, "the same process resumed, without a restart")
            #expect(after.restarts == 0)
            #expect(harness.process?.isRunning == true)
        }
    }

    @Test func aSupervisorStartedWhileTheDatabaseIsDownWaitsForIt() async throws {
        try await withOwnServer(modules: "  TestDaemon: { sleep_post: 100ms }") { server, _, harness in
            try await harness.waitForModule("TestDaemon")
            harness.signal(SIGTERM)
            #expect(try await harness.waitForExit() == 0)
            try await server.stop()
            try harness.start()
            try await waitUntil("the supervisor waits for the database", timeout: .seconds(30)) {
                harness.output.contains("Cannot reach the database to register the node; retrying.")
            }
            #expect(harness.process?.isRunning == true)
            try await server.start()
            let row = try await harness.waitForModule("TestDaemon", iterations: 1, timeout: .seconds(30))
            #expect(row.state == "running")
        }
    }

    @Test func aStopDuringAnOutageEndsTheWaitsAtOnce() async throws {
        try await withOwnServer(modules: "  TestDaemon: { sleep_post: 100ms }") { server, _, harness in
            try await harness.waitForModule("TestDaemon")
            try await server.stop()
            try await waitUntil("the module waits for the database", timeout: .seconds(30)) {
                harness.output.contains("The database does not answer; waiting for it.")
            }
            // A process started during the outage waits to connect instead: kill the module's so that the
            // supervisor starts another.
            let supervisor = try #require(harness.process?.pid)
            for child in childProcesses(of: supervisor) { kill(child, SIGKILL) }
            try await waitUntil("a new process of the module waits to connect", timeout: .seconds(30)) {
                harness.output.contains("Cannot connect to the database; retrying.")
            }
            harness.signal(SIGTERM)
            #expect(try await harness.waitForExit() == 0)
            #expect(harness.output.contains("Supervisor stopped."))
            #expect(
                !harness.output.contains("a second before shutdown_timeout"), "every wait ended at the stop request")
            #expect(!harness.output.contains("shutdown_timeout reached"))
        }
    }
}
