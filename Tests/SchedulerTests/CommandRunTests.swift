import Foundation
import Testing

@testable import Scheduler

@Suite("A command's run and its captured output", .timeLimit(.minutes(2)))
struct CommandRunTests {
    /// The output goes to a file whose name is gone while the program still writes to it, so a worker killed meanwhile
    /// leaves nothing in the temporary folder.
    @Test func theOutputFileHasNoNameWhileTheProgramRuns() async throws {
        let run = try await CommandRun.run(
            ["/bin/sh", "-c", "readlink /proc/self/fd/1; echo to-stderr >&2"], timeout: .seconds(30))
        #expect(run.status == 0)
        let lines = run.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(run.output)")
        let link = try #require(lines.first)
        #expect(link.contains("/pgdaemon-command-") && link.hasSuffix(" (deleted)"), "stdout went to \(link)")
        #expect(!FileManager.default.fileExists(atPath: String(link.dropLast(" (deleted)".count))))
        #expect(lines.last == "to-stderr")
    }

    @Test func onlyTheLastBytesOfALongOutputAreKept() async throws {
        let run = try await CommandRun.run(
            ["/bin/sh", "-c", "yes a | head -c 100000; echo end"], timeout: .seconds(30))
        #expect(run.output.utf8.count == CommandRun.outputLimit)
        #expect(run.output.hasPrefix("a\n") && run.output.hasSuffix("a\nend\n"))
    }
}
