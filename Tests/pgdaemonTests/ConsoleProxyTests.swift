import DaemonKit
import Foundation
import TestSupport
import Testing

/// The console behind nginx under its base path, as docs/operations.md sets it up: the login, its cookie, the links
/// and an action all go through the proxy.
@Suite(
    "Console behind nginx under a path prefix", .timeLimit(.minutes(2)),
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx"), "needs Debian's nginx"))
struct ConsoleProxyTests {
    @Test func theLoginLinksAndActionsWorkThroughTheProxy() async throws {
        try await ConsoleNode.run { node in
            let folder = FileManager.default.temporaryDirectory.appending(path: "nginx-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let port = freePort()
            let configuration = """
                worker_processes 1;
                pid \(folder.path)/nginx.pid;
                error_log \(folder.path)/error.log;
                events { worker_connections 64; }
                http {
                    access_log off;
                    client_body_temp_path \(folder.path)/body;
                    proxy_temp_path \(folder.path)/proxy;
                    server {
                        listen 127.0.0.1:\(port);
                        location \(ConsoleNode.base)/ {
                            proxy_pass http://127.0.0.1:\(node.port);
                            proxy_set_header Host $host;
                        }
                    }
                }
                """
            try configuration.write(to: folder.appending(path: "nginx.conf"), atomically: true, encoding: .utf8)
            let nginx = try ChildProcess(
                executable: "/usr/sbin/nginx",
                arguments: ["-c", folder.appending(path: "nginx.conf").path, "-p", folder.path, "-g", "daemon off;"],
                stdout: .null, stderr: .file(folder.appending(path: "stderr").path))
            defer { kill(nginx.pid, SIGTERM) }
            let proxied = ConsoleClient(port: port)
            try await waitUntil("nginx passes requests on") {
                (try? proxied.get("\(ConsoleNode.base)/login"))?.status == 200
            }
            let base = ConsoleNode.base
            #expect(try proxied.get("\(base)/queues").status == 401)
            let login = try proxied.logIn(base, user: "ops", password: "ops-password")
            #expect(login.status == 303)
            #expect(login.header("Location") == "\(base)/")
            #expect(login.header("Set-Cookie")?.contains("Path=\(base)") == true)
            let page = try proxied.get("\(base)/queues")
            #expect(page.status == 200)
            #expect(
                page.body.contains(#"href="\#(base)/console.css""#) && page.body.contains(#"href="\#(base)/tasks""#))
            let token = try #require(page.csrf)
            let paused = try proxied.post("\(base)/queues/pause", ["queue": "mail", "csrf": token])
            #expect(paused.status == 303)
            #expect(paused.header("Location") == "\(base)/queues")
            #expect(
                try await node.count(
                    "SELECT count(*) AS n FROM scheduler_queue WHERE name = 'mail' AND paused_at IS NOT NULL") == 1)
            #expect(try proxied.get("\(base)/console.css").header("Content-Type")?.hasPrefix("text/css") == true)
        }
    }
}
