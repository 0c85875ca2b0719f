import Foundation
import Postgres

/// The task worker's SQL: claim ready tasks, keep their locks fresh, record their outcomes. Each call is one
/// statement, so a worker killed at any moment leaves every task either claimed (and rescued later), finished and in
/// history, or back in the queue.
struct TaskStore: Sendable {
    let connection: Connection
    let node: String
    /// Shared by every store of a worker, so all its attempts read one database clock.
    let clock: DatabaseClock
    /// The insert of retried tasks into the future tasks, from the `finished` rows of `recording`.
    private let retriedInsert: String
    /// The insert of finished attempts into history, from the same rows.
    private let recordedInsert: String
    /// Which queues are limited: recording one of their tasks without a claim wakes the workers that may wait for its
    /// slot. (A claim that records them wakes them only when it leaves the slot free: `scheduler_claim_tasks`.)
    private let queues: QueuesSection

    init(connection: Connection, node: String, clock: DatabaseClock, columns: TaskColumns, queues: QueuesSection) {
        self.connection = connection
        self.node = node
        self.clock = clock
        self.queues = queues
        retriedInsert = columns.insert(
            into: .future, from: .ready, alias: "finished",
            setting: ["last_error": "result_error", "execution_time": "to_timestamp(retry_at)"])
        recordedInsert = columns.insert(
            into: .history, from: .ready, alias: "finished",
            setting: [
                "task_id": "id", "node": "lock_node", "started_at": "to_timestamp(run_started)",
                "finished_at": "to_timestamp(run_finished)", "status": "result", "error": "result_error",
                "output": "result_output",
            ])
    }

    /// Records `outcomes` (see `finish`) and claims up to `limit` ready tasks, at most `rooms` of a queue, lowest
    /// priority value first, then oldest, within the queues' limits, skipping rows other workers are claiming at the
    /// same moment; they come back in no set order, each with its turn in the claim (the worker orders what its
    /// claims bring). One statement for both, so a busy worker pays one round trip per batch, and a second only when
    /// some of `all` are released (`releasing`). The claim itself is `scheduler_claim_tasks` (sql/0019), which counts
    /// the recorded tasks out of the limits' counts, as they leave the running rows in the same statement, and wakes
    /// other workers when it leaves free slots that they freed.
    func claim(limit: Int, rooms: [String: Int] = [:], token: String, recording all: [TaskOutcome] = []) async throws
        -> [ClaimedTask]
    {
        let outcomes = try await releasing(all)
        let recording: SQL = outcomes.isEmpty ? "" : "\(self.recording(outcomes)), "
        let statement: SQL = """
            WITH \(recording)claimed AS (
                SELECT * FROM scheduler_claim_tasks(
                    \(token), \(node), \(limit), \(try PostgresJSON(rooms))::jsonb, \(Self.idArray(outcomes))::bigint[],
                    \(try Self.textArray(Set(outcomes.map(\.token)))),
                    \(try Self.textArray(Set(outcomes.map(\.queue))))))
            SELECT *, extract(epoch FROM clock_timestamp())::float8 AS server_clock FROM claimed
            """
        // A claim that records nothing is the same text every time, which is worth keeping prepared: it is the claim
        // of a worker woken for a new task, and sent unprepared its parse and bind took 0.11 ms of the 0.37 ms the
        // server spent on it (log_min_duration_statement 0, durable server).
        let rows = try await Self.retryingDeadlocks {
            try await connection.query(statement, prepared: outcomes.isEmpty)
        }
        if let serverClock = try rows.first?.decode(Double.self, "server_clock") {
            clock.observe(serverClock: serverClock, at: .now)
        }
        return try rows.map { row in
            ClaimedTask(
                id: try row.decode(Int64.self, "id"), name: try row.decode(String?.self, "name"),
                type: try row.decode(String.self, "task_type"), dataJSON: try row.decode(String.self, "data"),
                attempts: try row.decode(Int.self, "attempts"), maxAttempts: try row.decode(Int.self, "max_attempts"),
                priority: try row.decode(Int.self, "priority"), turn: try row.decode(Int.self, "turn"),
                queue: try row.decode(String.self, "queue"),
                token: token, clock: clock)
        }
    }

    /// Runs a statement again when the server broke a deadlock by cancelling it: its transaction was rolled back, so
    /// nothing was recorded or claimed. Two claims that record at the same moment have deadlocked, rarely (once in
    /// a few three-node drains, in the server's update of a claimed row): without this the worker's step failed and
    /// its claimed tasks waited for the rescuer.
    private static func retryingDeadlocks<Result>(_ statement: () async throws -> Result) async throws -> Result {
        var attempt = 1
        while true {
            do {
                return try await statement()
            } catch let error as PostgresError
                where error.sqlState == PostgresError.SQLState.deadlockDetected && attempt < 3
            {
                attempt += 1
            }
        }
    }

    /// Extends the locks of running tasks, so the rescuer leaves them alone. `lock_key IS NOT NULL` lets the server
    /// read only the running tasks (the partial index `scheduler_task_running_idx`), not the whole queue.
    /// Returns the ids of those whose cancel was requested: the notification that tells the worker at once may have
    /// been missed while its listening connection was down.
    func heartbeat(tokens: Set<String>) async throws -> [Int64] {
        guard !tokens.isEmpty else { return [] }
        return try await connection.query(
            """
            UPDATE scheduler_task SET lock_update_time = now()
            WHERE lock_key IS NOT NULL
              AND lock_key = ANY(\(try Self.textArray(tokens)))
            RETURNING id, cancel_requested_at IS NOT NULL AS cancelled
            """
        ).compactMap { row in try row.decode(Bool.self, "cancelled") ? try row.decode(Int64.self, "id") : nil }
    }

