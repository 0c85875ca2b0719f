import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP/1.1 server of `/metrics` and `/health`: GET and HEAD, keep-alive and pipelining, on one thread of its own
/// that waits in `poll`, so a scraper or a probe never waits on the supervisor's work and no client can hold the
/// others.
///
/// Anyone who can reach the port is a client, and `/health` is what a container's liveness probe asks: so every
/// socket is non-blocking, a request head must arrive within `Limits.headTimeout` and an answer leave within
/// `Limits.sendTimeout`, the head's size is bounded (`HTTPRequestReader`), and at most `Limits.connections` are open
/// at once: a new one closes the one that has waited longest for its request, so idle sockets cannot lock a probe out.
/// Requests for one path that come while its answer is being made share that answer, so a flood of requests makes
/// one database query, not one each. A full HTTP stack (SwiftNIO) would add its threads and megabytes to every
/// supervisor for these two read-only pages.
final class StatusServer: Sendable {
    struct Response: Sendable {
        var status: Int
        var contentType = "text/plain; charset=utf-8"
        var body: String
    }

    typealias Handler = @Sendable (_ path: String) async -> Response

    /// What the server allows its clients.
    struct Limits: Sendable {
        /// Open connections at once (`daemon.http_max_connections`).
        var connections = 64
        var request = HTTPRequestReader.Limits()
        /// From a connection's start, or the end of its last answer, to the end of its next request's head.
        var headTimeout = Duration.seconds(5)
        /// For one answer to leave, however slowly the client reads.
        var sendTimeout = Duration.seconds(10)
    }

    private let listener: Int32
    /// A pipe whose read end the loop polls: written when an answer is ready or the server stops. It is closed when
    /// the server is released, after every task that may write it has ended (they hold the server).
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopped = Atomic<Bool>(false)
    private let answers = Mutex<[(path: String, response: Response)]>([])

