/// The head of one request to `daemon.http`: what `/health` and `/metrics` need of it.
struct HTTPRequestHead: Sendable, Equatable {
    /// `GET` or `HEAD`: the only methods these read-only pages take.
    var method: String
    /// The target's path, without its query.
    var path: String
    /// Whether the connection stays open for the next request (HTTP/1.1's default; HTTP/1.0 asks for it).
    var keepAlive: Bool
}

/// Reads request heads from the bytes of one connection, as they arrive, within fixed limits.
///
/// Every byte is looked at once, when it arrives, so a client that sends one byte at a time costs no more than one that
/// sends its request at once; what is kept is bounded by `Limits.headBytes`. A request is refused as soon as a
/// complete line shows it is wrong, without waiting for the rest. Bytes after a head stay for the next request
/// (pipelining). The reader knows nothing of sockets, so it is fuzzed on its own (Tests/Fuzz/HTTPRequestReader).
/// It uses the standard library only, so that the fuzzer builds it by itself.
struct HTTPRequestReader {
    /// What one request may be.
    struct Limits: Sendable, Equatable {
        /// The request line, such as `GET /metrics HTTP/1.1`.
        var requestLineBytes = 4096
        /// The whole head: the request line and every header line.
        var headBytes = 16384
        var headerCount = 64
    }

    /// What the bytes so far make of the next request.
    enum Outcome: Sendable, Equatable {
        /// The head is not complete yet.
        case needMore
        case request(HTTPRequestHead)
        /// The request is refused with this status; the connection is answered and closed, since what follows the
        /// bad bytes cannot be told apart from the next request.
        case refused(status: Int, reason: String)
    }

    let limits: Limits
    private var buffer: [UInt8] = []
    /// Bytes of `buffer` already looked at.
    private var scanned = 0
    /// Where the line being read starts.
    private var lineStart = 0
    private var head = PartialHead()
    private var refusal: Outcome?

    /// What has been read of a head so far.
    private struct PartialHead {
        var requestLine: (method: String, path: String, minorVersion: Int)?
        var headers = 0
        var hosts = 0
        var connection: [String] = []
        var hasBody = false
    }

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Adds bytes that arrived and reads what they complete.
    mutating func read(_ bytes: some Sequence<UInt8>) -> Outcome {
        if refusal == nil { buffer.append(contentsOf: bytes) }
        return next()
    }

    /// Reads the next request from the bytes already added (after a request, those that followed it).
    mutating func next() -> Outcome {
        if let refusal { return refusal }
        // The limits are checked at each byte, so the outcome does not depend on how the bytes were split.
        while scanned < buffer.count {
            let byte = buffer[scanned]
            scanned += 1
            if scanned > limits.headBytes {
                return refuse(431, "The request head is longer than \(limits.headBytes) bytes.")
            }
            if byte != Self.newline {
                if byte < 0x20 && byte != Self.tab && byte != Self.carriageReturn || byte == 0x7F {
                    return refuse(400, "The request holds a control character.")
                }
                // The line so far, less a carriage return that may end it.
                if head.requestLine == nil && scanned - lineStart > limits.requestLineBytes + 1 {
                    return refuse(414, "The request line is longer than \(limits.requestLineBytes) bytes.")
                }
                continue
            }
            var end = scanned - 1
            if end > lineStart && buffer[end - 1] == Self.carriageReturn { end -= 1 }
            let line = buffer[lineStart..<end]
            lineStart = scanned
            if let outcome = take(line) { return outcome }
        }
        return .needMore
    }

    /// Takes one complete line; returns an outcome when the line ends the head or refuses it.
    private mutating func take(_ line: ArraySlice<UInt8>) -> Outcome? {
        guard let requestLine = head.requestLine else {
            // An empty line before the request line is to be ignored (RFC 9112, 2.2).
            if line.isEmpty { return nil }
            if line.count > limits.requestLineBytes {
                return refuse(414, "The request line is longer than \(limits.requestLineBytes) bytes.")
            }
            return readRequestLine(line)
        }
        if !line.isEmpty { return readHeader(line) }
        if requestLine.minorVersion == 1 && head.hosts != 1 {
            return refuse(400, "An HTTP/1.1 request has exactly one Host header.")
        }
        if head.hasBody { return refuse(400, "A GET or HEAD request has no body.") }
        let keepAlive =
            requestLine.minorVersion == 1 ? !head.connection.contains("close") : head.connection.contains("keep-alive")
        buffer.removeFirst(lineStart)
        (scanned, lineStart, head) = (0, 0, PartialHead())
        return .request(HTTPRequestHead(method: requestLine.method, path: requestLine.path, keepAlive: keepAlive))
    }

    private mutating func readRequestLine(_ line: ArraySlice<UInt8>) -> Outcome? {
        let parts = line.split(separator: Self.space, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(Self.isTokenByte),
            parts[1].first == Self.slash, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            return refuse(400, "A request line is METHOD /PATH HTTP/1.1.")
        }
        let version = Array(parts[2])
        guard version.count == 8, version.starts(with: Array("HTTP/".utf8)), version[6] == UInt8(ascii: ".") else {
            return refuse(400, "A request line is METHOD /PATH HTTP/1.1.")
        }
        guard version[5] == UInt8(ascii: "1"), version[7] == UInt8(ascii: "0") || version[7] == UInt8(ascii: "1")
        else {
            return refuse(505, "Only HTTP/1.0 and HTTP/1.1.")
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        guard method == "GET" || method == "HEAD" else { return refuse(405, "Only GET and HEAD.") }
        let path = String(decoding: parts[1].prefix { $0 != UInt8(ascii: "?") }, as: UTF8.self)
        head.requestLine = (method, path, version[7] == UInt8(ascii: "1") ? 1 : 0)
        return nil
    }

    private mutating func readHeader(_ line: ArraySlice<UInt8>) -> Outcome? {
        head.headers += 1
        guard head.headers <= limits.headerCount else {
            return refuse(431, "The request has more than \(limits.headerCount) headers.")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            line[..<colon].allSatisfy(Self.isTokenByte)
        else {
            return refuse(400, "A header line is NAME: VALUE.")
        }
        let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
        let value = String(decoding: line[line.index(after: colon)...], as: UTF8.self)
        switch name {
        case "host": head.hosts += 1
        case "connection":
            head.connection += value.split(separator: ",").map { Self.trimmed($0).lowercased() }
        case "content-length": head.hasBody = head.hasBody || Self.trimmed(value[...]) != "0"
        case "transfer-encoding": head.hasBody = true
        default: break
        }
        return nil
    }

    private mutating func refuse(_ status: Int, _ reason: String) -> Outcome {
        let outcome = Outcome.refused(status: status, reason: reason)
        refusal = outcome
        buffer = []
        return outcome
    }

    /// The text without the spaces and tabs around it.
    private static func trimmed(_ text: Substring) -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isBlank($0) }), let last = text.lastIndex(where: { !isBlank($0) })
        else { return "" }
        return text[first...last]
    }

    /// A byte of a method or header name (RFC 9110's tchar).
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "A")...UInt8(ascii: "Z"):
            true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")
    private static let tab = UInt8(ascii: "\t")
    private static let space = UInt8(ascii: " ")
    private static let slash = UInt8(ascii: "/")
}
