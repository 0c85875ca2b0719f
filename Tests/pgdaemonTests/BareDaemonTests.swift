import Cache
import DaemonKit
import Foundation
import TestSupport
import Testing

/// `bare-daemon` (Tests/BareDaemon) is a daemon binary on DaemonKit and the cache alone, as a team might build one
/// without pgdaemon's command line: its module processes keep the lifecycle through `ModuleProcess`, and what the
/// cache registers (its `cache:` section, metrics and counters) works there as in pgdaemon.
@Suite("A binary on DaemonKit alone", .timeLimit(.minutes(2)))
struct BareDaemonTests {
    static let binary = PGDaemonProcess.built("bare-daemon")

    @Test func runsItsChildrenAndStopsThemOnSigterm() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }") { daemon, _ in
            try daemon.start(binary: Self.binary)
            let module = try await daemon.waitForModule("TestDaemon", iterations: 2)
            let commandLine = try String(contentsOfFile: "/proc/\(module.pid!)/cmdline", encoding: .utf8)
                .split(separator: "\0").map(String.init)
            #expect(commandLine.first?.hasSuffix("bare-daemon") == true)
            #expect(Array(commandLine.dropFirst().prefix(3)) == ["module-run", "TestDaemon", "--supervised"])
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
            #expect(!processIsAlive(module.pid!))
            #expect(try await daemon.modules()["TestDaemon"]?.state == "stopped")
        }
    }

    @Test func aChildExitsWhenItsSupervisorIsKilled() async throws {
        try await withDaemon(modules: "  TestDaemon: { sleep_post: 100ms }") { daemon, _ in
            try daemon.start(binary: Self.binary)
            let module = try await daemon.waitForModule("TestDaemon")
            daemon.signal(SIGKILL)
            try await waitUntil("the orphaned module exits", timeout: .seconds(5)) { !processIsAlive(module.pid!) }
            #expect(daemon.output.contains("The supervisor is gone; exiting."))
        }
    }

    /// The first SIGTERM asks the module to stop; work that does not is cancelled a second before shutdown_timeout
    /// (5 s here), by the child itself, before the supervisor would kill it.
    @Test func workThatIgnoresTheStopIsCancelledBeforeShutdownTimeout() async throws {
        try await withDaemon(modules: "  Unyielding: {}") { daemon, _ in
            try daemon.start(binary: Self.binary)
            let module = try await daemon.waitForModule("Unyielding", iterations: 0)
            try await waitUntil("the module sleeps in run()") { daemon.output.contains("Sleeping in run().") }
            let asked = ContinuousClock.now
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
            #expect(asked.duration(to: .now) >= .seconds(4), "the work had its grace")
            #expect(!processIsAlive(module.pid!))
            #expect(daemon.output.contains("Still running a second before shutdown_timeout; cancelling the work."))
            #expect(!daemon.output.contains("shutdown_timeout reached; killing"), "\(daemon.output)")
        }
    }

    /// CacheReader reads its key every iteration: misses first, hits once the entry is there. The module process adds
    /// its counts to daemon_counter every 10 s; /metrics shows them beside the cache's gauges.
    @Test func theCachesSectionMetricsAndCountersWorkInABinaryThatRegistersThem() async throws {
        try await withTestDatabase { database in
            let port = freePort()
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString,
                modules: """
                      CacheReader: { sleep_post: 100ms }
                    cache:
                      limits: { BareDaemon: { max_entries: 10 } }
                    """, http: "127.0.0.1:\(port)")
            try daemon.start(binary: Self.binary)
            try await daemon.waitForModule("CacheReader", iterations: 2)
            let connection = try await database.connect()
            try await Cache(connection: connection).set("hello", type: "BareDaemon", key: "greeting")
            try await waitUntil("the cache's hits and misses show", timeout: .seconds(40)) {
                let metrics = try httpGet(port: port, path: "/metrics").body
                return metrics.contains(#"pgdaemon_cache_hits_total{type="BareDaemon"} "#)
                    && metrics.contains(#"pgdaemon_cache_misses_total{type="BareDaemon"} "#)
            }
            #expect(
                try httpGet(port: port, path: "/metrics").body.contains(#"pgdaemon_cache_entries{type="BareDaemon"} 1"#)
            )
            #expect(
                !(try httpGet(port: port, path: "/metrics").body.contains("pgdaemon_queue_tasks")), "no scheduler here")
            await connection.close()
            await daemon.cleanUp()
        }
    }
}
