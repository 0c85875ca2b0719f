import DaemonKit
import Foundation
import TestSupport
import Testing

/// The short form of `scripts/soak`: three nodes under a steady load for 32 s (or eight samples, however long a loaded
/// machine takes for them) with every module respawned every 10 s.
/// It judges what a short run can tell (each process's RSS and open descriptors, the server connections); the
/// tables and dead rows need the hour of the long form, past autovacuum's first rounds.
@Suite("A soak of three nodes, short form", .timeLimit(.minutes(5)))
struct SoakTests {
    @Test func nothingGrowsWhileModulesAreRespawnedUnderLoad() async throws {
        let output = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-soak-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let script = ThrowawayPostgres.repositoryRoot.appending(path: "scripts/soak").path
        let status = try await ChildProcess(
            executable: script, arguments: ["32", "3"],
            environment: ProcessInfo.processInfo.environment.merging([
                "SOAK_BIN": PGDaemonProcess.binary.deletingLastPathComponent().path, "SAMPLE_SECONDS": "4",
                "DISCARD_AFTER": "10s", "SOAK_JUDGE": "rss fds connections", "PLOT": "none", "PG_LOCAL_DURABLE": "0",
            ]) { $1 },
            stdout: .file(output.path), stderr: .file(output.path)
        ).wait()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(text)")
        #expect(text.contains("soak: nothing grew"), "\(text)")
        let respawns = text.split(separator: "\n").first { $0.hasPrefix("respawns during the run: ") }
            .flatMap { Int($0.dropFirst("respawns during the run: ".count).prefix { $0.isNumber }) }
        #expect(
            (respawns ?? 0) >= 6,
            "the six modules that run (three workers, three singleton holders) were respawned: \(text)")
    }
}
