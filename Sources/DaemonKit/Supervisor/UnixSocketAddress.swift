#if canImport(Glibc)
    public import Glibc
#endif

/// A Unix-domain socket address: a path, or a name in the abstract namespace written with a leading `@`, as systemd
/// writes `NOTIFY_SOCKET`.
public struct UnixSocketAddress: Sendable, Equatable {
    private let bytes: [UInt8]

    /// Nil when the text is empty or longer than a socket address holds.
    public init?(_ text: String) {
        var bytes = Array(text.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        self.bytes = bytes
    }

    /// Calls `body` with the address as a `sockaddr` and its length (exact, so an abstract name has no trailing NUL).
    public func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
