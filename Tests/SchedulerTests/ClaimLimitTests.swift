import Foundation
import Postgres
import TestSupport
import Testing

/// `scheduler_claim_tasks` on its own, called as the worker calls it: what each claim may take under a queue's
/// limits, its keys' turns, its rate, a pause, and the outcomes recorded in the same statement.
@Suite("The claim's queue limits", .timeLimit(.minutes(2)))
struct ClaimLimitTests {
    /// Claims for `token` with the node's `rooms`, leaving out of the counts the tasks of `recorded` (ids with their
    /// token, in `recordedQueue`), and returns the claimed ids in order.
    func claim(
        _ connection: Connection, _ token: String, batch: Int = 100, rooms: String = "{}",
        recorded: [Int64] = [], recordedToken: String = "", recordedQueue: String = "mail"
    ) async throws -> [Int64] {
        let ids = "{" + recorded.map(String.init).joined(separator: ",") + "}"
        return try await connection.query(
            """
            SELECT id FROM scheduler_claim_tasks(\(token), 'node-a', \(batch), \(rooms)::jsonb, \(ids)::bigint[],
                                                 ARRAY[\(recordedToken)], ARRAY[\(recordedQueue)]) ORDER BY id
            """
        ).map { try $0.decode(Int64.self, "id") }
    }

    func add(_ connection: Connection, _ count: Int, queue: String, key: String? = nil, priority: Int = 0)
        async throws -> [Int64]
    {
        try await connection.query(
            """
            SELECT scheduler_task_add('Noop', priority => \(priority), queue => \(queue), concurrency_key => \(key))
                AS id FROM generate_series(1, \(count))
            """
        ).map { try $0.decode(Int64.self, "id") }
    }

