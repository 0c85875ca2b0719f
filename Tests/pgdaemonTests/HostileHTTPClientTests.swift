import Foundation
import Postgres
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The status codes of the responses in `text`, in order.
private func statuses(_ text: String) -> [Int] {
    text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
}

/// A process's resident memory in KiB, from `/proc`.
private func residentKiB(_ pid: Int32) -> Int? {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
    return line.flatMap { Int($0.split(separator: " ")[1]) }
}

/// `/health` and `/metrics` face whoever can reach the port (deploy/k8s listens on every interface, with `/health` as
/// the liveness probe), so no client may keep them from answering. Run alone by scripts/test: one test measures a
/// latency.
@Suite("daemon.http under slow and hostile clients, run as a process", .serialized, .timeLimit(.minutes(3)))
struct HostileHTTPClientTests {
    /// A node with `daemon.http` on a free port, healthy before `body` runs, and still healthy after it.
    private func withServingNode(
        _ body: (_ port: UInt16, _ harness: DaemonHarness, _ database: TestDatabase) async throws -> Void
    ) async throws {
        let port = freePort()
        try await withTestDatabase { database in
            let harness = try await DaemonHarness(
                connectionString: database.connectionString, modules: "  TestDaemon: { sleep_post: 1s }",
                http: "127.0.0.1:\(port)")
            do {
                try harness.start()
                try await waitUntil("the node is healthy") {
                    (try? httpGet(port: port, path: "/health"))?.status == 200
                }
                try await body(port, harness, database)
                #expect(try httpGet(port: port, path: "/health").status == 200, "/health still answers")
                #expect(harness.process?.isRunning == true)
                await harness.cleanUp()
            } catch {
                print("daemon output:\n\(harness.output)")
                await harness.cleanUp()
                throw error
            }
        }
    }

    @Test func twoHundredIdleHalfRequestsDoNotKeepHealthFromAnswering() async throws {
        try await withServingNode { port, _, _ in
            var idle: [RawClient] = []
            for _ in 0..<200 {
                let client = try RawClient(port: port)
                client.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                idle.append(client)
            }
            // The server has seen them all once the 200th is open or closed; then the probe comes.
            try await waitUntil("the server has taken the 200 connections", timeout: .seconds(5)) {
                idle.prefix(136).allSatisfy(\.isClosedByServer)
            }
            var waits: [Duration] = []
            for _ in 0..<5 {
                let start = ContinuousClock.now
                let health = try httpGet(port: port, path: "/health")
                waits.append(start.duration(to: .now))
                #expect(health.status == 200)
            }
            print("/health beside 200 idle half-requests, µs:", waits.map { Int($0 / .microseconds(1)) })
            #expect(waits.max()! < .milliseconds(100), "\(waits)")
            // At most 64 open at once: each new connection closed the oldest idle one.
            let open = idle.filter { !$0.isClosedByServer }.count
            #expect(open <= 63, "\(open) of the idle connections are still open")
            #expect(idle.suffix(50).allSatisfy { !$0.isClosedByServer }, "the newest idle ones are kept")
        }
    }

    @Test func aRequestThatNeverFinishesItsHeadIsAnswered408() async throws {
        try await withServingNode { port, _, _ in
            let slow = try RawClient(port: port)
            slow.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            #expect(try httpGet(port: port, path: "/health").status == 200, "answered while the slow one waits")
            let start = ContinuousClock.now
            let answer = slow.readToEnd(timeout: .seconds(15))
            #expect(answer.closed)
            #expect(statuses(answer.text) == [408])
            #expect(start.duration(to: .now) < .seconds(7), "within the 5 s head deadline")
        }
    }

    @Test func aTenMegabyteRequestLineIsRefusedWithoutTheSupervisorGrowing() async throws {
        try await withServingNode { port, harness, _ in
            let supervisor = try #require(harness.process?.pid)
            let before = try #require(residentKiB(supervisor))
            let client = try RawClient(port: port)
            let sent = client.send(Array("GET /".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 10 << 20))
            let answer = client.readToEnd()
            #expect(answer.closed)
            #expect(statuses(answer.text) == [414] || answer.text.isEmpty, "414 or a closed connection")
            let after = try #require(residentKiB(supervisor))
            print("10 MB request line: \(sent) bytes taken; supervisor RSS \(before) → \(after) KiB")
            #expect(after - before < 2048, "the supervisor grew by \(after - before) KiB")
        }
    }

