public import DaemonKit
import Postgres

/// A module of our own: every `sleep_post` it records, in a table of its own, that this node is alive, with a message
/// from its configuration. Its summary shows every node's last heartbeat, read from the shared table.
///
/// Configure it like any module:
///
///     modules:
///       HeartbeatWriter: { sleep_post: 5s, message: "all good" }
public final class HeartbeatWriter: DaemonModule {
    public static let description = "Records this node's heartbeat and a message in example_heartbeat."
    public static var defaultSleepPost: Duration { .seconds(5) }
    public static var settings: [ModuleSetting] {
        [ModuleSetting("message", .string, help: "The text recorded with each heartbeat; default \"alive\".")]
    }

    public let context: ModuleContext
    private let message: String

    /// Runs once per process: after a discard, the fresh process reads the configuration again.
    public init(context: ModuleContext) async throws {
        self.context = context
        message = context.settings.string("message", default: "alive")
        try await context.database.execute(
            """
            CREATE TABLE IF NOT EXISTS example_heartbeat (
                node text PRIMARY KEY, message text NOT NULL, beat_at timestamptz NOT NULL
            )
            """)
    }

    public func run() async throws -> ModuleStep {
        try await context.database.execute(
            """
            INSERT INTO example_heartbeat (node, message, beat_at) VALUES (\(context.node), \(message), now())
            ON CONFLICT (node) DO UPDATE SET message = EXCLUDED.message, beat_at = EXCLUDED.beat_at
            """)
        return .proceed
    }

    public static func summary(_ context: SummaryContext) async throws -> [SummaryTable] {
        let rows = try await context.database.query(
            """
            SELECT node, message, to_char(now() - beat_at, 'HH24:MI:SS') AS age FROM example_heartbeat
            WHERE to_regclass('example_heartbeat') IS NOT NULL ORDER BY node
            """)
        return [
            SummaryTable(
                header: "Heartbeats:",
                columns: [
                    .init("node", "Node", width: 20), .init("message", "Message", width: 30),
                    .init("age", "Age", width: 10),
                ],
                rows: try rows.map { row in
                    [
                        "node": try row.decode(String.self, "node"), "message": try row.decode(String.self, "message"),
                        "age": try row.decode(String.self, "age"),
                    ]
                },
                noDataMessage: "No heartbeat yet.")
        ]
    }
}