    /// Listens on `address`; throws when the port is taken or the address is not this machine's.
    init(address: HTTPAddress, limits: Limits = Limits(), handler: @escaping Handler) throws {
        let listener = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(POSIXError.Code(rawValue: errno) ?? .EMFILE) }
        var reuse: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = address.port.bigEndian
        inet_pton(AF_INET, address.host, &socketAddress.sin_addr)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var wake: [Int32] = [-1, -1]
        // The kernel's queue of connections not yet accepted holds a burst of them, so none waits for a SYN retry.
        guard bound == 0, listen(listener, SOMAXCONN) == 0, pipe(&wake) == 0 else {
            let error = POSIXError(POSIXError.Code(rawValue: errno) ?? .EADDRINUSE)
            close(listener)
            throw error
        }
        for end in wake { Self.makeNonBlocking(end) }
        (self.listener, wakeRead, wakeWrite) = (listener, wake[0], wake[1])
        let thread = Thread { [self] in
            var loop = StatusServerLoop(server: self, limits: limits, handler: handler)
            loop.run()
        }
        thread.name = "pgdaemon-http"
        thread.start()
    }

    /// Sets close-on-exec, so module processes do not inherit the descriptor, and non-blocking.
    fileprivate static func makeNonBlocking(_ descriptor: Int32) {
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Stops serving: the loop closes its connections and the listening socket (closing them here could let the
    /// loop use a descriptor number that something else has just been given).
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        wake()
    }

    fileprivate var isStopped: Bool { stopped.load(ordering: .relaxed) }
    fileprivate var listeningDescriptor: Int32 { listener }
    fileprivate var wakeDescriptor: Int32 { wakeRead }

    fileprivate func answered(_ path: String, _ response: Response) {
        answers.withLock { $0.append((path, response)) }
        wake()
    }

    fileprivate func takeAnswers() -> [(path: String, response: Response)] {
        var drained = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &drained, drained.count) > 0 {}
        return answers.withLock { answers in
            defer { answers = [] }
            return answers
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
}

/// The server's event loop and its connections, owned by the server's thread.
private struct StatusServerLoop {
    private struct Connection {
        enum Phase {
            /// Reading a request head.
            case reading
            /// Waiting for the answer to this request.
            case waiting(head: HTTPRequestHead)
            case writing(bytes: [UInt8], sent: Int, keepAlive: Bool)
        }

        var reader: HTTPRequestReader
        var phase = Phase.reading
        /// When the current phase began: its deadline runs from here.
        var since: ContinuousClock.Instant
    }

    let server: StatusServer
    let limits: StatusServer.Limits
    let handler: StatusServer.Handler
    private var connections: [Int32: Connection] = [:]
    /// Connections waiting for the answer of each path being made.
    private var waiting: [String: [Int32]] = [:]
    /// Set while the system refuses to accept (out of descriptors): the listener is not polled until then.
    private var acceptPausedUntil: ContinuousClock.Instant?
    private var scratch = [UInt8](repeating: 0, count: 4096)

    init(server: StatusServer, limits: StatusServer.Limits, handler: @escaping StatusServer.Handler) {
        (self.server, self.limits, self.handler) = (server, limits, handler)
    }

    mutating func run() {
        defer {
            for descriptor in connections.keys { close(descriptor) }
            close(server.listeningDescriptor)
        }
        while !server.isStopped {
            let now = ContinuousClock.now
            if let until = acceptPausedUntil, until <= now { acceptPausedUntil = nil }
            var polled = [pollfd(fd: server.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
            if acceptPausedUntil == nil {
                polled.append(pollfd(fd: server.listeningDescriptor, events: Int16(POLLIN), revents: 0))
            }
            for (descriptor, connection) in connections {
                let events: Int32 =
                    switch connection.phase {
                    case .reading: POLLIN
                    case .waiting: 0
                    case .writing: POLLOUT
                    }
                polled.append(pollfd(fd: descriptor, events: Int16(events), revents: 0))
            }
            guard poll(&polled, nfds_t(polled.count), pollTimeout(now: now)) >= 0 || errno == EINTR else { return }
            for entry in polled where entry.revents != 0 {
                switch entry.fd {
                case server.wakeDescriptor: deliverAnswers()
                case server.listeningDescriptor: acceptAll()
                default: serve(entry.fd, events: Int32(entry.revents))
                }
            }
            closeExpired()
        }
    }

    /// Milliseconds until the next deadline, at most a second (the stop flag is also read then).
    private func pollTimeout(now: ContinuousClock.Instant) -> Int32 {
        var next = now + .seconds(1)
        for connection in connections.values {
            switch connection.phase {
            case .reading: next = min(next, connection.since + limits.headTimeout)
            case .writing: next = min(next, connection.since + limits.sendTimeout)
            case .waiting: break
            }
        }
        if let until = acceptPausedUntil { next = min(next, until) }
        return Int32(max(now.duration(to: next) / .milliseconds(1), 0).rounded(.up))
    }

    private mutating func acceptAll() {
        while true {
            let client = accept(server.listeningDescriptor, nil, nil)
            guard client >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
                    acceptPausedUntil = .now + .milliseconds(100)
                }
                return
            }
            StatusServer.makeNonBlocking(client)
            if connections.count >= limits.connections {
                guard
                    let oldest = connections.filter({ if case .reading = $0.value.phase { true } else { false } })
                        .min(by: { $0.value.since < $1.value.since })?.key
                else {
                    close(client)
                    continue
                }
                drop(oldest)
            }
            connections[client] = Connection(reader: HTTPRequestReader(limits: limits.request), since: .now)
        }
    }

    private mutating func serve(_ descriptor: Int32, events: Int32) {
        guard let connection = connections[descriptor] else { return }
        switch connection.phase {
        case .reading:
            let count = scratch.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
            guard count > 0 else { return drop(descriptor) }
            let outcome = connections[descriptor]!.reader.read(scratch[..<count])
            handle(outcome, on: descriptor)
        case .writing:
            flush(descriptor)
        case .waiting:
            // Only errors and hang-ups are reported for a connection that is not polled for anything.
            if events & (POLLERR | POLLHUP) != 0 { drop(descriptor) }
        }
    }

    private mutating func handle(_ outcome: HTTPRequestReader.Outcome, on descriptor: Int32) {
        switch outcome {
        case .needMore:
            break
        case .request(let head):
            connections[descriptor]?.phase = .waiting(head: head)
            if waiting[head.path] != nil {
                waiting[head.path]!.append(descriptor)
            } else {
                waiting[head.path] = [descriptor]
                Task { [server, handler] in server.answered(head.path, await handler(head.path)) }
            }
        case .refused(let status, let reason):
            respond(on: descriptor, StatusServer.Response(status: status, body: reason + "\n"), head: nil)
        }
    }

    private mutating func deliverAnswers() {
        for (path, response) in server.takeAnswers() {
            for descriptor in waiting.removeValue(forKey: path) ?? [] {
                guard let connection = connections[descriptor], case .waiting(let head) = connection.phase else {
                    continue
                }
                respond(on: descriptor, response, head: head)
            }
        }
    }

    /// Starts sending `response`; `head` is the request answered, `nil` for a refused one (the connection then closes).
    private mutating func respond(on descriptor: Int32, _ response: StatusServer.Response, head: HTTPRequestHead?) {
        let keepAlive = head?.keepAlive ?? false
        let text = """
            HTTP/1.1 \(response.status) \(Self.reason(response.status))\r
            Content-Type: \(response.contentType)\r
            Content-Length: \(response.body.utf8.count)\r
            Connection: \(keepAlive ? "keep-alive" : "close")\r
            \r

            """
        let bytes = Array(text.utf8) + (head?.method == "HEAD" ? [] : Array(response.body.utf8))
        connections[descriptor]?.phase = .writing(bytes: bytes, sent: 0, keepAlive: keepAlive)
        connections[descriptor]?.since = .now
        flush(descriptor)
    }

    private mutating func flush(_ descriptor: Int32) {
        guard let connection = connections[descriptor],
            case .writing(let bytes, var sent, let keepAlive) = connection.phase
        else { return }
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                connections[descriptor]?.phase = .writing(bytes: bytes, sent: sent, keepAlive: keepAlive)
                return
            }
            guard count > 0 else { return drop(descriptor) }
            sent += count
        }
        guard keepAlive else { return drop(descriptor) }
        connections[descriptor]?.phase = .reading
        connections[descriptor]?.since = .now
        // A pipelined request may already wait in what was read.
        if let outcome = connections[descriptor]?.reader.next() { handle(outcome, on: descriptor) }
    }

    /// Closes the connections whose head or answer is late: a late head is answered 408 if the socket takes it at
    /// once, a late answer is given up.
    private mutating func closeExpired() {
        let now = ContinuousClock.now
        for (descriptor, connection) in connections {
            switch connection.phase {
            case .reading where connection.since + limits.headTimeout <= now:
                let text = Array("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
                _ = text.withUnsafeBytes {
                    send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                drop(descriptor)
            case .writing where connection.since + limits.sendTimeout <= now:
                drop(descriptor)
            default:
                break
            }
        }
    }

    private mutating func drop(_ descriptor: Int32) {
        if case .waiting(let head) = connections[descriptor]?.phase {
            // Its number may come back with the next connection, which must not get this one's answer.
            waiting[head.path]?.removeAll { $0 == descriptor }
        }
        connections[descriptor] = nil
        close(descriptor)
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 414: "URI Too Long"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Error"
        }
    }
}