    @Test func aHeaderFloodIsRefused431() async throws {
        try await withServingNode { port, _, _ in
            let client = try RawClient(port: port)
            var flood = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            for number in 0..<10_000 { flood += "X-Flood-\(number): yes\r\n" }
            client.send(flood + "\r\n")
            let answer = client.readToEnd()
            #expect(answer.closed)
            #expect(statuses(answer.text) == [431] || answer.text.isEmpty, "431 or a closed connection")
        }
    }

    @Test func garbageBytesAreRefused400() async throws {
        try await withServingNode { port, _, _ in
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<20 {
                let client = try RawClient(port: port)
                client.send((0..<512).map { _ in UInt8.random(in: 0...255, using: &generator) } + [10, 13, 10, 13, 10])
                let answer = client.readToEnd()
                #expect(answer.closed)
                #expect(statuses(answer.text) == [400] || answer.text.isEmpty, "400 or a closed connection")
            }
        }
    }

    @Test func http10WithoutHostIsAnsweredAndClosed() async throws {
        try await withServingNode { port, harness, _ in
            let client = try RawClient(port: port)
            client.send("GET /health HTTP/1.0\r\n\r\n")
            let answer = client.readToEnd()
            #expect(answer.closed, "HTTP/1.0 closes after the answer unless it asks to keep the connection")
            #expect(statuses(answer.text) == [200])
            #expect(answer.text.contains("Connection: close\r\n"))
            #expect(answer.text.hasSuffix("ok: node \(harness.node), 1 modules up\n"))
            let missingHost = try RawClient(port: port)
            missingHost.send("GET /health HTTP/1.1\r\n\r\n")
            #expect(statuses(missingHost.readToEnd().text) == [400], "HTTP/1.1 needs its Host header")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withServingNode { port, _, _ in
            let client = try RawClient(port: port)
            client.send(
                "GET /health HTTP/1.1\r\nHost: a\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
                    + "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            let answer = client.readToEnd()
            #expect(answer.closed)
            #expect(statuses(answer.text) == [200, 200, 404])
            #expect(!answer.text.contains("# TYPE"), "HEAD has no body")
        }
    }

    @Test func aClientThatStopsReadingALargeMetricsAnswerIsDroppedAndHoldsNobody() async throws {
        try await withServingNode { port, harness, database in
            // 100,000 task types make /metrics about 8 MB: more than the kernel's buffers on both ends hold.
            let connection = try await database.connect()
            try await connection.execute(
                """
                INSERT INTO scheduler_task_history (task_id, task_type, node, create_time, started_at, status)
                SELECT n, 'Type' || n, \(harness.node), now(), now(), 'done' FROM generate_series(1, 100000) AS n
                """)
            await connection.close()
            let stalled = try RawClient(port: port, receiveBuffer: 4096)
            stalled.send("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            // Once the answer has begun to arrive, the server is stuck sending it.
            try await waitUntil("the answer begins", timeout: .seconds(30)) { stalled.hasBytesWaiting }
            let start = ContinuousClock.now
            #expect(try httpGet(port: port, path: "/health").status == 200)
            #expect(start.duration(to: .now) < .milliseconds(100), "/health waits behind nobody")
            // An answer must leave within 10 s of its start: after that, what the stalled client reads ends short.
            try await Task.sleep(for: .seconds(11))
            let answer = stalled.readToEnd(timeout: .seconds(10))
            #expect(answer.closed)
            let length = answer.text.components(separatedBy: "Content-Length: ").dropFirst().first
                .flatMap { Int($0.prefix { $0.isNumber }) }
            let bytes = Array(answer.text.utf8)
            let body = bytes.firstRange(of: Array("\r\n\r\n".utf8)).map { bytes.count - $0.upperBound } ?? 0
            print("stalled /metrics: \(body) of \(length ?? -1) bytes arrived before the server gave up")
            #expect(length.map { body < $0 } == true, "the server gave up on the stalled client")
        }
    }
}
