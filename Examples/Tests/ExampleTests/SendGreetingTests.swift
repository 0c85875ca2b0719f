import ExampleModules
import PGDaemonTesting
import Scheduler
import Testing

/// The handler's tests on pgdaemon's testing kit: each test gets a throwaway database on the server the `PG*`
/// variables reach, enqueues as an application would, runs the real task worker until it is idle, and asserts on
/// history.
@Suite("SendGreeting, on a throwaway pgdaemon database")
struct SendGreetingTests {
    private var handlers: TaskHandlerRegistry {
        var handlers = TaskHandlerRegistry.builtIn
        handlers.register(SendGreeting())
        return handlers
    }

    @Test func greetsByNameAndKeepsWhatItSaid() async throws {
        try await Testbed.with(handlers: handlers) { testbed in
            let id = try await testbed.enqueue(NewTask(type: "SendGreeting", dataJSON: #"{"name": "Ada"}"#))
            try await testbed.runWorkerUntilIdle()
            let attempts = try await testbed.history(of: id)
            #expect(attempts.map(\.status) == ["done"])
            #expect(attempts.first?.output == "Hello, Ada!\n")
        }
    }

    @Test func anEmptyNameFailsAtOnceWithoutRetries() async throws {
        try await Testbed.with(handlers: handlers) { testbed in
            let id = try await testbed.enqueue(NewTask(type: "SendGreeting", dataJSON: #"{"name": ""}"#))
            try await testbed.runWorkerUntilIdle()
            let attempts = try await testbed.history(of: id)
            #expect(attempts.map(\.status) == ["failed"])
            #expect(attempts.first?.error == "A greeting needs a name.")
        }
    }

    @Test func aGreetingForLaterRunsOnceItsTimeHasCome() async throws {
        try await Testbed.with(handlers: handlers) { testbed in
            let id = try await testbed.enqueue(
                NewTask(type: "SendGreeting", dataJSON: #"{"name": "Grace"}"#, delay: .seconds(3600)))
            try await testbed.runWorkerUntilIdle()
            #expect(try await testbed.waitingTask(id: id)?.state == .future)
            try await testbed.advanceClock(by: .seconds(3600))
            try await testbed.moveDueFutureTasks()
            try await testbed.runWorkerUntilIdle()
            #expect(try await testbed.history(of: id).map(\.status) == ["done"])
        }
    }

    @Test func aCronEntryEnqueuesItsGreetingWhenTheClockReachesItsSlot() async throws {
        let sections = """
            cron:
              cache-cleanup: false
              morning: { schedule: "0 7 * * *", task: { type: SendGreeting, data: { name: Linus } } }
            """
        try await Testbed.with(handlers: handlers, sections: sections) { testbed in
            func enqueued() async throws -> Int {
                try await testbed.connection.query(
                    "SELECT count(*) AS n FROM scheduler_cron_slot WHERE name = 'morning' AND status = 'enqueued'"
                )[0].decode(Int.self, "n")
            }
            // The manager registers the entry and its next slot at its start; a day later that slot has come.
            try await testbed.run("SchedulerCronTaskManager") {
                try await testbed.connection.query(
                    "SELECT count(*) AS n FROM scheduler_recurrent_task WHERE name = 'morning'"
                )[0].decode(Int.self, "n") == 1
            }
            #expect(try await enqueued() == 0)
            try await testbed.advanceClock(by: .seconds(86400))
            try await testbed.run("SchedulerCronTaskManager") { try await enqueued() == 1 }
            try await testbed.runWorkerUntilIdle()
            let done = try await testbed.connection.query(
                "SELECT count(*) AS n FROM scheduler_task_history WHERE name = 'morning' AND status = 'done'")
            #expect(try done[0].decode(Int.self, "n") == 1)
        }
    }
}
