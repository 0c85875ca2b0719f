import CLibPQ
import Synchronization

/// Asks the server to cancel the statement a connection is running, from any thread.
///
/// libpq documents `PQcancel` as safe to call from another thread (even a signal handler) with a `PGcancel` made by
/// `PQgetCancel`; the cancel request travels on a new, short connection, so it works while the connection's own
/// thread is blocked waiting for the answer.
final class QueryCanceller: Sendable {
    /// A `PGcancel` pointer. Sendable because it is only used under `handle`'s lock, and `PQcancel` may run on any
    /// thread.
    private struct CancelHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private let handle = Mutex<CancelHandle?>(nil)

    /// Takes the cancel handle of a freshly opened connection, freeing any earlier one.
    func attach(to connection: OpaquePointer) {
        replace(with: PQgetCancel(connection).map(CancelHandle.init))
    }

    /// Forgets the handle; later cancel requests do nothing.
    func detach() {
        replace(with: nil)
    }

    private func replace(with fresh: CancelHandle?) {
        handle.withLock { handle in
            if let old = handle { PQfreeCancel(old.pointer) }
            handle = fresh
        }
    }

    /// Sends a cancel request; the running statement then fails with SQLSTATE 57014.
    func cancel() {
        handle.withLock { handle in
            guard let handle else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(handle.pointer, &buffer, Int32(buffer.count))
        }
    }

    deinit { detach() }
}
