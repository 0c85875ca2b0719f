import Foundation
import Postgres
import Scheduler
import TestSupport
import Testing

@Suite("scheduler_task_add", .timeLimit(.minutes(2)))
struct TaskAddTests {
    @Test func aTaskForNowIsReadyWithTheDefaults() async throws {
        try await withTestConnection { connection in
            let id = try await TaskQueue(connection: connection).add(NewTask(type: "Noop", name: "first"))
            let row = try await connection.query(
                """
                SELECT task_type, task_data::text AS data, name, priority, attempts, max_attempts, lock_key,
                       create_time > now() - interval '1 minute' AS fresh, scheduled_for
                FROM scheduler_task WHERE id = \(id)
                """)[0]
            #expect(try row.decode(String.self, "task_type") == "Noop")
            #expect(try row.decode(String.self, "data") == "{}")
            #expect(try row.decode(String?.self, "name") == "first")
            #expect(try row.decode(Int.self, "priority") == 0)
            #expect(try row.decode(Int.self, "attempts") == 0)
            #expect(try row.decode(Int.self, "max_attempts") == 3)
            #expect(try row.decode(String?.self, "lock_key") == nil)
            #expect(try row.decode(Bool.self, "fresh"))
            #expect(try row.decode(Date?.self, "scheduled_for") == nil)
        }
    }

    @Test func aLaterExecutionTimeMakesAFutureTaskAndAnEarlierOneARunnableTask() async throws {
        try await withTestConnection { connection in
            let queue = TaskQueue(connection: connection)
            let later = Date(timeIntervalSinceNow: 3600).rounded
            let earlier = Date(timeIntervalSinceNow: -60).rounded
            let future = try await queue.add(NewTask(type: "Noop", executionTime: later))
            let overdue = try await queue.add(NewTask(type: "Noop", executionTime: earlier))
            #expect(future != overdue)
            let due = try await connection.query(
                "SELECT execution_time FROM scheduler_future_task WHERE id = \(future)")
            #expect(try due.first?.decode(Date.self, "execution_time") == later)
            let ready = try await connection.query("SELECT scheduled_for FROM scheduler_task WHERE id = \(overdue)")
            #expect(try ready.first?.decode(Date?.self, "scheduled_for") == earlier)
            #expect(try await connection.query("SELECT 1 FROM scheduler_task WHERE id = \(future)").isEmpty)
        }
    }

    @Test func aPendingUniqueKeyReturnsThePendingTask() async throws {
        try await withTestConnection { connection in
            let queue = TaskQueue(connection: connection)
            let first = try await queue.add(NewTask(type: "Noop", uniqueKey: "report-2026-11-29"))
            let again = try await queue.add(
                NewTask(type: "Noop", uniqueKey: "report-2026-11-29", executionTime: Date(timeIntervalSinceNow: 60)))
            let other = try await queue.add(NewTask(type: "Noop", uniqueKey: "report-2026-11-30"))
            #expect(again == first)
            #expect(other != first)
        }
    }

    @Test func concurrentEnqueuesOfOneKeyMakeOneTask() async throws {
        try await withTestDatabase { database in
            let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let connection = try await database.connect()
                        let id = try await TaskQueue(connection: connection).add(
                            NewTask(type: "Noop", uniqueKey: "once"))
                        await connection.close()
                        return id
                    }
                }
                return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
            }
            #expect(ids.count == 1)
            let connection = try await database.connect()
            let count = try await connection.query("SELECT count(*) AS n FROM scheduler_task")[0].decode(Int.self, "n")
            #expect(count == 1)
            await connection.close()
        }
    }

    @Test(arguments: [
        (NewTask(type: ""), "22023", "task_type must not be empty"),
        (NewTask(type: "Noop", maxAttempts: 0), "22023", "max_attempts must be at least 1, not 0"),
        (NewTask(type: "Noop", dataJSON: "{not json"), "22P02", "invalid input syntax for type json"),
    ])
    func badInputIsRefusedAndChangesNothing(task: NewTask, sqlState: String, message: String) async throws {
        try await withTestConnection { connection in
            let error = await #expect(throws: PostgresError.self) {
                try await TaskQueue(connection: connection).add(task)
            }
            #expect(error?.sqlState == sqlState)
            #expect(error?.message.contains(message) == true, "\(String(describing: error))")
            let count = try await connection.query(
                "SELECT (SELECT count(*) FROM scheduler_task) + (SELECT count(*) FROM scheduler_future_task) AS n")[0]
            #expect(try count.decode(Int.self, "n") == 0)
        }
    }

    @Test func hostileNamesAndDataAreStoredLiterally() async throws {
        try await withTestConnection { connection in
            let name = "Robert'); DROP TABLE scheduler_task; -- \"ü\" \u{7}"
            let data = #"{"command": "x'; rm -rf / #", "🎉": [1, null]}"#
            let id = try await TaskQueue(connection: connection).add(NewTask(type: "Noop", dataJSON: data, name: name))
            let row = try await connection.query(
                "SELECT name, task_data = \(data)::jsonb AS same FROM scheduler_task WHERE id = \(id)")[0]
            #expect(try row.decode(String?.self, "name") == name)
            #expect(try row.decode(Bool.self, "same"))
        }
    }

    @Test func enqueuingWakesListenersOfBothChannels() async throws {
        try await withTestDatabase { database in
            let listener = try await database.connect()
            let producer = try await database.connect()
            try await listener.listen("pgdaemon_task")
            try await listener.listen("pgdaemon_future_task")
            let queue = TaskQueue(connection: producer)
            try await queue.add(NewTask(type: "Noop"))
            let ready = try await listener.nextNotification(timeout: .seconds(5))
            #expect(ready?.channel == "pgdaemon_task")
            let due = Date(timeIntervalSinceNow: 120).rounded
            try await queue.add(NewTask(type: "Noop", executionTime: due))
            let future = try await listener.nextNotification(timeout: .seconds(5))
            #expect(future?.channel == "pgdaemon_future_task")
            #expect(future?.payload == "", "the manager reads the earliest due time from the table (sql/0015)")
            await listener.close()
            await producer.close()
        }
    }
}

