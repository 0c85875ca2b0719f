import DaemonKit
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A datagram socket standing in for systemd's notification socket: what the supervisor sends arrives here.
final class NotifySocket {
    let address: String
    private let descriptor: Int32

    /// Binds a socket at a fresh path, or in the abstract namespace (`@name`, as systemd also hands out).
    init(abstract: Bool) throws {
        let name = "pgdaemon-notify-\(UUID().uuidString.prefix(8))"
        address = abstract ? "@\(name)" : FileManager.default.temporaryDirectory.appending(path: name).path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        let bound = try #require(UnixSocketAddress(address)).withSockaddr { bind(descriptor, $0, $1) }
        try #require(bound == 0, "bind \(address): errno \(errno)")
    }

    deinit {
        close(descriptor)
        if !address.hasPrefix("@") { unlink(address) }
    }

    /// Fills the socket's queue from a socket of its own, as a manager that stopped reading would leave it; returns
    /// how many datagrams it took.
    func fill() throws -> Int {
        let sender = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sender) }
        let address = try #require(UnixSocketAddress(address))
        var count = 0
        while address.withSockaddr({ sendto(sender, "FILLER", 6, Int32(MSG_DONTWAIT), $0, $1) }) == 6 { count += 1 }
        try #require(errno == EAGAIN, "sendto: errno \(errno)")
        return count
    }

    /// The datagrams that arrived since the last call.
    func received() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = recv(descriptor, &buffer, buffer.count, 0), count > 0 {
            messages.append(String(decoding: buffer[..<count], as: UTF8.self))
        }
        return messages
    }
}

@Suite("systemd notifications, run as a process", .timeLimit(.minutes(2)))
struct SystemdNotifyTests {
    @Test(arguments: [false, true])
    func readyWatchdogAndStoppingReachTheSocket(abstract: Bool) async throws {
        try await withTestDatabase { database in
            let socket = try NotifySocket(abstract: abstract)
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString, modules: "  TestDaemon: { sleep_post: 100ms }")
            var messages: [String] = []
            try daemon.start(environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "200000"])
            try await waitUntil("READY=1 and two watchdog pings arrive") {
                messages += socket.received()
                return messages.contains { $0.hasPrefix("READY=1") } && messages.count { $0 == "WATCHDOG=1" } >= 2
            }
            #expect(daemon.output.contains("Supervisor started."), "ready only once the modules are started")
            #expect(messages.first?.hasPrefix("READY=1") == true, "\(messages)")
            daemon.signal(SIGTERM)
            try await waitUntil("STOPPING=1 arrives and the supervisor exits") {
                messages += socket.received()
                return messages.contains { $0.hasPrefix("STOPPING=1") } && daemon.process?.isRunning == false
            }
            #expect(try await daemon.waitForExit() == 0)
            await daemon.cleanUp()
        }
    }

    /// systemd reads its socket at once; were it stuck, a supervisor waiting to send would never stop its modules.
    @Test func aManagerThatStopsReadingDoesNotStallTheStop() async throws {
        try await withTestDatabase { database in
            let socket = try NotifySocket(abstract: false)
            let daemon = try await DaemonHarness(
                connectionString: database.connectionString, modules: "  TestDaemon: { sleep_post: 100ms }")
            try daemon.start(environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "200000"])
            try await waitUntil("READY=1 arrives") { socket.received().contains { $0.hasPrefix("READY=1") } }
            #expect(try socket.fill() > 0)
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
            #expect(daemon.output.contains("Supervisor stopped."))
            await daemon.cleanUp()
        }
    }
}
