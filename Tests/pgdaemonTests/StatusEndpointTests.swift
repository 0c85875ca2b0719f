import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("daemon.http: /health and /metrics, run as a process", .timeLimit(.minutes(2)))
struct StatusEndpointTests {
    @Test func healthAndMetricsAnswerWhileTasksRunAndHealthFailsWithoutTheDatabase() async throws {
        let port = freePort()
        try await withOwnServer(
            // The default cache-cleanup cron entry would add a task at every fifth minute to the counts below.
            modules: """
                  SchedulerTaskWorker: {}
                  SchedulerFutureTaskManager: {}
                  TestDaemon: { sleep_post: 100ms }
                cron:
                  cache-cleanup: false
                """,
            http: "127.0.0.1:\(port)"
        ) { server, url, harness in
            let admin = try await Connection.connect(ConnectionOptions(url))
            try await waitUntil("the node is healthy") { (try? httpGet(port: port, path: "/health"))?.status == 200 }
            #expect(try httpGet(port: port, path: "/health").body.hasPrefix("ok: node \(harness.node), 3 modules up"))

            try await admin.execute("SELECT scheduler_task_add('Noop') FROM generate_series(1, 40)")
            try await admin.execute("SELECT scheduler_task_add('NoSuchType')")
            try await admin.execute("SELECT scheduler_task_add('Sleep', '{\"seconds\": 30}')")
            try await waitUntil("41 tasks finished and the Sleep runs") {
                let metrics = try httpGet(port: port, path: "/metrics").body
                return metrics.contains(#"pgdaemon_tasks_finished_total{type="Noop",status="done"} 40"#)
                    && metrics.contains(#"pgdaemon_tasks_finished_total{type="NoSuchType",status="failed"} 1"#)
                    && metrics.contains(#"pgdaemon_queue_tasks{state="running"} 1"#)
                    // On a loaded machine the singleton may take its lock after the tasks are done.
                    && metrics.contains(#"pgdaemon_singleton_held{module="SchedulerFutureTaskManager"} 1"#)
            }
            let metrics = try httpGet(port: port, path: "/metrics").body
            for line in [
                "# TYPE pgdaemon_task_start_delay_seconds histogram",
                #"pgdaemon_task_start_delay_seconds_bucket{le="+Inf"} 41"#,
                "pgdaemon_task_start_delay_seconds_count 41",
                #"pgdaemon_queue_tasks{state="ready"} 0"#,
                #"pgdaemon_module_restarts_total{module="TestDaemon"} 0"#,
                #"pgdaemon_module_up{module="SchedulerTaskWorker"} 1"#,
                #"pgdaemon_singleton_held{module="SchedulerFutureTaskManager"} 1"#,
                #"pgdaemon_singleton_takeovers_total{module="SchedulerFutureTaskManager"} 1"#,
            ] {
                #expect(metrics.contains(line + "\n"), "\(line)\n\(metrics)")
            }
            #expect(try httpGet(port: port, path: "/nope").status == 404)

            await admin.close()
            try await server.stop()
            try await waitUntil("health turns 503") { (try? httpGet(port: port, path: "/health"))?.status == 503 }
            #expect(try httpGet(port: port, path: "/health").body.contains("unhealthy: node \(harness.node)"))
            #expect(try httpGet(port: port, path: "/metrics").status == 503)
        }
    }
}
