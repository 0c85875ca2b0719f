import Foundation
import Postgres
import TestSupport
import Testing

@Suite("A reload that changes a library's section", .timeLimit(.minutes(2)))
struct ReloadSectionTests {
    /// Modules read `cron:` and the other libraries' sections when they start: a reload that leaves the file as it is
    /// restarts nothing, and one that adds a cron entry restarts the modules, so the new entry runs.
    @Test func aChangedSectionRestartsTheModulesAndAnUnchangedFileRestartsNothing() async throws {
        let modules = """
              SchedulerCronTaskManager: {}
              TestDaemon: { sleep_post: 100ms }
            cron:
              cache-cleanup: false
            """
        try await withDaemon(modules: modules) { daemon, database in
            try daemon.start()
            let before = try await daemon.waitForModule("TestDaemon")
            try await daemon.waitForModule("SchedulerCronTaskManager", iterations: 0)
            daemon.signal(SIGHUP)
            try await waitUntil("the first reload is done") {
                daemon.output.components(separatedBy: "Configuration reloaded.").count == 2
            }
            #expect(try await daemon.modules()["TestDaemon"]?.pid == before.pid, "nothing changed: nothing restarts")

            try daemon.writeConfiguration(
                modules: modules + "\n  tick: { schedule: \"* * * * * *\", queue: ticks, task: { type: Noop } }")
            daemon.signal(SIGHUP)
            let connection = try await database.connect()
            try await waitUntil("the new entry's slots are recorded", timeout: .seconds(20)) {
                try await connection.query("SELECT 1 FROM scheduler_cron_slot WHERE name = 'tick'").count >= 2
            }
            let queues = try await connection.query("SELECT DISTINCT queue FROM scheduler_task WHERE name = 'tick'")
            #expect(try queues.map { try $0.decode(String.self, "queue") } == ["ticks"], "the entry's queue")
            let after = try await daemon.waitForModule("TestDaemon")
            #expect(after.pid != before.pid, "every module started again")
            await connection.close()
        }
    }
}
