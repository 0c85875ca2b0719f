import Synchronization

/// The attempts a worker is running, by task id, so that `scheduler_task_cancel` can stop one: its handler runs as a
/// task of its own, which a cancel request cancels while the worker's other attempts go on. Handlers see it as Swift
/// task cancellation; a Command's process gets SIGTERM, then SIGKILL (`CommandRun`).
final class RunningAttempts: Sendable {
    private struct Attempt {
        var cancel: @Sendable () -> Void
        var requested = false
    }

    private let attempts = Mutex<[Int64: Attempt]>([:])

    /// Runs `operation` for task `id`; true when it threw after its cancellation was requested, so that the attempt
    /// ends as cancelled rather than failed.
    func run(_ id: Int64, _ operation: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        let attempt = Task { try await operation() }
        attempts.withLock { $0[id] = Attempt(cancel: { attempt.cancel() }) }
        do {
            try await withTaskCancellationHandler {
                try await attempt.value
            } onCancel: {
                attempt.cancel()
            }
            attempts.withLock { _ = $0.removeValue(forKey: id) }
            return false
        } catch {
            guard attempts.withLock({ $0.removeValue(forKey: id)?.requested }) == true else { throw error }
            return true
        }
    }

    /// Stops the attempt of task `id` if this worker runs it; false when it does not.
    @discardableResult
    func cancel(_ id: Int64) -> Bool {
        let cancel = attempts.withLock { attempts -> (@Sendable () -> Void)? in
            attempts[id]?.requested = true
            return attempts[id]?.cancel
        }
        cancel?()
        return cancel != nil
    }
}
