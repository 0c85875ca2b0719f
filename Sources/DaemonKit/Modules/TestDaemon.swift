import Foundation
import Postgres

/// The seed's TestDaemon: prints the current time every `sleep_post` (default 2 s), and summarises what every node's
/// TestDaemon has done, from the shared database.
public final class TestDaemon: DaemonModule {
    public static let description = "Prints the current time every sleep_post, like the OTRS TestDaemon."
    public static var defaultSleepPost: Duration { .seconds(2) }

    public let context: ModuleContext

    public init(context: ModuleContext) async throws {
        self.context = context
    }

    public func run() async throws -> ModuleStep {
        context.logger.info("Current time \(PostgresTimestamp.iso8601(Date()))")
        return .proceed
    }

    public static func summary(_ context: SummaryContext) async throws -> [SummaryTable] {
        let rows = try await context.database.query(
            """
            SELECT node, coalesce(pid::text, '-') AS pid, coalesce(state, '-') AS state, iterations::text AS iterations,
                   discards::text AS discards, coalesce(to_char(since, 'YYYY-MM-DD HH24:MI:SS'), '-') AS since
            FROM daemon_module_state WHERE module = \(context.module.name) ORDER BY node
            """)
        let names = ["node", "pid", "state", "iterations", "discards", "since"]
        return [
            SummaryTable(
                header: context.module.name == "TestDaemon"
                    ? "Test Daemon Summary:" : "Test Daemon Summary (\(context.module.name)):",
                columns: [
                    .init("node", "Node", width: 20), .init("pid", "PID", width: 8), .init("state", "State", width: 15),
                    .init("iterations", "Iterations", width: 10), .init("discards", "Discards", width: 8),
                    .init("since", "Since", width: 19),
                ],
                rows: try rows.map { row in
                    Dictionary(uniqueKeysWithValues: try names.map { ($0, try row.decode(String.self, $0)) })
                },
                noDataMessage: "No TestDaemon has run yet.")
        ]
    }
}