extension Date {
    /// The date cut to whole milliseconds, which survive the trip through text and back exactly.
    var rounded: Date { Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded() / 1000) }
}

@Suite("scheduler_task_add_many", .timeLimit(.minutes(2)))
struct TaskAddManyTests {
    @Test func idsComeBackInTheArraysOrderWhateverEachTaskIs() async throws {
        try await withTestConnection { connection in
            let pending = try await TaskQueue(connection: connection).add(NewTask(type: "Noop", uniqueKey: "k"))
            let ids = try await TaskQueue(connection: connection).add(
                manyJSON: """
                    [{"task_type": "Noop", "queue": "mail", "concurrency_key": "t-1"},
                     {"task_type": "Noop", "unique_key": "k"},
                     {"task_type": "Sleep", "task_data": {"seconds": 1}, "execution_time": "2099-01-01T00:00:00Z"},
                     {"task_type": "Noop", "unique_key": "fresh", "priority": 5}]
                    """)
            #expect(ids.count == 4)
            #expect(ids[1] == pending, "a pending unique key returns its task")
            func row(_ id: Int64) async throws -> String? {
                try await connection.query(
                    """
                    SELECT 'ready ' || queue || ' ' || coalesce(concurrency_key, '-') || ' ' || priority AS r
                    FROM scheduler_task WHERE id = \(id)
                    UNION ALL SELECT 'future ' || task_type FROM scheduler_future_task WHERE id = \(id)
                    """
                ).first?.decode(String.self, "r")
            }
            #expect(try await row(ids[0]) == "ready mail t-1 0")
            #expect(try await row(ids[2]) == "future Sleep")
            #expect(try await row(ids[3]) == "ready default - 5")
        }
    }

    @Test func aHundredThousandTasksInOneCallComeBackInOrder() async throws {
        try await withTestConnection { connection in
            let tasks = (0..<100_000).map { #"{"task_type": "Noop", "task_data": {"n": \#($0)}}"# }
            let ids = try await TaskQueue(connection: connection).add(
                manyJSON: "[" + tasks.joined(separator: ",") + "]")
            #expect(ids.count == 100_000)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, "in order, none twice")
            let row = try await connection.query(
                """
                SELECT count(*) AS n, bool_and((task_data ->> 'n')::bigint = id - \(ids[0])) AS in_order
                FROM scheduler_task
                """)[0]
            #expect(try row.decode(Int.self, "n") == 100_000)
            #expect(try row.decode(Bool.self, "in_order"), "task n has the n-th id")
        }
    }

    @Test(arguments: [
        (#"{"task_type": "Noop"}"#, "scheduler_task_add_many: tasks must be a JSON array of task objects"),
        (#"[{"task_type": "Noop"}, 7]"#, "task 2: not a JSON object"),
        (#"[{"task_type": "Noop", "prio": 1}]"#, "task 1: unknown key 'prio'"),
        (#"[{"task_type": "Noop"}, {"task_type": " "}]"#, "task 2: task_type must not be empty"),
        (#"[{"task_type": "Noop", "max_attempts": 0}]"#, "task 1: max_attempts must be at least 1, not 0"),
        (#"[{"task_type": "Noop", "queue": ""}]"#, "task 1: queue must not be empty"),
    ])
    func badTasksAreRefusedNamingTheTaskAndNothingIsEnqueued(json: String, message: String) async throws {
        try await withTestConnection { connection in
            let error = await #expect(throws: PostgresError.self) {
                _ = try await TaskQueue(connection: connection).add(manyJSON: json)
            }
            #expect(error?.sqlState == "22023")
            #expect(error?.description.contains(message) == true, "\(String(describing: error))")
            let enqueued = try await connection.query("SELECT 1 FROM scheduler_task").count
            #expect(enqueued == 0)
        }
    }
}
