#if canImport(Glibc)
    import Glibc
#endif

/// Where `daemon.http` listens: an IPv4 address (or `localhost`) and a port, written `HOST:PORT`.
public struct HTTPAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    /// Reads `127.0.0.1:9464`, `0.0.0.0:9464` (every interface, for a container's probes) or `localhost:9464`. The
    /// host must be an address as the system reads one (`inet_pton`), so nothing it would refuse can end up as
    /// "every interface".
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0
        else { return nil }
        let host = text[..<colon] == "localhost" ? "127.0.0.1" : String(text[..<colon])
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}
