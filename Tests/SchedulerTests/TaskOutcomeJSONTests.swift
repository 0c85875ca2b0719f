import Foundation
import Postgres
import TestSupport
import Testing

@testable import Scheduler

@Suite("Outcomes as JSON for the worker's statements", .timeLimit(.minutes(2)))
struct TaskOutcomeJSONTests {
    /// The server's JSON parser reads back every field as it was, whatever the task's error and output hold; a NUL,
    /// which PostgreSQL's text cannot hold, comes back as U+FFFD.
    @Test func theServerReadsBackEveryFieldExactly() async throws {
        let texts = [
            "", "plain", "quote \" and backslash \\ and slash /", "line\nbreak\r\ttab", "\u{1}\u{1f}\u{7f}",
            "ünïcödé ✓ 🚀 \u{2028}", "{\"looks\": [\"like\", \"json\"]}", "\\u0041 is not an escape here",
            "a NUL \u{0} in the output",
        ]
        let outcomes = texts.enumerated().map { index, text in
            TaskOutcome(
                id: Int64(index) + 9_000_000_000, token: "node/\(index)/\(text)", queue: "default",
                status: index % 2 == 0 ? .done : .retried,
                error: index % 3 == 0 ? nil : text, output: text, retryAt: index % 2 == 0 ? nil : 1_795_978_457.5,
                startedAt: 1_795_978_457.123456 + Double(index), finishedAt: 1e-05 + Double(index))
        }
        func stored(_ text: String) -> String { text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") }
        try await withTestConnection { connection in
            let rows = try await connection.query(
                """
                SELECT * FROM jsonb_to_recordset(\(TaskOutcomeJSON.encode(outcomes))::jsonb)
                    AS r(id bigint, token text, status text, error text, output text, retry_at float8,
                         started_at float8, finished_at float8)
                """)
            #expect(rows.count == outcomes.count)
            for (row, outcome) in zip(rows, outcomes) {
                #expect(try row.decode(Int64.self, "id") == outcome.id)
                #expect(try row.decode(String.self, "token") == stored(outcome.token))
                #expect(try row.decode(String.self, "status") == outcome.status.rawValue)
                #expect(try row.decode(String?.self, "error") == outcome.error.map(stored))
                #expect(try row.decode(String?.self, "output") == outcome.output.map(stored))
                #expect(try row.decode(Double?.self, "retry_at") == outcome.retryAt)
                #expect(try row.decode(Double.self, "started_at") == outcome.startedAt)
                #expect(try row.decode(Double.self, "finished_at") == outcome.finishedAt)
            }
        }
    }
}
