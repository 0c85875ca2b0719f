import Cache
import DaemonKit
import Foundation
import Postgres
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A plain HTTP/1.1 GET over a socket: the status line's code and the body.
func httpGet(port: UInt16, path: String) throws -> (status: Int, body: String) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { throw POSIXError(POSIXError.Code(rawValue: errno) ?? .ECONNREFUSED) }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while case let count = recv(descriptor, &buffer, buffer.count, 0), count > 0 { response += buffer[..<count] }
    let text = String(decoding: response, as: UTF8.self)
    let parts = text.components(separatedBy: "\r\n\r\n")
    let status = Int(parts[0].split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, parts.dropFirst().joined(separator: "\r\n\r\n"))
}

/// A TCP port nobody listens on now.
func freePort() -> UInt16 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            _ = bind(descriptor, $0, length)
            return getsockname(descriptor, $0, &length)
        }
    }
    return UInt16(bigEndian: address.sin_port)
}

@Suite("daemon.http: /health and /metrics, run as a process", .timeLimit(.minutes(2)))
struct StatusEndpointTests {
    @Test func healthAndMetricsAnswerWhileTasksRunAndHealthFailsWithoutTheDatabase() async throws {
        let port = freePort()
        try await withOwnServer(
            // The default cache-cleanup cron entry would add a task at every fifth minute to the counts below.
            modules: """
                  SchedulerTaskWorker: {}
                  SchedulerFutureTaskManager: {}
                  TestDaemon: { sleep_post: 100ms, cache_key: greeting }
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

            // TestDaemon reads its cache key every iteration: misses so far, hits once the entry is there. The module
            // process adds its counts to daemon_counter every 10 s.
            try await Cache(connection: admin).set("hello", type: "TestDaemon", key: "greeting")
            try await waitUntil("the cache's hits and misses show", timeout: .seconds(40)) {
                let metrics = try httpGet(port: port, path: "/metrics").body
                return metrics.contains(#"pgdaemon_cache_hits_total{type="TestDaemon"} "#)
                    && metrics.contains(#"pgdaemon_cache_misses_total{type="TestDaemon"} "#)
            }

            await admin.close()
            try await server.stop()
            try await waitUntil("health turns 503") { (try? httpGet(port: port, path: "/health"))?.status == 503 }
            #expect(try httpGet(port: port, path: "/health").body.contains("unhealthy: node \(harness.node)"))
            #expect(try httpGet(port: port, path: "/metrics").status == 503)
        }
    }
}