    /// Records finished attempts in one statement: each task leaves the queue only if it still carries its claim
    /// token (a task rescued and claimed again meanwhile is not completed twice), gets its history row, and comes
    /// back as a future task when it is to be retried. Released tasks go back to ready.
    func finish(_ outcomes: [TaskOutcome]) async throws {
        let finished = try await releasing(outcomes)
        guard !finished.isEmpty else { return }
        let statement: SQL =
            wakes(finished)
            ? "WITH \(recording(finished)) SELECT pg_notify('pgdaemon_task', '')"
            : "WITH \(recording(finished)) SELECT 1"
        _ = try await Self.retryingDeadlocks { try await connection.execute(statement) }
    }

    /// Whether recording the outcomes frees slots of a limited queue, which other workers may be waiting for.
    private func wakes(_ outcomes: [TaskOutcome]) -> Bool {
        outcomes.contains { queues.isLimited($0.queue) }
    }

    /// Puts the released outcomes' tasks back in the queue, in a statement of their own, and returns the others, the
    /// finished ones to record.
    private func releasing(_ outcomes: [TaskOutcome]) async throws -> [TaskOutcome] {
        let released = outcomes.filter { $0.status == .released }
        if !released.isEmpty { try await release(released) }
        return outcomes.filter { $0.status != .released }
    }

    /// The common table expressions that record finished (not released) outcomes, for `finish` and `claim`.
    ///
    /// The statements that hold them are sent unprepared, so that each is planned for the table as it is then. A
    /// prepared one kept the generic plan made while the table held a page or two, after a quiet spell, which deletes
    /// through a sequential scan: once a burst filled the table every batch scanned it. On a durable server, drains of
    /// 20,000 tasks right after 200 single ones ran at a median 9,150 tasks/s prepared and 12,900 unprepared (six
    /// drains each, from three runs of each build).
    private func recording(_ outcomes: [TaskOutcome]) -> SQL {
        // Without retries the statement leaves out their insert, whose trigger would run for nothing.
        let retries: SQL =
            outcomes.contains { $0.status == .retried }
            ? ", retried AS (\(unsafeSQL: retriedInsert) FROM finished WHERE result = 'retried')" : ""
        return """
            results AS (
                SELECT * FROM jsonb_to_recordset(\(TaskOutcomeJSON.encode(outcomes))::jsonb)
                    AS r(id bigint, token text, status text, error text, output text, retry_at float8,
                         started_at float8, finished_at float8)
            ), finished AS (
                DELETE FROM scheduler_task AS t USING results AS r
                WHERE t.id = ANY(\(Self.idArray(outcomes))::bigint[]) AND t.id = r.id AND t.lock_key IS NOT DISTINCT FROM r.token
                RETURNING t.*, r.status AS result, r.error AS result_error, r.output AS result_output, r.retry_at,
                          r.started_at AS run_started, r.finished_at AS run_finished
            )\(retries), recorded AS (\(unsafeSQL: recordedInsert) FROM finished)
            """
    }

    /// The outcomes' task ids as an array literal. Statements look their rows up by `id = ANY(…)` as well as by
    /// joining the outcomes: the planner knows nothing of a JSON record set's size, and the cached generic plan of a
    /// prepared statement once chose to scan the whole queue for every batch (5× slower at 20,000 tasks). The token
    /// is compared with `IS NOT DISTINCT FROM` (the same, as a token is never null) because `=` implies
    /// `lock_key IS NOT NULL`, which let the planner scan the whole partial index of running tasks instead: it looks
    /// small in the statistics but holds an entry for every task finished since the last vacuum (a drain's backend
    /// CPU doubled with batches of 40).
    private static func idArray(_ outcomes: [TaskOutcome]) -> String {
        "{" + outcomes.map { String($0.id) }.joined(separator: ",") + "}"
    }

    /// Claim tokens or queue names as a text array, sent as one JSON parameter: a node's name, and so a token, and a
    /// queue's name may hold any character.
    private static func textArray(_ values: Set<String>) throws -> SQL {
        "ARRAY(SELECT jsonb_array_elements_text(\(try PostgresJSON(Array(values)))::jsonb))"
    }

    /// Puts tasks back in the queue, not counting the attempt, and wakes the workers for them.
    func release(_ outcomes: [TaskOutcome]) async throws {
        try await connection.transaction { connection in
            try await connection.execute(
                """
                UPDATE scheduler_task AS t
                SET lock_key = NULL, lock_node = NULL, lock_time = NULL, lock_update_time = NULL,
                    attempts = greatest(t.attempts - 1, 0)
                FROM jsonb_to_recordset(\(TaskOutcomeJSON.encode(outcomes))::jsonb) AS r(id bigint, token text)
                WHERE t.id = ANY(\(Self.idArray(outcomes))::bigint[]) AND t.id = r.id AND t.lock_key IS NOT DISTINCT FROM r.token
                """)
            try await connection.execute("SELECT pg_notify('pgdaemon_task', '')")
        }
    }
}