    @Test func aLimitCountsRunningTasksAndTheOutcomesRecordedWithTheClaimFreeTheirSlots() async throws {
        try await withTestConnection { connection in
            let mail = try await add(connection, 6, queue: "mail")
            let other = try await add(connection, 2, queue: "default")
            try await connection.execute("INSERT INTO scheduler_queue (name, max_running) VALUES ('mail', 2)")
            #expect(try await claim(connection, "a") == Array(mail.prefix(2)) + other)
            #expect(try await claim(connection, "b").isEmpty, "mail's two slots are taken")
            #expect(
                try await claim(connection, "b", recorded: [mail[0]], recordedToken: "a") == [mail[2]],
                "the outcome recorded with the claim frees its slot")
            #expect(
                try await claim(connection, "c", recorded: [mail[1]], recordedToken: "another token").isEmpty,
                "an outcome whose token is not the task's frees nothing")
            try await connection.execute("UPDATE scheduler_task SET lock_key = NULL WHERE id = \(mail[0])")
            #expect(try await claim(connection, "c").isEmpty, "a rescued task is ready, not running")
        }
    }

    /// Other workers may wait for the slot an outcome frees; a claim that takes it itself has nothing to tell them,
    /// and on a durable server transactions that notify commit one after another.
    @Test func aClaimWakesOtherWorkersOnlyWhenItLeavesFreedSlotsFree() async throws {
        try await withTestDatabase { database in
            let connection = try await database.connect()
            let listener = try await database.connect()
            let mail = try await add(connection, 4, queue: "mail")
            try await connection.execute("INSERT INTO scheduler_queue (name, max_running) VALUES ('mail', 2)")
            #expect(try await claim(connection, "a") == Array(mail.prefix(2)))
            try await listener.listen("pgdaemon_task")
            #expect(try await claim(connection, "b", recorded: [mail[0]], recordedToken: "a") == [mail[2]])
            try await connection.notify("pgdaemon_task", payload: "after the claim that took the slot")
            #expect(
                try await listener.nextNotification(timeout: .seconds(10))?.payload
                    == "after the claim that took the slot", "the claim that took the freed slot woke no one")
            #expect(
                try await claim(connection, "c", rooms: #"{"mail": 0}"#, recorded: [mail[1]], recordedToken: "a")
                    .isEmpty)
            #expect(
                try await listener.nextNotification(timeout: .seconds(10))?.payload == "",
                "a claim without room here for the slot it freed wakes the others")
            await listener.close()
            await connection.close()
        }
    }

    @Test func aKeyLimitedQueuesKeysTakeTurnsSoADeepKeyDoesNotStarveAShallowOne() async throws {
        try await withTestConnection { connection in
            try await connection.execute("INSERT INTO scheduler_queue (name, key_limit) VALUES ('reports', 2)")
            let deep = try await add(connection, 50, queue: "reports", key: "tenant-deep")
            let shallow = try await add(connection, 1, queue: "reports", key: "tenant-shallow")
            let urgent = try await add(connection, 1, queue: "reports", key: "tenant-urgent", priority: -5)
            #expect(try await claim(connection, "a", batch: 3) == [deep[0], shallow[0], urgent[0]])
            #expect(try await claim(connection, "b") == [deep[1]], "tenant-deep runs two at most")
            let running = try await connection.query(
                """
                SELECT concurrency_key, count(*) AS n FROM scheduler_task WHERE lock_key IS NOT NULL
                GROUP BY concurrency_key ORDER BY concurrency_key
                """
            ).map { "\(try $0.decode(String.self, "concurrency_key"))=\(try $0.decode(Int.self, "n"))" }
            #expect(running == ["tenant-deep=2", "tenant-shallow=1", "tenant-urgent=1"])
        }
    }

    @Test func aRateAllowsThatManyStartsPerPeriodAndAQueueWithoutFiguresRunsUnderTheDefaults() async throws {
        try await withTestConnection { connection in
            try await connection.execute(
                "INSERT INTO scheduler_queue (name, rate_count, rate_period) VALUES ('default', 3, '1 hour')")
            let mail = try await add(connection, 5, queue: "mail")
            let plain = try await add(connection, 5, queue: "default")
            #expect(try await claim(connection, "a", batch: 2) == [mail[0], plain[0]])
            #expect(
                try await claim(connection, "b") == [mail[1], mail[2], plain[1], plain[2]],
                "each queue has three starts an hour, as it has no figures of its own")
            let recorded = try await connection.execute(
                "UPDATE scheduler_task SET lock_key = NULL WHERE lock_key IS NOT NULL")
            #expect(recorded == 6)
            #expect(try await claim(connection, "c").isEmpty, "the starts count, not the running tasks")
            try await connection.execute(
                """
                UPDATE scheduler_queue SET rate_buckets = ARRAY[now() - interval '2 hours'], rate_counts = ARRAY[3]
                WHERE name = 'mail'
                """)
            #expect(try await claim(connection, "d").count == 3, "starts older than the period no longer count")
        }
    }

    @Test func roomsBoundEachQueueAndPausedQueuesAreLeftAlone() async throws {
        try await withTestConnection { connection in
            let mail = try await add(connection, 4, queue: "mail")
            let plain = try await add(connection, 4, queue: "default")
            let bulk = try await add(connection, 4, queue: "bulk")
            try await connection.execute("SELECT scheduler_queue_pause('bulk')")
            #expect(
                try await claim(connection, "a", rooms: #"{"mail": 1, "": 2}"#)
                    == [mail[0], plain[0], plain[1]])
            #expect(try await claim(connection, "b", rooms: #"{"mail": 0, "default": 0}"#).isEmpty)
            try await connection.execute("SELECT scheduler_queue_resume('bulk')")
            #expect(try await claim(connection, "c", rooms: #"{"mail": 0, "default": 0}"#) == bulk)
        }
    }

    /// While no queue has a limit, a key limit or a rate, a claim takes the plain path (sql/0026), which neither reads
    /// nor locks the queues' rows. It has to take what the full claim takes, in the same turns: queues in turn within
    /// a priority, each within its room, paused ones left alone. The second claim runs the full path, made to by a
    /// limit on a queue without tasks.
    @Test func theClaimWithoutLimitsTakesWhatTheFullClaimTakesInTheSameTurns() async throws {
        try await withTestConnection { connection in
            for (queue, priority) in [("mail", 0), ("default", 0), ("bulk", 5), ("mail", 5), ("held", 0)] {
                _ = try await add(connection, 3, queue: queue, priority: priority)
            }
            try await connection.execute("SELECT scheduler_queue_pause('held')")
            func claimed(_ token: String) async throws -> [String] {
                try await connection.query(
                    """
                    SELECT t.queue, t.priority, c.turn FROM scheduler_claim_tasks(\(token), 'node-a', 7,
                        '{"mail": 4, "": 2}'::jsonb, '{}'::bigint[], '{}'::text[], '{}'::text[]) AS c
                    JOIN scheduler_task AS t USING (id) ORDER BY c.turn
                    """
                ).map {
                    "\(try $0.decode(String.self, "queue")) \(try $0.decode(Int.self, "priority")) \(try $0.decode(Int.self, "turn"))"
                }
            }
            let plain = try await claimed("plain")
            #expect(
                plain == ["mail 0 1", "default 0 2", "mail 0 3", "default 0 4", "mail 0 5", "bulk 5 6", "bulk 5 7"])
            try await connection.execute("UPDATE scheduler_task SET lock_key = NULL, attempts = 0")
            try await connection.execute("INSERT INTO scheduler_queue (name, max_running) VALUES ('idle', 1)")
            #expect(try await claimed("full") == plain)
        }
    }

    @Test func cancelRemovesAWaitingTaskIntoHistoryAndMarksARunningOne() async throws {
        try await withTestConnection { connection in
            let ids = try await add(connection, 2, queue: "mail", key: "k")
            let future = try await connection.query(
                "SELECT scheduler_task_add('Noop', execution_time => now() + interval '1 day') AS id"
            )[0].decode(Int64.self, "id")
            #expect(try await claim(connection, "a", batch: 1) == [ids[0]])
            func cancel(_ id: Int64) async throws -> Bool {
                try await connection.query("SELECT scheduler_task_cancel(\(id)) AS done")[0].decode(Bool.self, "done")
            }
            #expect(try await cancel(ids[1]))
            #expect(try await cancel(future))
            #expect(try await cancel(ids[0]), "a running task is being stopped")
            #expect(try await !cancel(999_999))
            let history = try await connection.query(
                "SELECT task_id, status, queue, concurrency_key FROM scheduler_task_history ORDER BY task_id"
            ).map {
                "\(try $0.decode(Int64.self, "task_id")) \(try $0.decode(String.self, "status")) \(try $0.decode(String.self, "queue")) \(try $0.decode(String?.self, "concurrency_key") ?? "-")"
            }
            #expect(history == ["\(ids[1]) cancelled mail k", "\(future) cancelled default -"])
            let marked = try await connection.query(
                "SELECT cancel_requested_at IS NOT NULL AS marked FROM scheduler_task WHERE id = \(ids[0])")
            #expect(try marked.first?.decode(Bool.self, "marked") == true)
        }
    }

    /// Rows of the task table this session has read (by scans and through indexes) and not yet sent to the statistics.
    func rowsRead(on connection: Connection) async throws -> Int {
        try await connection.query(
            """
            SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) AS read FROM pg_stat_xact_user_tables
            WHERE relid = 'scheduler_task'::regclass
            """)[0].decode(Int.self, "read")
    }

    /// A migration that replaces the claim function sets its SET clauses anew: one that left these out would bring
    /// back the plans that read and sorted a whole backlog (sql/0014, 0024) or planned every call (sql/0025).
    @Test func theClaimFunctionKeepsItsPlannerSettings() async throws {
        try await withTestConnection { connection in
            let settings = try await connection.query(
                """
                SELECT unnest(proconfig) AS setting FROM pg_proc WHERE proname = 'scheduler_claim_tasks'
                ORDER BY setting
                """
            ).map { try $0.decode(String.self, "setting") }
            #expect(
                settings == [
                    "enable_seqscan=off", "enable_sort=off", "jit=off", "plan_cache_mode=force_generic_plan",
                ])
        }
    }

    /// Each session plans the claim once (sql/0025), so the plan made here is the one a worker would keep for all its
    /// claims: it has to read a queue through the ready index in order whatever the statistics said (sql/0024), on the
    /// plain path (sql/0026) and, once a queue has a limit, on the full one.
    @Test(arguments: [false, true])
    func aClaimReadsWhatItTakesWhenAVacuumLeftStatisticsThatSayTheTableIsEmpty(limited: Bool) async throws {
        try await withTestConnection { connection in
            try await connection.execute("ALTER TABLE scheduler_task SET (autovacuum_enabled = false)")
            if limited {
                try await connection.execute("INSERT INTO scheduler_queue (name, max_running) VALUES ('mail', 1)")
            }
            // A queue that drained to its last task, vacuumed then (reltuples 1, the pages kept), and filled again.
            try await connection.execute(
                "INSERT INTO scheduler_task (task_type) SELECT 'Noop' FROM generate_series(1, 20000)")
            try await connection.execute("DELETE FROM scheduler_task WHERE id < (SELECT max(id) FROM scheduler_task)")
            try await connection.execute("VACUUM scheduler_task")
            try await connection.execute(
                "INSERT INTO scheduler_task (task_type) SELECT 'Noop' FROM generate_series(1, 5000)")
            // In one transaction: the session sends its counts, and starts them again, only between transactions.
            let (claimed, read) = try await connection.transaction { connection in
                let before = try await rowsRead(on: connection)
                let claimed = try await claim(connection, "t").count
                return (claimed, try await rowsRead(on: connection) - before)
            }
            #expect(claimed == 100)
            // With sorts allowed and the update's rows found by the join alone, it read every ready task (5,101 rows).
            #expect(read < 1_000, "a claim of 100 read \(read) rows of 5,001")
        }
    }
}
