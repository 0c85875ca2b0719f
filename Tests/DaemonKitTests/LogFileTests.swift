import DaemonKit
import Foundation
import Testing

@Suite("Log files rotate by day")
struct LogFileTests {
    @Test func aFileFromAnEarlierDayIsRotatedAndOldOnesGo() throws {
        let files = FileManager.default
        let folder = files.temporaryDirectory.appending(path: "pgdaemon-logs-\(UUID().uuidString.prefix(8))").path
        defer { try? files.removeItem(atPath: folder) }
        let now = try Date("2026-11-30T08:00:00Z", strategy: .iso8601)
        let path = try LogFile.prepare(directory: folder, name: "Worker", keepDays: 7, now: now)
        try "yesterday's lines\n".write(toFile: path, atomically: false, encoding: .utf8)
        try files.setAttributes([.modificationDate: now.addingTimeInterval(-86_400)], ofItemAtPath: path)
        for stale in ["2026-11-20", "2026-11-22"] {
            try "old\n".write(toFile: "\(path).\(stale)", atomically: false, encoding: .utf8)
        }
        try "kept\n".write(toFile: "\(path).2026-11-23", atomically: false, encoding: .utf8)
        try "another log\n".write(toFile: "\(folder)/Other.log.2026-11-01", atomically: false, encoding: .utf8)

        #expect(try LogFile.prepare(directory: folder, name: "Worker", keepDays: 7, now: now) == path)
        #expect(!files.fileExists(atPath: path), "the live file starts anew")
        #expect(try String(contentsOfFile: "\(path).2026-11-29", encoding: .utf8) == "yesterday's lines\n")
        let left = try files.contentsOfDirectory(atPath: folder).sorted()
        #expect(left == ["Other.log.2026-11-01", "Worker.log.2026-11-23", "Worker.log.2026-11-29"])

        // Written today: left alone.
        try "today\n".write(toFile: path, atomically: false, encoding: .utf8)
        _ = try LogFile.prepare(directory: folder, name: "Worker", keepDays: 7, now: now)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "today\n")
    }
}
