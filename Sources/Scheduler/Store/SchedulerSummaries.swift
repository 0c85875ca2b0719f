public import DaemonKit
import Postgres

/// The scheduler modules' tables for `pgdaemon summary`, in the spirit of OTRS's Maint::Daemon::Summary, all read from
/// the shared tables.
enum SchedulerSummaries {
    static func column(_ name: String, _ title: String, _ width: Int) -> SummaryTable.Column {
        SummaryTable.Column(name, title, width: width)
    }

    /// Runs `sql`, whose columns are all text, into a table.
    static func table(
        _ context: SummaryContext, header: String, columns: [SummaryTable.Column], noData: String, sql: SQL
    ) async throws -> SummaryTable {
        let rows = try await context.database.query(sql)
        return SummaryTable(
            header: header, columns: columns,
            rows: try rows.map { row in
                Dictionary(
                    uniqueKeysWithValues: try columns.map { ($0.name, try row.decode(String?.self, $0.name) ?? "-") })
            },
            noDataMessage: noData)
    }

    /// Waiting and running tasks, and recent failures: the worker's summary.
    static func worker(_ context: SummaryContext) async throws -> [SummaryTable] {
        [
            try await table(
                context, header: "Tasks waiting:",
                columns: [
                    column("task_type", "Type", 20), column("ready", "Ready", 8),
                    column("oldest", "Oldest waiting", 16),
                ],
                noData: "No task is waiting.",
                sql: """
                    SELECT task_type, count(*)::text AS ready,
                           to_char(now() - min(create_time), 'HH24:MI:SS') AS oldest
                    FROM scheduler_task WHERE lock_key IS NULL GROUP BY task_type ORDER BY task_type
                    """),
            try await table(
                context, header: "Tasks running:",
                columns: [
                    column("id", "ID", 10), column("task_type", "Type", 16), column("name", "Name", 20),
                    column("node", "Node", 16), column("duration", "Running for", 12),
                ],
                noData: "No task is running.",
                sql: """
                    SELECT id::text, task_type, name, lock_node AS node,
                           to_char(now() - lock_time, 'HH24:MI:SS') AS duration
                    FROM scheduler_task WHERE lock_key IS NOT NULL ORDER BY lock_time LIMIT 50
                    """),
            try await table(
                context, header: "Recent failures:",
                columns: [
                    column("task_id", "ID", 10), column("task_type", "Type", 16), column("finished", "Failed at", 19),
                    column("error", "Error", 60),
                ],
                noData: "No task failed in the last 24 hours.",
                sql: """
                    SELECT task_id::text, task_type, to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS') AS finished, error
                    FROM scheduler_task_history
                    WHERE status = 'failed' AND finished_at > now() - interval '24 hours'
                    ORDER BY finished_at DESC LIMIT 20
                    """),
        ]
    }

    /// Planned future tasks: the future manager's summary.
    static func future(_ context: SummaryContext) async throws -> [SummaryTable] {
        [
            try await table(
                context, header: "Planned future tasks:",
                columns: [
                    column("id", "ID", 10), column("task_type", "Type", 16), column("name", "Name", 20),
                    column("due", "Due", 19), column("attempts", "Attempts", 8),
                ],
                noData: "No future task is planned.",
                sql: """
                    SELECT id::text, task_type, name, to_char(execution_time, 'YYYY-MM-DD HH24:MI:SS') AS due,
                           attempts::text || '/' || max_attempts::text AS attempts
                    FROM scheduler_future_task ORDER BY execution_time LIMIT 50
                    """)
        ]
    }

    /// The cron entries with their last and next runs: the cron manager's summary.
    static func cron(_ context: SummaryContext) async throws -> [SummaryTable] {
        [
            try await table(
                context, header: "Recurrent tasks:",
                columns: [
                    column("name", "Name", 20), column("schedule", "Schedule", 16), column("timezone", "Time zone", 14),
                    column("last_run", "Last run", 19), column("last_status", "Last status", 11),
                    column("duration", "Duration (ms)", 13), column("next_run", "Next run", 19),
                ],
                noData: "No cron: entry is configured.",
                sql: """
                    SELECT name, schedule, timezone,
                           to_char(last_execution_time, 'YYYY-MM-DD HH24:MI:SS') AS last_run, last_status,
                           last_duration_ms::text AS duration,
                           to_char(next_execution_time, 'YYYY-MM-DD HH24:MI:SS') AS next_run
                    FROM scheduler_recurrent_task ORDER BY name
                    """)
        ]
    }

    /// Rescues of the last 24 hours: the rescuer's summary.
    static func rescuer(_ context: SummaryContext) async throws -> [SummaryTable] {
        [
            try await table(
                context, header: "Tasks rescued in the last 24 hours:",
                columns: [
                    column("task_id", "ID", 10), column("task_type", "Type", 16), column("node", "Lost on", 16),
                    column("finished", "Rescued at", 19),
                ],
                noData: "No task needed rescuing.",
                sql: """
                    SELECT task_id::text, task_type, node, to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS') AS finished
                    FROM scheduler_task_history
                    WHERE status = 'rescued' AND finished_at > now() - interval '24 hours'
                    ORDER BY finished_at DESC LIMIT 20
                    """)
        ]
    }
}

extension SchedulerTaskWorker {
    public static func summary(_ context: SummaryContext) async throws -> [SummaryTable] {
        try await SchedulerSummaries.worker(context)
    }
}

extension SchedulerFutureTaskManager {
    public static func summary(_ context: SummaryContext) async throws -> [SummaryTable] {
        try await SchedulerSummaries.future(context)
    }
}

extension SchedulerCronTaskManager {
    public static func summary(_ context: SummaryContext) async throws -> [SummaryTable] {
        try await SchedulerSummaries.cron(context)
    }
}

extension SchedulerTaskRescuer {
    public static func summary(_ context: SummaryContext) async throws -> [SummaryTable] {
        try await SchedulerSummaries.rescuer(context)
    }
}
