public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Tells systemd how the supervisor is doing, over the datagram socket systemd names in `NOTIFY_SOCKET` (the
/// `sd_notify` protocol, without linking libsystemd): `READY=1` once the modules are started, `STOPPING=1` when a stop
/// begins, and `WATCHDOG=1` at half the `WATCHDOG_USEC` interval when the unit sets `WatchdogSec=`. Without
/// `NOTIFY_SOCKET` (not under systemd, or `Type=simple`), every call does nothing.
public struct SystemdNotifier: Sendable {
    /// The socket's address: a path, or a name in the abstract namespace when systemd wrote it with a leading `@`.
    let socketPath: String?
    /// How often to send `WATCHDOG=1`, when systemd watches this process.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        // WATCHDOG_PID, when set, names the process systemd watches; a child started with this environment is not it.
        let watched = environment["WATCHDOG_PID"].map { $0 == String(getpid()) } ?? true
        if watched, let micros = environment["WATCHDOG_USEC"].flatMap(Int64.init), micros > 0 {
            watchdogInterval = .microseconds(micros / 2)
        } else {
            watchdogInterval = nil
        }
    }

    public func ready() { send("READY=1\nSTATUS=Modules started.") }
    public func stopping() { send("STOPPING=1\nSTATUS=Stopping.") }
    public func watchdog() { send("WATCHDOG=1") }

    /// Sends one datagram without waiting; failures are ignored, as `sd_notify` callers do: a missing listener must not
    /// stop the daemon. The send must not block either: a datagram socket's queue holds only `max_dgram_qlen` (often
    /// 10) unread messages, and a supervisor blocked behind a manager that stopped reading would never stop its
    /// modules. A message that finds the queue full is dropped.
    func send(_ message: String) {
        guard let socketPath, let address = UnixSocketAddress(socketPath) else { return }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let bytes = Array(message.utf8)
        _ = address.withSockaddr { sendto(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), $0, $1) }
    }
}
