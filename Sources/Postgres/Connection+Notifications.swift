import CLibPQ
import Foundation

/// A message sent with `NOTIFY` (or `pg_notify`) on a channel this connection listens to.
public struct PostgresNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
    /// The server process of the session that sent it.
    public var senderPID: Int32
}

extension Connection {
    /// Starts listening on a channel; the name is quoted, so any text is a safe channel name.
    public func listen(_ channel: String) async throws {
        try await execute("LISTEN \(identifier: channel)")
    }

    /// Sends a notification; listeners receive it when the current transaction commits.
    public func notify(_ channel: String, payload: String = "") async throws {
        try await execute("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Returns the next notification, waiting up to `timeout` for one; `nil` when none came.
    ///
    /// The wait sleeps in `poll()` on the connection's socket, so a notification is seen the moment it arrives and an
    /// idle wait costs nothing. Cancelling the waiting task ends the wait at once with `CancellationError`.
    public func nextNotification(timeout: Duration) async throws -> PostgresNotification? {
        let handle = try openHandle()
        let deadline = ContinuousClock.now + timeout
        return try await withTaskCancellationHandler {
            waker.drain()
            while true {
                if let notification = Self.takeNotification(handle) { return notification }
                try Task.checkCancellation()
                let remaining = ContinuousClock.now.duration(to: deadline)
                guard remaining > .zero else { return nil }
                var sockets = [
                    pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0),
                    pollfd(fd: waker.readEnd, events: Int16(POLLIN), revents: 0),
                ]
                let (seconds, attoseconds) = remaining.components
                let milliseconds = min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, Int64(Int32.max))
                if poll(&sockets, 2, Int32(milliseconds)) < 0, errno != EINTR {
                    throw PostgresError(.connectionLost, message: "Waiting on the database socket failed.")
                }
                if sockets[1].revents != 0 { waker.drain() }
                if sockets[0].revents != 0, PQconsumeInput(handle) == 0 {
                    throw PostgresError(
                        .connectionLost,
                        message: "The database connection failed: \(String(cString: PQerrorMessage(handle)).oneLine)")
                }
            }
        } onCancel: { [waker] in
            waker.wake()
        }
    }

    private static func takeNotification(_ handle: OpaquePointer) -> PostgresNotification? {
        guard let notify = PQnotifies(handle) else { return nil }
        defer { PQfreemem(notify) }
        return PostgresNotification(
            channel: String(cString: notify.pointee.relname), payload: String(cString: notify.pointee.extra),
            senderPID: notify.pointee.be_pid)
    }
}
