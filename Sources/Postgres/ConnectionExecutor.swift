import Dispatch
import Foundation
import Synchronization

/// Runs one connection's jobs, one at a time, on a thread of its own.
///
/// libpq calls block until the server answers, and some answers take hours (an advisory lock wait, a LISTEN wait), so
/// they must never run on the cooperative pool, which has one thread per core. libpq allows a `PGconn` to be used from
/// any thread as long as no two threads use it at once; a serial executor on a dedicated thread gives exactly that.
final class ConnectionExecutor: SerialExecutor, TaskExecutor {
    private struct State {
        var jobs: [UnownedJob] = []
        var stopping = false
        var thread: pthread_t?
    }

    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)

    /// Starts the thread; `name` shows in debuggers and `top -H`.
    init(name: String) {
        let thread = Thread { [self] in self.runJobs() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        state.withLock { $0.jobs.append(job) }
        wakeup.signal()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    func checkIsolated() {
        let current = pthread_self()
        let owner = state.withLock { $0.thread }
        precondition(owner.map { pthread_equal($0, current) != 0 } ?? false, "not on the connection's thread")
    }

    /// Lets the thread finish the jobs already queued and end; called when the connection goes away.
    func shutdown() {
        state.withLock { $0.stopping = true }
        wakeup.signal()
    }

    private func runJobs() {
        state.withLock { $0.thread = pthread_self() }
        while true {
            wakeup.wait()
            let (job, stopping) = state.withLock { state in
                (state.jobs.isEmpty ? nil : state.jobs.removeFirst(), state.stopping)
            }
            if let job {
                job.runSynchronously(on: asUnownedSerialExecutor())
            } else if stopping {
                return
            }
        }
    }
}
