import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The smallest HTTP/1.1 server that `/metrics` and `/health` need: GET only, one request per connection, answered
/// and closed. It accepts on a thread of its own, so a scraper or a probe never waits on the supervisor's work, and
/// answers one connection at a time (scrapes come every few seconds). A full HTTP stack (SwiftNIO) would add minutes
/// to every build for these two read-only pages.
final class StatusServer: Sendable {
    struct Response: Sendable {
        var status: Int
        var contentType = "text/plain; charset=utf-8"
        var body: String
    }

    typealias Handler = @Sendable (_ path: String) async -> Response

    private let descriptor: Int32
    private let stopped = Atomic<Bool>(false)

    /// Listens on `address`; throws when the port is taken or the address is not this machine's.
    init(address: HTTPAddress, handler: @escaping Handler) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(POSIXError.Code(rawValue: errno) ?? .EMFILE) }
        var reuse: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = address.port.bigEndian
        inet_pton(AF_INET, address.host, &socketAddress.sin_addr)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            let error = POSIXError(POSIXError.Code(rawValue: errno) ?? .EADDRINUSE)
            close(descriptor)
            throw error
        }
        let thread = Thread { [self] in acceptLoop(handler) }
        thread.name = "pgdaemon-http"
        thread.start()
    }

    /// Stops accepting: the thread's `accept` returns, and the thread closes the socket (closing it here could let
    /// the thread use a descriptor number that something else has just been given).
    func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(descriptor, Int32(SHUT_RDWR))
    }

    private func acceptLoop(_ handler: @escaping Handler) {
        defer { close(descriptor) }
        while !stopped.load(ordering: .relaxed) {
            let client = accept(descriptor, nil, nil)
            guard client >= 0 else {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            serve(client, handler)
            close(client)
        }
    }

    private func serve(_ client: Int32, _ handler: @escaping Handler) {
        // A client that sends nothing must not hold the server: two seconds for the request, two for the answer.
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192, !request.ends(with: [13, 10, 13, 10]) {
            let count = recv(client, &buffer, buffer.count, 0)
            guard count > 0 else { return }
            request += buffer[..<count]
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let response: Response
        if line.count != 3 || !line[2].hasPrefix("HTTP/1.") {
            response = Response(status: 400, body: "A request line is METHOD PATH HTTP/1.1.\n")
        } else if line[0] != "GET" && line[0] != "HEAD" {
            response = Response(status: 405, body: "Only GET and HEAD.\n")
        } else {
            response = Self.wait { await handler(String(line[1].prefix { $0 != "?" })) }
        }
        let body = line.first == "HEAD" ? [] : Array(response.body.utf8)
        let head = """
            HTTP/1.1 \(response.status) \(Self.reason(response.status))\r
            Content-Type: \(response.contentType)\r
            Content-Length: \(response.body.utf8.count)\r
            Connection: close\r
            \r

            """
        let bytes = Array(head.utf8) + body
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }

    /// Runs `work` as a task and blocks this (the server's own) thread until it is done.
    private static func wait(_ work: @escaping @Sendable () async -> Response) -> Response {
        let result = Mutex<Response?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let response = await work()
            result.withLock { $0 = response }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 503: "Service Unavailable"
        default: "Error"
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
