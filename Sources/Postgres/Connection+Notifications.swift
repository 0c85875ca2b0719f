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
        isListening = true
    }

    /// Sends a notification; listeners receive it when the current transaction commits.
    public func notify(_ channel: String, payload: String = "") async throws {
        try await execute("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Returns the next notification, waiting up to `timeout` for one; `nil` when none came.
    ///
    /// The wait holds neither the session nor a cooperative thread: it sleeps in `poll()` on the connection's socket
    /// on a thread of its own, so statements go on on the same connection meanwhile, and a module needs no connection
    /// of its own just to listen. A notification is seen the moment it arrives, or, when it came in with a
    /// statement's answer, the moment that statement is done. Cancelling the waiting task ends the wait at once with
    /// `CancellationError`. One task at a time waits on a connection. A notification the same as one heard and not yet
    /// returned (channel, payload and sender) is returned once.
    public nonisolated func nextNotification(timeout: Duration) async throws -> PostgresNotification? {
        let deadline = ContinuousClock.now + timeout
        while true {
            try Task.checkCancellation()
            let socket: Int32
            switch try await heardOrSocket() {
            case .heard(let notification): return notification
            case .nothingYet(let descriptor): socket = descriptor
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return nil }
            try await waitForInput(on: socket, for: remaining)
        }
    }

    /// Moves the notifications libpq has read into `heard` (leaving out repeats of those not yet taken), waking a
    /// waiter when there are any: a statement's answer may bring them, and the waiter's socket then shows nothing more
    /// to read.
    func collectNotifications(_ handle: OpaquePointer) {
        var collected = false
        while let notify = PQnotifies(handle) {
            let notification = PostgresNotification(
                channel: String(cString: notify.pointee.relname), payload: String(cString: notify.pointee.extra),
                senderPID: notify.pointee.be_pid)
            PQfreemem(notify)
            if !heard.contains(notification) { heard.append(notification) }
            collected = true
        }
        if collected { waker.wake() }
    }

    private enum Heard {
        case heard(PostgresNotification)
        /// None yet: wait for this socket to have something to read.
        case nothingYet(Int32)
    }

    /// The oldest notification heard, reading what the socket holds first (`PQconsumeInput` does not block).
    private func heardOrSocket() throws -> Heard {
        let handle = try openHandle()
        // A wake from before this look is spent: the look sees what it announced.
        waker.drain()
        if heard.isEmpty {
            guard PQconsumeInput(handle) != 0 else { throw connectionError(query: nil) }
            collectNotifications(handle)
        }
        if !heard.isEmpty { return .heard(heard.removeFirst()) }
        return .nothingYet(PQsocket(handle))
    }

    /// Sleeps until the socket or the waker is readable or `timeout` passes, on the connection's waiting thread.
    private nonisolated func waitForInput(on socket: Int32, for timeout: Duration) async throws {
        let (seconds, attoseconds) = timeout.components
        let milliseconds = Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, Int64(Int32.max)))
        try await withTaskCancellationHandler {
            try await withTaskExecutorPreference(waitingThread) { [waker] in
                var sockets = [
                    pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: waker.readEnd, events: Int16(POLLIN), revents: 0),
                ]
                if poll(&sockets, 2, milliseconds) < 0, errno != EINTR {
                    throw PostgresError(.connectionLost, message: "Waiting on the database socket failed.")
                }
            }
        } onCancel: { [waker] in
            waker.wake()
        }
    }
}
